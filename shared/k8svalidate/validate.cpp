#include "shared/k8svalidate/validate.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate {

namespace {

constexpr std::optional<Version> k_current{};
// The rules, in id order. `since` is the first Kubernetes version that refuses what the rule
// refuses (1.0 for what every version still supported refuses); `until` the last one.
constexpr std::array k_rules{
    Rule{"k8s.crd", {1, 16}, k_current, "CustomResourceDefinition names, group, versions and scope"},
    Rule{"k8s.crd.cel", {1, 25}, k_current,
         "custom resources satisfy their CRD's x-kubernetes-validations (CEL rules; transition rules on oldSelf "
         "are not judged at push time)"},
    Rule{"k8s.crd.cel.compile", {1, 25}, k_current,
         "the CEL rules of a CRD's x-kubernetes-validations compile (syntax, declared names, functions, RE2 patterns)"},
    Rule{"k8s.crd.structural", {1, 16}, k_current,
         "apiextensions.k8s.io/v1 CRD schemas are structural: a type at every level, no $ref, "
         "no properties beside additionalProperties, value validations only under allOf/anyOf/oneOf/not"},
    Rule{"k8s.cronjob", {1, 8}, k_current, "CronJob name at most 52 characters, concurrencyPolicy, history limits"},
    Rule{"k8s.cronjob.schedule", {1, 8}, k_current,
         "CronJob schedule in cron syntax (5 fields, or @hourly/@daily/.../@every DURATION)"},
    Rule{"k8s.data", {1, 0}, k_current, "ConfigMap and Secret keys ([-._a-zA-Z0-9]+), no key twice, size limits"},
    Rule{"k8s.hpa", {1, 0}, k_current, "HorizontalPodAutoscaler replica bounds, target reference and metrics"},
    Rule{"k8s.ingress", {1, 0}, k_current, "Ingress rules, hosts, paths, backends and TLS"},
    Rule{"k8s.ingress.path-type", {1, 19}, k_current, "networking.k8s.io/v1 Ingress paths name their pathType"},
    Rule{"k8s.invalid-name", {1, 0}, k_current,
         "object names per kind (DNS-1123 subdomain or label, DNS-1035 label, path segment) and namespaces"},
    Rule{"k8s.job", {1, 0}, k_current,
         "Job restartPolicy OnFailure or Never, non-negative counts, generated selectors"},
    Rule{"k8s.meta.annotations", {1, 0}, k_current, "annotation keys are qualified names; all together at most 256 KiB"},
    Rule{"k8s.meta.finalizers", {1, 0}, k_current, "finalizers are qualified names, fully qualified unless standard"},
    Rule{"k8s.meta.generate-name", {1, 0}, k_current, "generateName is a valid prefix of a name of its kind"},
    Rule{"k8s.meta.labels", {1, 0}, k_current, "label keys are qualified names, values at most 63 characters"},
    Rule{"k8s.meta.owner-references", {1, 0}, k_current,
         "ownerReferences name apiVersion, kind, name and uid; at most one controller"},
    Rule{"k8s.network-policy", {1, 0}, k_current, "NetworkPolicy selectors, peers, ports and policy types"},
    Rule{"k8s.pdb", {1, 0}, k_current, "PodDisruptionBudget: minAvailable or maxUnavailable, not both; selector"},
    Rule{"k8s.pod.containers", {1, 0}, k_current,
         "containers: at least one, names DNS-1123 labels and unique in the pod, an image, pull and "
         "termination-message policies"},
    Rule{"k8s.pod.env", {1, 0}, k_current,
         "env names ([-._a-zA-Z][-._a-zA-Z0-9]*), one source per valueFrom, envFrom references"},
    Rule{"k8s.pod.ephemeral-containers", {1, 23}, k_current,
         "ephemeral containers (dropped as a disabled alpha field before 1.23): names, images, no ports or probes"},
    Rule{"k8s.pod.ports", {1, 0}, k_current,
         "container ports 1-65535, host ports, port names (IANA service names, unique), protocols"},
    Rule{"k8s.pod.probes", {1, 0}, k_current,
         "probes and lifecycle handlers have one handler, valid ports, successThreshold 1 for liveness and startup"},
    Rule{"k8s.pod.resources", {1, 0}, k_current,
         "resource names, non-negative quantities, requests at most limits, extended resources whole and equal"},
    Rule{"k8s.pod.security-context", {1, 0}, k_current,
         "security contexts: non-negative ids, privileged without allowPrivilegeEscalation: false, sysctls"},
    Rule{"k8s.pod.spec", {1, 0}, k_current,
         "restartPolicy, dnsPolicy, tolerations, host names, service account, deadlines of the pod spec"},
    Rule{"k8s.pod.volumes", {1, 0}, k_current,
         "volumes: names unique DNS-1123 labels, exactly one source, mounts of known volumes on unique paths"},
    Rule{"k8s.pvc", {1, 0}, k_current, "PersistentVolumeClaim access modes and storage request"},
    Rule{"k8s.quota", {1, 0}, k_current, "LimitRange and ResourceQuota items"},
    Rule{"k8s.rbac", {1, 0}, k_current, "RBAC rules with verbs and API groups, role references, subjects"},
    Rule{"k8s.secret.type", {1, 0}, k_current, "Secrets of the built-in types carry the keys their type needs"},
    Rule{"k8s.selector", {1, 0}, k_current,
         "workload selectors present, not empty, valid, and matching the pod template's labels"},
    Rule{"k8s.service", {1, 0}, k_current,
         "Service type, ports (1-65535, named when several, unique), clusterIP, externalName"},
    Rule{"k8s.ssa.duplicate-key", {1, 18}, Version{1, 20},
         "server-side apply of 1.18-1.20 fails (500) on keyed lists with two items of one key: env vars, container "
         "ports; containers, volumes and mounts of StatefulSet templates (whose pod spec 1.20 does not validate)"},
    Rule{"k8s.ssa.port-protocol", {1, 18}, Version{1, 20},
         "server-side apply of 1.18-1.20 fails (500) on Service ports without a protocol"},
    Rule{"k8s.storage", {1, 0}, k_current, "StorageClass provisioner, reclaim policy and binding mode"},
    Rule{"k8s.webhook", {1, 0}, k_current,
         "admission webhooks: qualified names, one client config, side effects, review versions, rules"},
    Rule{"k8s.workload", {1, 0}, k_current,
         "Deployment, StatefulSet, DaemonSet, ReplicaSet: replicas, strategies, history and deadlines"},
};

}  // namespace

