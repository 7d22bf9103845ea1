// Cluster plumbing: rbac, storage, scheduling, admissionregistration webhooks and
// apiextensions CustomResourceDefinitions (names, versions and structural schemas).
#include <algorithm>
#include <set>

#include "shared/cel/schema.hpp"
#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate::detail {

namespace {

constexpr std::string_view k_rbac_group = "rbac.authorization.k8s.io";

bool non_empty_seq(const Node* n, std::string_view key) {
  const Node* s = seq_at(n, key);
  return s && !s->items.empty();
}

void policy_rules(Ctx& ctx, const Node& object, bool namespaced) {
  const Node* rules = seq_at(&object, "rules");
  if (!rules) return;
  Path root;
  for (std::size_t i = 0; i < rules->items.size(); ++i) {
    const Node* r = rules->items[i];
    if (!r->is_mapping()) continue;
    Path ip = root.field_item("rules", i);
    if (!non_empty_seq(r, "verbs")) ctx.required(rule::rbac, ip.field("verbs"), r, "verbs must contain at least one value");
    if (non_empty_seq(r, "nonResourceURLs")) {
      if (namespaced)
        ctx.invalid_text(rule::rbac, ip.field("nonResourceURLs"), r->get("nonResourceURLs"), "[...]",
                         "namespaced rules cannot apply to non-resource URLs");
      if (non_empty_seq(r, "apiGroups") || non_empty_seq(r, "resources") || non_empty_seq(r, "resourceNames"))
        ctx.invalid_text(rule::rbac, ip.field("nonResourceURLs"), r->get("nonResourceURLs"), "[...]",
                         "rules cannot apply to both regular resources and non-resource URLs");
      continue;
    }
    if (!non_empty_seq(r, "apiGroups"))
      ctx.required(rule::rbac, ip.field("apiGroups"), r, "resource rules must supply at least one api group");
    if (!non_empty_seq(r, "resources"))
      ctx.required(rule::rbac, ip.field("resources"), r, "resource rules must supply at least one resource");
  }
}

void binding(Ctx& ctx, const Node& object, bool namespaced) {
  Path root;
  const Node* ref = map_at(&object, "roleRef");
  Path rp = root.field("roleRef");
  std::string_view group = str_at(ref, "apiGroup").value_or(k_rbac_group);
  if (group.empty()) group = k_rbac_group;
  if (group != k_rbac_group) ctx.unsupported(rule::rbac, rp.field("apiGroup"), ref->get("apiGroup"), {k_rbac_group});
  auto kind = str_at(ref, "kind");
  if (namespaced ? (kind != "Role" && kind != "ClusterRole") : kind != "ClusterRole") {
    const Node* at = ref && ref->get("kind") ? ref->get("kind") : (ref ? ref : &object);
    if (namespaced)
      ctx.unsupported(rule::rbac, rp.field("kind"), at, {"Role", "ClusterRole"});
    else
      ctx.unsupported(rule::rbac, rp.field("kind"), at, {"ClusterRole"});
  }
  auto name = str_at(ref, "name");
  if (!name || name->empty())
    ctx.required(rule::rbac, rp.field("name"), ref ? ref : &object);
  else if (auto problem = path_segment_name(*name); !problem.empty())
    ctx.invalid(rule::rbac, rp.field("name"), ref->get("name"), problem);
  const Node* subjects = seq_at(&object, "subjects");
  if (!subjects) return;
  for (std::size_t i = 0; i < subjects->items.size(); ++i) {
    const Node* s = subjects->items[i];
    if (!s->is_mapping()) continue;
    Path ip = root.field_item("subjects", i);
    auto sname = str_at(s, "name");
    if (!sname || sname->empty()) ctx.required(rule::rbac, ip.field("name"), s);
    auto skind = str_at(s, "kind").value_or("");
    auto sgroup = str_at(s, "apiGroup");
    if (skind == "ServiceAccount") {
      if (sname && !sname->empty())
        if (auto problem = dns1123_subdomain(*sname); !problem.empty()) ctx.invalid(rule::rbac, ip.field("name"), s->get("name"), problem);
      if (sgroup && !sgroup->empty()) ctx.unsupported(rule::rbac, ip.field("apiGroup"), s->get("apiGroup"), {""});
      auto ns = str_at(s, "namespace");
      if (!namespaced && (!ns || ns->empty())) ctx.required(rule::rbac, ip.field("namespace"), s);
    } else if (skind == "User" || skind == "Group") {
      if (sgroup && !sgroup->empty() && *sgroup != k_rbac_group)
        ctx.unsupported(rule::rbac, ip.field("apiGroup"), s->get("apiGroup"), {k_rbac_group});
    } else {
      ctx.unsupported(rule::rbac, ip.field("kind"), s->get("kind") ? s->get("kind") : s, {"ServiceAccount", "User", "Group"});
    }
  }
}

void storage_class(Ctx& ctx, const Node& object) {
  Path root;
  auto provisioner = str_at(&object, "provisioner");
  if (!provisioner || provisioner->empty()) {
    ctx.required(rule::storage, root.field("provisioner"), &object);
  } else {
    std::string lower(*provisioner);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto problem = qualified_name(lower); !problem.empty())
      ctx.invalid(rule::storage, root.field("provisioner"), object.get("provisioner"), problem);
  }
  if (const Node* params = map_at(&object, "parameters")) {
    std::size_t total = 0;
    for (const auto& e : params->entries) {
      if (e.key->text.empty()) ctx.invalid(rule::storage, root.field("parameters"), e.key, "key cannot be empty");
      total += e.key->text.size() + (e.value->is_string() ? e.value->text.size() : 0);
    }
    if (params->entries.size() > 512)
      ctx.invalid_text(rule::storage, root.field("parameters"), params, "map[...]", "can't have more than 512 parameters");
    if (total > 256 * 1024) ctx.too_long(rule::storage, root.field("parameters"), params, 256 * 1024);
  }
  ctx.one_of(rule::storage, root, &object, "reclaimPolicy", {"Delete", "Retain"});
  ctx.one_of(rule::storage, root, &object, "volumeBindingMode", {"Immediate", "WaitForFirstConsumer"});
}

