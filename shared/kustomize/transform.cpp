// kustomize's built-in transformers: namespace, name prefix/suffix, labels, annotations,
// images, replicas, and the name references fixed after every rename.
#include <algorithm>
#include <set>
#include <unordered_map>

#include "shared/kustomize/internal.hpp"
#include "shared/manifest/object.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kustomize {

namespace {

bool is_role_binding(const std::string& kind) { return kind == "RoleBinding" || kind == "ClusterRoleBinding"; }

}  // namespace

util::Result<void> set_namespace(Resources& resources, const std::string& ns, const Config& config) {
  if (ns.empty()) return {};
  for (auto& r : resources) {
    if (!r.object.is_object() || r.object.empty()) continue;
    r.store_previous_id();
    Gvk gvk = gvk_of(r.object);
    if (!is_cluster_scoped(gvk)) r.object["metadata"]["namespace"] = ns;
    std::string api_version = r.object.value("apiVersion", "");
    if (is_role_binding(gvk.kind)) {
      auto s = r.object.find("subjects");
      if (s != r.object.end() && s->is_array())
        for (auto& subject : *s)
          if (subject.is_object() && subject.value("name", "") == "default") subject["namespace"] = ns;
    }
    Json value = ns;
    for (const auto& fs : config.namespace_) {
      if (fs.path == "metadata/namespace") continue;
      if (fs.path == "metadata/name" && api_version != "v1") continue;
      if (is_role_binding(fs.gvk.kind) && fs.path == "subjects/namespace") continue;
      if (!gvk.selected_by(fs.gvk)) continue;
      visit_path(r.object, fs.path, fs.create, [&](Json& n) { n = ns; }, &value);
    }
  }
  if (auto dup = first_duplicate(resources))
    return util::fail(error("namespace transformation produces ID conflict: " + resources[*dup].id().str(),
                            "kustomize.conflict", resources[*dup].file));
  return {};
}

void add_prefix_suffix(Resources& resources, const std::string& prefix, const std::string& suffix,
                       const Config& config) {
  auto skip = [](const Id& id) {
    return id.gvk.kind == "CustomResourceDefinition" ||
           (id.gvk.kind == "APIService" && id.gvk.group == "apiregistration.k8s.io") || id.gvk.kind == "Namespace";
  };
  auto run = [&](const std::string& affix, const std::vector<FieldSpec>& specs, bool is_prefix) {
    if (affix.empty()) return;
    for (auto& r : resources) {
      Id org = r.original_id();
      if (skip(org)) continue;
      for (const auto& fs : specs) {
        if (!org.gvk.selected_by(fs.gvk)) continue;
        if (fs.path == "metadata/name") {
          (is_prefix ? r.prefixes : r.suffixes).push_back(affix);
          r.store_previous_id();
        }
        visit_path(r.object, fs.path, false, [&](Json& n) {
          if (n.is_string()) n = is_prefix ? affix + n.get<std::string>() : n.get<std::string>() + affix;
        });
      }
    }
  };
  run(prefix, config.name_prefix, true);
  run(suffix, config.name_suffix, false);
}

void add_labels(Resources& resources, const Json& labels, const std::vector<FieldSpec>& specs) {
  if (!labels.is_object() || labels.empty()) return;
  for (auto& r : resources)
    apply_field_specs(r, specs, true, [&](Json& node) {
      if (!node.is_object()) node = Json::object();
      for (auto it = labels.begin(); it != labels.end(); ++it) node[it.key()] = it.value();
    });
}

void add_annotations(Resources& resources, const Json& annotations, const std::vector<FieldSpec>& specs) {
  add_labels(resources, annotations, specs);
}

namespace {

void update_image(Json& node, const ImageRule& rule) {
  if (!node.is_string()) return;
  const std::string current = node.get<std::string>();
  manifest::ImageRef ref = manifest::parse_image(current);
  struct {
    std::string name, tag, digest;
  } p{std::string(ref.name), std::string(ref.tag), std::string(ref.digest)};
  if (p.name != rule.name) return;
  if (!rule.new_name.empty()) p.name = rule.new_name;
  if (!rule.new_tag.empty() && !rule.digest.empty()) {
    p.tag = rule.new_tag;
    p.digest = rule.digest;
  } else if (!rule.new_tag.empty()) {
    p.tag = rule.new_tag;
    p.digest.clear();
  } else if (!rule.digest.empty()) {
    p.tag.clear();
    p.digest = rule.digest;
  }
  std::string out = p.name;
  if (!p.tag.empty()) out += ":" + p.tag;
  if (!p.digest.empty()) out += "@" + p.digest;
  node = out;
}

// kustomize's legacy image filter: every `containers` and `initContainers` list, anywhere.
void legacy_images(Json& node, const ImageRule& rule) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if ((it.key() == "containers" || it.key() == "initContainers") && it.value().is_array()) {
        for (auto& c : it.value())
          if (c.is_object() && c.contains("image")) update_image(c["image"], rule);
      }
      legacy_images(it.value(), rule);
    }
  } else if (node.is_array()) {
    for (auto& item : node) legacy_images(item, rule);
  }
}

}  // namespace

