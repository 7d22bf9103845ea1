#include "shared/kustomize/replace.hpp"

#include <algorithm>

#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

namespace {

// "a.b.[name=x].c" split at dots outside brackets.
std::vector<std::string> split_field_path(std::string_view path) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : path) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == '.' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  // "ports[0]" is "ports", "[0]".
  std::vector<std::string> parts;
  for (auto& p : out) {
    auto b = p.find('[');
    if (b != std::string::npos && b > 0) {
      parts.push_back(p.substr(0, b));
      parts.push_back(p.substr(b));
    } else {
      parts.push_back(p);
    }
  }
  return parts;
}

bool is_index(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); }

void walk(Json& node, const std::vector<std::string>& parts, std::size_t i, bool create,
          std::vector<Json*>& out) {
  if (i == parts.size()) {
    out.push_back(&node);
    return;
  }
  const std::string& part = parts[i];
  if (part == "*") {
    if (node.is_array())
      for (auto& item : node) walk(item, parts, i + 1, create, out);
    else if (node.is_object())
      for (auto it = node.begin(); it != node.end(); ++it) walk(it.value(), parts, i + 1, create, out);
    return;
  }
  if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
    std::string inner = part.substr(1, part.size() - 2);
    if (!node.is_array()) {
      if (!create || !node.is_null()) return;
      node = Json::array();
    }
    auto eq = inner.find('=');
    if (eq == std::string::npos) {
      if (is_index(inner)) {
        std::size_t idx = std::stoul(inner);
        if (idx < node.size()) walk(node[idx], parts, i + 1, create, out);
      }
      return;
    }
    std::string key = inner.substr(0, eq), value = inner.substr(eq + 1);
    bool found = false;
    for (auto& item : node)
      if (item.is_object() && item.contains(key) &&
          (item[key].is_string() ? item[key].get<std::string>() : item[key].dump()) == value) {
        found = true;
        walk(item, parts, i + 1, create, out);
      }
    if (!found && create) {
      Json item = Json::object();
      item[key] = value;
      node.push_back(item);
      walk(node.back(), parts, i + 1, create, out);
    }
    return;
  }
  if (node.is_array() && is_index(part)) {
    std::size_t idx = std::stoul(part);
    if (idx < node.size()) walk(node[idx], parts, i + 1, create, out);
    return;
  }
  if (!node.is_object()) {
    if (!create || !node.is_null()) return;
    node = Json::object();
  }
  auto it = node.find(part);
  if (it == node.end()) {
    if (!create) return;
    node[part] = nullptr;
    it = node.find(part);
  }
  walk(*it, parts, i + 1, create, out);
}

std::vector<Json*> find_fields(Json& object, std::string_view path, bool create) {
  std::vector<Json*> out;
  walk(object, split_field_path(path), 0, create, out);
  return out;
}


std::string text_of(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

util::Result<void> one_replacement(const Json& rep, Resources& resources, std::string_view file) {
  const Json& source = rep.contains("source") ? rep["source"] : Json::object();
  Selector ss = selector_from(source);
  std::vector<Resource*> found;
  for (auto& r : resources) {
    auto m = matches(r, ss);
    if (!m) return util::fail(m.error());
    if (*m) found.push_back(&r);
  }
  if (found.size() != 1)
    return util::fail(error(std::string(found.empty() ? "nothing selected by" : "multiple matches for selector") +
                                " replacement source " + source.dump(),
                            "kustomize.invalid", file));
  std::string field = source.value("fieldPath", "metadata.name");
  auto values = find_fields(found[0]->object, field, false);
  if (values.empty())
    return util::fail(error("fieldPath `" + field + "` is missing for replacement source " + found[0]->id().str(),
                            "kustomize.invalid", file));
  Json value = *values[0];
  if (source.contains("options") && source["options"].is_object()) {
    const Json& o = source["options"];
    std::string delimiter = o.value("delimiter", "");
    if (!delimiter.empty()) {
      auto parts = util::split(text_of(value), delimiter[0]);
      if (delimiter.size() > 1) {
        parts.clear();
        std::string t = text_of(value);
        std::size_t start = 0, p;
        std::vector<std::string> owned;
        while ((p = t.find(delimiter, start)) != std::string::npos) {
          owned.push_back(t.substr(start, p - start));
          start = p + delimiter.size();
        }
        owned.push_back(t.substr(start));
        int index = o.value("index", 0);
        if (index >= 0 && static_cast<std::size_t>(index) < owned.size()) value = owned[static_cast<std::size_t>(index)];
      } else {
        int index = o.value("index", 0);
        if (index >= 0 && static_cast<std::size_t>(index) < parts.size())
          value = std::string(parts[static_cast<std::size_t>(index)]);
      }
    }
  }
  if (!rep.contains("targets") || !rep["targets"].is_array()) return {};
  for (const auto& target : rep["targets"]) {
    Selector ts = selector_from(target.contains("select") ? target["select"] : Json::object());
    std::vector<Selector> rejects;
    if (target.contains("reject") && target["reject"].is_array())
      for (const auto& r : target["reject"]) rejects.push_back(selector_from(r));
    const Json& o = target.contains("options") && target["options"].is_object() ? target["options"] : Json::object();
    bool create = o.value("create", false);
    std::string delimiter = o.value("delimiter", "");
    int index = o.value("index", 0);
    for (auto& r : resources) {
      auto m = matches(r, ts, Ids::any);
      if (!m) return util::fail(m.error());
      if (!*m) continue;
      bool rejected = false;
      for (const auto& rs : rejects) {
        bool any = !rs.gvk.kind.empty() || !rs.gvk.group.empty() || !rs.gvk.version.empty() || !rs.name.empty() ||
                   !rs.namespace_.empty() || !rs.label_selector.empty() || !rs.annotation_selector.empty();
        auto rm = matches(r, rs);
        if (any && rm && *rm) rejected = true;
      }
      if (rejected) continue;
      if (!target.contains("fieldPaths")) continue;
      for (const auto& fp : target["fieldPaths"]) {
        auto fields = find_fields(r.object, text_of(fp), create);
        if (fields.empty() && !create)
          return util::fail(error("unable to find field \"" + text_of(fp) + "\" in replacement target " + r.id().str(),
                                  "kustomize.invalid", file));
        for (Json* f : fields) {
          if (delimiter.empty()) {
            *f = value;
            continue;
          }
          std::string t = f->is_null() ? "" : text_of(*f);
          std::vector<std::string> parts;
          std::size_t start = 0, p;
          while ((p = t.find(delimiter, start)) != std::string::npos) {
            parts.push_back(t.substr(start, p - start));
            start = p + delimiter.size();
          }
          parts.push_back(t.substr(start));
          if (index < 0)
            parts.insert(parts.begin(), text_of(value));
          else if (static_cast<std::size_t>(index) >= parts.size())
            parts.push_back(text_of(value));
          else
            parts[static_cast<std::size_t>(index)] = text_of(value);
          std::string joined;
          for (std::size_t i = 0; i < parts.size(); ++i) joined += (i ? delimiter : "") + parts[i];
          *f = joined;
        }
      }
    }
  }
  return {};
}

}  // namespace

