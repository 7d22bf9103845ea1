#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/alerts.hpp"
#include "shared/notify/event.hpp"
#include "tests/unit/support/process.hpp"
#include "tests/unit/support/receiver.hpp"
#include "tests/unit/support/tempdir.hpp"
#include "tests/unit/support/tls.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto k_deadline = 10s;  // generous: the machine is shared

// The injectable clock: starts at 2025-11-24T16:00:00Z, moves only when told. Thread-safe
// (the delivery thread reads it to sign).
class FakeClock {
 public:
  Alerter::Clock fn() {
    return [this] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(m_ms.load())); };
  }
  void advance(std::chrono::milliseconds d) { m_ms += d.count(); }
  std::int64_t unix_seconds() const { return m_ms.load() / 1000; }

 private:
  std::atomic<std::int64_t> m_ms{1'764'000'000'000};
};
constexpr const char* k_start_rfc3339 = "2025-11-24T16:00:00Z";

AlertProvider provider(std::string name, AlertProviderType type, std::string url,
                       std::vector<std::string> events = {}) {
  AlertProvider p;
  p.name = std::move(name);
  p.type = type;
  p.url = std::move(url);
  p.events = std::move(events);
  return p;
}

AlertsConfig config_of(std::vector<AlertProvider> providers, int max_per_minute = 30) {
  AlertsConfig c;
  c.providers = std::move(providers);
  c.max_per_minute = max_per_minute;
  return c;
}

Alert alert(AlertKind kind, std::string target = "prod", std::string summary = "something happened") {
  Alert a;
  a.kind = kind;
  a.target = std::move(target);
  a.revision = "abc1234def5678abc1234def5678abc1234def56";
  a.summary = std::move(summary);
  return a;
}

// The value of counter `name{labels}` in `metrics`' exposition; 0 when absent.
double metric(const Metrics& metrics, const std::string& name, const std::string& labels) {
  std::string text = metrics.render();
  std::string key = name + "{" + labels + "} ";
  auto at = text.find(key);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + key.size(), text.find('\n', at) - at - key.size()));
}

std::string sent(const std::string& provider, const std::string& kind, const std::string& result) {
  return "provider=\"" + provider + "\",kind=\"" + kind + "\",result=\"" + result + "\"";
}
std::string dropped(const std::string& provider, const std::string& reason) {
  return "provider=\"" + provider + "\",reason=\"" + reason + "\"";
}

std::vector<json> bodies(const test::Receiver& r, const std::string& path) {
  std::vector<json> out;
  for (const auto& q : r.requests())
    if (q.path == path) out.push_back(json::parse(q.body));
  return out;
}

std::set<std::string> keys(const json& o) {
  std::set<std::string> out;
  for (const auto& [k, v] : o.items()) out.insert(k);
  return out;
}

bool is_hex_id(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A loopback port that refuses connections for as long as this lives: bound, not listening.
class ClosedPort {
 public:
  ClosedPort() {
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t n = sizeof a;
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &n) == 0);
    m_port = ntohs(a.sin_port);
  }
  ~ClosedPort() { ::close(m_fd); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/hook"; }

 private:
  int m_fd = -1;
  int m_port = 0;
};

}  // namespace

