// Signed break-glass requests (daemon/breakglass.hpp): the attacks, with real ssh-keygen
// signatures, and the windows' persistence.
#include <catch2/catch.hpp>

#include <ctime>
#include <string>
#include <vector>

#include "daemon/breakglass.hpp"
#include "shared/util/json.hpp"
#include "tests/unit/support/process.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
namespace fs = std::filesystem;

namespace {

std::string pub_of(const test::TempDir& dir, const std::string& name) {
  auto r = test::run_process({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", name, "-f", (dir / name).string()}, dir.path());
  REQUIRE(r.status == 0);
  auto text = test::run_process({"cat", (dir / name).string() + ".pub"}, dir.path()).out;
  return text.substr(0, text.find(' ', text.find(' ') + 1));
}

std::string sign(const test::TempDir& dir, const std::string& key, const std::string& text, const std::string& ns) {
  auto r = test::run_process({"ssh-keygen", "-Y", "sign", "-f", (dir / key).string(), "-n", ns}, dir.path(), text);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return r.out;
}

Config config_for(const test::TempDir& dir) {
  std::string yaml = R"(repository: {url: file:///srv/config.git}
breakGlass: {allowedSignersFile: signers, daemonId: prod-east}
targets:
  - name: prod
    path: environments/prod
    namespace: prod
    breakGlass: {allowed: [alice], maxDuration: 1h}
  - name: dev
    path: environments/dev
    namespace: dev
    breakGlass: {allowed: [bob]}
  - name: plain
    path: environments/plain
)";
  auto c = parse_config(yaml, "daemon.yaml", dir.path());
  INFO((c ? "" : c.error().message));
  REQUIRE(c);
  return *c;
}

BreakGlassRequest open_request(std::int64_t now) {
  BreakGlassRequest r;
  r.action = "open";
  r.target = "prod";
  r.daemon = "prod-east";
  r.nonce = "0123456789abcdef0123";
  r.timestamp = now;
  r.reason = "INC-1234: checkout down";
  r.for_seconds = 1800;
  return r;
}

std::string envelope(const std::string& text, const std::string& signature) {
  return util::dump(util::Json{{"request", text}, {"signature", signature}});
}

}  // namespace

TEST_CASE("break-glass requests: only a genuine, fresh, allowed request for this daemon and target is authorized") {
  test::TempDir dir;
  std::string alice = pub_of(dir, "alice"), bob = pub_of(dir, "bob");
  (void)pub_of(dir, "mallory");
  auto signers = signing::parse_allowed_signers("alice " + alice + "\nbob " + bob + "\n", "signers");
  REQUIRE(signers);
  Config config = config_for(dir);
  const std::int64_t now = std::time(nullptr);
  const std::string ns(k_break_glass_namespace);

  struct Case {
    std::string name;
    std::function<std::string()> body;
    std::optional<Refusal> refusal;  // nullopt: authorized
  };
  auto signed_by = [&](const std::string& key, BreakGlassRequest r) {
    auto text = request_text(r);
    return envelope(text, sign(dir, key, text, ns));
  };
  auto base = open_request(now);
  std::vector<Case> cases{
      {"a genuine open", [&] { return signed_by("alice", base); }, std::nullopt},
      {"a genuine close", [&] { auto r = base; r.action = "close"; r.reason.clear(); r.for_seconds = 0; return signed_by("alice", r); },
       std::nullopt},
      {"a list by an allowed signer", [&] { auto r = base; r.action = "list"; r.target.clear(); return signed_by("bob", r); },
       std::nullopt},
      {"forged signature (bytes of a signature over another request)",
       [&] {
         auto other = base;
         other.reason = "harmless";
         return envelope(request_text(base), sign(dir, "alice", request_text(other), ns));
       },
       Refusal::bad_signature},
      {"unknown key", [&] { return signed_by("mallory", base); }, Refusal::unknown_key},
      {"allowed key, not for this target", [&] { return signed_by("bob", base); }, Refusal::not_allowed},
      {"stale timestamp", [&] { auto r = base; r.timestamp = now - 301; return signed_by("alice", r); }, Refusal::stale},
      {"timestamp from the future", [&] { auto r = base; r.timestamp = now + 301; return signed_by("alice", r); }, Refusal::stale},
      {"body altered after signing",
       [&] {
         auto text = request_text(base);
         auto sig = sign(dir, "alice", text, ns);
         auto pos = text.find("1800");
         text.replace(pos, 4, "3599");
         return envelope(text, sig);
       },
       Refusal::bad_signature},
      {"--for beyond maxDuration", [&] { auto r = base; r.for_seconds = 3601; return signed_by("alice", r); }, Refusal::too_long},
      {"another daemon", [&] { auto r = base; r.daemon = "prod-west"; return signed_by("alice", r); }, Refusal::wrong_daemon},
      {"another target (allowed elsewhere, not there)", [&] { auto r = base; r.target = "dev"; return signed_by("alice", r); },
       Refusal::not_allowed},
      {"a target without breakGlass", [&] { auto r = base; r.target = "plain"; return signed_by("alice", r); },
       Refusal::not_allowed},
      {"an unknown target", [&] { auto r = base; r.target = "nope"; return signed_by("alice", r); }, Refusal::unknown_target},
      {"signed for git's namespace", [&] { auto text = request_text(base); return envelope(text, sign(dir, "alice", text, "git")); },
       Refusal::bad_signature},
      {"no reason", [&] { auto r = base; r.reason.clear(); return signed_by("alice", r); }, Refusal::malformed},
      {"short nonce", [&] { auto r = base; r.nonce = "1"; return signed_by("alice", r); }, Refusal::malformed},
      {"not JSON", [] { return std::string("open prod please"); }, Refusal::malformed},
      {"garbage signature", [&] { return envelope(request_text(base), "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"); },
       Refusal::malformed},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      auto a = authorize(c.body(), config, *signers, now);
      if (!c.refusal) {
        INFO((a ? "" : a.error().message));
        REQUIRE(a);
        CHECK_FALSE(a->actor.empty());
        CHECK(a->fingerprint.starts_with("SHA256:"));
      } else {
        REQUIRE_FALSE(a);
        INFO(a.error().message);
        CHECK(refusal_rule(a.error().why) == refusal_rule(*c.refusal));
      }
    }
  }
}