bool has_scheme_https(std::string_view url, std::string& problem) {
  auto colon = url.find("://");
  if (colon == std::string_view::npos) {
    problem = "'https' is the only allowed URL scheme";
    return false;
  }
  std::string_view scheme = url.substr(0, colon), rest = url.substr(colon + 3);
  if (scheme != "https") problem = "'https' is the only allowed URL scheme";
  else if (rest.empty() || rest.front() == '/') problem = "host must be specified";
  else if (rest.substr(0, rest.find('/')).find('@') != std::string_view::npos) problem = "user information is not permitted in the URL";
  else if (rest.find('#') != std::string_view::npos) problem = "fragments are not permitted in the URL";
  else if (rest.find('?') != std::string_view::npos) problem = "query parameters are not permitted in the URL";
  return problem.empty();
}

void webhooks(Ctx& ctx, const Node& object, std::string_view version, bool mutating) {
  const Node* hooks = seq_at(&object, "webhooks");
  if (!hooks) return;
  Path root;
  bool v1 = version == "v1";
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < hooks->items.size(); ++i) {
    const Node* h = hooks->items[i];
    if (!h->is_mapping()) continue;
    Path ip = root.field_item("webhooks", i);
    auto name = str_at(h, "name");
    if (!name || name->empty()) {
      ctx.required(rule::webhook, ip.field("name"), h);
    } else if (auto problem = dns1123_subdomain(*name); !problem.empty()) {
      ctx.invalid(rule::webhook, ip.field("name"), h->get("name"), problem);
    } else if (std::count(name->begin(), name->end(), '.') < 2) {
      ctx.invalid(rule::webhook, ip.field("name"), h->get("name"), "should be a domain with at least three segments separated by dots");
    }
    if (v1 && name && !name->empty() && !names.insert(*name).second) ctx.duplicate(rule::webhook, ip.field("name"), h->get("name"));
    if (const Node* rules = seq_at(h, "rules"))
      for (std::size_t j = 0; j < rules->items.size(); ++j) {
        const Node* r = rules->items[j];
        Path rp = ip.field_item("rules", j);
        const Node* ops = seq_at(r, "operations");
        if (!ops || ops->items.empty()) ctx.required(rule::webhook, rp.field("operations"), r);
        else
          for (std::size_t k = 0; k < ops->items.size(); ++k) {
            const Node* op = ops->items[k];
            if (!op->is_string()) continue;
            if (op->text == "*" && ops->items.size() > 1)
              ctx.invalid_text(rule::webhook, rp.field("operations"), ops, "[...]", "if '*' is present, must not specify other operations");
            else if (op->text != "*" && op->text != "CREATE" && op->text != "UPDATE" && op->text != "DELETE" && op->text != "CONNECT")
              ctx.unsupported(rule::webhook, rp.field_item("operations", k), op, {"*", "CONNECT", "CREATE", "DELETE", "UPDATE"});
          }
        for (auto key : {"apiGroups", "apiVersions", "resources"})
          if (!non_empty_seq(r, key)) ctx.required(rule::webhook, rp.field(key), r);
        ctx.one_of(rule::webhook, rp, r, "scope", {"*", "Cluster", "Namespaced"});
      }
    ctx.one_of(rule::webhook, ip, h, "failurePolicy", {"Fail", "Ignore"});
    ctx.one_of(rule::webhook, ip, h, "matchPolicy", {"Equivalent", "Exact"});
    if (mutating) ctx.one_of(rule::webhook, ip, h, "reinvocationPolicy", {"IfNeeded", "Never"});
    auto side = str_at(h, "sideEffects");
    if (v1 && !side)
      ctx.required(rule::webhook, ip.field("sideEffects"), h, "must specify one of None, NoneOnDryRun");
    else if (v1)
      ctx.one_of(rule::webhook, ip, h, "sideEffects", {"None", "NoneOnDryRun"});
    else
      ctx.one_of(rule::webhook, ip, h, "sideEffects", {"None", "NoneOnDryRun", "Some", "Unknown"});
    if (auto t = int_at(h, "timeoutSeconds"); t && (*t < 1 || *t > 30))
      ctx.invalid(rule::webhook, ip.field("timeoutSeconds"), h->get("timeoutSeconds"), "the timeout value must be between 1 and 30 seconds");
    validate_label_selector(ctx, ip.field("namespaceSelector"), map_at(h, "namespaceSelector"));
    validate_label_selector(ctx, ip.field("objectSelector"), map_at(h, "objectSelector"));
    const Node* versions = seq_at(h, "admissionReviewVersions");
    Path vp = ip.field("admissionReviewVersions");
    if (v1 && (!versions || versions->items.empty())) {
      ctx.required(rule::webhook, vp, h, "must specify one of v1, v1beta1");
    } else if (versions) {
      bool known = false;
      std::set<std::string_view> seen;
      for (std::size_t k = 0; k < versions->items.size(); ++k) {
        const Node* v = versions->items[k];
        if (!v->is_string()) continue;
        if (auto problem = dns1035_label(v->text); !problem.empty()) ctx.invalid(rule::webhook, vp.item(k), v, problem);
        if (!seen.insert(v->text).second) ctx.invalid(rule::webhook, vp.item(k), v, "duplicate version");
        known = known || v->text == "v1" || v->text == "v1beta1";
      }
      if (!known && !versions->items.empty())
        ctx.invalid_text(rule::webhook, vp, versions, "[...]", "must include at least one of v1, v1beta1");
    }
    const Node* cc = map_at(h, "clientConfig");
    Path cp = ip.field("clientConfig");
    const Node* url = cc ? cc->get("url") : nullptr;
    const Node* svc = map_at(cc, "service");
    if ((url == nullptr) == (svc == nullptr)) {
      ctx.required(rule::webhook, cp, cc ? cc : h, "exactly one of url or service is required");
    } else if (url && url->is_string()) {
      std::string problem;
      if (!has_scheme_https(url->text, problem)) ctx.invalid(rule::webhook, cp.field("url"), url, problem);
    } else if (svc) {
      Path sp = cp.field("service");
      for (auto key : {"name", "namespace"}) {
        auto v = str_at(svc, key);
        if (!v || v->empty()) ctx.required(rule::webhook, sp.field(key), svc, std::string("service ") + key + " is required");
      }
      if (auto port = int_at(svc, "port"); port && (*port < 1 || *port > 65535))
        ctx.invalid(rule::webhook, sp.field("port"), svc->get("port"), "port is not valid: must be between 1 and 65535, inclusive");
      if (auto path = str_at(svc, "path"); path && !path->empty() && !path->starts_with("/"))
        ctx.invalid(rule::webhook, sp.field("path"), svc->get("path"), "must start with a '/'");
    }
  }
}