TEST_CASE("alert kinds have names, and conditions are told from one-off events", "[alerts]") {
  struct Case {
    AlertKind kind;
    const char* name;
    bool condition;
  };
  const Case cases[] = {
      {AlertKind::sync_failed, "syncFailed", true},
      {AlertKind::out_of_sync, "outOfSync", true},
      {AlertKind::drift_corrected, "driftCorrected", false},
      {AlertKind::self_heal_loop, "selfHealLoop", true},
      {AlertKind::prune_blocked, "pruneBlocked", true},
      {AlertKind::break_glass, "breakGlass", false},
      {AlertKind::source_unavailable, "sourceUnavailable", true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(alert_kind_name(c.kind) == c.name);
    CHECK(alert_kind_from(c.name) == c.kind);
    CHECK(is_condition(c.kind) == c.condition);
  }
  CHECK_FALSE(alert_kind_from("SyncFailed"));
  CHECK_FALSE(alert_kind_from(""));
}

TEST_CASE("payloads of the webhook, Slack and PagerDuty providers, field by field", "[alerts]") {
  test::TempDir tmp;
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  auto secret_file = tmp.write("hook.secret", "s3cret\n");
  auto key_file = tmp.write("pd.key", "pd-routing-key\n");
  auto webhook = provider("hook", AlertProviderType::webhook, receiver.url("/webhook"));
  webhook.secret_file = secret_file;
  auto pagerduty = provider("pd", AlertProviderType::pagerduty, receiver.url("/v2/enqueue"));
  pagerduty.routing_key_file = key_file;
  Alerter alerter(
      config_of({webhook, provider("chat", AlertProviderType::slack, receiver.url("/slack")), pagerduty}),
      metrics, clock.fn());

  Alert failed = alert(AlertKind::sync_failed, "prod", "apply failed: <!channel> & co");
  failed.objects = {"apps/v1 Deployment shop/web", "v1 ConfigMap shop/conf"};
  failed.reason = "the server rejected the patch";
  Alert glass = alert(AlertKind::break_glass, "prod", "pushed past 2 findings");
  glass.revision = "0123456789abcdef0123456789abcdef01234567";
  glass.actor = "alice";
  glass.reason = "incident 42: rollback";
  alerter.raise(failed);
  alerter.resolve(AlertKind::sync_failed, "prod");
  alerter.raise(glass);
  REQUIRE(alerter.drain(k_deadline));
  REQUIRE(receiver.count() == 9);

  for (const auto& q : receiver.requests()) {
    INFO(q.path);
    CHECK(q.method == "POST");
    CHECK(q.header("Content-Type") == "application/json");
    CHECK(q.header("User-Agent") == "portcullis");
    CHECK(q.status == 200);
  }

  SECTION("webhook: the JSON document, signed as push events are") {
    struct Expected {
      const char* kind;
      const char* status;
      std::string revision, summary;
      std::vector<std::string> objects;
      const char* actor;
      std::string reason;
    };
    const Expected expected[] = {
        {"syncFailed", "firing", failed.revision, failed.summary, failed.objects, "portcullisd",
         failed.reason},
        {"syncFailed", "resolved", "", "sync succeeds again", {}, "portcullisd", ""},
        {"breakGlass", "event", glass.revision, glass.summary, {}, "alice", glass.reason},
    };
    std::vector<test::ReceivedRequest> requests;
    for (const auto& q : receiver.requests())
      if (q.path == "/webhook") requests.push_back(q);
    REQUIRE(requests.size() == std::size(expected));
    std::set<std::string> ids;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& e = expected[i];
      INFO(e.kind << " " << e.status);
      json b = json::parse(requests[i].body);
      CHECK(keys(b) == std::set<std::string>{"version", "id", "kind", "status", "target", "revision",
                                             "summary", "objects", "actor", "reason", "time"});
      CHECK(b["version"] == 1);
      CHECK(is_hex_id(b["id"]));
      ids.insert(b["id"]);
      CHECK(b["kind"] == e.kind);
      CHECK(b["status"] == e.status);
      CHECK(b["target"] == "prod");
      CHECK(b["revision"] == e.revision);
      CHECK(b["summary"] == e.summary);
      CHECK(b["objects"] == json(e.objects));
      CHECK(b["actor"] == e.actor);
      CHECK(b["reason"] == e.reason);
      CHECK(b["time"] == k_start_rfc3339);
      // The headers and the signature of shared/notify, verified by its own verifier.
      const auto& q = requests[i];
      CHECK(q.header(std::string(notify::k_event_id_header)) == b["id"]);
      CHECK(q.header(std::string(notify::k_timestamp_header)) == std::to_string(clock.unix_seconds()));
      const std::string id = q.header(std::string(notify::k_event_id_header));
      CHECK(notify::verify("s3cret", q.header(std::string(notify::k_signature_header)),
                           q.header(std::string(notify::k_timestamp_header)), {"POST", q.path, id, q.body},
                           clock.unix_seconds()) == notify::Rejection::none);
      CHECK(notify::verify("other", q.header(std::string(notify::k_signature_header)),
                           q.header(std::string(notify::k_timestamp_header)), {"POST", q.path, id, q.body},
                           clock.unix_seconds()) == notify::Rejection::bad_signature);
      // Bound to the path: the same request for another endpoint does not verify.
      CHECK(notify::verify("s3cret", q.header(std::string(notify::k_signature_header)),
                           q.header(std::string(notify::k_timestamp_header)), {"POST", "/other", id, q.body},
                           clock.unix_seconds()) == notify::Rejection::bad_signature);
    }
    CHECK(ids.size() == 3);
  }

  SECTION("Slack: a one-liner in text (mrkdwn escaped), details in blocks") {
    auto b = bodies(receiver, "/slack");
    REQUIRE(b.size() == 3);
    const std::string firing =
        ":rotating_light: [prod] sync failed at abc1234: apply failed: &lt;!channel&gt; &amp; co";
    CHECK(keys(b[0]) == std::set<std::string>{"text", "blocks"});
    CHECK(b[0]["text"] == firing);
    CHECK(b[0]["blocks"] == json::parse(R"([
      {"type":"section","text":{"type":"mrkdwn","text":")" +
                                        firing + R"("}},
      {"type":"section","text":{"type":"mrkdwn","text":"• apps/v1 Deployment shop/web\n• v1 ConfigMap shop/conf"}},
      {"type":"context","elements":[{"type":"mrkdwn","text":"revision abc1234def5678abc1234def5678abc1234def56"},
                                    {"type":"mrkdwn","text":"reason: the server rejected the patch"}]}])"));
    CHECK(b[1]["text"] == ":white_check_mark: [prod] recovered: sync succeeds again");
    CHECK(b[1]["blocks"].size() == 1);
    CHECK(b[2]["text"] ==
          ":fire_engine: [prod] break-glass push by alice at 0123456: pushed past 2 findings");
    CHECK(b[2]["blocks"][1]["elements"][1]["text"] == "reason: incident 42: rollback");
  }

  SECTION(
      "PagerDuty: Events v2 trigger and resolve under one dedup key; one-off events are incidents of their "
      "own") {
    auto b = bodies(receiver, "/v2/enqueue");
    REQUIRE(b.size() == 3);
    const json& trigger = b[0];
    CHECK(keys(trigger) == std::set<std::string>{"routing_key", "event_action", "dedup_key", "payload"});
    CHECK(trigger["routing_key"] == "pd-routing-key");
    CHECK(trigger["event_action"] == "trigger");
    CHECK(trigger["dedup_key"] == "portcullis/prod/syncFailed");
    const json& p = trigger["payload"];
    CHECK(keys(p) ==
          std::set<std::string>{"summary", "source", "severity", "component", "timestamp", "custom_details"});
    CHECK(p["summary"] == "[prod] sync failed at abc1234: apply failed: <!channel> & co");
    CHECK(p["source"] == "portcullisd");
    CHECK(p["severity"] == "critical");
    CHECK(p["component"] == "prod");
    CHECK(p["timestamp"] == k_start_rfc3339);
    const json& d = p["custom_details"];
    CHECK(is_hex_id(d["id"]));
    CHECK(d["kind"] == "syncFailed");
    CHECK(d["target"] == "prod");
    CHECK(d["revision"] == failed.revision);
    CHECK(d["summary"] == failed.summary);
    CHECK(d["objects"] == json(failed.objects));
    CHECK(d["actor"] == "portcullisd");
    CHECK(d["reason"] == failed.reason);

    CHECK(b[1] == json{{"routing_key", "pd-routing-key"},
                       {"event_action", "resolve"},
                       {"dedup_key", "portcullis/prod/syncFailed"}});

    CHECK(b[2]["event_action"] == "trigger");
    CHECK(b[2]["dedup_key"] ==
          "portcullis/prod/breakGlass/" + b[2]["payload"]["custom_details"]["id"].get<std::string>());
    CHECK(b[2]["payload"]["severity"] == "warning");
    CHECK(b[2]["payload"]["summary"] ==
          "[prod] break-glass push by alice at 0123456: pushed past 2 findings");
  }

  for (const char* p : {"hook", "chat", "pd"}) {
    INFO(p);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent(p, "syncFailed", "ok")) == 2);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent(p, "breakGlass", "ok")) == 1);
  }
  CHECK(metrics.render().find("# TYPE portcullis_alerts_sent_total counter") != std::string::npos);
  CHECK(metrics.render().find("# TYPE portcullis_alerts_dropped_total counter") != std::string::npos);
}