void set_images(Resources& resources, const std::vector<ImageRule>& rules, const Config& config) {
  for (const auto& rule : rules)
    for (auto& r : resources) {
      legacy_images(r.object, rule);
      apply_field_specs(r, config.images, false, [&](Json& n) { update_image(n, rule); });
    }
}

void set_replicas(Resources& resources, const std::string& name, const Json& count, const Config& config) {
  for (auto& r : resources) {
    if (!r.any_id([&](const Id& id) { return id.name == name; })) continue;
    apply_field_specs(r, config.replicas, true, [&](Json& n) { n = count; }, &count);
  }
}

// --- name references ----------------------------------------------------------------------

namespace {

bool same_ending(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const auto& shortest = a.size() <= b.size() ? a : b;
  const auto& longest = a.size() <= b.size() ? b : a;
  std::size_t diff = longest.size() - shortest.size();
  if (shortest.empty()) return diff == 0;
  for (std::size_t i = 0; i < shortest.size(); ++i)
    if (longest[i + diff] != shortest[i]) return false;
  return true;
}

bool affixes_equal(const Resource& r, const Resource& o, bool allow_empty) {
  if (allow_empty) {
    bool p_empty = r.prefixes.empty() || o.prefixes.empty();
    bool s_empty = r.suffixes.empty() || o.suffixes.empty();
    return (p_empty || same_ending(r.prefixes, o.prefixes)) && (s_empty || same_ending(r.suffixes, o.suffixes));
  }
  return same_ending(r.prefixes, o.prefixes) && same_ending(r.suffixes, o.suffixes);
}

// What the name-reference pass knows of every object, computed once.
struct Known {
  Id id;
  bool cluster = false;
  std::string effective_namespace;
};

struct RefIndex {
  std::vector<Known> known;
  std::unordered_map<std::string, std::vector<std::size_t>> by_previous_name;
};

struct RefContext {
  const Resources& all;
  const RefIndex& index;
  std::size_t referrer;
  const Gvk& target;
  const std::string& path;
  const std::set<std::string>& binding_namespaces;  // a RoleBinding's ServiceAccount namespaces