util::Result<void> apply_replacement(const Json& replacement, Resources& resources, std::string_view file) {
  return one_replacement(replacement, resources, file);
}

util::Result<void> apply_replacements(const yaml::Node& list, Resources& resources, FileReader& reader) {
  for (const auto* entry : list.items) {
    if (!entry->is_mapping()) continue;
    if (const auto* path = entry->get("path")) {
      auto text = reader.read_file(scalar_text(*path));
      if (!text) return util::fail(text.error());
      auto stream = yaml::parse_yaml(*text);
      if (!stream) return util::fail(stream.error());
      for (const auto& d : stream->documents) {
        if (!d.root) continue;
        Json v = to_value(*d.root);
        if (v.is_array()) {
          for (const auto& rep : v) {
            auto ok = one_replacement(rep, resources, scalar_text(*path));
            if (!ok) return ok;
          }
        } else {
          auto ok = one_replacement(v, resources, scalar_text(*path));
          if (!ok) return ok;
        }
      }
      continue;
    }
    auto ok = one_replacement(to_value(*entry), resources, "");
    if (!ok) return ok;
  }
  return {};
}

namespace {

// Replaces $(NAME) in every string under `node`; a string that is one reference takes the
// value's type.
void expand(Json& node, const std::map<std::string, Json>& values) {
  if (node.is_string()) {
    const std::string s = node.get<std::string>();
    if (s.find("$(") == std::string::npos) return;
    if (util::starts_with(s, "$(") && s.back() == ')' && s.find("$(", 2) == std::string::npos) {
      auto it = values.find(s.substr(2, s.size() - 3));
      if (it != values.end()) {
        node = it->second;
        return;
      }
    }
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      if (s.compare(i, 3, "$$(") == 0) {
        out += "$(";
        i += 3;
        continue;
      }
      if (s.compare(i, 2, "$(") == 0) {
        auto close = s.find(')', i);
        if (close != std::string::npos) {
          auto it = values.find(s.substr(i + 2, close - i - 2));
          if (it != values.end()) {
            out += text_of(it->second);
            i = close + 1;
            continue;
          }
        }
      }
      out += s[i++];
    }
    node = out;
  } else if (node.is_array()) {
    for (auto& item : node) expand(item, values);
  } else if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) expand(it.value(), values);
  }
}

}  // namespace

std::vector<const Resource*> var_targets(const Var& v, const Resources& resources) {
  std::vector<const Resource*> found;
  for (const auto& r : resources) {
    if (v.serial) {
      if (r.serial == v.serial) found.push_back(&r);
      continue;
    }
    bool hit = r.any_id([&](const Id& id) {
      return id.gvk.selected_by(v.target.gvk) && id.name == v.target.name &&
             (v.target.namespace_.empty() ||
              id.effective_namespace() == Id{id.gvk, "", v.target.namespace_}.effective_namespace());
    });
    if (hit) found.push_back(&r);
  }
  return found;
}

util::Result<void> resolve_vars(const std::vector<Var>& vars, Resources& resources, const Config& config) {
  if (vars.empty()) return {};
  std::map<std::string, Json> values;
  for (const auto& v : vars) {
    auto found = var_targets(v, resources);
    if (found.size() > 1)
      return util::fail(error("unable to disambiguate var '" + v.name + "': it matches " +
                                  std::to_string(found.size()) + " objects",
                              "kustomize.conflict"));
    if (found.empty())
      return util::fail(error("var '" + v.name + "' cannot be mapped to a field in the set of known resources",
                              "kustomize.invalid"));
    auto fields = find_fields(const_cast<Json&>(found[0]->object), v.field, false);
    if (fields.empty())
      return util::fail(error("field specified in var '" + v.name + "' (" + v.field + ") not found in " +
                                  found[0]->id().str(),
                              "kustomize.invalid"));
    values[v.name] = *fields[0];
  }
  for (auto& r : resources)
    apply_field_specs(r, config.var_reference, false, [&](Json& n) { expand(n, values); });
  return {};
}

}  // namespace portcullis::kustomize
