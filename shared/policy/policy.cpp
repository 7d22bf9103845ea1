#include "shared/policy/policy.hpp"

#include <algorithm>
#include <mutex>

#include "schemas/programs.hpp"
#include "shared/schema/compiler.hpp"
#include "shared/schema/validator.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::policy {

namespace {

// An embedded schema: compiled at build time (schemas/programs.hpp), loaded once per process.
struct EmbeddedSchema {
  schema::Program program;
  schema::NodeId root = 0;
};

const EmbeddedSchema& embedded(std::span<const std::byte> bytes) {
  static std::mutex mutex;
  static std::map<const std::byte*, std::unique_ptr<EmbeddedSchema>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[bytes.data()];
  if (!slot) {
    auto program = schema::Program::from_bytes(std::vector<std::byte>(bytes.begin(), bytes.end()));
    if (!program || program->root_count() != 1) throw std::logic_error("an embedded schema program does not load");
    slot = std::make_unique<EmbeddedSchema>();
    slot->root = program->root_at(0).root.node;
    slot->program = std::move(*program);
  }
  return *slot;
}

}  // namespace

util::Result<void> validate_against(std::span<const std::byte> schema, const yaml::Node& root, std::string_view file,
                                    std::string_view what) {
  const auto& s = embedded(schema);
  std::vector<schema::Violation> out;
  schema::ValidateOptions options;
  options.max_violations = 1;
  schema::validate(s.program, s.root, root, options, out);
  if (out.empty()) return {};
  const auto& v = out.front();
  util::Error e;
  e.rule = "policy.invalid";
  e.file = std::string(file);
  e.line = v.mark.line;
  e.column = v.mark.column;
  e.message = "invalid " + std::string(what) + ": " + (v.path.empty() ? "" : v.path + ": ") + v.message;
  return util::fail(std::move(e));
}

namespace {

util::Result<const yaml::Node*> parse_root(const yaml::Stream& stream, std::string_view file, std::string_view what) {
  if (stream.documents.size() > 1) {
    util::Error e{std::string(what) + " must be a single YAML document", "policy.invalid", std::string(file),
                  stream.documents[1].start.line, 1};
    return util::fail(std::move(e));
  }
  if (stream.documents.empty() || !stream.documents[0].root) return nullptr;
  return stream.documents[0].root;
}

std::vector<std::string> strings_of(const yaml::Node* list) {
  std::vector<std::string> out;
  if (!list) return out;
  for (const yaml::Node* n : list->items) out.emplace_back(n->text);
  return out;
}

// "error", "warn", "off" — or a YAML boolean, since an unquoted off is read as false.
Severity severity_of(const yaml::Node& n) {
  if (n.type == yaml::Type::boolean) return n.value.boolean ? Severity::error : Severity::off;
  if (n.text == "off") return Severity::off;
  if (n.text == "warn") return Severity::warn;
  return Severity::error;
}

}  // namespace

Severity Policy::severity(std::string_view rule) const {
  auto it = rules.find(rule);
  return it == rules.end() ? Severity::error : it->second;
}

bool Policy::is_protected_ref(std::string_view ref) const {
  for (const auto& p : protected_refs)
    if (util::glob_match(p, ref)) return true;
  return false;
}

bool Policy::is_release_tag(std::string_view ref) const {
  for (const auto& p : release_tags)
    if (util::glob_match(p, ref)) return true;
  return false;
}

bool Policy::is_checked_ref(std::string_view ref) const {
  for (const auto& p : check_refs)
    if (util::glob_match(p, ref)) return true;
  return false;
}

bool Policy::is_excluded(std::string_view path) const {
  for (const auto& p : exclude)
    if (util::glob_match(p, path, util::Slash::special)) return true;
  return false;
}

bool Policy::is_environment_branch(std::string_view ref, const std::vector<Environment>& envs) const {
  if (!environment_branches.empty()) {
    for (const auto& p : environment_branches)
      if (util::glob_match(p, ref)) return true;
    return false;
  }
  if (util::glob_match("refs/heads/env/*", ref, util::Slash::ordinary)) return true;
  for (const auto& e : envs)
    if (ref == "refs/heads/" + e.name) return true;
  return false;
}

Environment discovered_environment(std::string_view dir_name) {
  Environment e;
  e.name = std::string(dir_name);
  e.path = std::string(k_environments_dir) + "/" + std::string(dir_name);
  e.protected_ = dir_name == "prod" || dir_name == "production";
  return e;
}