TEST_CASE("an open condition is sent once and resolved once; conditions are keyed by kind and target",
          "[alerts]") {
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  Alerter alerter(config_of({provider("hook", AlertProviderType::webhook, receiver.url())}), metrics,
                  clock.fn());

  struct Step {
    const char* name;
    std::function<void()> act;
    std::size_t total;  // requests received after the step
    bool open;          // syncFailed of prod
  };
  const Step steps[] = {
      {"first raise sends", [&] { alerter.raise(alert(AlertKind::sync_failed)); }, 1, true},
      {"raises while open do not",
       [&] {
         alerter.raise(alert(AlertKind::sync_failed));
         alerter.raise(alert(AlertKind::sync_failed, "prod", "another error"));
       },
       1, true},
      {"another target is another condition",
       [&] { alerter.raise(alert(AlertKind::sync_failed, "staging")); }, 2, true},
      {"another kind is another condition", [&] { alerter.raise(alert(AlertKind::out_of_sync)); }, 3, true},
      {"resolve sends the resolution", [&] { alerter.resolve(AlertKind::sync_failed, "prod"); }, 4, false},
      {"resolve of a closed condition sends nothing",
       [&] { alerter.resolve(AlertKind::sync_failed, "prod"); }, 4, false},
      {"resolve of a condition never raised sends nothing",
       [&] { alerter.resolve(AlertKind::prune_blocked, "prod"); }, 4, false},
      {"resolve of a one-off kind sends nothing", [&] { alerter.resolve(AlertKind::break_glass, "prod"); }, 4,
       false},
      {"raising again opens it again", [&] { alerter.raise(alert(AlertKind::sync_failed)); }, 5, true},
      {"one-off events send every time",
       [&] {
         alerter.raise(alert(AlertKind::drift_corrected));
         alerter.raise(alert(AlertKind::drift_corrected));
       },
       7, true},
  };
  for (const auto& s : steps) {
    INFO(s.name);
    s.act();
    REQUIRE(alerter.drain(k_deadline));
    CHECK(receiver.count() == s.total);
    CHECK(alerter.is_open(AlertKind::sync_failed, "prod") == s.open);
  }
  CHECK(alerter.is_open(AlertKind::sync_failed, "staging"));
  CHECK_FALSE(alerter.is_open(AlertKind::drift_corrected, "prod"));

  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& b : bodies(receiver, "/hook")) seen.emplace_back(b["kind"], b["status"]);
  CHECK(seen == std::vector<std::pair<std::string, std::string>>{{"syncFailed", "firing"},
                                                                 {"syncFailed", "firing"},
                                                                 {"outOfSync", "firing"},
                                                                 {"syncFailed", "resolved"},
                                                                 {"syncFailed", "firing"},
                                                                 {"driftCorrected", "event"},
                                                                 {"driftCorrected", "event"}});
}

