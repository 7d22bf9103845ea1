// core/v1 kinds other than Services: Pods, PodTemplates, ReplicationControllers, ConfigMaps,
// Secrets, PVCs, Namespaces, LimitRanges, ResourceQuotas.
#include <algorithm>
#include <set>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate::detail {

namespace {

constexpr std::size_t k_max_data_size = 1024 * 1024;

std::size_t decoded_size(const Node* v) {
  if (!v->is_string()) return 0;
  return v->text.size() / 4 * 3;
}

void data_keys(Ctx& ctx, const Path& p, const Node* data, std::set<std::string_view>& keys) {
  if (!data) return;
  for (const auto& e : data->entries) {
    if (auto problem = config_map_key(e.key->text); !problem.empty()) ctx.invalid(rule::data_keys, p.key_of(e.key->text), e.key, problem);
    keys.insert(e.key->text);
  }
}

void config_map(Ctx& ctx, const Node& object) {
  Path root;
  const Node* data = map_at(&object, "data");
  const Node* binary = map_at(&object, "binaryData");
  std::set<std::string_view> keys;
  data_keys(ctx, root.field("data"), data, keys);
  data_keys(ctx, root.field("binaryData"), binary, keys);
  std::size_t total = 0;
  if (data)
    for (const auto& e : data->entries) {
      total += e.value->is_string() ? e.value->text.size() : 0;
      if (binary && binary->get(e.key->text))
        ctx.invalid(rule::data_keys, root.field_key("data", e.key->text), e.key, "duplicate of key present in binaryData");
    }
  if (binary)
    for (const auto& e : binary->entries) total += decoded_size(e.value);
  if (total > k_max_data_size) ctx.too_long(rule::data_keys, root, &object, k_max_data_size);
}

void secret(Ctx& ctx, const Node& object) {
  Path root;
  Path dp = root.field("data");
  const Node* data = map_at(&object, "data");
  const Node* string_data = map_at(&object, "stringData");
  std::set<std::string_view> keys;
  data_keys(ctx, dp, data, keys);
  data_keys(ctx, dp, string_data, keys);
  std::size_t total = 0;
  if (data)
    for (const auto& e : data->entries) total += decoded_size(e.value);
  if (string_data)
    for (const auto& e : string_data->entries) total += e.value->is_string() ? e.value->text.size() : 0;
  if (total > k_max_data_size) ctx.too_long(rule::data_keys, dp, data ? data : &object, k_max_data_size);
  std::string_view type = str_at(&object, "type").value_or("Opaque");
  auto has = [&](std::string_view k) { return keys.contains(k); };
  const Node* at = data ? data : &object;
  if (type == "kubernetes.io/service-account-token") {
    auto name = str_at(map_at(map_at(&object, "metadata"), "annotations"), "kubernetes.io/service-account.name");
    if (!name || name->empty())
      ctx.required(rule::secret_type, root.field_key("metadata.annotations", "kubernetes.io/service-account.name"), &object);
  } else if (type == "kubernetes.io/dockercfg" || type == "kubernetes.io/dockerconfigjson") {
    std::string_view key = type == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
    if (!has(key)) ctx.required(rule::secret_type, dp.key_of(key), at);
  } else if (type == "kubernetes.io/basic-auth") {
    if (!has("username") && !has("password")) {
      ctx.required(rule::secret_type, dp.key_of("username"), at);
      ctx.required(rule::secret_type, dp.key_of("password"), at);
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    const Node* key = data ? data->get("ssh-privatekey") : nullptr;
    if (!key && string_data) key = string_data->get("ssh-privatekey");
    if (!key || !key->is_string() || key->text.empty()) ctx.required(rule::secret_type, dp.key_of("ssh-privatekey"), at);
  } else if (type == "kubernetes.io/tls") {
    for (auto k : {"tls.crt", "tls.key"})
      if (!has(k)) ctx.required(rule::secret_type, dp.key_of(k), at);
  }
}

constexpr std::string_view k_quota_resources[] = {
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps", "persistentvolumeclaims",
    "services.nodeports", "services.loadbalancers", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "cpu", "memory",
    "ephemeral-storage"};

void quantities(Ctx& ctx, const Path& p, const Node* list, bool quota) {
  if (!list) return;
  for (const auto& e : list->entries) {
    std::string_view n = e.key->text;
    Path kp = p.key_of(n);
    if (auto problem = qualified_name(n); !problem.empty()) {
      ctx.invalid(rule::quota, kp, e.key, problem);
      continue;
    }
    if (quota && n.find('/') == std::string_view::npos &&
        std::find(std::begin(k_quota_resources), std::end(k_quota_resources), n) == std::end(k_quota_resources) &&
        !n.starts_with("hugepages-") && !n.starts_with("requests.hugepages-") && !n.starts_with("count/"))
      ctx.invalid(rule::quota, kp, e.key, "must be a standard resource for quota");
    std::optional<Quantity> q = e.value->is_string() ? parse_quantity(e.value->text)
                                : e.value->type == yaml::Type::integer
                                    ? std::optional<Quantity>(Quantity{static_cast<double>(e.value->value.integer), true})
                                    : std::nullopt;
    if (q && q->value < 0) ctx.invalid(rule::quota, kp, e.value, "must be greater than or equal to 0");
  }
}

void limit_range(Ctx& ctx, const Node* spec) {
  const Node* limits = seq_at(spec, "limits");
  if (!limits) return;
  Path root;
  Path lp = root.field("spec.limits");
  std::set<std::string_view> types;
  for (std::size_t i = 0; i < limits->items.size(); ++i) {
    const Node* l = limits->items[i];
    if (!l->is_mapping()) continue;
    Path ip = lp.item(i);
    auto type = str_at(l, "type");
    if (!type || type->empty()) {
      ctx.required(rule::quota, ip.field("type"), l);
    } else {
      if (auto problem = qualified_name(*type); !problem.empty())
        ctx.invalid(rule::quota, ip.field("type"), l->get("type"), problem);
      else if (type->find('/') == std::string_view::npos && *type != "Pod" && *type != "Container" &&
               *type != "PersistentVolumeClaim")
        ctx.invalid(rule::quota, ip.field("type"), l->get("type"), "must be a standard limit type or fully qualified");
      if (!types.insert(*type).second) ctx.duplicate(rule::quota, ip.field("type"), l->get("type"));
    }
    for (auto key : {"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"})
      quantities(ctx, ip.field(key), map_at(l, key), false);
    const Node* min = map_at(l, "min");
    const Node* max = map_at(l, "max");
    if (min && max)
      for (const auto& e : min->entries) {
        const Node* m = max->get(e.key->text);
        if (!m || !m->is_string() || !e.value->is_string()) continue;
        auto a = parse_quantity(e.value->text), b = parse_quantity(m->text);
        if (a && b && a->value > b->value)
          ctx.invalid(rule::quota, ip.field_key("min", e.key->text), e.value,
                      "min value " + std::string(e.value->text) + " is greater than max value " + std::string(m->text));
      }
  }
}

void resource_quota(Ctx& ctx, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  quantities(ctx, sp.field("hard"), map_at(spec, "hard"), true);
  if (const Node* scopes = seq_at(spec, "scopes"))
    for (const Node* s : scopes->items)
      if (s->is_string() && s->text != "Terminating" && s->text != "NotTerminating" && s->text != "BestEffort" &&
          s->text != "NotBestEffort" && s->text != "PriorityClass")
        ctx.unsupported(rule::quota, sp.field("scopes"), s,
                        {"BestEffort", "NotBestEffort", "NotTerminating", "PriorityClass", "Terminating"});
}

void namespace_spec(Ctx& ctx, const Node* spec) {
  const Node* finalizers = seq_at(spec, "finalizers");
  if (!finalizers) return;
  Path root;
  Path fp = root.field("spec.finalizers");
  for (const Node* f : finalizers->items) {
    if (!f->is_string()) continue;
    if (auto problem = qualified_name(f->text); !problem.empty())
      ctx.invalid(rule::finalizers, fp, f, problem);
    else if (f->text.find('/') == std::string_view::npos && f->text != "kubernetes" && f->text != "orphan" &&
             f->text != "foregroundDeletion")
      ctx.invalid(rule::finalizers, fp, f, "name is neither a standard finalizer name nor is it fully qualified");
  }
}

void replication_controller(Ctx& ctx, const Node* spec) {
  Path root;
  Path sp = root.field("spec");
  ctx.nonnegative(rule::workload, sp, spec, "replicas");
  ctx.nonnegative(rule::workload, sp, spec, "minReadySeconds");
  const Node* tmpl = map_at(spec, "template");
  const Node* labels = map_at(map_at(tmpl, "metadata"), "labels");
  const Node* sel = map_at(spec, "selector");
  // An empty selector is defaulted to the template's labels.
  if (!sel || sel->entries.empty()) sel = labels;
  if (!sel || sel->entries.empty()) {
    ctx.required(rule::selector, sp.field("selector"), spec);
  } else {
    validate_labels(ctx, rule::selector, sp.field("selector"), sel);
    for (const auto& e : sel->entries)
      if (!labels || !e.value->is_string() || str_at(labels, e.key->text) != e.value->text) {
        ctx.invalid_text(rule::selector, sp.field("template.metadata.labels"), labels ? labels : spec,
                         "map[...]", "`selector` does not match template `labels`");
        break;
      }
  }
  if (!tmpl) {
    ctx.required(rule::workload, sp.field("template"), spec);
    return;
  }
  validate_pod_template(ctx, sp.field("template"), tmpl, RestartPolicies::always);
  if (const Node* ps = map_at(tmpl, "spec"); ps && ps->get("activeDeadlineSeconds"))
    ctx.forbidden(rule::workload, sp.field("template.spec.activeDeadlineSeconds"),
                  ps->get("activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicationController is not Supported");
}

}  // namespace

void validate_core(Ctx& ctx, const Node& object, std::string_view kind) {
  Path root;
  const Node* spec = map_at(&object, "spec");
  if (kind == "Pod") {
    static const Node k_empty{};
    validate_pod_spec(ctx, root.field("spec"), spec ? spec : &k_empty, RestartPolicies::any);
  } else if (kind == "PodTemplate") {
    validate_pod_template(ctx, root.field("template"), map_at(&object, "template"), RestartPolicies::any);
  } else if (kind == "ReplicationController") {
    replication_controller(ctx, spec);
  } else if (kind == "Service") {
    validate_service(ctx, object, spec);
  } else if (kind == "ConfigMap") {
    config_map(ctx, object);
  } else if (kind == "Secret") {
    secret(ctx, object);
  } else if (kind == "PersistentVolumeClaim") {
    static const Node k_empty{};
    validate_pvc_spec(ctx, root.field("spec"), spec ? spec : &k_empty);
  } else if (kind == "Namespace") {
    namespace_spec(ctx, spec);
  } else if (kind == "LimitRange") {
    limit_range(ctx, spec);
  } else if (kind == "ResourceQuota") {
    resource_quota(ctx, spec);
  }
}

}  // namespace portcullis::k8svalidate::detail
