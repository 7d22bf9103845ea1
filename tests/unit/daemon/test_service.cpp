#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon/service.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

namespace {

yaml::Stream parse_status(const std::string& text) {
  INFO(text);
  REQUIRE_FALSE(text.empty());
  CHECK(text.back() == '\n');
  auto parsed = yaml::parse_json(text);
  INFO((parsed ? std::string() : parsed.error().describe()));
  REQUIRE(parsed);
  REQUIRE(parsed->documents.size() == 1);
  REQUIRE(parsed->documents[0].root);
  REQUIRE(parsed->documents[0].root->is_mapping());
  return std::move(*parsed);
}

Config config_with(std::vector<std::string> targets, std::string branch = "main") {
  Config c;
  c.repository.url = "file:///nonexistent/config.git";
  c.repository.branch = std::move(branch);
  c.state_dir = "/nonexistent/state";
  for (auto& name : targets) {
    TargetConfig t;
    t.name = name;
    t.path = "environments/" + name;
    c.targets.push_back(t);
  }
  return c;
}

notify::Event event(std::vector<std::string> refs) {
  notify::Event e;
  e.id = notify::new_event_id();
  e.repository = "config.git";
  for (auto& r : refs) e.refs.push_back({r, std::string(40, '0'), std::string(40, '1')});
  return e;
}

// The value of portcullis_events_total{result="...."} in the service's metrics, 0 when absent.
double events(Service& s, const std::string& result) {
  std::string text = s.metrics().render();
  std::string prefix = "portcullis_events_total{result=\"" + result + "\"} ";
  auto at = text.find("\n" + prefix);
  if (at == std::string::npos) return 0;
  auto start = at + 1 + prefix.size();
  return std::stod(text.substr(start, text.find('\n', start) - start));
}

}  // namespace

TEST_CASE("status_json is valid JSON with every field of every target", "[service]") {
  TargetStatus prod;
  prod.name = "prod";
  prod.path = "environments/prod";
  prod.desired_revision = std::string(40, 'b');
  prod.applied_revision = std::string(40, 'a');
  prod.state = SyncState::out_of_sync;
  prod.last_error = "";
  prod.prune_blocked = "pruning 3 of 4 objects exceeds maxPruneShare 50%";
  prod.objects = 1234;
  prod.last_sync_time = "2024-05-01T12:00:00Z";
  prod.last_sync_ms = 98765;
  prod.drifted = 2;
  prod.drift = {"apps/v1 Deployment shop/web: /spec/replicas", "v1 ConfigMap shop/settings: deleted"};
  prod.healed = 7;
  prod.self_heal_loop = "apps/v1 Deployment shop/web was corrected 5 times in 10m";
  prod.drift_mode = "selfHeal";
  prod.health = "Degraded";
  prod.health_reason = "apps/v1 Deployment shop/web: ProgressDeadlineExceeded";
  prod.cluster = "https://a.example:6443";
  TargetStatus dev;
  dev.name = "dev";
  dev.path = "environments/dev";
  dev.state = SyncState::failed;
  dev.cluster_up = false;
  dev.last_error = "apply v1 ConfigMap \"q\"uoted\": HTTP 422:\n\tline two \\ back\\slash \x01 ünï ✓";

  auto parsed = parse_status(status_json({prod, dev}));
  const yaml::Node& root = *parsed.documents[0].root;
  REQUIRE(root.entries.size() == 1);
  const yaml::Node* targets = root.get("targets");
  REQUIRE(targets);
  REQUIRE(targets->is_sequence());
  REQUIRE(targets->items.size() == 2);

  const yaml::Node& p = *targets->items[0];
  std::vector<std::string> keys;
  for (const auto& e : p.entries) keys.emplace_back(e.key->text);
  CHECK(keys == std::vector<std::string>{"name", "path", "desiredRevision", "appliedRevision", "state", "lastError",
                                         "pruneBlocked", "objects", "lastSyncTime", "lastSyncMs", "health",
                                         "healthReason", "driftMode", "drifted", "drift", "healed", "selfHealLoop",
                                         "breakGlass", "lastFetchTime", "cluster", "clusterUp"});
  CHECK(p.get_string("health") == "Degraded");
  CHECK(p.get_string("healthReason") == prod.health_reason);
  CHECK(p.get_string("driftMode") == "selfHeal");
  CHECK(p.get("drifted")->value.integer == 2);
  REQUIRE(p.get("drift")->items.size() == 2);
  CHECK(p.get("drift")->items[1]->text == "v1 ConfigMap shop/settings: deleted");
  CHECK(p.get("healed")->value.integer == 7);
  CHECK(p.get_string("selfHealLoop") == prod.self_heal_loop);
  CHECK(p.get_string("name") == "prod");
  CHECK(p.get_string("path") == "environments/prod");
  CHECK(p.get_string("desiredRevision") == std::string(40, 'b'));
  CHECK(p.get_string("appliedRevision") == std::string(40, 'a'));
  CHECK(p.get_string("state") == "OutOfSync");
  CHECK(p.get_string("lastError") == "");
  CHECK(p.get_string("pruneBlocked") == prod.prune_blocked);
  REQUIRE(p.get("objects"));
  CHECK(p.get("objects")->type == yaml::Type::integer);
  CHECK(p.get("objects")->value.integer == 1234);
  CHECK(p.get_string("lastSyncTime") == "2024-05-01T12:00:00Z");
  CHECK(p.get_string("cluster") == "https://a.example:6443");
  CHECK(p.get("clusterUp")->value.boolean);
  REQUIRE(p.get("lastSyncMs"));
  CHECK(p.get("lastSyncMs")->value.integer == 98765);

  const yaml::Node& d = *targets->items[1];
  CHECK(d.get_string("name") == "dev");
  CHECK(d.get_string("state") == "Failed");
  CHECK(d.get_string("lastError") == dev.last_error);  // escaped, and read back unchanged
  CHECK(d.get_string("appliedRevision") == "");
  CHECK(d.get("objects")->value.integer == 0);
  CHECK_FALSE(d.get("clusterUp")->value.boolean);
}