TEST_CASE("an open condition is sent again after repeatInterval, not before", "[alerts]") {
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  AlertsConfig config = config_of({provider("hook", AlertProviderType::webhook, receiver.url())});
  config.repeat_interval = 1h;
  Alerter alerter(config, metrics, clock.fn());

  struct Step {
    std::chrono::milliseconds advance;
    std::size_t total;
  };
  const Step steps[] = {{0ms, 1}, {59min, 1}, {59s, 1}, {999ms, 1}, {1ms, 2}, {10min, 2}, {50min, 3}};
  for (const auto& s : steps) {
    INFO("after " << s.advance.count() << " ms more");
    clock.advance(s.advance);
    alerter.raise(alert(AlertKind::self_heal_loop));
    REQUIRE(alerter.drain(k_deadline));
    CHECK(receiver.count() == s.total);
  }
  alerter.resolve(AlertKind::self_heal_loop, "prod");
  REQUIRE(alerter.drain(k_deadline));
  auto b = bodies(receiver, "/hook");
  REQUIRE(b.size() == 4);
  CHECK(b[1]["status"] == "firing");
  CHECK(b[1]["id"] != b[0]["id"]);
  CHECK(b[3]["status"] == "resolved");
}

TEST_CASE("maxPerMinute: the excess is dropped and counted, resolutions still go out", "[alerts]") {
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  Alerter alerter(config_of({provider("hook", AlertProviderType::webhook, receiver.url())}, 3), metrics,
                  clock.fn());

  for (int i = 0; i < 5; ++i) alerter.raise(alert(AlertKind::drift_corrected));
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 3);
  CHECK(metric(metrics, "portcullis_alerts_dropped_total", dropped("hook", "rate")) == 2);

  // Informational alerts filled the minute: conditions still go out, up to maxPerMinute of
  // their own.
  alerter.raise(alert(AlertKind::sync_failed, "a"));
  alerter.raise(alert(AlertKind::self_heal_loop, "a"));
  alerter.raise(alert(AlertKind::break_glass, "a"));
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 6);
  // Over their rate a condition opens without being sent; a later raise sends it once the
  // window allows.
  alerter.raise(alert(AlertKind::sync_failed));
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 6);
  CHECK(alerter.is_open(AlertKind::sync_failed, "prod"));
  CHECK(metric(metrics, "portcullis_alerts_dropped_total", dropped("hook", "rate")) == 3);
  // And informational ones wait for a window with room for them.
  alerter.raise(alert(AlertKind::drift_corrected));
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 6);
  CHECK(metric(metrics, "portcullis_alerts_dropped_total", dropped("hook", "rate")) == 4);
  clock.advance(59s);
  alerter.raise(alert(AlertKind::sync_failed));
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 6);
  clock.advance(1s);  // everything sent is a minute old
  alerter.raise(alert(AlertKind::sync_failed));
  alerter.raise(alert(AlertKind::drift_corrected));
  alerter.raise(alert(AlertKind::drift_corrected));
  alerter.raise(alert(AlertKind::drift_corrected));
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 9);
  CHECK(metric(metrics, "portcullis_alerts_dropped_total", dropped("hook", "rate")) == 6);
  // The window is full, yet the resolution of what was sent goes out.
  alerter.resolve(AlertKind::sync_failed, "prod");
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 10);
  CHECK(bodies(receiver, "/hook").back()["status"] == "resolved");
  // A condition never sent (over the rate: the firing and the resolution count) resolves silently.
  alerter.raise(alert(AlertKind::out_of_sync, "b"));
  alerter.raise(alert(AlertKind::out_of_sync));
  alerter.resolve(AlertKind::out_of_sync, "prod");
  REQUIRE(alerter.drain(k_deadline));
  CHECK(receiver.count() == 11);
}

