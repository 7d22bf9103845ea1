// Patches: strategic merge (kyaml's merge2 rules over the patch strategies and merge keys of
// Kubernetes' OpenAPI, table in patch_table.inc) and JSON 6902; patch targets and selectors.
#include <algorithm>
#include <regex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "shared/kustomize/internal.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kustomize {

namespace {

struct PatchField {
  int type;
  const char* name;
  int child;
  int list;
  const char* strategy;
  const char* keys;
};
struct PatchRoot {
  const char* group;
  const char* version;
  const char* kind;
  int type;
};
struct ClusterKind {
  const char* group;
  const char* kind;
};
#include "shared/kustomize/patch_table.inc"

// The schema of a field, as far as the table knows it.
struct FieldSchema {
  bool known = false;  // false: kyaml has no schema here (custom resources, unknown fields)
  int child = -1;      // the type of the field (or of a list's items)
  std::string strategy;
  std::vector<std::string> keys;
};

FieldSchema field_schema(int type, std::string_view name) {
  FieldSchema fs;
  if (type < 0) return fs;
  auto lo = std::lower_bound(std::begin(k_patch_fields), std::end(k_patch_fields), std::pair{type, name},
                             [](const PatchField& f, const std::pair<int, std::string_view>& k) {
                               return f.type < k.first || (f.type == k.first && std::string_view(f.name) < k.second);
                             });
  if (lo == std::end(k_patch_fields) || lo->type != type || name != lo->name) {
    // Scalars and maps of scalars are left out of the table: known, but nothing to merge by.
    fs.known = true;
    return fs;
  }
  fs.known = true;
  fs.child = lo->child;
  fs.strategy = lo->strategy;
  for (auto k : util::split(lo->keys, ','))
    if (!k.empty()) fs.keys.emplace_back(k);
  return fs;
}

// The type of an object in the table: its group, version and kind; else the same kind in
// another version of its group (batch/v1 CronJob is newer than the table's apiserver).
int root_type(const Json& object) {
  Gvk g = gvk_of(object);
  int other_version = -1;
  for (const auto& r : k_patch_roots) {
    if (g.group != r.group || g.kind != r.kind) continue;
    if (g.version == r.version) return r.type;
    other_version = r.type;
  }
  return other_version;
}

// kustomize's merge (kyaml's merge2) knows only `$patch`; `$retainKeys`, `$setElementOrder/...`
// and `$deleteFromPrimitiveList/...` stay in the object as ordinary fields, as they do there.
bool is_directive(const std::string& key) { return key == "$patch"; }

// A patch value as content: directives removed, elements marked for deletion dropped.
Json clean(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (is_directive(it.key())) continue;
      if (it.value().is_null()) continue;
      out[it.key()] = clean(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& item : v) {
      if (item.is_object()) {
        auto p = item.find("$patch");
        if (p != item.end() && p->is_string() && (*p == "delete" || *p == "replace")) continue;
      }
      out.push_back(clean(item));
    }
    return out;
  }
  return v;
}

enum class Outcome { keep, remove };

Outcome merge_map(Json& dest, const Json& patch, int type, Unknown unknown);