std::string Version::str() const { return std::to_string(major) + "." + std::to_string(minor); }

std::optional<Version> parse_version(std::string_view text) {
  if (text.starts_with("v")) text.remove_prefix(1);
  Version v;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v.major);
  if (r.ec != std::errc{} || r.ptr == text.data() + text.size() || *r.ptr != '.') return std::nullopt;
  auto r2 = std::from_chars(r.ptr + 1, text.data() + text.size(), v.minor);
  if (r2.ec != std::errc{}) return std::nullopt;
  return v;
}

std::span<const Rule> rules() { return k_rules; }

bool applies(const Rule& rule, std::optional<Version> version) {
  if (!version) return !rule.until;
  return rule.since <= *version && (!rule.until || *version <= *rule.until);
}

namespace detail {

std::string Path::str() const {
  std::vector<const Path*> chain;
  for (const Path* p = this; p; p = p->parent) chain.push_back(p);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Path* p = *it;
    if (!p->key.empty()) {
      if (!out.empty()) out += ".";
      out += p->key;
    }
    if (p->index >= 0) out += "[" + std::to_string(p->index) + "]";
    if (p->keyed) {
      out += "[";
      out += p->entry;
      out += "]";
    }
  }
  return out;
}

const Node* map_at(const Node* n, std::string_view key) {
  const Node* v = n ? n->get(key) : nullptr;
  return v && v->is_mapping() ? v : nullptr;
}
const Node* seq_at(const Node* n, std::string_view key) {
  const Node* v = n ? n->get(key) : nullptr;
  return v && v->is_sequence() ? v : nullptr;
}
std::optional<std::string_view> str_at(const Node* n, std::string_view key) {
  const Node* v = n ? n->get(key) : nullptr;
  if (!v || !v->is_string()) return std::nullopt;
  return v->text;
}
std::optional<std::int64_t> int_at(const Node* n, std::string_view key) {
  const Node* v = n ? n->get(key) : nullptr;
  if (!v || v->type != yaml::Type::integer) return std::nullopt;
  return v->value.integer;
}
bool true_at(const Node* n, std::string_view key) {
  const Node* v = n ? n->get(key) : nullptr;
  return v && v->type == yaml::Type::boolean && v->value.boolean;
}