// The structural-schema rules of apiextensions.k8s.io/v1 for one schema node at `p`.
enum class Where { root, field, item, value_validation };

void structural(Ctx& ctx, const Path& p, const Node* s, Where where, int depth) {
  if (!s || !s->is_mapping() || depth > 64) return;
  auto type = str_at(s, "type");
  bool int_or_string = true_at(s, "x-kubernetes-int-or-string");
  bool preserve = true_at(s, "x-kubernetes-preserve-unknown-fields");
  if (where == Where::value_validation) {
    for (auto key : {"type", "nullable", "default", "description", "additionalProperties", "x-kubernetes-int-or-string",
                     "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource"})
      if (s->get(key)) ctx.forbidden(rule::crd_structural, p.field(key), s->get(key), "must be empty to be structural");
  } else if (where == Where::root && type != "object") {
    if (!type) ctx.required(rule::crd_structural, p.field("type"), s, "must not be empty at the root");
    else ctx.invalid(rule::crd_structural, p.field("type"), s->get("type"), "must be object at the root");
  } else if (!type && !int_or_string && !preserve && where != Where::root) {
    ctx.required(rule::crd_structural, p.field("type"), s,
                 where == Where::item ? "must not be empty for specified array items" : "must not be empty for specified object fields");
  }
  if (int_or_string && type)
    ctx.invalid(rule::crd_structural, p.field("type"), s->get("type"), "must be empty when x-kubernetes-int-or-string is true");
  if (const Node* pu = s->get("x-kubernetes-preserve-unknown-fields");
      pu && pu->type == yaml::Type::boolean && !pu->value.boolean)
    ctx.invalid(rule::crd_structural, p.field("x-kubernetes-preserve-unknown-fields"), pu, "must be true or undefined");
  for (auto [key, msg] : {std::pair{"$ref", "$ref is not supported"}, std::pair{"id", "id is not supported"},
                          std::pair{"$schema", "$schema is not supported"},
                          std::pair{"definitions", "definitions is not supported"},
                          std::pair{"dependencies", "dependencies is not supported"},
                          std::pair{"patternProperties", "patternProperties is not supported"},
                          std::pair{"additionalItems", "additionalItems is not supported"}})
    if (s->get(key)) ctx.forbidden(rule::crd_structural, p.field(key), s->get(key), msg);
  if (true_at(s, "uniqueItems"))
    ctx.forbidden(rule::crd_structural, p.field("uniqueItems"), s->get("uniqueItems"),
                  "uniqueItems cannot be set to true since the runtime complexity becomes quadratic");
  const Node* props = map_at(s, "properties");
  const Node* additional = s->get("additionalProperties");
  if (additional && props && !props->entries.empty())
    ctx.forbidden(rule::crd_structural, p.field("additionalProperties"), additional,
                  "additionalProperties and properties are mutual exclusive");
  if (additional && additional->type == yaml::Type::boolean && !additional->value.boolean)
    ctx.forbidden(rule::crd_structural, p.field("additionalProperties"), additional, "additionalProperties cannot be set to false");
  if (const Node* items = s->get("items")) {
    if (items->is_sequence())
      ctx.forbidden(rule::crd_structural, p.field("items"), items, "items must be a schema object and not an array");
    else
      structural(ctx, p.field("items"), items, where == Where::value_validation ? where : Where::item, depth + 1);
  } else if (type == "array" && where != Where::value_validation) {
    ctx.required(rule::crd_structural, p.field("items"), s, "must be specified");
  }
  if (props)
    for (const auto& e : props->entries) {
      Path pp = p.field_key("properties", e.key->text);
      if (where == Where::root && e.key->text == "metadata" && e.value->is_mapping()) {
        for (const auto& m : e.value->entries)
          if (m.key->text != "type" && m.key->text != "properties" && m.key->text != "description")
            ctx.forbidden(rule::crd_structural, pp.field(m.key->text), m.value,
                          "must not be specified at the root metadata: only name and generateName may be restricted");
        if (const Node* mp = map_at(e.value, "properties"))
          for (const auto& m : mp->entries)
            if (m.key->text != "name" && m.key->text != "generateName")
              ctx.forbidden(rule::crd_structural, pp.field_key("properties", m.key->text), m.value,
                            "must not be specified at the root metadata: only name and generateName may be restricted");
      }
      structural(ctx, pp, e.value, where == Where::value_validation ? where : Where::field, depth + 1);
    }
  if (additional && additional->is_mapping())
    structural(ctx, p.field("additionalProperties"), additional, where == Where::value_validation ? where : Where::field, depth + 1);
  for (auto key : {"allOf", "anyOf", "oneOf"})
    if (const Node* list = seq_at(s, key))
      for (std::size_t i = 0; i < list->items.size(); ++i)
        structural(ctx, p.field_item(key, i), list->items[i], Where::value_validation, depth + 1);
  if (const Node* n = map_at(s, "not")) structural(ctx, p.field("not"), n, Where::value_validation, depth + 1);
}

