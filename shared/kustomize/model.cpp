// The object model of the build: values, ids, field specs and the default configuration.
#include <algorithm>
#include <atomic>
#include <unordered_set>
#include <cstdio>

#include "shared/kustomize/internal.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

namespace {
#include "shared/kustomize/default_config.inc"
}  // namespace

Json to_value(const yaml::Node& node) {
  switch (node.type) {
    case yaml::Type::null: return nullptr;
    case yaml::Type::boolean: {
      // kustomize reads YAML 1.2 (go-yaml v3): y, yes, on, no, off are strings there.
      std::string_view t = node.text;
      if (t == "true" || t == "True" || t == "TRUE" || t == "false" || t == "False" || t == "FALSE" || t.empty())
        return node.value.boolean;
      return std::string(t);
    }
    case yaml::Type::integer: return node.value.integer;
    case yaml::Type::number: return node.value.number;
    case yaml::Type::string: return std::string(node.text);
    case yaml::Type::sequence: {
      Json out = Json::array();
      for (const auto* item : node.items) out.push_back(to_value(*item));
      return out;
    }
    case yaml::Type::mapping: {
      Json out = Json::object();
      for (const auto& e : node.entries) {
        std::string key = e.key->is_scalar() ? scalar_text(*e.key) : yaml::to_json(*e.key);
        out[key] = to_value(*e.value);
      }
      return out;
    }
  }
  return nullptr;
}

std::string scalar_text(const yaml::Node& node) {
  if (node.type == yaml::Type::null && node.text.empty()) return "";
  return std::string(node.text);
}

util::Error error(std::string message, std::string rule, std::string_view file) {
  return util::Error{std::move(message), std::move(rule), std::string(file), 0, 0};
}

util::Result<yaml::Stream> parse_yaml_file(std::string_view text, std::string_view file) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) {
    util::Error e = stream.error();
    e.file = std::string(file);
    return util::fail(std::move(e));
  }
  return stream;
}

std::string Gvk::str() const {
  return kind + "." + (version.empty() ? "[noVer]" : version) + "." + (group.empty() ? "[noGrp]" : group);
}

bool Gvk::selected_by(const Gvk& s) const {
  return (s.group.empty() || s.group == group) && (s.version.empty() || s.version == version) &&
         (s.kind.empty() || s.kind == kind);
}

Gvk gvk_of(const Json& object) {
  Gvk g;
  if (!object.is_object()) return g;
  auto av = object.find("apiVersion");
  if (av != object.end() && av->is_string()) {
    std::string s = *av;
    auto slash = s.find('/');
    if (slash == std::string::npos) {
      g.version = s;
    } else {
      g.group = s.substr(0, slash);
      g.version = s.substr(slash + 1);
    }
  }
  auto k = object.find("kind");
  if (k != object.end() && k->is_string()) g.kind = k->get<std::string>();
  return g;
}

std::string Id::effective_namespace() const {
  if (is_cluster_scoped(gvk)) return "_non_namespaceable_";
  if (namespace_.empty() || namespace_ == "default") return "default";
  return namespace_;
}

std::string Id::str() const {
  return gvk.str() + "/" + name + "." + (namespace_.empty() ? "[noNs]" : namespace_);
}

namespace {
std::string string_at(const Json& object, const char* a, const char* b) {
  auto i = object.find(a);
  if (i == object.end() || !i->is_object()) return "";
  auto j = i->find(b);
  if (j == i->end() || !j->is_string()) return "";
  return *j;
}
}  // namespace

std::uint64_t next_serial() {
  static std::atomic<std::uint64_t> serial{0};
  return ++serial;
}

std::string Resource::name() const { return string_at(object, "metadata", "name"); }
std::string Resource::namespace_() const { return string_at(object, "metadata", "namespace"); }
Id Resource::id() const { return Id{gvk_of(object), name(), namespace_()}; }
void Resource::set_name(const std::string& name) { object["metadata"]["name"] = name; }
bool Resource::any_id(const std::function<bool(const Id&)>& pred) const {
  if (pred(id())) return true;
  for (const auto& p : previous)
    if (pred(p)) return true;
  return false;
}

std::optional<std::size_t> first_duplicate(const Resources& resources) {
  std::unordered_set<std::string> seen;
  seen.reserve(resources.size() * 2);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    Id id = resources[i].id();
    if (!seen.insert(id.gvk.str() + "/" + id.name + "|" + id.effective_namespace()).second) return i;
  }
  return std::nullopt;
}