std::string value_text(const Node* n) {
  if (!n) return "null";
  if (n->is_string()) {
    std::string out = "\"";
    for (char c : n->text.substr(0, 256)) out += c == '"' ? std::string("\\\"") : std::string(1, c);
    return out + (n->text.size() > 256 ? "...\"" : "\"");
  }
  if (n->is_mapping()) return "map";
  if (n->is_sequence()) return "list";
  if (n->type == yaml::Type::null) return "null";
  return std::string(n->text.substr(0, 64));
}

Ctx::Ctx(const Options& options, std::vector<Finding>& out) : m_options(options), m_out(out) {}

bool Ctx::on(std::string_view id) const {
  for (const auto& r : k_rules)
    if (r.id == id) return applies(r, m_options.cluster);
  return false;
}

void Ctx::report(std::string_view id, const Path& p, const Node* at, std::string message) {
  if (!on(id)) return;
  m_out.push_back(Finding{id, p.str(), std::move(message), at});
}
void Ctx::required(std::string_view id, const Path& p, const Node* at, std::string_view detail) {
  report(id, p, at, detail.empty() ? "Required value" : "Required value: " + std::string(detail));
}
void Ctx::invalid(std::string_view id, const Path& p, const Node* v, std::string_view detail) {
  invalid_text(id, p, v, value_text(v), detail);
}
void Ctx::invalid_text(std::string_view id, const Path& p, const Node* at, std::string_view shown,
                       std::string_view detail) {
  report(id, p, at, "Invalid value: " + std::string(shown) + (detail.empty() ? "" : ": " + std::string(detail)));
}
void Ctx::unsupported(std::string_view id, const Path& p, const Node* v, std::initializer_list<std::string_view> values) {
  std::string list;
  for (auto s : values) list += (list.empty() ? "\"" : ", \"") + std::string(s) + "\"";
  report(id, p, v, "Unsupported value: " + value_text(v) + ": supported values: " + list);
}
void Ctx::duplicate(std::string_view id, const Path& p, const Node* v) {
  report(id, p, v, "Duplicate value: " + value_text(v));
}
void Ctx::forbidden(std::string_view id, const Path& p, const Node* at, std::string_view detail) {
  report(id, p, at, "Forbidden: " + std::string(detail));
}
void Ctx::not_found(std::string_view id, const Path& p, const Node* v) {
  report(id, p, v, "Not found: " + value_text(v));
}
void Ctx::too_long(std::string_view id, const Path& p, const Node* at, std::size_t max) {
  report(id, p, at, "Too long: must have at most " + std::to_string(max) + " bytes");
}

void Ctx::nonnegative(std::string_view id, const Path& p, const Node* parent, std::string_view key) {
  if (auto v = int_at(parent, key); v && *v < 0)
    invalid(id, p.field(key), parent->get(key), "must be greater than or equal to 0");
}
void Ctx::positive(std::string_view id, const Path& p, const Node* parent, std::string_view key) {
  if (auto v = int_at(parent, key); v && *v <= 0)
    invalid(id, p.field(key), parent->get(key), "must be greater than zero");
}
void Ctx::in_range(std::string_view id, const Path& p, const Node* parent, std::string_view key, std::int64_t lo,
                   std::int64_t hi) {
  if (auto v = int_at(parent, key); v && (*v < lo || *v > hi))
    invalid(id, p.field(key), parent->get(key),
            "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", inclusive");
}
void Ctx::one_of(std::string_view id, const Path& p, const Node* parent, std::string_view key,
                 std::initializer_list<std::string_view> values) {
  auto v = str_at(parent, key);
  if (!v || v->empty()) return;  // empty is unset: the apiserver defaults it first
  if (std::find(values.begin(), values.end(), *v) == values.end()) unsupported(id, p.field(key), parent->get(key), values);
}
void Ctx::syntax(std::string_view id, const Path& p, const Node* parent, std::string_view key,
                 std::string (*grammar)(std::string_view)) {
  auto v = str_at(parent, key);
  if (!v) return;
  if (auto problem = grammar(*v); !problem.empty()) invalid(id, p.field(key), parent->get(key), problem);
}

}  // namespace detail

