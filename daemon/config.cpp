#include "daemon/config.hpp"

#include <charconv>
#include <functional>
#include <set>

#include "schemas/programs.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

namespace fs = std::filesystem;

namespace {

using PathOf = std::function<fs::path(std::string_view)>;
using ErrorAt = std::function<std::unexpected<util::Error>(const yaml::Node*, std::string)>;

util::Result<std::chrono::milliseconds> duration_of(const yaml::Node& parent, std::string_view key, std::int64_t min_ms,
                                                    std::chrono::milliseconds fallback, const ErrorAt& error_at) {
  auto d = parent.get_string(key);
  if (d.empty()) return fallback;
  auto ms = util::parse_duration_ms(d);
  if (!ms || *ms < min_ms) return error_at(parent.get(key), "images." + std::string(key) + " must be a duration of at least " + util::duration_text(min_ms));
  return std::chrono::milliseconds(*ms);
}

// `images:` (image automation).
util::Result<void> parse_images(const yaml::Node& node, Config& c, const PathOf& path_of, const ErrorAt& error_at) {
  ImagesConfig& im = c.images;
  if (const yaml::Node* n = node.get("enabled")) im.enabled = n->value.boolean;
  auto poll = duration_of(node, "pollInterval", 1000, im.poll_interval, error_at);
  if (!poll) return util::fail(poll.error());
  im.poll_interval = *poll;
  auto down = duration_of(node, "registryUnavailableAfter", 1000, im.registry_unavailable_after, error_at);
  if (!down) return util::fail(down.error());
  im.registry_unavailable_after = *down;
  if (const yaml::Node* n = node.get("maxTags")) im.max_tags = static_cast<std::size_t>(n->value.integer);
  std::set<std::string> hosts;
  if (const yaml::Node* list = node.get("registries"))
    for (const yaml::Node* r : list->items) {
      RegistryConfig rc;
      rc.host = std::string(r->get_string("host"));
      rc.url = std::string(r->get_string("url"));
      if (rc.url.empty()) rc.url = "https://" + rc.host;
      rc.ca_file = path_of(r->get_string("caFile"));
      rc.credentials_file = path_of(r->get_string("credentialsFile"));
      if (const yaml::Node* n = r->get("requestsPerSecond"))
        rc.requests_per_second = n->type == yaml::Type::integer ? static_cast<double>(n->value.integer) : n->value.number;
      auto t = duration_of(*r, "timeout", 100, rc.timeout, error_at);
      if (!t) return util::fail(t.error());
      rc.timeout = *t;
      if (!hosts.insert(rc.host).second) return error_at(r, "images.registries: " + rc.host + " is declared twice");
      im.registries.push_back(std::move(rc));
    }
  if (const yaml::Node* b = node.get("bot")) {
    im.bot.name = std::string(b->get_string("name"));
    im.bot.email = std::string(b->get_string("email"));
    im.bot.signing_key_file = path_of(b->get_string("signingKeyFile"));
    im.bot.push_url = std::string(b->get_string("pushUrl"));
    if (im.bot.push_url.starts_with("file://")) im.bot.push_url = "file://" + path_of(im.bot.push_url.substr(7)).string();
    im.bot.ssh_key_file = path_of(b->get_string("sshKeyFile"));
    im.bot.known_hosts_file = path_of(b->get_string("knownHostsFile"));
    im.bot.username = std::string(b->get_string("username"));
    im.bot.password_file = path_of(b->get_string("passwordFile"));
    im.bot.ca_file = path_of(b->get_string("caFile"));
  }
  if (im.enabled && im.bot.email.empty())
    return error_at(&node, "images.enabled needs images.bot (name and email of the commits' author)");
  if (im.bot.push_url.empty()) im.bot.push_url = c.repository.url;
  return {};
}

// The Lease settings of `leaderElection:` or `sharding:` (`block`): the cluster, the namespace
// (key `ns_key`), the Lease's name or prefix (`name_key`), the identity and the timing.
util::Result<void> parse_lease_settings(const yaml::Node& node, std::string_view block, std::string_view ns_key,
                                        std::string_view name_key, LeaderElectionConfig& l, const PathOf& path_of,
                                        const ErrorAt& error_at) {
  const std::string b(block);
  l.kubeconfig = path_of(node.get_string("kubeconfig"));
  l.context = std::string(node.get_string("context"));
  l.namespace_ = std::string(node.get_string(ns_key));
  if (auto n = node.get_string(name_key); !n.empty()) l.lease_name = std::string(n);
  l.identity = std::string(node.get_string("identity"));
  for (auto [key, out] : {std::pair{"leaseDuration", &l.lease_duration}, std::pair{"renewDeadline", &l.renew_deadline},
                          std::pair{"retryPeriod", &l.retry_period}}) {
    if (auto d = node.get_string(key); !d.empty()) {
      auto ms = util::parse_duration_ms(d);
      if (!ms || *ms < 100) return error_at(node.get(key), b + "." + key + " must be at least 100ms");
      *out = std::chrono::milliseconds(*ms);
    }
  }
  if (l.renew_deadline >= l.lease_duration)
    return error_at(&node, b + ".renewDeadline must be below leaseDuration (a holder must stop before its lease can be taken)");
  if (l.retry_period >= l.renew_deadline) return error_at(&node, b + ".retryPeriod must be below renewDeadline");
  return {};
}

}  // namespace