// The x-kubernetes-validations of a schema compile, as the apiserver checks from 1.25 (before,
// it drops the field). Reported at the rule's path with the compiler's message.
void cel_rules(Ctx& ctx, const Path& p, const Node* schema) {
  if (!ctx.on(rule::crd_cel_compile)) return;
  auto cluster = ctx.options().cluster;
  cel::RuleFeatures features = cluster ? cel::rule_features(cluster->major, cluster->minor) : cel::RuleFeatures{};
  std::vector<cel::SchemaProblem> problems;
  std::string base = p.str();
  (void)cel::compile_schema(*schema, base, features, problems);
  for (const auto& problem : problems) {
    Path at{nullptr, problem.path, -1, {}, false};
    ctx.report(rule::crd_cel_compile, at, problem.at ? problem.at : schema, problem.message);
  }
}

void crd(Ctx& ctx, const Node& object, std::string_view version) {
  Path root;
  const Node* spec = map_at(&object, "spec");
  Path sp = root.field("spec");
  if (!spec) {
    ctx.required(rule::crd, sp.field("group"), &object);
    return;
  }
  auto group = str_at(spec, "group");
  if (!group || group->empty())
    ctx.required(rule::crd, sp.field("group"), spec);
  else if (auto problem = dns1123_subdomain(*group); !problem.empty())
    ctx.invalid(rule::crd, sp.field("group"), spec->get("group"), problem);
  else if (group->find('.') == std::string_view::npos)
    ctx.invalid(rule::crd, sp.field("group"), spec->get("group"), "should be a domain with at least one dot");
  const Node* names = map_at(spec, "names");
  Path np = sp.field("names");
  auto plural = str_at(names, "plural");
  auto kind = str_at(names, "kind");
  if (!plural || plural->empty()) ctx.required(rule::crd, np.field("plural"), names ? names : spec);
  if (!kind || kind->empty()) ctx.required(rule::crd, np.field("kind"), names ? names : spec);
  auto lower_label = [&](std::string_view key, bool lower) {
    auto v = str_at(names, key);
    if (!v || v->empty()) return;
    std::string text(*v);
    if (lower)
      for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto problem = dns1035_label(text); !problem.empty())
      ctx.invalid(rule::crd, np.field(key), names->get(key), lower ? "may have mixed case, but should otherwise match: " + problem : problem);
  };
  lower_label("plural", false);
  lower_label("singular", false);
  lower_label("kind", true);
  lower_label("listKind", true);
  for (auto key : {"shortNames", "categories"})
    if (const Node* list = seq_at(names, key))
      for (std::size_t i = 0; i < list->items.size(); ++i)
        if (list->items[i]->is_string())
          if (auto problem = dns1035_label(list->items[i]->text); !problem.empty())
            ctx.invalid(rule::crd, np.field_item(key, i), list->items[i], problem);
  if (kind && str_at(names, "listKind") == *kind)
    ctx.invalid(rule::crd, np.field("listKind"), names->get("listKind"), "kind and listKind may not be the same");
  if (auto name = str_at(map_at(&object, "metadata"), "name"); name && plural && group && *name != std::string(*plural) + "." + std::string(*group))
    ctx.invalid(rule::crd, root.field("metadata.name"), object.at({"metadata", "name"}),
                "must be spec.names.plural+\".\"+spec.group");
  auto scope = str_at(spec, "scope");
  if (!scope || scope->empty()) ctx.required(rule::crd, sp.field("scope"), spec);
  else ctx.one_of(rule::crd, sp, spec, "scope", {"Cluster", "Namespaced"});
  bool v1 = version == "v1";
  if (v1 && true_at(spec, "preserveUnknownFields"))
    ctx.invalid(rule::crd, sp.field("preserveUnknownFields"), spec->get("preserveUnknownFields"),
                "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead");
  const Node* versions = seq_at(spec, "versions");
  Path vp = sp.field("versions");
  if (!versions || versions->items.empty()) {
    if (v1 || !str_at(spec, "version")) ctx.required(rule::crd, vp, spec, "must have exactly one version marked as storage version");
    return;
  }
  int storage = 0;
  std::set<std::string_view> seen;
  bool unique = true;
  for (std::size_t i = 0; i < versions->items.size(); ++i) {
    const Node* v = versions->items[i];
    if (!v->is_mapping()) continue;
    Path ip = vp.item(i);
    if (true_at(v, "storage")) ++storage;
    auto name = str_at(v, "name");
    if (name && !seen.insert(*name).second) unique = false;
    if (!name || name->empty()) ctx.required(rule::crd, ip.field("name"), v);
    else if (auto problem = dns1035_label(*name); !problem.empty())
      ctx.invalid(rule::crd, ip.field("name"), v->get("name"), problem);
    const Node* schema = map_at(map_at(v, "schema"), "openAPIV3Schema");
    Path schema_path = ip.field("schema.openAPIV3Schema");
    if (v1 && !schema)
      ctx.required(rule::crd_structural, schema_path, v, "schemas are required");
    else if (v1) {
      structural(ctx, schema_path, schema, Where::root, 0);
      cel_rules(ctx, schema_path, schema);
    }
  }
  if (!unique) ctx.invalid_text(rule::crd, vp, versions, "[...]", "must contain unique version names");
  if (storage != 1) ctx.invalid_text(rule::crd, vp, versions, "[...]", "must have exactly one version marked as storage version");
  if (const Node* conv = map_at(spec, "conversion")) {
    auto strategy = str_at(conv, "strategy");
    ctx.one_of(rule::crd, sp.field("conversion"), conv, "strategy", {"None", "Webhook"});
    if (v1 && strategy == "Webhook" && !map_at(conv, "webhook"))
      ctx.required(rule::crd, sp.field("conversion.webhook"), conv, "must be set for strategy Webhook");
  }
}

}  // namespace

