#include <catch2/catch.hpp>

#include <algorithm>

#include <filesystem>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "schemas/embedded.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
namespace fs = std::filesystem;

namespace {

// Every key of schemas/daemon.schema.json, with values other than the defaults; relative and
// absolute paths mixed.
const char* k_full = R"(listen: 0.0.0.0:9555
tls:
  certFile: tls/cert.pem
  keyFile: /etc/ssl/private/portcullisd.key
secretFile: secrets/notify
api:
  readTokenFile: secrets/read-token
  requestTimeout: 2500ms
  maxConnections: 32
  maxConnectionsPerClient: 4
stateDir: state
auditLog: /var/log/portcullisd/audit.jsonl
pollInterval: 1m30s
clusterRequestTimeout: 12s
inventoryNamespace: gitops-inventory
repository:
  url: ssh://git@git.example.com:2222/config.git
  branch: release
  sshKeyFile: keys/id_ed25519
  knownHostsFile: /etc/ssh/ssh_known_hosts
  username: deploy
  passwordFile: keys/token
  caFile: ../ca.pem
targets:
- name: prod
  path: /environments/prod/
  kubeconfig: kube/prod.yaml
  context: prod-admin
  namespace: shop
  prune: false
  allowEmpty: true
  maxPruneShare: 0.25
  forceConflicts: false
  concurrency: 4
  watch: false
  selfHeal: false
  detectOnly: true
  ignore:
  - {group: apps, kind: Deployment, name: "web-*", namespace: shop, jsonPointers: [/spec/replicas, /metadata/annotations/a~1b]}
  - jsonPointers: [/data]
  namespaces: [shop, "shop-*", kube-system]
  clusterKinds: [Namespace, rbac.authorization.k8s.io/ClusterRole, apiextensions.k8s.io/CustomResourceDefinition]
  adopt: true
- name: dev
  path: environments/dev
  maxPruneShare: 1
  breakGlass:
    allowed: [alice@example.com, bob]
    maxDuration: 90m
    onExpiry: revert
    syncs: hold
    access: {kubeconfig: kube/granter.yaml, context: granter, clusterRole: edit}
breakGlass:
  allowedSignersFile: keys/oncall.allowed_signers
  daemonId: prod-east
images:
  enabled: true
  pollInterval: 30s
  registryUnavailableAfter: 10m
  maxTags: 5000
  registries:
  - {host: "registry.example:5000", url: "https://registry.example:5000", caFile: pki/registry-ca.pem,
     credentialsFile: secrets/registry, requestsPerSecond: 2.5, timeout: 3s}
  - {host: ghcr.example}
  bot:
    name: portcullis-bot
    email: bot@example.com
    signingKeyFile: keys/bot_ed25519
    pushUrl: ssh://bot@git.example.com:2222/config.git
    sshKeyFile: keys/bot_push
    knownHostsFile: /etc/ssh/ssh_known_hosts
    username: bot
    passwordFile: secrets/bot-token
    caFile: /etc/ssl/git-ca.pem
alerts:
  outOfSyncAfter: 5m
  sourceUnavailableAfter: 90s
  repeatInterval: 30m
  maxPerMinute: 12
  providers:
  - {name: ops, type: webhook, url: "https://hooks.example.com/portcullis", secretFile: secrets/alerts, caFile: /etc/ssl/ops-ca.pem,
     events: [syncFailed, driftCorrected]}
  - {name: chat, type: slack, url: "https://hooks.slack.com/services/T/B/X"}
  - {name: pager, type: pagerduty, url: "https://events.pagerduty.com/v2/enqueue", routingKeyFile: /etc/portcullis/pd-key}
statusPage:
  commitUrl: "https://git.example.com/ops/config/commit/{commit}"
  gateAuditLog: /srv/git/config.git/portcullis/audit.jsonl
  maxEventStreams: 3
leaderElection:
  kubeconfig: kube/lease.yaml
  context: lease-admin
  namespace: portcullis-leases
  leaseName: portcullisd-eu
  identity: replica-1
  leaseDuration: 20s
  renewDeadline: 12s
  retryPeriod: 3s
sharding:
  enabled: true
  shards: 16
  kubeconfig: kube/shards.yaml
  context: shard-admin
  leaseNamespace: portcullis-shards
  leasePrefix: portcullisd-eu
  identity: replica-1
  leaseDuration: 30s
  renewDeadline: 20s
  retryPeriod: 4s
)";

const fs::path k_base = "/etc/portcullisd";

Config parse_ok(const std::string& text, const fs::path& base = k_base) {
  auto c = parse_config(text, "daemon.yaml", base);
  INFO(text << "\n" << (c ? std::string() : c.error().describe()));
  REQUIRE(c);
  return std::move(*c);
}