std::string key_value(const Json& item, const std::string& key) {
  if (!item.is_object()) return {};
  auto it = item.find(key);
  if (it == item.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

bool elements_match(const Json& a, const Json& b, const std::vector<std::string>& keys) {
  if (keys.size() == 1) {
    auto va = key_value(a, keys[0]);
    return !va.empty() && va == key_value(b, keys[0]);
  }
  bool common = false;
  for (const auto& k : keys) {
    auto va = key_value(a, k), vb = key_value(b, k);
    if (va == vb) {
      if (!va.empty()) common = true;
      continue;
    }
    if (!va.empty() && !vb.empty()) return false;
  }
  return common;
}

bool has_any_key(const Json& item, const std::vector<std::string>& keys) {
  for (const auto& k : keys)
    if (!key_value(item, k).empty()) return true;
  return false;
}

void merge_list(Json& dest, const Json& patch, const FieldSchema& schema, Unknown unknown) {
  for (const auto& item : patch)
    if (item.is_object() && item.size() == 1 && item.contains("$patch") && item["$patch"] == "replace") {
      dest = clean(patch);
      return;
    }
  // Associative only where the schema gives a merge strategy: kustomize's merge does not infer
  // merge keys, so lists of custom resources and of unknown fields are replaced.
  std::vector<std::string> keys = schema.keys;
  bool associative = schema.known && schema.strategy.find("merge") != std::string::npos;
  if (!schema.known && unknown == Unknown::merge_by_name)
    for (const Json* list : std::initializer_list<const Json*>{&dest, &patch})
      for (const auto& item : *list)
        if (item.is_object() && item.contains("name")) {
          associative = true;
          keys = {"name"};
        }
  if (!associative) {
    dest = clean(patch);
    return;
  }
  if (keys.empty()) {
    // A list of primitives merged as a set: the patch's values first.
    Json out = Json::array();
    auto add = [&](const Json& v) {
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    };
    for (const auto& v : patch)
      if (!v.is_object()) add(v);
    for (const auto& v : dest) add(v);
    dest = std::move(out);
    return;
  }
  Json out = Json::array();
  std::vector<bool> used(dest.size(), false);
  std::vector<Json> keyless;
  for (const auto& p : patch) {
    if (!p.is_object() || !has_any_key(p, keys)) {
      if (!p.is_object() || !p.contains("$patch")) keyless.push_back(clean(p));
      continue;
    }
    bool deleting = p.contains("$patch") && p["$patch"] == "delete";
    bool found = false;
    for (std::size_t i = 0; i < dest.size(); ++i) {
      if (used[i] || !elements_match(dest[i], p, keys)) continue;
      used[i] = true;
      found = true;
      if (deleting) break;
      Json merged = dest[i];
      if (merge_map(merged, p, schema.child, unknown) == Outcome::keep) out.push_back(std::move(merged));
      break;
    }
    if (!found && !deleting) {
      // The same element twice in the patch merges into the first.
      bool merged_into_out = false;
      for (auto& o : out)
        if (elements_match(o, p, keys)) {
          merge_map(o, p, schema.child, unknown);
          merged_into_out = true;
          break;
        }
      if (!merged_into_out) out.push_back(clean(p));
    }
  }
  for (std::size_t i = 0; i < dest.size(); ++i)
    if (!used[i]) out.push_back(dest[i]);
  for (auto& k : keyless) out.push_back(std::move(k));
  dest = std::move(out);
}

Outcome merge_map(Json& dest, const Json& patch, int type, Unknown unknown) {
  if (!patch.is_object()) {
    dest = patch;
    return Outcome::keep;
  }
  if (auto p = patch.find("$patch"); p != patch.end() && p->is_string()) {
    if (*p == "delete") return Outcome::remove;
    if (*p == "replace") {
      dest = clean(patch);
      return Outcome::keep;
    }
  }
  if (!dest.is_object()) dest = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& key = it.key();
    if (is_directive(key)) continue;
    const Json& value = it.value();
    if (value.is_null()) {
      dest.erase(key);
      continue;
    }
    FieldSchema schema = field_schema(type, key);
    auto d = dest.find(key);
    if (d == dest.end() || d->is_null()) {
      if (value.is_object()) {
        Json fresh = Json::object();
        if (merge_map(fresh, value, schema.child, unknown) == Outcome::keep) dest[key] = std::move(fresh);
      } else {
        dest[key] = clean(value);
      }
      continue;
    }
    if (value.is_object() && d->is_object()) {
      if (merge_map(*d, value, schema.child, unknown) == Outcome::remove) dest.erase(key);
    } else if (value.is_array() && d->is_array()) {
      merge_list(*d, value, schema, unknown);
    } else {
      *d = clean(value);
    }
  }
  return Outcome::keep;
}

// Kubernetes label selectors: "a=b,c!=d,e in (x,y),f notin (z),g,!h".
util::Result<bool> selector_matches(const Json& labels, std::string_view selector) {
  std::vector<std::string> terms;
  std::string cur;
  int depth = 0;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      terms.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  terms.push_back(cur);
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    if (!labels.is_object()) return std::nullopt;
    auto it = labels.find(k);
    if (it == labels.end()) return std::nullopt;
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  for (auto& raw : terms) {
    std::string t(util::trim(raw));
    if (t.empty()) continue;
    std::size_t pos;
    if ((pos = t.find(" notin ")) != std::string::npos || (pos = t.find(" in ")) != std::string::npos) {
      bool notin = t.compare(pos, 7, " notin ") == 0;
      std::string key(util::trim(t.substr(0, pos)));
      auto open = t.find('('), close = t.rfind(')');
      if (open == std::string::npos || close == std::string::npos || close < open)
        return util::fail("invalid label selector '" + std::string(selector) + "'", "kustomize.invalid");
      std::set<std::string> values;
      for (auto v : util::split(std::string_view(t).substr(open + 1, close - open - 1), ','))
        values.emplace(util::trim(v));
      auto have = label(key);
      bool in = have && values.count(*have);
      if (notin ? in : !in) return false;
    } else if ((pos = t.find("!=")) != std::string::npos) {
      auto have = label(std::string(util::trim(t.substr(0, pos))));
      if (have && *have == util::trim(t.substr(pos + 2))) return false;
    } else if ((pos = t.find('=')) != std::string::npos) {
      std::size_t vpos = (pos + 1 < t.size() && t[pos + 1] == '=') ? pos + 2 : pos + 1;
      auto have = label(std::string(util::trim(t.substr(0, pos))));
      if (!have || *have != util::trim(t.substr(vpos))) return false;
    } else if (t[0] == '!') {
      if (label(std::string(util::trim(t.substr(1))))) return false;
    } else if (!label(t)) {
      return false;
    }
  }
  return true;
}

// Selectors' names are anchored regular expressions; each is compiled once per thread.
// A name without metacharacters is compared as text, without a regex (the usual case).
bool regex_full(const std::string& pattern, const std::string& text) {
  if (pattern.empty() || pattern == text) return true;
  if (pattern.find_first_of("\\^$.|?*+()[]{}") == std::string::npos) return false;
  thread_local std::unordered_map<std::string, std::optional<std::regex>> compiled;
  auto it = compiled.find(pattern);
  if (it == compiled.end()) {
    std::optional<std::regex> re;
    try {
      re.emplace(pattern);
    } catch (const std::regex_error&) {
    }
    if (compiled.size() > 1024) compiled.clear();
    it = compiled.emplace(pattern, std::move(re)).first;
  }
  return it->second && std::regex_match(text, *it->second);
}

const Json& metadata_field(const Json& object, const char* field) {
  static const Json empty = Json::object();
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return empty;
  auto f = m->find(field);
  return f == m->end() ? empty : *f;
}

}  // namespace

