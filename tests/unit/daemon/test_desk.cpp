// The break-glass desk (daemon/desk.hpp): holds, recording, expiry, the follow-up's end, and
// a reload of everything from the state directory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "daemon/desk.hpp"
#include "daemon/metrics.hpp"
#include "shared/util/json.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

namespace {

Config desk_config(const test::TempDir& dir) {
  auto c = parse_config(R"(repository: {url: file:///srv/config.git}
stateDir: state
breakGlass: {allowedSignersFile: signers, daemonId: d}
targets:
  - {name: prod, path: p, namespace: prod, breakGlass: {allowed: [alice]}}
  - {name: dev, path: d, namespace: dev, breakGlass: {allowed: [alice], onExpiry: revert}}
)",
                        "daemon.yaml", dir.path());
  REQUIRE(c);
  return *c;
}

Authorized request(std::string action, std::string target, bool revert = false) {
  Authorized a;
  a.request.action = std::move(action);
  a.request.target = std::move(target);
  a.request.reason = "INC-7: disk full";
  a.request.for_seconds = 60;
  a.request.revert = revert;
  a.actor = "alice";
  a.fingerprint = "SHA256:x";
  return a;
}

DriftItem drift(std::vector<std::string> pointers, std::string manager = "kubectl-scale") {
  DriftItem d;
  d.key = "apps/Deployment/prod/web";
  d.what = "apps/v1 Deployment prod/web";
  d.pointers = std::move(pointers);
  d.manager = std::move(manager);
  return d;
}

std::size_t count(const std::vector<std::string>& lines, const std::string& event) {
  return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.find("\"event\":\"" + event + "\"") != std::string::npos; });
}

}  // namespace

TEST_CASE("break-glass desk: a window holds, records each change once, expires, and survives a reload") {
  test::TempDir dir;
  Config config = desk_config(dir);
  Metrics metrics;
  Alerter alerter(config.alerts, metrics);
  std::vector<std::string> audit;
  int wakes = 0;
  auto make = [&] {
    auto d = std::make_unique<BreakGlassDesk>(config, alerter, [&](const std::string& l) { audit.push_back(l); }, [&] { ++wakes; });
    REQUIRE(d->load());
    return d;
  };
  auto desk = make();
  CHECK(desk->handle(request("close", "prod"), 1000).status == 409);  // nothing open
  auto opened = desk->handle(request("open", "prod"), 1000);
  CHECK(opened.status == 201);
  CHECK(opened.body.find("\"expires\":1060") != std::string::npos);
  CHECK(desk->held("prod"));
  CHECK_FALSE(desk->held("dev"));
  CHECK(desk->handle(request("open", "prod"), 1001).status == 409);
  CHECK(count(audit, "break-glass-open") == 1);
  CHECK(wakes == 1);

  const TargetConfig& prod = config.targets[0];
  desk->observe(prod, {drift({"/spec/replicas"})}, true, 1010);
  desk->observe(prod, {drift({"/spec/replicas"})}, true, 1011);  // the same change, seen again
  CHECK(count(audit, "break-glass-change") == 1);
  desk->observe(prod, {drift({"/spec/replicas", "/spec/template/spec/containers/0/image"}, "kubectl-set")}, true, 1012);
  CHECK(count(audit, "break-glass-change") == 2);
  // While open, no drift does not end anything.
  desk->observe(prod, {}, true, 1013);
  CHECK(desk->summary("prod").find("open by alice") != std::string::npos);

  CHECK(desk->expire(1030) == std::optional<std::int64_t>(30));
  CHECK_FALSE(desk->expire(1060).has_value());  // expired: prod holds (onExpiry: hold)
  CHECK(desk->held("prod"));
  CHECK(desk->summary("prod").find("follow-up pending (expired)") != std::string::npos);
  REQUIRE(desk->follow_up_due("prod"));
  CHECK_FALSE(desk->follow_up_due("prod"));  // once
  desk = make();  // stopped before the follow-up was recorded: tried again after the restart
  REQUIRE(desk->follow_up_due("prod"));
  CHECK_FALSE(desk->follow_up_due("prod"));
  auto windows = util::Json::parse(desk->handle(request("list", "prod"), 1061).body);
  std::string id = windows["windows"][0]["id"];
  CHECK(id.size() == 16);
  desk->follow_up_written(id, "break-glass/x", "abc123def4567890", {}, "");

  // A restart: the window, its record and the follow-up are read back.
  desk = make();
  CHECK(desk->held("prod"));
  CHECK_FALSE(desk->follow_up_due("prod"));
  auto listed = desk->handle(request("list", "prod"), 1070).body;
  CHECK(listed.find("kubectl-set") != std::string::npos);
  CHECK(listed.find("\"outcome\":\"expired\"") != std::string::npos);
  CHECK(desk->summary("prod").find("merge branch break-glass/x (abc123def456)") != std::string::npos);
  // Not settled (no sync since the start): no drift proves nothing yet.
  desk->observe(prod, {}, false, 1080);
  CHECK(desk->held("prod"));
  desk->observe(prod, {drift({"/spec/replicas"})}, true, 1081);
  CHECK(desk->held("prod"));
  desk->observe(prod, {}, true, 1090);  // Git matches the live objects
  CHECK_FALSE(desk->held("prod"));
  CHECK(count(audit, "break-glass-follow-up-done") == 1);

  // onExpiry: revert ends the hold at expiry; no follow-up.
  CHECK(desk->handle(request("open", "dev"), 2000).status == 201);
  desk->expire(2061);
  CHECK_FALSE(desk->held("dev"));
  CHECK_FALSE(desk->follow_up_due("dev"));

  // A list shows only the windows of targets the signer may use.
  auto carol = request("list", "");
  carol.actor = "carol";
  CHECK(desk->handle(carol, 2100).body == "{\"windows\":[]}\n");
  CHECK(desk->handle(request("list", ""), 2100).body.find("\"target\":\"dev\"") != std::string::npos);

  // A close keeps the hold; close --revert of the follow-up ends it.
  CHECK(desk->handle(request("open", "prod"), 3000).status == 201);
  CHECK(desk->handle(request("close", "prod"), 3001).status == 200);
  CHECK(desk->held("prod"));
  CHECK(desk->handle(request("close", "prod"), 3002).status == 409);
  CHECK(desk->handle(request("close", "prod", true), 3003).status == 200);
  CHECK_FALSE(desk->held("prod"));
}

TEST_CASE("break-glass desk: a damaged windows file is an error, not an empty desk") {
  test::TempDir dir;
  Config config = desk_config(dir);
  dir.write("state/break-glass.json", "{\"windows\": 7}");
  Metrics metrics;
  Alerter alerter(config.alerts, metrics);
  BreakGlassDesk desk(config, alerter, [](const std::string&) {}, [] {});
  CHECK_FALSE(desk.load());
  CHECK(desk.handle(request("open", "prod"), 1).status == 503);
}