// --- field specs --------------------------------------------------------------------------

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 1 < path.size() && path[i + 1] == '/') {
      cur += '/';
      ++i;
    } else if (path[i] == '/') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += path[i];
    }
  }
  out.push_back(cur);
  return out;
}

void visit(Json& node, const std::vector<std::string>& parts, std::size_t i, bool create,
           const std::function<void(Json&)>& fn, const Json* create_value) {
  if (node.is_array()) {
    for (auto& item : node) visit(item, parts, i, create, fn, create_value);
    return;
  }
  if (!node.is_object()) return;
  // "containers[]": a sequence, walked through, never created.
  const bool sequence = util::ends_with(parts[i], "[]");
  const std::string key = sequence ? parts[i].substr(0, parts[i].size() - 2) : parts[i];
  auto it = node.find(key);
  if (sequence && (it == node.end() || !it->is_array())) return;
  if (i + 1 == parts.size()) {
    if (it == node.end() || it->is_null()) {
      if (!create) return;
      node[key] = create_value ? *create_value : Json::object();
      fn(node[key]);
      return;
    }
    fn(*it);
    return;
  }
  if (it == node.end() || it->is_null()) {
    if (!create) return;
    node[key] = Json::object();
    it = node.find(key);
  }
  visit(*it, parts, i + 1, create, fn, create_value);
}

std::vector<FieldSpec> read_specs(const yaml::Node* list) {
  std::vector<FieldSpec> out;
  if (!list || !list->is_sequence()) return out;
  for (const auto* item : list->items) {
    if (!item->is_mapping()) continue;
    FieldSpec fs;
    fs.gvk.group = std::string(item->get_string("group"));
    fs.gvk.version = std::string(item->get_string("version"));
    fs.gvk.kind = std::string(item->get_string("kind"));
    fs.path = std::string(item->get_string("path"));
    const auto* c = item->get("create");
    fs.create = c && c->type == yaml::Type::boolean && c->value.boolean;
    out.push_back(std::move(fs));
  }
  return out;
}

void merge_specs(std::vector<FieldSpec>& into, std::vector<FieldSpec> more) {
  for (auto& fs : more) {
    bool dup = std::any_of(into.begin(), into.end(), [&](const FieldSpec& o) {
      return o.gvk == fs.gvk && o.path == fs.path;
    });
    if (!dup) into.push_back(std::move(fs));
  }
}

}  // namespace

void visit_path(Json& object, std::string_view path, bool create, const std::function<void(Json&)>& fn,
                const Json* create_value) {
  auto parts = split_path(path);
  if (parts.empty()) return;
  visit(object, parts, 0, create, fn, create_value);
}

void apply_field_specs(Resource& res, const std::vector<FieldSpec>& specs, bool create_ok,
                       const std::function<void(Json&)>& fn, const Json* create_value) {
  Gvk gvk = gvk_of(res.object);
  for (const auto& fs : specs) {
    if (!gvk.selected_by(fs.gvk)) continue;
    visit_path(res.object, fs.path, create_ok && fs.create, fn, create_value);
  }
}

util::Result<void> merge_config(Config& config, const yaml::Node& doc) {
  if (!doc.is_mapping()) return util::fail("a transformer configuration must be a mapping", "kustomize.invalid");
  merge_specs(config.common_labels, read_specs(doc.get("commonLabels")));
  merge_specs(config.template_labels, read_specs(doc.get("templateLabels")));
  merge_specs(config.volume_claim_template_labels, read_specs(doc.get("volumeClaimTemplateLabels")));
  merge_specs(config.labels, read_specs(doc.get("labels")));
  merge_specs(config.common_annotations, read_specs(doc.get("commonAnnotations")));
  merge_specs(config.name_prefix, read_specs(doc.get("namePrefix")));
  merge_specs(config.name_suffix, read_specs(doc.get("nameSuffix")));
  merge_specs(config.namespace_, read_specs(doc.get("namespace")));
  merge_specs(config.images, read_specs(doc.get("images")));
  merge_specs(config.replicas, read_specs(doc.get("replicas")));
  merge_specs(config.var_reference, read_specs(doc.get("varReference")));
  if (const auto* refs = doc.get("nameReference"); refs && refs->is_sequence()) {
    for (const auto* item : refs->items) {
      if (!item->is_mapping()) continue;
      Gvk gvk{std::string(item->get_string("group")), std::string(item->get_string("version")),
              std::string(item->get_string("kind"))};
      auto specs = read_specs(item->get("fieldSpecs"));
      auto found = std::find_if(config.name_reference.begin(), config.name_reference.end(),
                                [&](const NameBackRef& b) { return b.gvk == gvk; });
      if (found == config.name_reference.end())
        config.name_reference.push_back(NameBackRef{gvk, std::move(specs)});
      else
        merge_specs(found->referrers, std::move(specs));
    }
  }
  return {};
}