bool is_cluster_scoped(const Gvk& gvk) {
  static const std::unordered_set<std::string> kinds = [] {
    std::unordered_set<std::string> out;
    for (const auto& c : k_cluster_kinds) out.insert(std::string(c.group) + "/" + c.kind);
    // Newer than the table's apiserver (1.20).
    out.insert("admissionregistration.k8s.io/ValidatingAdmissionPolicy");
    out.insert("admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding");
    return out;
  }();
  return kinds.count(gvk.group + "/" + gvk.kind) > 0;
}

Selector selector_from(const Json& s) {
  Selector sel;
  if (!s.is_object()) return sel;
  sel.gvk = Gvk{s.value("group", ""), s.value("version", ""), s.value("kind", "")};
  sel.name = s.value("name", "");
  sel.namespace_ = s.value("namespace", "");
  sel.label_selector = s.value("labelSelector", "");
  sel.annotation_selector = s.value("annotationSelector", "");
  return sel;
}

// A selector's name or namespace pattern that could backtrack without end: a repeated group
// that itself repeats ("(a+)+", "(a|a*)*"). std::regex backtracks; a push must not hang the gate.
bool unsafe_pattern(const std::string& p) {
  if (p.size() > 256) return true;
  std::vector<bool> repeats_inside;  // per open group: holds a quantifier
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '(') repeats_inside.push_back(false);
    if ((c == '*' || c == '+' || c == '{') && !repeats_inside.empty()) repeats_inside.back() = true;
    if (c == ')' && !repeats_inside.empty()) {
      bool inner = repeats_inside.back();
      repeats_inside.pop_back();
      bool repeated = i + 1 < p.size() && (p[i + 1] == '*' || p[i + 1] == '+' || p[i + 1] == '{');
      if (inner && repeated) return true;
      if (inner && !repeats_inside.empty()) repeats_inside.back() = true;
    }
  }
  return false;
}

util::Result<bool> matches(const Resource& res, const Selector& s, Ids ids) {
  for (const auto* pattern : {&s.name, &s.namespace_})
    if (unsafe_pattern(*pattern))
      return util::fail(error("selector pattern '" + pattern->substr(0, 80) +
                                  "' repeats a repeated group (or is longer than 256 characters): refused, it could "
                                  "take without end to match",
                              "kustomize.invalid", res.file));
  Id cur = res.id(), org = res.original_id();
  auto any = [&](const std::function<bool(const Id&)>& pred) {
    return ids == Ids::any ? res.any_id(pred) : (pred(org) || pred(cur));
  };
  if (!s.namespace_.empty() &&
      !any([&](const Id& id) { return regex_full(s.namespace_, id.effective_namespace()); }))
    return false;
  if (!s.name.empty() && !any([&](const Id& id) { return regex_full(s.name, id.name); })) return false;
  if (!cur.gvk.selected_by(s.gvk)) return false;
  if (!s.label_selector.empty()) {
    auto m = selector_matches(metadata_field(res.object, "labels"), s.label_selector);
    if (!m || !*m) return m;
  }
  if (!s.annotation_selector.empty()) {
    auto m = selector_matches(metadata_field(res.object, "annotations"), s.annotation_selector);
    if (!m || !*m) return m;
  }
  return true;
}

util::Result<void> strategic_merge(Json& target, const Json& patch, Unknown unknown) {
  if (merge_map(target, patch, root_type(target), unknown) == Outcome::remove) target = nullptr;
  return {};
}