util::Result<Policy> policy_from_node(const yaml::Node& root, std::string_view file) {
  if (auto r = validate_against(schemas::policy_program(), root, file, "policy"); !r) return util::fail(r.error());
  Policy p;
  if (const auto* n = root.get("protectedRefs")) p.protected_refs = strings_of(n);
  if (const auto* n = root.get("releaseTags")) p.release_tags = strings_of(n);
  if (const auto* n = root.get("checkRefs")) p.check_refs = strings_of(n);
  if (const auto* envs = root.get("environments")) {
    p.discover_environments = false;
    for (const yaml::Node* e : envs->items) {
      Environment env;
      env.name = std::string(e->get_string("name"));
      env.path = std::string(e->get_string("path"));
      if (const auto* prot = e->get("protected")) env.protected_ = prot->value.boolean;
      env.namespace_ = std::string(e->get_string("namespace"));
      if (const auto* pr = e->get("promotion")) {
        Promotion promotion;
        promotion.from = std::string(pr->get_string("from"));
        if (auto soak = pr->get_string("soak"); !soak.empty()) promotion.soak_ms = util::parse_duration_ms(soak).value_or(0);
        if (const auto* d = pr->get("requireDigest")) promotion.require_digest = d->value.boolean;
        env.promotion = promotion;
      }
      for (const auto& other : p.environments) {
        if (other.name == env.name) {
          util::Error err{"environment \"" + env.name + "\" is declared twice", "policy.invalid", std::string(file),
                          e->mark.line, e->mark.column};
          return util::fail(std::move(err));
        }
      }
      p.environments.push_back(std::move(env));
    }
  }
  if (const auto* m = root.get("manifests")) {
    if (const auto* s = m->get("strict")) p.strict = s->value.boolean;
    if (m->get_string("missingSchema") == "warn") p.missing_schema = MissingSchema::warn;
    if (const auto* n = m->get("denyKinds")) p.deny_kinds = strings_of(n);
    if (const auto* n = m->get("exclude")) p.exclude = strings_of(n);
  }
  if (p.environments.size() > 0)
    for (const auto& env : p.environments)
      if (env.promotion) {
        bool known = std::any_of(p.environments.begin(), p.environments.end(),
                                 [&](const Environment& o) { return o.name == env.promotion->from && o.name != env.name; });
        if (!known) {
          const yaml::Node* envs = root.get("environments");
          util::Error err{"environment \"" + env.name + "\" is promoted from \"" + env.promotion->from +
                              "\", which is not another declared environment",
                          "policy.invalid", std::string(file), envs->mark.line, envs->mark.column};
          return util::fail(std::move(err));
        }
      }
  if (const auto* co = root.get("codeowners")) {
    if (const auto* sa = co->get("selfApproval")) p.self_approval = sa->value.boolean;
    if (auto d = co->get_string("dialect"); d == "github") p.codeowners_dialect = Dialect::github;
    else if (d == "gitlab") p.codeowners_dialect = Dialect::gitlab;
    p.teams_file = std::string(co->get_string("teamsFile"));
  }
  if (const auto* eb = root.get("environmentBranches")) p.environment_branches = strings_of(eb);
  if (const auto* rules = root.get("rules"))
    for (const auto& e : rules->entries) p.rules[std::string(e.key->text)] = severity_of(*e.value);
  return p;
}

util::Result<Policy> parse_policy(std::string_view text, std::string_view file) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) {
    auto e = stream.error();
    e.file = std::string(file);
    e.message = "invalid policy: " + e.message;
    e.rule = "policy.invalid";
    return util::fail(std::move(e));
  }
  auto root = parse_root(*stream, file, "the policy");
  if (!root) return util::fail(root.error());
  if (!*root) return Policy{};
  return policy_from_node(**root, file);
}