namespace {

void add_back_reference(Config& config, const Gvk& gvk, FieldSpec spec) {
  auto found = std::find_if(config.name_reference.begin(), config.name_reference.end(),
                            [&](const NameBackRef& b) { return b.gvk == gvk; });
  if (found == config.name_reference.end())
    config.name_reference.push_back(NameBackRef{gvk, {std::move(spec)}});
  else
    merge_specs(found->referrers, {std::move(spec)});
}

void load_crd_type(Config& config, const Gvk& gvk, const yaml::Node& definitions, std::string_view type,
                   const std::string& path, int depth) {
  if (depth > 16) return;
  const yaml::Node* def = definitions.get(type);
  const yaml::Node* props = def ? def->at({"Schema", "properties"}) : nullptr;
  if (!props || !props->is_mapping()) return;
  for (const auto& e : props->entries) {
    std::string name = scalar_text(*e.key);
    std::string here = path.empty() ? name : path + "/" + name;
    const yaml::Node& p = *e.value;
    if (!p.is_mapping()) continue;
    if (p.get("x-kubernetes-annotation")) merge_specs(config.common_annotations, {FieldSpec{gvk, here, false}});
    if (p.get("x-kubernetes-label-selector")) merge_specs(config.common_labels, {FieldSpec{gvk, here, false}});
    if (p.get("x-kubernetes-identity")) merge_specs(config.name_prefix, {FieldSpec{gvk, here, false}});
    auto version = p.get_string("x-kubernetes-object-ref-api-version");
    auto kind = p.get_string("x-kubernetes-object-ref-kind");
    if (!version.empty() && !kind.empty()) {
      std::string key(p.get_string("x-kubernetes-object-ref-name-key"));
      add_back_reference(config, Gvk{"", std::string(version), std::string(kind)},
                         FieldSpec{gvk, here + "/" + (key.empty() ? "name" : key), false});
    }
    if (auto ref = p.get_string("$ref"); !ref.empty()) load_crd_type(config, gvk, definitions, ref, here, depth + 1);
  }
}

}  // namespace

void merge_crd_config(Config& config, const yaml::Node& definitions) {
  if (!definitions.is_mapping()) return;
  for (const auto& e : definitions.entries) {
    const auto* props = e.value->at({"Schema", "properties"});
    if (!props || !props->get("kind") || !props->get("apiVersion") || !props->get("metadata")) continue;
    std::string type = scalar_text(*e.key);
    auto dot = type.rfind('.');
    Gvk gvk{"", "", dot == std::string::npos ? type : type.substr(dot + 1)};
    load_crd_type(config, gvk, definitions, type, "", 0);
  }
}

const Config& default_config() {
  static const Config config = [] {
    Config c;
    auto stream = yaml::parse_yaml(k_default_config);
    if (stream && !stream->documents.empty() && stream->documents[0].root) {
      auto r = merge_config(c, *stream->documents[0].root);
      (void)r;
      // volumeClaimTemplateLabels belong to commonLabels' reach.
      merge_specs(c.common_labels, c.volume_claim_template_labels);
    }
    return c;
  }();
  return config;
}

// --- Go's encoding/json ---------------------------------------------------------------------

namespace {
void go_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<':
      case '>':
      case '&':
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
          out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}
}  // namespace

void append_go_json(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: out += "null"; break;
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case Json::value_t::string: go_string(out, v.get_ref<const std::string&>()); break;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ',';
        first = false;
        append_go_json(out, item);
      }
      out += ']';
      break;
    }
    case Json::value_t::object: {
      std::vector<std::string> keys;
      for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(it.key());
      std::sort(keys.begin(), keys.end());
      out += '{';
      bool first = true;
      for (const auto& k : keys) {
        if (!first) out += ',';
        first = false;
        go_string(out, k);
        out += ':';
        append_go_json(out, v.at(k));
      }
      out += '}';
      break;
    }
    default: out += v.dump(); break;
  }
}

}  // namespace portcullis::kustomize
