// Output of the build: kustomize's legacy order, YAML and JSON text, and the hash of generated
// ConfigMaps and Secrets (kustomize's api/hasher).
#include <algorithm>

#include "shared/kustomize/internal.hpp"
#include "shared/util/hash.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include <map>

namespace portcullis::kustomize {

// --- hash ---------------------------------------------------------------------------------

namespace {

std::string encode_hash(const std::string& hex) {
  std::string enc = hex.substr(0, 10);
  for (auto& c : enc) {
    switch (c) {
      case '0': c = 'g'; break;
      case '1': c = 'h'; break;
      case '3': c = 'k'; break;
      case 'a': c = 'm'; break;
      case 'e': c = 't'; break;
      default: break;
    }
  }
  return enc;
}

Json field_or_empty(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  return *it;
}

}  // namespace

std::string config_map_hash(const Json& object) {
  Json m = Json::object();
  std::string kind = object.value("kind", "");
  // kustomize looks the name up as one field named "metadata/name", which no object has: the
  // name is always hashed as "" (api/hasher, v5.5).
  const std::string name;
  if (kind == "ConfigMap") {
    m["kind"] = "ConfigMap";
    m["name"] = name;
    m["data"] = field_or_empty(object, "data");
    if (auto b = object.find("binaryData"); b != object.end() && b->is_object()) m["binaryData"] = *b;
  } else if (kind == "Secret") {
    m["kind"] = "Secret";
    m["type"] = field_or_empty(object, "type");
    m["name"] = name;
    m["data"] = field_or_empty(object, "data");
    if (auto s = object.find("stringData"); s != object.end() && s->is_object()) m["stringData"] = *s;
  } else {
    m = object;
  }
  std::string encoded;
  append_go_json(encoded, m);
  return encode_hash(util::sha256_hex(encoded));
}

// --- order --------------------------------------------------------------------------------

std::vector<std::string> default_order_first() {
  return {"Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
          "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
          "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
          "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"};
}
std::vector<std::string> default_order_last() { return {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}; }

namespace {
std::string gvk_sort_string(const Gvk& g) {
  return (g.group.empty() ? "~G" : g.group) + "_" + (g.version.empty() ? "~V" : g.version) + "_" +
         (g.kind.empty() ? "~K" : g.kind);
}
}  // namespace

void legacy_sort(Resources& resources, const std::vector<std::string>& first, const std::vector<std::string>& last) {
  std::map<std::string, int> order;
  for (std::size_t i = 0; i < first.size(); ++i) order[first[i]] = -static_cast<int>(first.size()) + static_cast<int>(i);
  for (std::size_t i = 0; i < last.size(); ++i) order[last[i]] = 1 + static_cast<int>(i);
  struct Key {
    Gvk gvk;
    int rank;
    std::string gvk_string, id_string;
  };
  std::vector<Key> keys;
  for (const auto& r : resources) {
    Id id = r.id();
    auto o = order.find(id.gvk.kind);
    keys.push_back(Key{id.gvk, o == order.end() ? 0 : o->second, gvk_sort_string(id.gvk),
                       id.gvk.str() + "|" + (id.namespace_.empty() ? "~X" : id.namespace_) + "|" +
                           (id.name.empty() ? "~N" : id.name)});
  }
  std::vector<std::size_t> index(resources.size());
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = i;
  std::stable_sort(index.begin(), index.end(), [&](std::size_t a, std::size_t b) {
    const Key& x = keys[a];
    const Key& y = keys[b];
    if (!(x.gvk == y.gvk)) {
      if (x.rank != y.rank) return x.rank < y.rank;
      if (x.gvk.kind == "Namespace" && y.gvk.kind == "Namespace" && (x.gvk.group.empty() || y.gvk.group.empty()))
        return x.gvk_string > y.gvk_string;
      return x.gvk_string < y.gvk_string;
    }
    return x.id_string < y.id_string;
  });
  Resources sorted;
  sorted.reserve(resources.size());
  for (std::size_t i : index) sorted.push_back(std::move(resources[i]));
  resources = std::move(sorted);
}

// --- YAML ---------------------------------------------------------------------------------

namespace {

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::string special = "-?:,[]{}#&*!|>'\"%@`";
  if (special.find(s[0]) != std::string::npos || s[0] == ' ' || s.back() == ' ') {
    // "-x" and ":x" are plain scalars in YAML, but quoting is always safe.
    return true;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return true;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return true;
  }
  yaml::Node probe;
  yaml::resolve_plain_scalar(s, probe);
  return probe.type != yaml::Type::string;
}

void scalar(std::string& out, const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (needs_quotes(s))
      out += Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
    else
      out += s;
  } else if (v.is_null()) {
    out += "null";
  } else {
    out += v.dump();
  }
}

void emit(std::string& out, const Json& v, int indent, bool in_sequence);

void emit_mapping(std::string& out, const Json& v, int indent, bool first_inline) {
  bool first = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!(first && first_inline)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
    scalar(out, Json(it.key()));
    const Json& value = it.value();
    if (value.is_object() && !value.empty()) {
      out += ":\n";
      emit_mapping(out, value, indent + 2, false);
    } else if (value.is_array() && !value.empty()) {
      out += ":\n";
      emit(out, value, indent, false);
    } else {
      out += ": ";
      if (value.is_object()) out += "{}";
      else if (value.is_array()) out += "[]";
      else scalar(out, value);
      out += '\n';
    }
  }
}

void emit(std::string& out, const Json& v, int indent, bool) {
  if (v.is_object()) {
    if (v.empty()) {
      out += "{}\n";
      return;
    }
    emit_mapping(out, v, indent, false);
    return;
  }
  if (v.is_array()) {
    for (const auto& item : v) {
      out.append(static_cast<std::size_t>(indent), ' ');
      out += "- ";
      if (item.is_object() && !item.empty()) {
        emit_mapping(out, item, indent + 2, true);
      } else if (item.is_array() && !item.empty()) {
        out += "\n";
        emit(out, item, indent + 2, true);
      } else {
        if (item.is_object()) out += "{}";
        else if (item.is_array()) out += "[]";
        else scalar(out, item);
        out += '\n';
      }
    }
    return;
  }
  scalar(out, v);
  out += '\n';
}

}  // namespace

void append_yaml(std::string& out, const Json& value) { emit(out, value, 0, false); }

std::string nodes_to_yaml(const std::vector<const yaml::Node*>& objects) {
  std::string out;
  bool first = true;
  for (const auto* node : objects) {
    if (!first) out += "---\n";
    first = false;
    append_yaml(out, to_value(*node));
  }
  return out;
}

std::string nodes_to_json(const std::vector<const yaml::Node*>& objects) {
  std::string out = "[";
  bool first = true;
  for (const auto* node : objects) {
    if (!first) out += ",";
    first = false;
    out += yaml::to_json(*node);
  }
  out += "]";
  return out;
}

std::string to_yaml(const Output& output) {
  std::vector<const yaml::Node*> nodes;
  for (const auto& o : output.objects) nodes.push_back(o.node);
  return nodes_to_yaml(nodes);
}

std::string to_json(const Output& output) {
  std::vector<const yaml::Node*> nodes;
  for (const auto& o : output.objects) nodes.push_back(o.node);
  return nodes_to_json(nodes);
}

}  // namespace portcullis::kustomize