const yaml::Node& root_of(const yaml::Stream& s) {
  REQUIRE(s.documents.size() == 1);
  REQUIRE(s.documents[0].root);
  return *s.documents[0].root;
}

}  // namespace

TEST_CASE("a daemon.yaml with every key parses into every field", "[config]") {
  Config c = parse_ok(k_full);
  CHECK(c.source.empty());
  CHECK(c.listen_host == "0.0.0.0");
  CHECK(c.listen_port == 9555);
  CHECK(c.tls_cert == k_base / "tls/cert.pem");
  CHECK(c.tls_key == "/etc/ssl/private/portcullisd.key");
  CHECK(c.secret_file == k_base / "secrets/notify");
  CHECK(c.api.read_token_file == k_base / "secrets/read-token");
  CHECK(c.api.request_timeout == std::chrono::milliseconds(2500));
  CHECK(c.api.max_connections == 32);
  CHECK(c.api.max_connections_per_client == 4);
  CHECK(c.state_dir == k_base / "state");
  CHECK(c.audit_log == "/var/log/portcullisd/audit.jsonl");
  CHECK(c.audit_path() == "/var/log/portcullisd/audit.jsonl");
  CHECK(c.poll_interval == std::chrono::milliseconds(90'000));
  CHECK(c.cluster_request_timeout == std::chrono::seconds(12));
  CHECK(c.inventory_namespace == "gitops-inventory");

  CHECK(c.repository.url == "ssh://git@git.example.com:2222/config.git");
  CHECK(c.repository.branch == "release");
  CHECK(c.repository.ssh_key_file == k_base / "keys/id_ed25519");
  CHECK(c.repository.known_hosts_file == "/etc/ssh/ssh_known_hosts");
  CHECK(c.repository.username == "deploy");
  CHECK(c.repository.password_file == k_base / "keys/token");
  CHECK(c.repository.ca_file == k_base / "../ca.pem");
  CHECK(c.break_glass.allowed_signers_file == k_base / "keys/oncall.allowed_signers");
  CHECK(c.break_glass.daemon_id == "prod-east");
  REQUIRE(c.targets[1].break_glass);
  const TargetBreakGlass& bg = *c.targets[1].break_glass;
  CHECK(bg.allowed == std::vector<std::string>{"alice@example.com", "bob"});
  CHECK(bg.max_duration == std::chrono::seconds(5400));
  CHECK(bg.on_expiry == OnExpiry::revert);
  CHECK(bg.hold_syncs);
  REQUIRE(bg.access);
  CHECK(bg.access->kubeconfig == k_base / "kube/granter.yaml");
  CHECK(bg.access->context == "granter");
  CHECK(bg.access->cluster_role == "edit");
  CHECK_FALSE(c.targets[0].break_glass);

  REQUIRE(c.targets.size() == 2);
  const TargetConfig& prod = c.targets[0];
  CHECK(prod.name == "prod");
  CHECK(prod.path == "environments/prod");  // leading and trailing slashes dropped
  CHECK(prod.kubeconfig == k_base / "kube/prod.yaml");
  CHECK(prod.context == "prod-admin");
  CHECK(prod.namespace_ == "shop");
  CHECK_FALSE(prod.prune);
  CHECK(prod.allow_empty);
  CHECK(prod.max_prune_share == Approx(0.25));
  CHECK_FALSE(prod.force_conflicts);
  CHECK(prod.concurrency == 4);
  CHECK_FALSE(prod.watch);
  CHECK_FALSE(prod.self_heal);
  CHECK(prod.detect_only);
  REQUIRE(prod.ignore.size() == 2);
  CHECK(prod.ignore[0].group == "apps");
  CHECK(prod.ignore[0].kind == "Deployment");
  CHECK(prod.ignore[0].name == "web-*");
  CHECK(prod.ignore[0].namespace_ == "shop");
  CHECK(prod.ignore[0].pointers == std::vector<std::string>{"/spec/replicas", "/metadata/annotations/a~1b"});
  CHECK(prod.ignore[1].kind.empty());
  CHECK(prod.ignore[1].pointers == std::vector<std::string>{"/data"});
  CHECK(prod.namespaces == std::vector<std::string>{"shop", "shop-*", "kube-system"});
  CHECK(prod.cluster_kinds == std::vector<std::string>{"Namespace", "rbac.authorization.k8s.io/ClusterRole",
                                                       "apiextensions.k8s.io/CustomResourceDefinition"});
  CHECK(prod.adopt);

  CHECK(c.alerts.out_of_sync_after == std::chrono::minutes(5));
  CHECK(c.alerts.source_unavailable_after == std::chrono::seconds(90));
  CHECK(c.alerts.repeat_interval == std::chrono::minutes(30));
  CHECK(c.alerts.max_per_minute == 12);
  REQUIRE(c.alerts.providers.size() == 3);
  CHECK(c.alerts.providers[0].name == "ops");
  CHECK(c.alerts.providers[0].type == AlertProviderType::webhook);
  CHECK(c.alerts.providers[0].url == "https://hooks.example.com/portcullis");
  CHECK(c.alerts.providers[0].secret_file == k_base / "secrets/alerts");
  CHECK(c.alerts.providers[0].ca_file == "/etc/ssl/ops-ca.pem");
  CHECK(c.alerts.providers[0].events == std::vector<std::string>{"syncFailed", "driftCorrected"});
  CHECK(c.alerts.providers[1].type == AlertProviderType::slack);
  CHECK(c.alerts.providers[1].events.empty());
  CHECK(c.alerts.providers[2].type == AlertProviderType::pagerduty);
  CHECK(c.alerts.providers[2].routing_key_file == "/etc/portcullis/pd-key");

  CHECK(c.status_page.commit_url == "https://git.example.com/ops/config/commit/{commit}");
  CHECK(c.status_page.gate_audit_log == "/srv/git/config.git/portcullis/audit.jsonl");
  CHECK(c.status_page.max_event_streams == 3);
  CHECK(c.leader_election.enabled);
  CHECK(c.leader_election.kubeconfig == "/etc/portcullisd/kube/lease.yaml");
  CHECK(c.leader_election.context == "lease-admin");
  CHECK(c.leader_election.namespace_ == "portcullis-leases");
  CHECK(c.leader_election.lease_name == "portcullisd-eu");
  CHECK(c.leader_election.identity == "replica-1");
  CHECK(c.leader_election.lease_duration == std::chrono::seconds(20));
  CHECK(c.leader_election.renew_deadline == std::chrono::seconds(12));
  CHECK(c.leader_election.retry_period == std::chrono::seconds(3));
  CHECK(c.sharding.enabled);
  CHECK(c.sharding.shards == 16);
  CHECK(c.sharding.lease.kubeconfig == "/etc/portcullisd/kube/shards.yaml");
  CHECK(c.sharding.lease.context == "shard-admin");
  CHECK(c.sharding.lease.namespace_ == "portcullis-shards");
  CHECK(c.sharding.lease.lease_name == "portcullisd-eu");
  CHECK(c.sharding.lease.identity == "replica-1");
  CHECK(c.sharding.lease.lease_duration == std::chrono::seconds(30));
  CHECK(c.sharding.lease.renew_deadline == std::chrono::seconds(20));
  CHECK(c.sharding.lease.retry_period == std::chrono::seconds(4));

  const TargetConfig& dev = c.targets[1];
  CHECK(dev.name == "dev");
  CHECK(dev.path == "environments/dev");
  CHECK(dev.max_prune_share == 1.0);  // an integer in YAML
  CHECK(dev.kubeconfig.empty());
  CHECK(dev.prune);
  CHECK(dev.watch);
  CHECK(dev.self_heal);
  CHECK_FALSE(dev.detect_only);
  CHECK(dev.ignore.empty());
  CHECK_FALSE(dev.namespaces);  // its own namespace only
  CHECK(dev.cluster_kinds == std::vector<std::string>{"Namespace"});
  CHECK_FALSE(dev.adopt);
}

TEST_CASE("images: registries, the bot and the defaults", "[config]") {
  Config c = parse_ok(k_full);
  const ImagesConfig& im = c.images;
  CHECK(im.enabled);
  CHECK(im.poll_interval == std::chrono::seconds(30));
  CHECK(im.registry_unavailable_after == std::chrono::minutes(10));
  CHECK(im.max_tags == 5000);
  REQUIRE(im.registries.size() == 2);
  CHECK(im.registries[0].host == "registry.example:5000");
  CHECK(im.registries[0].ca_file == k_base / "pki/registry-ca.pem");
  CHECK(im.registries[0].credentials_file == k_base / "secrets/registry");
  CHECK(im.registries[0].requests_per_second == 2.5);
  CHECK(im.registries[0].timeout == std::chrono::seconds(3));
  CHECK(im.registries[1].url == "https://ghcr.example");
  CHECK(im.registries[1].requests_per_second == 10);
  CHECK(im.bot.name == "portcullis-bot");
  CHECK(im.bot.signing_key_file == k_base / "keys/bot_ed25519");
  CHECK(im.bot.push_url == "ssh://bot@git.example.com:2222/config.git");
  CHECK(im.bot.password_file == k_base / "secrets/bot-token");
  // Defaults: off; the bot pushes where the daemon fetches.
  Config minimal = parse_ok("repository: {url: file:///srv/git/config.git}\ntargets: [{name: a, path: env/a}]\n"
                            "images: {bot: {name: b, email: b@x.example}}\n");
  CHECK_FALSE(minimal.images.enabled);
  CHECK(minimal.images.poll_interval == std::chrono::minutes(1));
  CHECK(minimal.images.bot.push_url == "file:///srv/git/config.git");
  struct Bad { const char* why; std::string images; };
  for (const auto& b : std::vector<Bad>{
           {"enabled without a bot", "{enabled: true}"},
           {"a registry twice", "{registries: [{host: r.example}, {host: r.example}]}"},
           {"a poll interval below 1s", "{pollInterval: 10ms}"},
           {"a host with a path", "{registries: [{host: r.example/x}]}"},
           {"a bot email without @", "{bot: {name: b, email: nobody}}"},
           {"a bot name with a newline", "{bot: {name: \"a\\nb\", email: b@x.example}}"},
       }) {
    INFO(b.why);
    auto r = parse_config("repository: {url: file:///srv/git/config.git}\ntargets: [{name: a, path: env/a}]\nimages: " + b.images + "\n",
                          "daemon.yaml", k_base);
    CHECK_FALSE(r);
  }
}

TEST_CASE("the full example covers every key of the daemon schema", "[config]") {
  // Keeps the test above complete when the schema grows.
  auto schema = yaml::parse_json(schemas::daemon_schema());
  REQUIRE(schema);
  auto example = yaml::parse_yaml(k_full);
  REQUIRE(example);
  const yaml::Node& s = root_of(*schema);
  const yaml::Node& e = root_of(*example);
  struct Level {
    const char* where;
    const yaml::Node* properties;
    std::vector<const yaml::Node*> examples;  // the key must be in one of them
  };
  const yaml::Node* targets = e.get("targets");
  REQUIRE(targets);
  REQUIRE_FALSE(targets->items.empty());
  const Level levels[] = {
      {"top level", s.get("properties"), {&e}},
      {"tls", s.at({"properties", "tls", "properties"}), {e.get("tls")}},
      {"api", s.at({"properties", "api", "properties"}), {e.get("api")}},
      {"repository", s.at({"properties", "repository", "properties"}), {e.get("repository")}},
      {"targets[]", s.at({"properties", "targets", "items", "properties"}), {targets->items[0], targets->items[1]}},
      {"targets[].ignore[]", s.at({"properties", "targets", "items", "properties", "ignore", "items", "properties"}),
       {targets->items[0]->get("ignore")->items[0]}},
      {"alerts", s.at({"properties", "alerts", "properties"}), {e.get("alerts")}},
      {"breakGlass", s.at({"properties", "breakGlass", "properties"}), {e.get("breakGlass")}},
      {"targets[].breakGlass", s.at({"properties", "targets", "items", "properties", "breakGlass", "properties"}),
       {targets->items[1]->get("breakGlass")}},
      {"targets[].breakGlass.access",
       s.at({"properties", "targets", "items", "properties", "breakGlass", "properties", "access", "properties"}),
       {targets->items[1]->at({"breakGlass", "access"})}},
      {"images", s.at({"properties", "images", "properties"}), {e.get("images")}},
      {"images.registries[]", s.at({"properties", "images", "properties", "registries", "items", "properties"}),
       {e.at({"images", "registries"})->items.begin(), e.at({"images", "registries"})->items.end()}},
      {"images.bot", s.at({"properties", "images", "properties", "bot", "properties"}), {e.at({"images", "bot"})}},
      {"alerts.providers[]", s.at({"properties", "alerts", "properties", "providers", "items", "properties"}),
       {e.at({"alerts", "providers"})->items.begin(), e.at({"alerts", "providers"})->items.end()}},
      {"statusPage", s.at({"properties", "statusPage", "properties"}), {e.get("statusPage")}},
      {"leaderElection", s.at({"properties", "leaderElection", "properties"}), {e.get("leaderElection")}},
      {"sharding", s.at({"properties", "sharding", "properties"}), {e.get("sharding")}},
  };
  std::size_t keys = 0;
  for (const auto& l : levels) {
    INFO(l.where);
    REQUIRE(l.properties);
    REQUIRE_FALSE(l.examples.empty());
    for (const auto& p : l.properties->entries) {
      INFO("schema key " << p.key->text);
      CHECK(std::any_of(l.examples.begin(), l.examples.end(),
                        [&](const yaml::Node* x) { return x && x->get(p.key->text) != nullptr; }));
      ++keys;
    }
  }
  CHECK(keys == 117);
}

TEST_CASE("a minimal daemon.yaml gets the documented defaults", "[config]") {
  Config c = parse_ok("repository: {url: 'file:///srv/git/config.git'}\ntargets: [{name: prod, path: envs/prod}]\n");
  CHECK(c.listen_host == "127.0.0.1");
  CHECK(c.listen_port == 9440);
  CHECK(c.tls_cert.empty());
  CHECK(c.tls_key.empty());
  CHECK(c.secret_file.empty());
  CHECK(c.state_dir == "/var/lib/portcullisd");
  CHECK(c.audit_log.empty());
  CHECK(c.audit_path() == "/var/lib/portcullisd/audit.jsonl");
  CHECK(c.poll_interval == std::chrono::seconds(60));
  CHECK(c.inventory_namespace == "portcullis-system");
  CHECK(c.repository.url == "file:///srv/git/config.git");
  CHECK(c.repository.branch == "main");
  CHECK(c.repository.ssh_key_file.empty());
  CHECK(c.repository.known_hosts_file.empty());
  CHECK(c.repository.username.empty());
  CHECK(c.repository.password_file.empty());
  CHECK(c.repository.ca_file.empty());
  REQUIRE(c.targets.size() == 1);
  const TargetConfig& t = c.targets[0];
  CHECK(t.name == "prod");
  CHECK(t.path == "envs/prod");
  CHECK(t.kubeconfig.empty());
  CHECK(t.context.empty());
  CHECK(t.namespace_.empty());
  CHECK(t.prune);
  CHECK_FALSE(t.allow_empty);
  CHECK(t.max_prune_share == 0.5);
  CHECK(t.force_conflicts);
  CHECK(t.concurrency == 16);
  CHECK_FALSE(t.namespaces);
  CHECK(t.cluster_kinds == std::vector<std::string>{"Namespace"});
  CHECK_FALSE(t.adopt);
  CHECK(c.api.read_token_file.empty());
  CHECK(c.api.request_timeout == std::chrono::seconds(10));
  CHECK(c.api.max_connections == 64);
  CHECK(c.api.max_connections_per_client == 16);
}

TEST_CASE("only a loopback listen address may leave the read endpoints without a token", "[config]") {
  const std::string rest = "repository: {url: 'file:///r'}\ntargets: [{name: prod, path: a}]\n";
  for (const char* host : {"127.0.0.1", "127.0.0.53", "localhost"}) {
    INFO(host);
    CHECK(parse_config("listen: " + std::string(host) + ":9440\n" + rest, "d.yaml", k_base));
  }
  for (const char* host : {"0.0.0.0", "10.0.0.5", "portcullisd.example"}) {
    INFO(host);
    auto c = parse_config("listen: " + std::string(host) + ":9440\n" + rest, "d.yaml", k_base);
    REQUIRE_FALSE(c);
    CHECK_THAT(c.error().message, Catch::Contains("not a loopback address: set api.readTokenFile"));
    CHECK(parse_config("listen: " + std::string(host) + ":9440\napi: {readTokenFile: t}\n" + rest, "d.yaml", k_base));
  }
}

TEST_CASE("stateDir without auditLog puts the audit log in the state directory", "[config]") {
  Config c = parse_ok("stateDir: /srv/portcullisd\nrepository: {url: 'https://h/c.git'}\ntargets: [{name: a, path: a}]\n");
  CHECK(c.state_dir == "/srv/portcullisd");
  CHECK(c.audit_path() == "/srv/portcullisd/audit.jsonl");
}

TEST_CASE("repository URLs: file:// paths resolve against the base directory, others are kept", "[config]") {
  struct Case {
    const char* url;
    std::string expected;
  };
  const Case cases[] = {
      {"file:///srv/git/config.git", "file:///srv/git/config.git"},
      {"file://repos/config.git", "file://" + (k_base / "repos/config.git").string()},
      {"file://./config.git", "file://" + (k_base / "./config.git").string()},
      {"file://../git/config.git", "file://" + (k_base / "../git/config.git").string()},
      {"ssh://git@host/config.git", "ssh://git@host/config.git"},
      {"https://host/config.git", "https://host/config.git"},
      {"http://host:8080/config.git", "http://host:8080/config.git"},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    Config cfg = parse_ok(std::string("repository: {url: '") + c.url + "'}\ntargets: [{name: a, path: a}]\n");
    CHECK(cfg.repository.url == c.expected);
  }
}

TEST_CASE("load_config resolves relative paths against the file's directory", "[config]") {
  test::TempDir tmp;
  auto file = tmp.write("etc/portcullisd/daemon.yaml", R"(stateDir: state
secretFile: ../secret
repository:
  url: file://git/config.git
  sshKeyFile: /abs/key
targets:
- {name: prod, path: prod, kubeconfig: kube/prod.yaml}
)");
  auto c = load_config(file);
  INFO((c ? std::string() : c.error().describe()));
  REQUIRE(c);
  const fs::path dir = fs::absolute(tmp / "etc/portcullisd");
  CHECK(c->source == fs::absolute(file));
  CHECK(c->state_dir == dir / "state");
  CHECK(c->audit_path() == dir / "state" / "audit.jsonl");
  CHECK(c->secret_file == dir / "../secret");
  CHECK(c->repository.url == "file://" + (dir / "git/config.git").string());
  CHECK(c->repository.ssh_key_file == "/abs/key");
  REQUIRE(c->targets.size() == 1);
  CHECK(c->targets[0].kubeconfig == dir / "kube/prod.yaml");

  auto missing = load_config(tmp / "nope.yaml");
  CHECK_FALSE(missing);
}

TEST_CASE("invalid daemon configs are rejected with rule, file and line", "[config]") {
  const std::string ok_repo = "repository: {url: 'file:///srv/git/c.git'}\n";
  const std::string ok_targets = "targets: [{name: prod, path: prod}]\n";
  struct Case {
    const char* name;
    std::string text;
    std::uint32_t line;
    const char* message_part;
  };
  const Case cases[] = {
      {"unknown top-level key", ok_repo + ok_targets + "pollIntervall: 30s\n", 3, "did you mean \"pollInterval\""},
      {"target breakGlass without the top-level breakGlass", ok_repo + "targets:\n- name: prod\n  path: a\n  breakGlass: {allowed: [alice]}\n",
       5, "needs the top-level breakGlass"},
      {"breakGlass on a target without watch",
       ok_repo + "breakGlass: {allowedSignersFile: s, daemonId: d}\ntargets:\n- name: prod\n  path: a\n  watch: false\n  breakGlass: {allowed: [a]}\n",
       7, "needs watch"},
      {"break-glass access over plain HTTP off loopback",
       "listen: 0.0.0.0:9440\napi: {readTokenFile: t}\n" + ok_repo +
           "breakGlass: {allowedSignersFile: s, daemonId: d}\ntargets:\n- name: prod\n  path: a\n  breakGlass: {allowed: [a], access: {kubeconfig: k, clusterRole: edit}}\n",
       1, "set tls"},
      {"breakGlass without daemonId", ok_repo + ok_targets + "breakGlass: {allowedSignersFile: s}\n", 3, "daemonId"},
      {"break-glass maxDuration above 24h",
       ok_repo + "breakGlass: {allowedSignersFile: s, daemonId: d}\ntargets:\n- name: prod\n  path: a\n  breakGlass: {allowed: [a], maxDuration: 25h}\n",
       6, "maxDuration"},
      {"break-glass without allowed principals",
       ok_repo + "breakGlass: {allowedSignersFile: s, daemonId: d}\ntargets:\n- name: prod\n  path: a\n  breakGlass: {allowed: []}\n",
       6, "allowed"},
      {"break-glass onExpiry unknown",
       ok_repo + "breakGlass: {allowedSignersFile: s, daemonId: d}\ntargets:\n- name: prod\n  path: a\n  breakGlass: {allowed: [a], onExpiry: never}\n",
       6, "onExpiry"},
      {"unknown repository key", "repository:\n  url: 'file:///r'\n  brnach: main\n" + ok_targets, 3,
       "did you mean \"branch\""},
      {"unknown target key", ok_repo + "targets:\n- name: prod\n  path: prod\n  prun: false\n", 5,
       "did you mean \"prune\""},
      {"listen without a port", "listen: localhost\n" + ok_repo + ok_targets, 1, "listen"},
      {"listen without a host", "listen: ':9440'\n" + ok_repo + ok_targets, 1, "listen"},
      {"listen with a named port", "listen: 'localhost:http'\n" + ok_repo + ok_targets, 1, "listen"},
      {"listen on port 0", "listen: 'localhost:0'\n" + ok_repo + ok_targets, 1, "listen"},
      {"listen on a port above 65535", "listen: 'localhost:65536'\n" + ok_repo + ok_targets, 1, "listen"},
      {"listen on a port beyond int", "listen: 'localhost:99999999999'\n" + ok_repo + ok_targets, 1, "listen"},
      {"pollInterval without a unit", ok_repo + ok_targets + "pollInterval: '30'\n", 3, "pollInterval"},
      {"pollInterval as a number", ok_repo + ok_targets + "pollInterval: 30\n", 3, "pollInterval"},
      {"pollInterval with an unknown unit", ok_repo + ok_targets + "pollInterval: 30x\n", 3, "pollInterval"},
      {"pollInterval below 1s", ok_repo + ok_targets + "pollInterval: 999ms\n", 3, "pollInterval"},
      {"pollInterval zero", ok_repo + ok_targets + "pollInterval: 0s\n", 3, "pollInterval"},
      {"pollInterval above 24h", ok_repo + ok_targets + "pollInterval: 24h1s\n", 3, "pollInterval"},
      {"clusterRequestTimeout below 1s", ok_repo + ok_targets + "clusterRequestTimeout: 500ms\n", 3, "clusterRequestTimeout"},
      {"clusterRequestTimeout above 10m", ok_repo + ok_targets + "clusterRequestTimeout: 11m\n", 3, "clusterRequestTimeout"},
      {"pollInterval too large to represent", ok_repo + ok_targets + "pollInterval: 3000000000h\n", 3,
       "pollInterval"},
      {"duplicate target names", ok_repo + "targets:\n- name: prod\n  path: a\n- name: dev\n  path: b\n- name: prod\n  path: c\n",
       7, "\"prod\" is declared twice"},
      {"target name with capitals", ok_repo + "targets:\n- name: Prod\n  path: a\n", 3, "name"},
      {"target name with an underscore", ok_repo + "targets:\n- name: prod_eu\n  path: a\n", 3, "name"},
      {"target name starting with a dash", ok_repo + "targets:\n- name: '-prod'\n  path: a\n", 3, "name"},
      {"target name ending with a dash", ok_repo + "targets:\n- name: 'prod-'\n  path: a\n", 3, "name"},
      {"target name with a dot", ok_repo + "targets:\n- name: prod.eu\n  path: a\n", 3, "name"},
      {"target name of 64 characters", ok_repo + "targets:\n- name: " + std::string(64, 'a') + "\n  path: a\n", 3,
       "name"},
      {"empty target name", ok_repo + "targets:\n- name: ''\n  path: a\n", 3, "name"},
      {"maxPruneShare above 1", ok_repo + "targets:\n- name: prod\n  path: a\n  maxPruneShare: 1.5\n", 5,
       "maxPruneShare"},
      {"negative maxPruneShare", ok_repo + "targets:\n- name: prod\n  path: a\n  maxPruneShare: -0.1\n", 5,
       "maxPruneShare"},
      {"maxPruneShare as a percentage", ok_repo + "targets:\n- name: prod\n  path: a\n  maxPruneShare: 50%\n", 5,
       "maxPruneShare"},
      {"concurrency zero", ok_repo + "targets:\n- name: prod\n  path: a\n  concurrency: 0\n", 5, "concurrency"},
      {"concurrency above 64", ok_repo + "targets:\n- name: prod\n  path: a\n  concurrency: 65\n", 5, "concurrency"},
      {"target without a path", ok_repo + "targets:\n- name: prod\n", 3, "path"},
      {"renewDeadline not below leaseDuration",
       ok_repo + ok_targets + "leaderElection:\n  kubeconfig: k\n  leaseDuration: 10s\n  renewDeadline: 10s\n", 4,
       "renewDeadline must be below leaseDuration"},
      {"retryPeriod not below renewDeadline",
       ok_repo + ok_targets + "leaderElection:\n  kubeconfig: k\n  renewDeadline: 2s\n  retryPeriod: 2s\n", 4,
       "retryPeriod must be below renewDeadline"},
      {"sharding renewDeadline not below leaseDuration",
       ok_repo + ok_targets + "sharding:\n  kubeconfig: k\n  leaseDuration: 3s\n  renewDeadline: 4s\n", 4,
       "sharding.renewDeadline must be below leaseDuration"},
      {"no shards", ok_repo + ok_targets + "sharding:\n  kubeconfig: k\n  shards: 0\n", 5, "shards"},
      {"too many shards", ok_repo + ok_targets + "sharding:\n  kubeconfig: k\n  shards: 5000\n", 5, "shards"},
      {"sharding leasePrefix not a name", ok_repo + ok_targets + "sharding:\n  kubeconfig: k\n  leasePrefix: Shards_\n", 5,
       "leasePrefix"},
      {"leaseDuration below 100ms", ok_repo + ok_targets + "leaderElection:\n  kubeconfig: k\n  leaseDuration: 50ms\n", 5,
       "leaseDuration"},
      {"commitUrl without {commit}", ok_repo + ok_targets + "statusPage:\n  commitUrl: https://git.example.com/c/\n", 4,
       "commitUrl"},
      {"commitUrl not http(s)", ok_repo + ok_targets + "statusPage:\n  commitUrl: 'javascript:alert({commit})'\n", 4,
       "commitUrl"},
      {"target namespace not a DNS label", ok_repo + "targets:\n- {name: prod, path: a, namespace: Shop}\n", 3,
       "namespace"},
      {"missing repository", ok_targets, 1, "repository"},
      {"missing targets", ok_repo, 1, "targets"},
      {"no targets", ok_repo + "targets: []\n", 2, "targets"},
      {"repository without url", "repository: {branch: main}\n" + ok_targets, 1, "url"},
      {"repository URL with git://", "repository: {url: 'git://host/c.git'}\n" + ok_targets, 1, "url"},
      {"repository URL with ftp://", "repository: {url: 'ftp://host/c.git'}\n" + ok_targets, 1, "url"},
      {"repository URL without a scheme", "repository: {url: /srv/git/c.git}\n" + ok_targets, 1, "url"},
      {"repository URL with scp syntax", "repository: {url: 'git@host:c.git'}\n" + ok_targets, 1, "url"},
      {"empty branch", "repository: {url: 'https://h/c.git', branch: ''}\n" + ok_targets, 1, "branch"},
      {"inventoryNamespace not a DNS label", ok_repo + ok_targets + "inventoryNamespace: Portcullis\n", 3,
       "inventoryNamespace"},
      {"tls without keyFile", ok_repo + ok_targets + "tls:\n  certFile: c.pem\n", 4, "keyFile"},
      {"namespaces naming the inventory namespace",
       ok_repo + "targets:\n- name: prod\n  path: a\n  namespaces: [shop, portcullis-system]\n", 5,
       "the inventory namespace"},
      {"namespaces naming a changed inventory namespace",
       ok_repo + "inventoryNamespace: gitops\ntargets:\n- {name: prod, path: a, namespaces: [gitops]}\n", 4,
       "the inventory namespace"},
      {"a target namespace that is the inventory namespace",
       ok_repo + "targets:\n- {name: prod, path: a, namespace: portcullis-system}\n", 3, "the inventory namespace"},
      {"namespaces with capitals", ok_repo + "targets:\n- {name: prod, path: a, namespaces: [Shop]}\n", 3,
       "namespaces"},
      {"namespaces with a slash", ok_repo + "targets:\n- {name: prod, path: a, namespaces: [a/b]}\n", 3, "namespaces"},
      {"clusterKinds in lower case", ok_repo + "targets:\n- {name: prod, path: a, clusterKinds: [namespace]}\n", 3,
       "clusterKinds"},
      {"clusterKinds with a version", ok_repo + "targets:\n- {name: prod, path: a, clusterKinds: [rbac.authorization.k8s.io/v1/ClusterRole]}\n",
       3, "clusterKinds"},
      {"adopt as a string", ok_repo + "targets:\n- {name: prod, path: a, adopt: 'yes'}\n", 3, "adopt"},
      {"requestTimeout below 100ms", ok_repo + ok_targets + "api: {requestTimeout: 50ms}\n", 3, "requestTimeout"},
      {"maxConnections of 1", ok_repo + ok_targets + "api: {maxConnections: 1}\n", 3, "maxConnections"},
      {"prune as a string", ok_repo + "targets:\n- {name: prod, path: a, prune: 'false'}\n", 3, "prune"},
      {"root is a list", "- repository\n- targets\n", 1, "object"},
      {"empty file", "", 1, "one YAML document"},
      {"two documents", ok_repo + ok_targets + "---\n" + ok_repo + ok_targets, 1, "one YAML document"},
  };
  for (const auto& c : cases) {
    INFO(c.name << "\n" << c.text);
    util::Result<Config> r = util::fail("not parsed");
    try {
      r = parse_config(c.text, "/etc/portcullisd/daemon.yaml", k_base);
    } catch (const std::exception& e) {
      FAIL_CHECK("parse_config threw instead of returning an error: " << e.what());
      continue;
    }
    CHECK_FALSE(r);
    if (r) continue;
    INFO(r.error().describe());
    CHECK(r.error().rule == "policy.invalid");
    CHECK(r.error().file == "/etc/portcullisd/daemon.yaml");
    CHECK(r.error().line == c.line);
    CHECK_THAT(r.error().message, Catch::Contains(c.message_part));
  }
}

TEST_CASE("YAML errors in daemon.yaml name the file and the line", "[config]") {
  struct Case {
    const char* name;
    const char* text;
    std::uint32_t line;
  };
  const Case cases[] = {
      {"unclosed flow mapping", "repository: {url: 'file:///r'\ntargets: []\n", 2},
      {"duplicate key", "repository: {url: 'file:///r'}\ntargets: [{name: a, path: a}]\nrepository: {url: 'file:///s'}\n", 3},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = parse_config(c.text, "daemon.yaml", k_base);
    REQUIRE_FALSE(r);
    INFO(r.error().describe());
    CHECK(r.error().file == "daemon.yaml");
    CHECK(r.error().line == c.line);
    CHECK_THAT(r.error().message, Catch::Contains("invalid daemon config"));
  }
}