util::Result<Config> parse_config(std::string_view text, std::string_view file, const fs::path& base) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) {
    auto e = stream.error();
    e.file = std::string(file);
    e.message = "invalid daemon config: " + e.message;
    return util::fail(std::move(e));
  }
  if (stream->documents.size() != 1 || !stream->documents[0].root)
    return util::fail(util::Error{"the daemon config must be one YAML document", "policy.invalid", std::string(file), 1, 1});
  const yaml::Node& root = *stream->documents[0].root;
  if (auto v = policy::validate_against(schemas::daemon_program(), root, file, "daemon config"); !v)
    return util::fail(v.error());
  auto path_of = [&](std::string_view p) -> fs::path {
    if (p.empty()) return {};
    fs::path out(p);
    return out.is_relative() ? base / out : out;
  };
  auto error_at = [&](const yaml::Node* at, std::string message) {
    return util::fail(util::Error{"invalid daemon config: " + message, "policy.invalid", std::string(file),
                                  at ? at->mark.line : 0, at ? at->mark.column : 0});
  };
  Config c;
  if (auto l = root.get_string("listen"); !l.empty()) {
    auto colon = l.rfind(':');
    c.listen_host = std::string(l.substr(0, colon));
    auto digits = l.substr(colon + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), c.listen_port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || c.listen_port <= 0 || c.listen_port > 65535)
      return error_at(root.get("listen"), "listen: " + std::string(digits) + " is not a port (1-65535)");
  }
  if (const yaml::Node* tls = root.get("tls")) {
    c.tls_cert = path_of(tls->get_string("certFile"));
    c.tls_key = path_of(tls->get_string("keyFile"));
  }
  c.secret_file = path_of(root.get_string("secretFile"));
  if (const yaml::Node* api = root.get("api")) {
    c.api.read_token_file = path_of(api->get_string("readTokenFile"));
    if (auto t = api->get_string("requestTimeout"); !t.empty()) {
      auto ms = util::parse_duration_ms(t);
      if (!ms || *ms < 100 || *ms > 600'000)
        return error_at(api->get("requestTimeout"), "api.requestTimeout must be between 100ms and 10m");
      c.api.request_timeout = std::chrono::milliseconds(*ms);
    }
    if (const yaml::Node* n = api->get("maxConnections")) c.api.max_connections = static_cast<int>(n->value.integer);
    if (const yaml::Node* n = api->get("maxConnectionsPerClient"))
      c.api.max_connections_per_client = static_cast<int>(n->value.integer);
  }
  if (!is_loopback_host(c.listen_host) && c.api.read_token_file.empty())
    return error_at(root.get("listen"), "listen: " + c.listen_host +
                                            " is not a loopback address: set api.readTokenFile, so that "
                                            "/v1/targets and /metrics answer only with its bearer token");
  if (const yaml::Node* sp = root.get("statusPage")) {
    c.status_page.commit_url = std::string(sp->get_string("commitUrl"));
    c.status_page.gate_audit_log = path_of(sp->get_string("gateAuditLog"));
    if (const yaml::Node* n = sp->get("maxEventStreams")) c.status_page.max_event_streams = static_cast<int>(n->value.integer);
  }
  if (const yaml::Node* le = root.get("leaderElection")) {
    c.leader_election.enabled = true;
    if (auto r = parse_lease_settings(*le, "leaderElection", "namespace", "leaseName", c.leader_election, path_of, error_at); !r)
      return util::fail(r.error());
  }
  if (const yaml::Node* sh = root.get("sharding")) {
    auto& s = c.sharding;
    s.enabled = !sh->get("enabled") || sh->get("enabled")->value.boolean;
    s.lease.lease_name = "portcullisd";
    if (auto r = parse_lease_settings(*sh, "sharding", "leaseNamespace", "leasePrefix", s.lease, path_of, error_at); !r) return util::fail(r.error());
    if (const yaml::Node* n = sh->get("shards")) {
      if (n->value.integer < 1 || n->value.integer > 1024) return error_at(n, "sharding.shards must be between 1 and 1024");
      s.shards = static_cast<std::size_t>(n->value.integer);
    }
  }
  if (auto s = root.get_string("stateDir"); !s.empty()) c.state_dir = path_of(s);
  c.audit_log = path_of(root.get_string("auditLog"));
  if (auto p = root.get_string("pollInterval"); !p.empty()) {
    auto ms = util::parse_duration_ms(p);
    if (!ms || *ms < 1000 || *ms > 86'400'000) return error_at(root.get("pollInterval"), "pollInterval must be between 1s and 24h");
    c.poll_interval = std::chrono::milliseconds(*ms);
  }
  if (auto t = root.get_string("clusterRequestTimeout"); !t.empty()) {
    auto ms = util::parse_duration_ms(t);
    if (!ms || *ms < 1000 || *ms > 600'000)
      return error_at(root.get("clusterRequestTimeout"), "clusterRequestTimeout must be between 1s and 10m");
    c.cluster_request_timeout = std::chrono::milliseconds(*ms);
  }
  if (auto ns = root.get_string("inventoryNamespace"); !ns.empty()) c.inventory_namespace = std::string(ns);
  const yaml::Node& repo = *root.get("repository");
  c.repository.url = std::string(repo.get_string("url"));
  if (c.repository.url.starts_with("file://")) c.repository.url = "file://" + path_of(c.repository.url.substr(7)).string();
  if (auto b = repo.get_string("branch"); !b.empty()) c.repository.branch = std::string(b);
  c.repository.ssh_key_file = path_of(repo.get_string("sshKeyFile"));
  c.repository.known_hosts_file = path_of(repo.get_string("knownHostsFile"));
  c.repository.username = std::string(repo.get_string("username"));
  c.repository.password_file = path_of(repo.get_string("passwordFile"));
  c.repository.ca_file = path_of(repo.get_string("caFile"));
  std::set<std::string> names;
  for (const yaml::Node* t : root.get("targets")->items) {
    TargetConfig tc;
    tc.name = std::string(t->get_string("name"));
    tc.path = std::string(t->get_string("path"));
    while (!tc.path.empty() && tc.path.back() == '/') tc.path.pop_back();
    while (!tc.path.empty() && tc.path.front() == '/') tc.path.erase(0, 1);
    tc.kubeconfig = path_of(t->get_string("kubeconfig"));
    tc.context = std::string(t->get_string("context"));
    tc.namespace_ = std::string(t->get_string("namespace"));
    auto flag = [&](std::string_view key, bool fallback) {
      const yaml::Node* n = t->get(key);
      return n ? n->value.boolean : fallback;
    };
    tc.prune = flag("prune", true);
    tc.allow_empty = flag("allowEmpty", false);
    tc.force_conflicts = flag("forceConflicts", true);
    if (const yaml::Node* s = t->get("maxPruneShare"))
      tc.max_prune_share = s->type == yaml::Type::integer ? static_cast<double>(s->value.integer) : s->value.number;
    if (const yaml::Node* n = t->get("concurrency")) tc.concurrency = static_cast<int>(n->value.integer);
    tc.watch = flag("watch", true);
    tc.self_heal = flag("selfHeal", true);
    tc.detect_only = flag("detectOnly", false);
    if (const yaml::Node* rules = t->get("ignore"))
      for (const yaml::Node* r : rules->items) {
        IgnoreRule rule;
        rule.group = std::string(r->get_string("group"));
        rule.kind = std::string(r->get_string("kind"));
        rule.name = std::string(r->get_string("name"));
        rule.namespace_ = std::string(r->get_string("namespace"));
        for (const yaml::Node* p : r->get("jsonPointers")->items) rule.pointers.emplace_back(p->text);
        tc.ignore.push_back(std::move(rule));
      }
    if (const yaml::Node* list = t->get("namespaces")) {
      tc.namespaces.emplace();
      for (const yaml::Node* n : list->items) {
        if (n->text == c.inventory_namespace)
          return error_at(n, "target \"" + tc.name + "\": namespaces lists " + c.inventory_namespace +
                                 ", the inventory namespace (inventoryNamespace); no target may write there");
        tc.namespaces->emplace_back(n->text);
      }
    }
    if (const yaml::Node* list = t->get("clusterKinds")) {
      tc.cluster_kinds.clear();
      for (const yaml::Node* n : list->items) tc.cluster_kinds.emplace_back(n->text);
    }
    tc.adopt = flag("adopt", false);
    if (const yaml::Node* bg = t->get("breakGlass")) {
      if (!root.get("breakGlass"))
        return error_at(bg, "target \"" + tc.name + "\": breakGlass needs the top-level breakGlass (allowedSignersFile, daemonId)");
      if (!tc.watch)
        return error_at(bg, "target \"" + tc.name + "\": breakGlass needs watch (a window records and holds what the watches see)");
      TargetBreakGlass b;
      for (const yaml::Node* p : bg->get("allowed")->items) b.allowed.emplace_back(p->text);
      if (auto d = bg->get_string("maxDuration"); !d.empty()) {
        auto ms = util::parse_duration_ms(d);
        if (!ms || *ms < 60'000 || *ms > 86'400'000)
          return error_at(bg->get("maxDuration"), "breakGlass.maxDuration must be between 1m and 24h");
        b.max_duration = std::chrono::seconds(*ms / 1000);
      }
      b.on_expiry = bg->get_string("onExpiry") == "revert" ? OnExpiry::revert : OnExpiry::hold;
      b.hold_syncs = bg->get_string("syncs") == "hold";
      if (const yaml::Node* a = bg->get("access")) {
        BreakGlassAccess access;
        access.kubeconfig = path_of(a->get_string("kubeconfig"));
        access.context = std::string(a->get_string("context"));
        access.cluster_role = std::string(a->get_string("clusterRole"));
        b.access = std::move(access);
      }
      tc.break_glass = std::move(b);
    }
    if (!tc.namespaces && tc.namespace_ == c.inventory_namespace)
      return error_at(t, "target \"" + tc.name + "\": its namespace is the inventory namespace (" +
                             c.inventory_namespace + "); no target may write there");
    if (!names.insert(tc.name).second) return error_at(t, "target \"" + tc.name + "\" is declared twice");
    c.targets.push_back(std::move(tc));
  }
  for (const auto& t : c.targets)
    if (t.break_glass && t.break_glass->access && !is_loopback_host(c.listen_host) && c.tls_cert.empty())
      return error_at(root.get("listen"), "target \"" + t.name + "\": breakGlass.access answers with a kubeconfig (a credential): " +
                                              "listen on a loopback address or set tls");
  if (const yaml::Node* bg = root.get("breakGlass")) {
    c.break_glass.allowed_signers_file = path_of(bg->get_string("allowedSignersFile"));
    c.break_glass.daemon_id = std::string(bg->get_string("daemonId"));
  }
  if (const yaml::Node* alerts = root.get("alerts")) {
    auto duration = [&](std::string_view key, std::chrono::milliseconds& out) -> util::Result<void> {
      if (auto d = alerts->get_string(key); !d.empty()) {
        auto ms = util::parse_duration_ms(d);
        if (!ms || *ms <= 0) return error_at(alerts->get(key), std::string(key) + " must be a positive duration");
        out = std::chrono::milliseconds(*ms);
      }
      return {};
    };
    if (auto r = duration("outOfSyncAfter", c.alerts.out_of_sync_after); !r) return util::fail(r.error());
    if (auto r = duration("sourceUnavailableAfter", c.alerts.source_unavailable_after); !r) return util::fail(r.error());
    if (auto r = duration("repeatInterval", c.alerts.repeat_interval); !r) return util::fail(r.error());
    if (const yaml::Node* n = alerts->get("maxPerMinute")) c.alerts.max_per_minute = static_cast<int>(n->value.integer);
    std::set<std::string> provider_names;
    if (const yaml::Node* providers = alerts->get("providers"))
      for (const yaml::Node* p : providers->items) {
        AlertProvider ap;
        ap.name = std::string(p->get_string("name"));
        auto type = p->get_string("type");
        ap.type = type == "slack" ? AlertProviderType::slack
                  : type == "pagerduty" ? AlertProviderType::pagerduty
                                        : AlertProviderType::webhook;
        ap.url = std::string(p->get_string("url"));
        ap.secret_file = path_of(p->get_string("secretFile"));
        ap.routing_key_file = path_of(p->get_string("routingKeyFile"));
        ap.ca_file = path_of(p->get_string("caFile"));
        if (const yaml::Node* events = p->get("events"))
          for (const yaml::Node* e : events->items) ap.events.emplace_back(e->text);
        if (ap.type == AlertProviderType::pagerduty && ap.routing_key_file.empty())
          return error_at(p, "alert provider \"" + ap.name + "\": type pagerduty needs routingKeyFile");
        if (!provider_names.insert(ap.name).second)
          return error_at(p, "alert provider \"" + ap.name + "\" is declared twice");
        c.alerts.providers.push_back(std::move(ap));
      }
  }
  if (const yaml::Node* images = root.get("images"))
    if (auto r = parse_images(*images, c, path_of, error_at); !r) return util::fail(r.error());
  return c;
}

bool is_loopback_host(std::string_view host) { return host == "localhost" || host.starts_with("127."); }

util::Result<Config> load_config(const fs::path& path) {
  auto text = util::read_file(path, 1 << 20);
  if (!text) return util::fail(text.error());
  auto c = parse_config(*text, path.string(), fs::absolute(path).parent_path());
  if (c) c->source = fs::absolute(path);
  return c;
}

}  // namespace portcullis::daemon