TEST_CASE("break-glass windows survive a reload; a damaged file fails closed") {
  test::TempDir dir;
  auto file = dir / "break-glass.json";
  {
    auto store = WindowStore::load(file);
    REQUIRE(store);
    Window w;
    w.id = "00112233aabbccdd";
    w.target = "prod";
    w.actor = "alice";
    w.reason = "INC-1: \"quoted\" \xff";
    w.opened = 100;
    w.expires = 1900;
    w.service_account = "break-glass-00112233aabbccdd";
    w.access_namespace = "prod";
    w.bindings = {"prod", "prod-jobs"};
    w.changes.push_back({"2026-12-07T04:00:00Z", "apps/v1 Deployment prod/web", "/spec/replicas", "kubectl-scale"});
    store->windows().push_back(w);
    REQUIRE(store->save());
  }
  auto again = WindowStore::load(file);
  REQUIRE(again);
  Window* w = again->holding("prod");
  REQUIRE(w);
  CHECK(w->state == WindowState::open);
  CHECK(w->expires == 1900);
  CHECK(w->bindings.size() == 2);
  REQUIRE(w->changes.size() == 1);
  CHECK(w->changes[0].manager == "kubectl-scale");
  CHECK(again->holding("dev") == nullptr);
  w->state = WindowState::closed;
  CHECK(again->holding("prod") == nullptr);

  dir.write("break-glass.json", "{\"windows\": [");
  CHECK_FALSE(WindowStore::load(file));
}
