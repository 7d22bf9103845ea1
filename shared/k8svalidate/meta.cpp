// ObjectMeta everywhere (apimachinery's ValidateObjectMetaAccessor and core's finalizer rule),
// labels and label selectors.
#include <algorithm>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/walker.hpp"

namespace portcullis::k8svalidate::detail {

namespace {

constexpr std::size_t k_total_annotation_size = 256 * 1024;

using NameFn = std::string (*)(std::string_view);

NameFn name_fn(std::string_view group, std::string_view kind) {
  if (group == "rbac.authorization.k8s.io") return path_segment_name;
  if (group.empty() && kind == "Service") return dns1035_label;
  if (group.empty() && kind == "Namespace") return dns1123_label;
  if (group == "policy" && kind == "PodDisruptionBudget") return nullptr;  // 1.20 does not judge PDB names
  return dns1123_subdomain;
}

// A generateName is judged as a name with a trailing '-' masked (apimachinery maskTrailingDash).
std::string prefix_problem(NameFn fn, std::string_view prefix) {
  std::string masked(prefix);
  if (masked.size() > 1 && masked.back() == '-') masked.back() = 'a';
  return fn(masked);
}

bool standard_finalizer(std::string_view f) {
  return f == "kubernetes" || f == "orphan" || f == "foregroundDeletion";
}

}  // namespace

void validate_labels(Ctx& ctx, std::string_view rule, const Path& p, const Node* labels) {
  if (!labels || !labels->is_mapping()) return;
  for (const auto& e : labels->entries) {
    if (auto problem = qualified_name(e.key->text); !problem.empty()) ctx.invalid(rule, p, e.key, problem);
    if (e.value->is_string())
      if (auto problem = label_value(e.value->text); !problem.empty()) ctx.invalid(rule, p, e.value, problem);
  }
}

void validate_label_selector(Ctx& ctx, const Path& p, const Node* selector) {
  if (!selector || !selector->is_mapping()) return;
  validate_labels(ctx, rule::selector, p.field("matchLabels"), map_at(selector, "matchLabels"));
  const Node* exprs = seq_at(selector, "matchExpressions");
  if (!exprs) return;
  Path ep = p.field("matchExpressions");
  for (std::size_t i = 0; i < exprs->items.size(); ++i) {
    const Node* e = exprs->items[i];
    if (!e->is_mapping()) continue;
    Path ip = ep.item(i);
    auto op = str_at(e, "operator");
    const Node* values = seq_at(e, "values");
    bool has_values = values && !values->items.empty();
    if (op == "In" || op == "NotIn") {
      if (!has_values) ctx.required(rule::selector, ip.field("values"), e, "must be specified when `operator` is 'In' or 'NotIn'");
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (has_values)
        ctx.forbidden(rule::selector, ip.field("values"), values, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    } else if (op) {
      ctx.invalid(rule::selector, ip.field("operator"), e->get("operator"), "not a valid selector operator");
    }
    if (auto key = str_at(e, "key")) {
      if (auto problem = qualified_name(*key); !problem.empty())
        ctx.invalid(rule::selector, ip.field("key"), e->get("key"), problem);
    }
  }
}

bool selector_matches(const Node* selector, const Node* labels) {
  auto label = [&](std::string_view key) -> std::optional<std::string_view> {
    if (!labels || !labels->is_mapping()) return std::nullopt;
    return str_at(labels, key);
  };
  if (const Node* ml = map_at(selector, "matchLabels"))
    for (const auto& e : ml->entries)
      if (!e.value->is_string() || label(e.key->text) != e.value->text) return false;
  if (const Node* exprs = seq_at(selector, "matchExpressions"))
    for (const Node* e : exprs->items) {
      auto key = str_at(e, "key");
      auto op = str_at(e, "operator");
      if (!key || !op) continue;
      auto have = label(*key);
      bool in = false;
      if (const Node* values = seq_at(e, "values"))
        for (const Node* v : values->items) in = in || (have && v->is_string() && v->text == *have);
      if ((*op == "In" && !in) || (*op == "NotIn" && in) || (*op == "Exists" && !have) ||
          (*op == "DoesNotExist" && have))
        return false;
    }
  return true;
}

void validate_meta(Ctx& ctx, const Node& object, std::string_view group, std::string_view kind, bool namespaced) {
  const Node* meta = map_at(&object, "metadata");
  if (!meta) return;
  Path root;
  Path mp = root.field("metadata");
  NameFn fn = name_fn(group, kind);
  if (auto name = str_at(meta, "name"); fn && name && !name->empty())
    if (auto problem = fn(*name); !problem.empty()) ctx.invalid(rule::name, mp.field("name"), meta->get("name"), problem);
  if (auto gen = str_at(meta, "generateName"); fn && gen && !gen->empty())
    if (auto problem = prefix_problem(fn, *gen); !problem.empty())
      ctx.invalid(rule::generate_name, mp.field("generateName"), meta->get("generateName"), problem);
  if (auto ns = str_at(meta, "namespace"); ns && !ns->empty() && namespaced)
    if (auto problem = dns1123_label(*ns); !problem.empty())
      ctx.invalid(rule::name, mp.field("namespace"), meta->get("namespace"), problem);

  validate_labels(ctx, rule::labels, mp.field("labels"), map_at(meta, "labels"));

  if (const Node* annotations = map_at(meta, "annotations")) {
    Path ap = mp.field("annotations");
    std::size_t total = 0;
    for (const auto& e : annotations->entries) {
      std::string lower(e.key->text);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (auto problem = qualified_name(lower); !problem.empty()) ctx.invalid(rule::annotations, ap, e.key, problem);
      total += e.key->text.size() + (e.value->is_string() ? e.value->text.size() : 0);
    }
    if (total > k_total_annotation_size) ctx.too_long(rule::annotations, ap, annotations, k_total_annotation_size);
  }

  if (const Node* finalizers = seq_at(meta, "finalizers")) {
    Path fp = mp.field("finalizers");
    bool orphan = false, foreground = false;
    for (const Node* f : finalizers->items) {
      if (!f->is_string()) continue;
      orphan = orphan || f->text == "orphan";
      foreground = foreground || f->text == "foregroundDeletion";
      if (auto problem = qualified_name(f->text); !problem.empty())
        ctx.invalid(rule::finalizers, fp, f, problem);
      else if (f->text.find('/') == std::string_view::npos && !standard_finalizer(f->text))
        ctx.invalid(rule::finalizers, fp, f, "name is neither a standard finalizer name nor is it fully qualified");
    }
    if (orphan && foreground)
      ctx.invalid_text(rule::finalizers, fp, finalizers, "[...]", "finalizer orphan and foregroundDeletion cannot be both set");
  }

  if (const Node* owners = seq_at(meta, "ownerReferences")) {
    Path op = mp.field("ownerReferences");
    int controllers = 0;
    for (const Node* o : owners->items) {
      if (!o->is_mapping()) continue;
      auto empty = [&](std::string_view key) { auto v = str_at(o, key); return !v || v->empty(); };
      if (empty("apiVersion")) ctx.invalid_text(rule::owner_references, op.field("apiVersion"), o, "\"\"", "version must not be empty");
      if (empty("kind")) ctx.invalid_text(rule::owner_references, op.field("kind"), o, "\"\"", "kind must not be empty");
      if (empty("name")) ctx.invalid_text(rule::owner_references, op.field("name"), o, "\"\"", "name must not be empty");
      if (empty("uid")) ctx.invalid_text(rule::owner_references, op.field("uid"), o, "\"\"", "uid must not be empty");
      if (true_at(o, "controller")) ++controllers;
    }
    if (controllers > 1)
      ctx.invalid_text(rule::owner_references, op, owners, "[...]", "Only one reference can have Controller set to true");
  }
}

}  // namespace portcullis::k8svalidate::detail