util::Result<ServerConfig> parse_server_config(std::string_view text, std::string_view file) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) {
    auto e = stream.error();
    e.file = std::string(file);
    e.message = "invalid server config: " + e.message;
    return util::fail(std::move(e));
  }
  auto rootp = parse_root(*stream, file, "the server config");
  if (!rootp) return util::fail(rootp.error());
  ServerConfig c;
  if (!*rootp) return c;
  const yaml::Node& root = **rootp;
  if (auto r = validate_against(schemas::server_config_program(), root, file, "server config"); !r)
    return util::fail(r.error());
  if (auto s = root.get_string("schemaStore"); !s.empty()) c.schema_store = std::string(s);
  if (auto s = root.get_string("auditLog"); !s.empty()) c.audit_log = std::string(s);
  if (auto s = root.get_string("timeBudget"); !s.empty()) {
    auto ms = util::parse_duration_ms(s);
    const yaml::Node* at = root.get("timeBudget");
    if (!ms || *ms > 3'600'000) {
      util::Error e{"invalid server config: timeBudget: " + std::string(s) + " is not a duration of at most 1h",
                    "policy.invalid", std::string(file), at->mark.line, at->mark.column};
      return util::fail(std::move(e));
    }
    c.time_budget_ms = *ms;
  }
  if (root.get_string("failMode") == "open") c.fail_mode = FailMode::open;
  if (const auto* limits = root.get("limits")) {
    if (const auto* n = limits->get("maxFileSize")) {
      auto bytes = n->type == yaml::Type::integer ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(n->value.integer))
                                                  : util::parse_bytes(n->text);
      if (!bytes || *bytes == 0) {
        util::Error e{"invalid server config: limits.maxFileSize: " + std::string(n->text) +
                          " is not a size of at least 1 byte (e.g. 1MiB)",
                      "policy.invalid", std::string(file), n->mark.line, n->mark.column};
        return util::fail(std::move(e));
      }
      c.max_file_size = *bytes;
    }
    if (const auto* n = limits->get("maxDepth")) c.yaml_limits.max_depth = static_cast<std::uint32_t>(n->value.integer);
    if (const auto* n = limits->get("maxNodes")) c.yaml_limits.max_nodes = static_cast<std::uint64_t>(n->value.integer);
    if (const auto* n = limits->get("maxExpandedNodes"))
      c.yaml_limits.max_expanded = static_cast<std::uint64_t>(n->value.integer);
    if (const auto* n = limits->get("maxRefs")) c.max_refs = static_cast<std::size_t>(n->value.integer);
  }
  if (const auto* id = root.get("identity")) {
    if (const auto* env = id->get("env")) c.identity_env = strings_of(env);
    if (const auto* teams = id->get("teams"))
      for (const auto& e : teams->entries) c.teams[std::string(e.key->text)] = strings_of(e.value);
    if (auto s = id->get_string("allowedSigners"); !s.empty()) c.allowed_signers = std::string(s);
    if (const auto* bg = id->get("breakGlass")) c.break_glass = strings_of(bg);
  }
  if (const auto* notify = root.get("notify")) {
    if (const auto* targets = notify->get("targets"))
      for (const yaml::Node* t : targets->items)
        c.notify_targets.push_back(ServerConfig::NotifyTarget{std::string(t->get_string("url")),
                                                              std::string(t->get_string("secretFile")),
                                                              std::string(t->get_string("caFile"))});
    if (auto spool = notify->get_string("spool"); !spool.empty()) c.notify_spool = std::string(spool);
    if (auto t = notify->get_string("timeout"); !t.empty()) {
      auto ms = util::parse_duration_ms(t);
      if (!ms || *ms > 60'000) {
        const yaml::Node* at = notify->get("timeout");
        util::Error e{"invalid server config: notify.timeout: " + std::string(t) + " is not a duration of at most 60s",
                      "policy.invalid", std::string(file), at->mark.line, at->mark.column};
        return util::fail(std::move(e));
      }
      c.notify_timeout_ms = *ms;
    }
  }
  if (const auto* confinement = root.get("confinement")) {
    std::string inventory(confinement->get_string("inventoryNamespace"));
    if (inventory.empty()) inventory = "portcullis-system";
    if (const auto* envs = confinement->get("environments"))
      for (const auto& e : envs->entries) {
        EnvironmentConfinement ec;
        ec.namespace_ = std::string(e.value->get_string("namespace"));
        ec.confinement.inventory_namespace = inventory;
        // Without namespaces the gate cannot know the target's default (its kubeconfig's): it
        // refuses only what no target may write (reserved namespaces, the inventories) and
        // cluster kinds, and leaves the rest to the daemon.
        if (const auto* ns = e.value->get("namespaces")) ec.confinement.namespaces = strings_of(ns);
        else if (!ec.namespace_.empty()) ec.confinement.namespaces = {ec.namespace_};
        else ec.confinement.namespaces = {"*"};
        if (const auto* kinds = e.value->get("clusterKinds")) ec.confinement.cluster_kinds = strings_of(kinds);
        else ec.confinement.cluster_kinds = {"Namespace"};
        std::string path(e.key->text);
        while (path.size() > 1 && path.back() == '/') path.pop_back();
        c.confinement[path] = std::move(ec);
      }
  }
  if (const auto* dp = root.get("defaultPolicy")) {
    auto p = policy_from_node(*dp, file);
    if (!p) return util::fail(p.error());
    c.default_policy = std::move(*p);
  }
  return c;
}

util::Result<ServerConfig> load_server_config(const std::filesystem::path& path) {
  auto text = util::read_file(path, 1 << 20);
  if (!text) return util::fail(text.error());
  auto c = parse_server_config(*text, path.string());
  if (!c) return c;
  c->source = std::filesystem::absolute(path);
  auto base = c->source.parent_path();
  if (!c->schema_store.empty() && c->schema_store.is_relative()) c->schema_store = base / c->schema_store;
  if (!c->audit_log.empty() && c->audit_log.is_relative()) c->audit_log = base / c->audit_log;
  if (!c->notify_spool.empty() && c->notify_spool.is_relative()) c->notify_spool = base / c->notify_spool;
  if (!c->allowed_signers.empty() && c->allowed_signers.is_relative()) c->allowed_signers = base / c->allowed_signers;
  for (auto& t : c->notify_targets) {
    if (t.secret_file.is_relative()) t.secret_file = base / t.secret_file;
    if (!t.ca_file.empty() && t.ca_file.is_relative()) t.ca_file = base / t.ca_file;
  }
  return c;
}

}  // namespace portcullis::policy