TEST_CASE("informational alerts never crowd out a condition", "[alerts]") {
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  Alerter alerter(config_of({provider("hook", AlertProviderType::webhook, receiver.url())}), metrics, clock.fn());
  // Some thirty drift corrections in a minute, as a fight over many objects makes them...
  for (int i = 0; i < 40; ++i) alerter.raise(alert(AlertKind::drift_corrected, "prod", "corrected " + std::to_string(i)));
  // ...then the self-heal loop they are: sent at once.
  alerter.raise(alert(AlertKind::self_heal_loop));
  REQUIRE(alerter.drain(k_deadline));
  auto b = bodies(receiver, "/hook");
  CHECK(std::count_if(b.begin(), b.end(), [](const auto& x) { return x["kind"] == "driftCorrected"; }) == 30);
  CHECK(std::count_if(b.begin(), b.end(), [](const auto& x) { return x["kind"] == "selfHealLoop"; }) == 1);
}

TEST_CASE("a provider's events list filters kinds; resolutions follow their kind", "[alerts]") {
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  Alerter alerter(
      config_of(
          {provider("all", AlertProviderType::webhook, receiver.url("/all")),
           provider("failures", AlertProviderType::webhook, receiver.url("/failures"), {"syncFailed"}),
           provider("glass", AlertProviderType::slack, receiver.url("/glass"), {"breakGlass", "outOfSync"})}),
      metrics, clock.fn());
  alerter.raise(alert(AlertKind::sync_failed));
  alerter.raise(alert(AlertKind::out_of_sync));
  alerter.raise(alert(AlertKind::drift_corrected));
  alerter.raise(alert(AlertKind::break_glass));
  alerter.resolve(AlertKind::sync_failed, "prod");
  alerter.resolve(AlertKind::out_of_sync, "prod");
  REQUIRE(alerter.drain(k_deadline));

  struct Case {
    const char* path;
    std::vector<std::string> expected;  // webhook "kind/status" or Slack text prefixes
  };
  const Case cases[] = {
      {"/all",
       {"syncFailed/firing", "outOfSync/firing", "driftCorrected/event", "breakGlass/event",
        "syncFailed/resolved", "outOfSync/resolved"}},
      {"/failures", {"syncFailed/firing", "syncFailed/resolved"}},
  };
  for (const auto& c : cases) {
    INFO(c.path);
    std::vector<std::string> seen;
    for (const auto& b : bodies(receiver, c.path))
      seen.push_back(b["kind"].get<std::string>() + "/" + b["status"].get<std::string>());
    CHECK(seen == c.expected);
  }
  std::vector<std::string> texts;
  for (const auto& b : bodies(receiver, "/glass")) texts.push_back(b["text"]);
  CHECK(texts ==
        std::vector<std::string>{":warning: [prod] out of sync at abc1234: something happened",
                                 ":fire_engine: [prod] break-glass push at abc1234: something happened",
                                 ":white_check_mark: [prod] recovered: in sync again"});
}