namespace {

struct Covered {
  std::string_view group, kind;
  bool namespaced;
};

constexpr Covered k_covered[] = {
    {"", "Pod", true}, {"", "PodTemplate", true}, {"", "ReplicationController", true}, {"", "Service", true},
    {"", "ConfigMap", true}, {"", "Secret", true}, {"", "ServiceAccount", true},
    {"", "PersistentVolumeClaim", true}, {"", "Namespace", false}, {"", "LimitRange", true},
    {"", "ResourceQuota", true}, {"", "Endpoints", true},
    {"apps", "Deployment", true}, {"apps", "StatefulSet", true}, {"apps", "DaemonSet", true},
    {"apps", "ReplicaSet", true}, {"batch", "Job", true}, {"batch", "CronJob", true},
    {"networking.k8s.io", "Ingress", true}, {"extensions", "Ingress", true},
    {"networking.k8s.io", "NetworkPolicy", true}, {"networking.k8s.io", "IngressClass", false},
    {"policy", "PodDisruptionBudget", true}, {"autoscaling", "HorizontalPodAutoscaler", true},
    {"rbac.authorization.k8s.io", "Role", true}, {"rbac.authorization.k8s.io", "ClusterRole", false},
    {"rbac.authorization.k8s.io", "RoleBinding", true}, {"rbac.authorization.k8s.io", "ClusterRoleBinding", false},
    {"storage.k8s.io", "StorageClass", false}, {"storage.k8s.io", "CSIDriver", false},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration", false},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration", false},
    {"apiextensions.k8s.io", "CustomResourceDefinition", false},
    {"scheduling.k8s.io", "PriorityClass", false},
};

const Covered* covered(std::string_view api_version, std::string_view kind) {
  auto slash = api_version.find('/');
  std::string_view group = slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
  if (api_version.empty() || api_version == "/") return nullptr;
  for (const auto& c : k_covered)
    if (c.group == group && c.kind == kind) return &c;
  return nullptr;
}

}  // namespace

bool covers(std::string_view api_version, std::string_view kind) { return covered(api_version, kind) != nullptr; }

void validate(const yaml::Node& object, const Options& options, std::vector<Finding>& out) {
  if (!object.is_mapping()) return;
  std::string_view api_version = object.get_string("apiVersion"), kind = object.get_string("kind");
  const Covered* c = covered(api_version, kind);
  if (!c) {
    if (!options.other_builtin || api_version.empty() || kind.empty()) return;
    detail::Ctx ctx(options, out);
    auto slash = api_version.find('/');
    detail::validate_meta(ctx, object, slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash),
                          kind, options.namespaced);
    return;
  }
  auto slash = api_version.find('/');
  std::string_view version = slash == std::string_view::npos ? api_version : api_version.substr(slash + 1);
  detail::Ctx ctx(options, out);
  detail::validate_meta(ctx, object, c->group, kind, c->namespaced);
  if (c->group.empty())
    detail::validate_core(ctx, object, kind);
  else if (c->group == "apps" || c->group == "batch" || c->group == "policy" || c->group == "autoscaling")
    detail::validate_workload(ctx, object, c->group, version, kind);
  else if (c->group == "networking.k8s.io" || c->group == "extensions")
    detail::validate_network(ctx, object, c->group, version, kind);
  else
    detail::validate_cluster(ctx, object, c->group, version, kind);
}

}  // namespace portcullis::k8svalidate