TEST_CASE("status_json escapes names and paths, and lists no targets as an empty array", "[service]") {
  TargetStatus t;
  t.name = "we\"ird\\name";
  t.path = "dir/with \"quotes\"\nand newline";
  t.prune_blocked = "tab\there";
  auto parsed = parse_status(status_json({t}));
  const yaml::Node* item = parsed.documents[0].root->get("targets")->items[0];
  CHECK(item->get_string("name") == t.name);
  CHECK(item->get_string("path") == t.path);
  CHECK(item->get_string("pruneBlocked") == t.prune_blocked);
  CHECK(item->get_string("state") == "Unknown");

  auto empty = parse_status(status_json({}));
  const yaml::Node* targets = empty.documents[0].root->get("targets");
  REQUIRE(targets);
  CHECK(targets->is_sequence());
  CHECK(targets->items.empty());
}

TEST_CASE("a new Service reports every target as Unknown and is not ready", "[service]") {
  Service s(config_with({"prod", "dev"}));
  auto status = s.status();
  REQUIRE(status.size() == 2);
  CHECK(status[0].name == "prod");
  CHECK(status[0].path == "environments/prod");
  CHECK(status[0].state == SyncState::unknown);
  CHECK(status[1].name == "dev");
  CHECK_FALSE(s.ready());
  CHECK(s.config().targets.size() == 2);
  parse_status(status_json(status));
}

TEST_CASE("Service::on_event queues events for its branch and ignores the others", "[service]") {
  Service s(config_with({"prod"}, "release"));
  struct Case {
    const char* name;
    std::vector<std::string> refs;
    bool queued;
  };
  const Case cases[] = {
      {"the branch", {"refs/heads/release"}, true},
      {"another branch", {"refs/heads/main"}, false},
      {"a branch whose name starts with it", {"refs/heads/release-2"}, false},
      {"a branch that ends with it", {"refs/heads/pre/release"}, false},
      {"a tag of the same name", {"refs/tags/release"}, false},
      {"the bare name", {"release"}, false},
      {"several refs, one of them the branch", {"refs/tags/v1", "refs/heads/release"}, true},
      {"several refs, none of them the branch", {"refs/tags/v1", "refs/heads/main"}, false},
      {"no refs (a manual trigger)", {}, true},
  };
  double queued = 0, ignored = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    s.on_event(event(c.refs));
    (c.queued ? queued : ignored) += 1;
    CHECK(events(s, "queued") == queued);
    CHECK(events(s, "ignored") == ignored);
  }
  CHECK_THAT(s.metrics().render(), Catch::Contains("# TYPE portcullis_events_total counter\n"));
}

TEST_CASE("allow_prune knows only the configured targets", "[service]") {
  Service s(config_with({"prod", "dev"}));
  CHECK(s.allow_prune("prod"));
  CHECK(s.allow_prune("dev"));
  CHECK_FALSE(s.allow_prune("staging"));
  CHECK_FALSE(s.allow_prune(""));
  CHECK_FALSE(s.allow_prune("Prod"));
  CHECK_FALSE(s.allow_prune("prod "));
}

TEST_CASE("a Service declares every metric it records", "[service]") {
  Service s(config_with({"prod"}));
  std::string text = s.metrics().render();
  for (const char* name :
       {"portcullis_syncs_total", "portcullis_sync_duration_seconds", "portcullis_objects_applied_total",
        "portcullis_objects_pruned_total", "portcullis_managed_objects", "portcullis_prune_blocked_total",
        "portcullis_last_applied_revision_info", "portcullis_notify_latency_seconds", "portcullis_events_total",
        "portcullis_fetch_errors_total"}) {
    INFO(name);
    CHECK_THAT(text, Catch::Contains(std::string("# HELP ") + name + " "));
    CHECK_THAT(text, Catch::Contains(std::string("# TYPE ") + name + " "));
  }
}