TEST_CASE("5xx and 429 are retried with backoff until delivered", "[alerts]") {
  for (int status : {503, 429}) {
    INFO("HTTP " << status);
    test::TempDir tmp;
    test::Receiver receiver;
    receiver.answer(status, 1);
    FakeClock clock;
    Metrics metrics;
    auto hook = provider("hook", AlertProviderType::webhook, receiver.url());
    hook.secret_file = tmp.write("secret", "s3cret");
    Alerter alerter(config_of({hook}), metrics, clock.fn());
    alerter.raise(alert(AlertKind::sync_failed));
    REQUIRE(receiver.wait_for(1, k_deadline));
    clock.advance(30s);  // the retry is signed at its own time
    REQUIRE(alerter.drain(k_deadline));
    auto r = receiver.requests();
    REQUIRE(r.size() == 2);
    CHECK(r[0].status == status);
    CHECK(r[1].status == 200);
    CHECK(r[1].at - r[0].at >= 900ms);  // the first backoff is 1 s
    CHECK(r[1].body == r[0].body);      // the same message: receivers de-duplicate by its id
    CHECK(r[1].header(std::string(notify::k_event_id_header)) ==
          r[0].header(std::string(notify::k_event_id_header)));
    CHECK(r[1].header(std::string(notify::k_timestamp_header)) == std::to_string(clock.unix_seconds()));
    CHECK(notify::verify("s3cret", r[1].header(std::string(notify::k_signature_header)),
                         r[1].header(std::string(notify::k_timestamp_header)),
                         {"POST", r[1].path, r[1].header(std::string(notify::k_event_id_header)), r[1].body},
                         clock.unix_seconds()) == notify::Rejection::none);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("hook", "syncFailed", "ok")) == 1);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("hook", "syncFailed", "failed")) == 0);
  }
}