void validate_cluster(Ctx& ctx, const Node& object, std::string_view group, std::string_view version,
                      std::string_view kind) {
  if (group == k_rbac_group) {
    if (kind == "Role") policy_rules(ctx, object, true);
    if (kind == "ClusterRole") {
      policy_rules(ctx, object, false);
      if (const Node* agg = map_at(&object, "aggregationRule")) {
        Path root;
        const Node* sel = seq_at(agg, "clusterRoleSelectors");
        if (!sel || sel->items.empty())
          ctx.required(rule::rbac, root.field("aggregationRule.clusterRoleSelectors"), agg,
                       "at least one clusterRoleSelector required if aggregationRule is non-nil");
        else
          for (std::size_t i = 0; i < sel->items.size(); ++i)
            validate_label_selector(ctx, root.field("aggregationRule.clusterRoleSelectors").item(i), sel->items[i]);
      }
    }
    if (kind == "RoleBinding") binding(ctx, object, true);
    if (kind == "ClusterRoleBinding") binding(ctx, object, false);
  } else if (group == "storage.k8s.io") {
    if (kind == "StorageClass") storage_class(ctx, object);
  } else if (group == "admissionregistration.k8s.io") {
    webhooks(ctx, object, version, kind == "MutatingWebhookConfiguration");
  } else if (group == "apiextensions.k8s.io") {
    crd(ctx, object, version);
  } else if (group == "scheduling.k8s.io") {
    Path root;
    if (auto name = str_at(map_at(&object, "metadata"), "name");
        name && name->starts_with("system-") && *name != "system-node-critical" && *name != "system-cluster-critical")
      ctx.forbidden(rule::name, root.field("metadata.name"), object.at({"metadata", "name"}),
                    "priority class names with 'system-' prefix are reserved");
    ctx.one_of(rule::pod, root, &object, "preemptionPolicy", {"PreemptLowerPriority", "Never"});
  }
}

}  // namespace portcullis::k8svalidate::detail