  const Resource& referrer_resource() const { return all[referrer]; }
  // kustomize's SubsetThatCouldBeReferencedByResource.
  bool could_refer_to(std::size_t i) const {
    const Known& r = index.known[referrer];
    const Known& t = index.known[i];
    return r.cluster || t.cluster || t.effective_namespace == r.effective_namespace ||
           binding_namespaces.count(t.id.namespace_) > 0;
  }
};

bool previous_selected(const Resource& r, const Gvk& gvk) {
  for (const auto& id : r.previous)
    if (id.gvk.selected_by(gvk)) return true;
  return false;
}

// `pool`: which candidates a mapping's namespace field leaves (nullptr: all).
util::Result<const Resource*> select_referral(const RefContext& c, const std::string& old_name,
                                              const std::function<bool(std::size_t)>* pool, bool with_namespace) {
  std::vector<const Resource*> list;
  const Known& referrer = c.index.known[c.referrer];
  std::optional<Gvk> role_ref;
  if (util::ends_with(c.path, "roleRef/name")) {
    const Json& o = c.referrer_resource().object;
    auto rr = o.find("roleRef");
    if (rr != o.end() && rr->is_object() && rr->contains("apiGroup") && rr->contains("kind"))
      role_ref = Gvk{rr->value("apiGroup", ""), "", rr->value("kind", "")};
  }
  auto named = c.index.by_previous_name.find(old_name);
  if (named == c.index.by_previous_name.end()) return static_cast<const Resource*>(nullptr);
  for (std::size_t i : named->second) {
    if (!c.could_refer_to(i) || (pool && !(*pool)(i))) continue;
    const Resource& r = c.all[i];
    if (!previous_selected(r, c.target)) continue;
    if (role_ref && !previous_selected(r, *role_ref)) continue;
    if (!referrer.cluster) {
      const Known& k = c.index.known[i];
      if (!k.cluster && k.id.gvk.kind != "ServiceAccount" && k.effective_namespace != referrer.effective_namespace)
        continue;
    }
    list.push_back(&r);
  }
  if (list.size() == 1) return list[0];
  auto sieve = [&](bool allow_empty) {
    std::vector<const Resource*> out;
    for (const auto* r : list)
      if (affixes_equal(*r, c.referrer_resource(), allow_empty)) out.push_back(r);
    list = std::move(out);
  };
  sieve(true);
  if (list.size() > 1) sieve(false);
  if (list.size() == 1) return list[0];
  if (list.empty()) return static_cast<const Resource*>(nullptr);
  bool identical = true;
  for (const auto* r : list)
    if (r->name() != list[0]->name() || (with_namespace && r->namespace_() != list[0]->namespace_()))
      identical = false;
  if (identical) return list[0];
  std::string ids;
  for (const auto* r : list) ids += (ids.empty() ? "" : ", ") + r->id().str();
  return util::fail(error("found multiple possible referrals: " + ids + " (referred to by " + referrer.id.str() +
                              " in " + c.path + ")",
                          "kustomize.conflict", c.referrer_resource().file));
}

util::Result<void> set_scalar(const RefContext& c, Json& node) {
  if (!node.is_string()) return {};
  auto referral = select_referral(c, node.get<std::string>(), nullptr, false);
  if (!referral) return util::fail(referral.error());
  if (*referral) node = (*referral)->name();
  return {};
}

util::Result<void> set_mapping(const RefContext& c, Json& node) {
  auto name = node.find("name");
  if (name == node.end() || !name->is_string()) return {};
  std::function<bool(std::size_t)> pool;
  if (auto ns = node.find("namespace"); ns != node.end() && ns->is_string()) {
    std::string want = *ns;
    bool any_original = false;
    for (std::size_t i = 0; i < c.all.size(); ++i)
      if (c.could_refer_to(i) && c.all[i].original_id().effective_namespace() == want) any_original = true;
    if (any_original)
      pool = [&c, want](std::size_t i) { return c.all[i].original_id().effective_namespace() == want; };
    else
      pool = [&c, want](std::size_t i) { return c.index.known[i].effective_namespace == want; };
  }
  auto referral = select_referral(c, name->get<std::string>(), pool ? &pool : nullptr, true);
  if (!referral) return util::fail(referral.error());
  if (!*referral) return {};
  const Resource& r = **referral;
  node["name"] = r.name();
  if (!r.namespace_().empty()) node["namespace"] = r.namespace_();
  return {};
}

util::Result<void> set_reference(const RefContext& c, Json& node) {
  if (node.is_string()) return set_scalar(c, node);
  if (node.is_object()) return set_mapping(c, node);
  if (node.is_array())
    for (auto& item : node) {
      auto ok = item.is_object() ? set_mapping(c, item) : set_scalar(c, item);
      if (!ok) return ok;
    }
  return {};
}

}  // namespace

util::Result<void> fix_name_references(Resources& resources, const Config& config) {
  RefIndex index;
  index.known.reserve(resources.size());
  for (std::size_t i = 0; i < resources.size(); ++i) {
    Id id = resources[i].id();
    bool cluster = is_cluster_scoped(id.gvk);
    std::string ns = id.effective_namespace();
    index.known.push_back(Known{std::move(id), cluster, std::move(ns)});
    std::set<std::string> names;
    for (const auto& p : resources[i].previous) names.insert(p.name);
    for (const auto& n : names) index.by_previous_name[n].push_back(i);
  }
  for (std::size_t ri = 0; ri < resources.size(); ++ri) {
    Resource& referrer = resources[ri];
    Id org = referrer.original_id();
    const Id& cur = index.known[ri].id;
    std::set<std::string> binding_namespaces;
    bool bindings_read = false;
    for (const auto& back : config.name_reference) {
      for (const auto& fs : back.referrers) {
        if (!org.gvk.selected_by(fs.gvk)) continue;
        if (!bindings_read && cur.gvk.kind == "RoleBinding") {
          bindings_read = true;
          auto s = referrer.object.find("subjects");
          if (s != referrer.object.end() && s->is_array())
            for (const auto& subject : *s)
              if (subject.is_object() && subject.contains("namespace") && subject.value("kind", "") == "ServiceAccount") {
                if (!subject["namespace"].is_string())
                  return util::fail(error("Invalid Input: namespace is blank for resource \"" + cur.str() + "\"",
                                          "kustomize.invalid", referrer.file));
                binding_namespaces.insert(subject["namespace"].get<std::string>());
              }
        }
        RefContext c{resources, index, ri, back.gvk, fs.path, binding_namespaces};
        util::Result<void> status;
        Json copy;
        bool touched = false;
        visit_path(referrer.object, fs.path, false, [&](Json&) { touched = true; });
        if (!touched) continue;
        copy = referrer.object;
        visit_path(copy, fs.path, false, [&](Json& n) {
          if (!status || n.is_null()) return;
          status = set_reference(c, n);
        });
        if (!status) return status;
        referrer.object = std::move(copy);
      }
    }
  }
  return {};
}

}  // namespace portcullis::kustomize