TEST_CASE("other 4xx (and 3xx) are not retried, counted as rejected, and do not hold up the next alert",
          "[alerts]") {
  for (int status : {400, 401, 404, 301}) {
    INFO("HTTP " << status);
    test::Receiver receiver;
    receiver.answer(status, 1);
    FakeClock clock;
    Metrics metrics;
    Alerter alerter(config_of({provider("chat", AlertProviderType::slack, receiver.url())}), metrics,
                    clock.fn());
    alerter.raise(alert(AlertKind::prune_blocked));
    REQUIRE(alerter.drain(k_deadline));
    CHECK(receiver.count() == 1);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("chat", "pruneBlocked", "rejected")) == 1);
    alerter.raise(alert(AlertKind::break_glass));
    REQUIRE(alerter.drain(k_deadline));
    CHECK(receiver.count() == 2);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("chat", "breakGlass", "ok")) == 1);
  }
}

TEST_CASE("an unreadable secret or routing key sends nothing and is counted", "[alerts]") {
  test::TempDir tmp;
  auto empty = tmp.write("empty", "\n");
  struct Case {
    const char* name;
    AlertProviderType type;
    std::filesystem::path secret_file, routing_key_file;
  };
  const Case cases[] = {
      {"webhook secret missing", AlertProviderType::webhook, tmp / "missing", {}},
      {"webhook secret empty", AlertProviderType::webhook, empty, {}},
      {"routing key missing", AlertProviderType::pagerduty, {}, tmp / "missing"},
      {"routing key empty", AlertProviderType::pagerduty, {}, empty},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    test::Receiver receiver;
    FakeClock clock;
    Metrics metrics;
    auto p = provider("p", c.type, receiver.url());
    p.secret_file = c.secret_file;
    p.routing_key_file = c.routing_key_file;
    Alerter alerter(config_of({p}), metrics, clock.fn());
    alerter.raise(alert(AlertKind::sync_failed));
    REQUIRE(alerter.drain(k_deadline));
    CHECK(receiver.count() == 0);
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("p", "syncFailed", "error")) == 1);
  }
}

TEST_CASE(
    "an unreachable provider blocks neither raise() nor the other providers; drain and shutdown end in time",
    "[alerts]") {
  ClosedPort closed;
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  auto started = std::chrono::steady_clock::now();
  {
    Alerter alerter(config_of({provider("down", AlertProviderType::webhook, closed.url()),
                               provider("up", AlertProviderType::slack, receiver.url())}),
                    metrics, clock.fn());
    auto before = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) alerter.raise(alert(AlertKind::drift_corrected));
    CHECK(std::chrono::steady_clock::now() - before < 500ms);  // only queued
    CHECK(receiver.wait_for(20, k_deadline));
    auto drain_started = std::chrono::steady_clock::now();
    CHECK_FALSE(alerter.drain(300ms));  // "down" is in backoff
    CHECK(std::chrono::steady_clock::now() - drain_started < 3s);
    started = std::chrono::steady_clock::now();
  }
  // ~Alerter: a short deadline (2 s), and a provider that failed at shutdown is not waited for.
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(receiver.count() == 20);
  CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("up", "driftCorrected", "ok")) == 20);
  double failed = metric(metrics, "portcullis_alerts_sent_total", sent("down", "driftCorrected", "failed"));
  double at_shutdown = metric(metrics, "portcullis_alerts_dropped_total", dropped("down", "shutdown"));
  CHECK(failed + at_shutdown == 20);
}