util::Result<void> json_patch(Json& target, const Json& operations) {
  if (!operations.is_array())
    return util::fail("a JSON 6902 patch must be a list of operations", "kustomize.patch");
  try {
    target = target.patch(operations);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return util::fail("JSON patch cannot be applied: " + what, "kustomize.patch");
  }
  return {};
}

util::Result<void> apply_smp(Resources& resources, const Json& patch, const Selector* target,
                             std::string_view file, Unknown unknown, const Contribution* from) {
  if (!patch.is_object()) return util::fail(error("a strategic merge patch must be a mapping", "kustomize.patch", file));
  std::vector<std::size_t> chosen;
  if (target) {
    for (std::size_t i = 0; i < resources.size(); ++i) {
      auto m = matches(resources[i], *target);
      if (!m) return util::fail(m.error());
      if (*m) chosen.push_back(i);
    }
  } else {
    Id pid{gvk_of(patch), "", ""};
    if (auto m = patch.find("metadata"); m != patch.end() && m->is_object()) {
      if (auto n = m->find("name"); n != m->end() && n->is_string()) pid.name = n->get<std::string>();
      if (auto n = m->find("namespace"); n != m->end() && n->is_string()) pid.namespace_ = n->get<std::string>();
    }
    for (std::size_t i = 0; i < resources.size(); ++i)
      if (resources[i].any_id([&](const Id& id) { return id == pid; })) chosen.push_back(i);
    if (chosen.size() != 1)
      return util::fail(error(std::string(chosen.empty() ? "no matches" : "multiple matches") + " for Id " +
                                  pid.str() + "; failed to find unique target for patch " + pid.str(),
                              "kustomize.patch", file));
  }
  bool allow_name = false, allow_kind = false;
  if (auto m = patch.find("metadata"); m != patch.end() && m->is_object())
    if (auto a = m->find("annotations"); a != m->end() && a->is_object()) {
      allow_name = a->value("kustomize.config.k8s.io/allowNameChange", "") == "true";
      allow_kind = a->value("kustomize.config.k8s.io/allowKindChange", "") == "true";
    }
  std::vector<std::size_t> removed;
  for (std::size_t i : chosen) {
    Json p = patch;
    Resource& r = resources[i];
    if (target) {
      // The patch takes its target's group and version (kustomize's ApplySmPatch).
      p["apiVersion"] = r.object.value("apiVersion", "");
    }
    if (p.contains("metadata") && p["metadata"].is_object() && p["metadata"].contains("annotations") &&
        p["metadata"]["annotations"].is_object()) {
      p["metadata"]["annotations"].erase("kustomize.config.k8s.io/allowNameChange");
      p["metadata"]["annotations"].erase("kustomize.config.k8s.io/allowKindChange");
      if (p["metadata"]["annotations"].empty()) p["metadata"].erase("annotations");
    }
    std::string name = r.name(), ns = r.namespace_();
    Json kind = r.object.value("kind", Json(""));
    if (allow_name || allow_kind) r.store_previous_id();
    auto ok = strategic_merge(r.object, p, unknown);
    if (!ok) return util::fail(ok.error());
    if (r.object.is_null() || (r.object.is_object() && r.object.empty())) {
      removed.push_back(i);
      continue;
    }
    if (from) r.contributions.push_back(*from);
    if (!allow_kind) r.object["kind"] = kind;
    if (!allow_name) r.set_name(name);
    if (ns.empty()) {
      if (r.object["metadata"].is_object()) r.object["metadata"].erase("namespace");
    } else {
      r.object["metadata"]["namespace"] = ns;
    }
  }
  for (auto it = removed.rbegin(); it != removed.rend(); ++it) resources.erase(resources.begin() + *it);
  return {};
}

util::Result<void> apply_json6902(Resources& resources, const Json& operations, const Selector& target,
                                  std::string_view file, const Contribution* from) {
  for (auto& r : resources) {
    auto m = matches(r, target);
    if (!m) return util::fail(m.error());
    if (!*m) continue;
    Id before = r.id();
    r.store_previous_id();
    auto ok = json_patch(r.object, operations);
    if (!ok) {
      util::Error e = ok.error();
      e.file = std::string(file);
      e.message += " (target " + before.str() + ")";
      return util::fail(std::move(e));
    }
    if (from) r.contributions.push_back(*from);
    // kustomize sets the annotations again after a JSON patch: what is not a mapping of them,
    // or an empty one, is dropped.
    if (auto meta = r.object.find("metadata"); meta != r.object.end() && meta->is_object())
      if (auto a = meta->find("annotations"); a != meta->end() && (!a->is_object() || a->empty()))
        meta->erase("annotations");
  }
  return {};
}

}  // namespace portcullis::kustomize