TEST_CASE("the queue is bounded: the oldest alerts are dropped and counted", "[alerts]") {
  ClosedPort closed;
  FakeClock clock;
  Metrics metrics;
  {
    Alerter alerter(config_of({provider("down", AlertProviderType::webhook, closed.url())}, 10'000), metrics,
                    clock.fn());
    for (int i = 0; i < 1010; ++i) alerter.raise(alert(AlertKind::drift_corrected));
    // 1000 wait in the queue; the first may be out of it, in flight or back in backoff.
    double overflow = metric(metrics, "portcullis_alerts_dropped_total", dropped("down", "queue"));
    CHECK(overflow >= 9);
    CHECK(overflow <= 10);
  }
}

TEST_CASE("a full queue drops informational alerts before a condition", "[alerts]") {
  test::Receiver receiver;
  receiver.answer(503, 2);  // the first delivery goes into backoff (1 s, then 2 s), holding the queue
  FakeClock clock;
  Metrics metrics;
  Alerter alerter(config_of({provider("hook", AlertProviderType::webhook, receiver.url())}, 10'000), metrics,
                  clock.fn());
  alerter.raise(alert(AlertKind::self_heal_loop));
  REQUIRE(receiver.wait_for(1, k_deadline));
  alerter.raise(alert(AlertKind::sync_failed));  // now the oldest in the queue but one
  for (int i = 0; i < 1010; ++i) alerter.raise(alert(AlertKind::drift_corrected));
  CHECK(metric(metrics, "portcullis_alerts_dropped_total", dropped("hook", "queue")) >= 10);
  REQUIRE(alerter.drain(std::chrono::seconds(60)));
  auto b = bodies(receiver, "/hook");
  CHECK(std::count_if(b.begin(), b.end(), [](const auto& x) { return x["kind"] == "syncFailed"; }) == 1);
  CHECK(std::count_if(b.begin(), b.end(), [](const auto& x) { return x["kind"] == "selfHealLoop"; }) == 3);  // twice 503, then delivered
}

TEST_CASE("the destructor delivers what is queued", "[alerts]") {
  test::Receiver receiver;
  FakeClock clock;
  Metrics metrics;
  {
    Alerter alerter(config_of({provider("hook", AlertProviderType::webhook, receiver.url())}), metrics,
                    clock.fn());
    for (int i = 0; i < 5; ++i) alerter.raise(alert(AlertKind::break_glass));
  }
  CHECK(receiver.count() == 5);
  CHECK(metric(metrics, "portcullis_alerts_dropped_total", dropped("hook", "shutdown")) == 0);
}

TEST_CASE("https: the server certificate is verified, against caFile when given", "[alerts]") {
  test::TempDir tmp;
  auto served = test::self_signed(tmp, "served");
  auto other = test::self_signed(tmp, "other");
  auto not_pem = tmp.write("not.pem", "not a certificate\n");
  test::Receiver receiver(served);
  struct Case {
    const char* name;
    std::string host;
    std::filesystem::path ca_file;
    const char* result;  // what portcullis_alerts_sent_total counts
  };
  const Case cases[] = {
      {"caFile is the receiver's certificate", "127.0.0.1", served.cert, "ok"},
      {"no caFile: the system's store does not trust it", "127.0.0.1", {}, "failed"},
      {"caFile of another certificate", "127.0.0.1", other.cert, "failed"},
      {"trusted, but issued for another name", "localhost", served.cert, "failed"},
      {"caFile is not PEM: not retried", "127.0.0.1", not_pem, "error"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    FakeClock clock;
    Metrics metrics;
    auto before = receiver.count();
    {
      auto p = provider("tls", AlertProviderType::slack, receiver.url("/tls", c.host));
      p.ca_file = c.ca_file;
      Alerter alerter(config_of({p}), metrics, clock.fn());
      alerter.raise(alert(AlertKind::sync_failed));
      if (std::string(c.result) != "failed") CHECK(alerter.drain(k_deadline));
      // Failing ones are retried once within the destructor's deadline, then given up.
    }
    CHECK(receiver.count() - before == (std::string(c.result) == "ok" ? 1u : 0u));
    CHECK(metric(metrics, "portcullis_alerts_sent_total", sent("tls", "syncFailed", c.result)) == 1);
  }
}
