#include "shared/manifest/object.hpp"

#include "shared/signing/wire.hpp"

#include <algorithm>

namespace portcullis::manifest {

std::string Identity::describe() const {
  std::string out = group.empty() ? kind : group + "/" + kind;
  out += ' ';
  if (!namespace_.empty()) out += namespace_ + "/";
  out += name;
  return out;
}

std::string_view group_of(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

Identity Object::identity() const {
  return Identity{std::string(group_of(api_version)), std::string(kind), std::string(namespace_),
                  std::string(name)};
}

FileRole role_of(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (base == "kustomization.yaml" || base == "kustomization.yml" || base == "Kustomization")
    return FileRole::kustomization;
  if (base.ends_with(".yaml") || base.ends_with(".yml") || base.ends_with(".json")) return FileRole::manifest;
  return FileRole::ignored;
}

bool is_secret(std::string_view api_version, std::string_view kind) {
  while (api_version.starts_with('/')) api_version.remove_prefix(1);
  if (api_version != "v1") return false;
  return kind == "Secret" || (kind.size() >= 8 && kind.size() <= 64 && signing::wire::base64_decode(kind) == "Secret");
}

const yaml::Node* secret_values(const Object& o) {
  if (!o.node || !o.node->is_mapping() || !is_secret(o.api_version, o.kind)) return nullptr;
  for (std::string_view field : {"data", "stringData"})
    if (const yaml::Node* m = o.node->get(field); m && m->is_mapping() && !m->entries.empty()) return m;
  return nullptr;
}

bool has_sops_stanza(const yaml::Node& document) {
  return document.is_mapping() && document.get("sops");
}

namespace {

bool base64_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  });
}

// The key entries of a sops stanza: kms, gcp_kms, azure_kv, hc_vault, age and pgp lists, at the
// top or inside key_groups (Shamir). Counts those that carry an encrypted data key (`enc`).
std::size_t key_entries(const yaml::Node& group) {
  std::size_t n = 0;
  for (std::string_view list : {"kms", "gcp_kms", "azure_kv", "hc_vault", "age", "pgp"}) {
    const yaml::Node* keys = group.get(list);
    if (!keys || !keys->is_sequence()) continue;
    for (const yaml::Node* k : keys->items)
      if (k->is_mapping() && !k->get_string("enc").empty()) ++n;
  }
  return n;
}

struct Leaves {
  std::size_t encrypted = 0;
  std::string malformed;  // the first value that looks encrypted but is not well-formed
};

void scan_leaves(const yaml::Node& n, Leaves& out, int depth) {
  if (depth > 64) return;
  if (n.is_mapping()) {
    for (const auto& e : n.entries) scan_leaves(*e.value, out, depth + 1);
  } else if (n.is_sequence()) {
    for (const yaml::Node* i : n.items) scan_leaves(*i, out, depth + 1);
  } else if (n.is_string() && n.text.starts_with("ENC[")) {
    if (is_sops_ciphertext(n.text))
      ++out.encrypted;
    else if (out.malformed.empty())
      out.malformed = std::string(n.text.substr(0, 40));
  }
}

// The first key of `map` whose value is not ciphertext (a nested mapping is read through).
std::optional<std::string> plaintext_value(const yaml::Node& map) {
  for (const auto& e : map.entries) {
    if (e.value->is_string() && is_sops_ciphertext(e.value->text)) continue;
    if (e.value->type == yaml::Type::null) continue;
    return std::string(e.key->text);
  }
  return std::nullopt;
}

}  // namespace

bool is_sops_ciphertext(std::string_view v) {
  if (!v.starts_with("ENC[AES256_GCM,") || !v.ends_with("]")) return false;
  v = v.substr(15, v.size() - 16);
  const std::string_view fields[] = {"data:", "iv:", "tag:", "type:"};
  for (std::size_t i = 0; i < 4; ++i) {
    if (!v.starts_with(fields[i])) return false;
    v.remove_prefix(fields[i].size());
    auto comma = v.find(',');
    std::string_view value = i == 3 ? v : v.substr(0, comma);
    if (i < 3 && comma == std::string_view::npos) return false;
    if (i == 0 ? !base64_text(value) : (i < 3 ? value.empty() || !base64_text(value) : value.empty()))
      return false;
    if (i == 3)
      return value == "str" || value == "int" || value == "float" || value == "bool" || value == "bytes" ||
             value == "comment";
    v.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<std::string> sops_problem(const yaml::Node& document) {
  const yaml::Node* sops = document.is_mapping() ? document.get("sops") : nullptr;
  if (!sops) return std::string("there is no sops stanza");
  if (!sops->is_mapping()) return std::string("sops is not a mapping");
  if (!is_sops_ciphertext(sops->get_string("mac")))
    return std::string("sops.mac is missing or not an encrypted value");
  if (sops->get_string("lastmodified").empty()) return std::string("sops.lastmodified is missing");
  std::size_t keys = key_entries(*sops);
  if (const yaml::Node* groups = sops->get("key_groups"); groups && groups->is_sequence())
    for (const yaml::Node* g : groups->items)
      if (g->is_mapping()) keys += key_entries(*g);
  if (keys == 0)
    return std::string("sops names no key group (kms, gcp_kms, azure_kv, hc_vault, age or pgp with its enc)");
  Leaves leaves;
  for (const auto& e : document.entries)
    if (e.key->text != "sops") scan_leaves(*e.value, leaves, 0);
  if (!leaves.malformed.empty())
    return "the value \"" + leaves.malformed + "\" is not a well-formed ENC[...] value";
  if (leaves.encrypted == 0) return std::string("no value is encrypted");
  // Every Secret the document declares (its List items too), as the apiserver decodes its kind.
  std::vector<Object> objects;
  collect_objects(document, 0, objects);
  for (const auto& o : objects) {
    if (!o.node->is_mapping() || !is_secret(o.api_version, o.kind)) continue;
    for (std::string_view field : {"data", "stringData"})
      if (const yaml::Node* m = o.node->get(field); m && m->is_mapping())
        if (auto key = plaintext_value(*m)) return std::string(field) + "." + *key + " is not encrypted";
  }
  return std::nullopt;
}

bool is_sops(const yaml::Node& document) {
  return !sops_problem(document);
}

void collect_objects(const yaml::Node& document, std::size_t index, std::vector<Object>& out) {
  auto make = [&](const yaml::Node& n) {
    Object o;
    o.node = &n;
    o.document = index;
    o.api_version = n.get_string("apiVersion");
    o.kind = n.get_string("kind");
    if (const yaml::Node* meta = n.get("metadata")) {
      o.name = meta->get_string("name");
      o.namespace_ = meta->get_string("namespace");
    }
    return o;
  };
  if (!document.is_mapping()) {
    Object o;
    o.node = &document;
    o.document = index;
    out.push_back(o);
    return;
  }
  const yaml::Node* items = document.get("items");
  std::string_view kind = document.get_string("kind");
  // kubectl treats any kind ending in "List" that carries items as a list (v1 List,
  // apps/v1 DeploymentList, ...).
  if (items && items->is_sequence() && kind.ends_with("List")) {
    for (const yaml::Node* item : items->items) out.push_back(make(*item));
    return;
  }
  out.push_back(make(document));
}

ImageRef parse_image(std::string_view reference) {
  ImageRef r;
  std::string_view rest = reference;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  r.name = rest;
  return r;
}

namespace {

constexpr std::string_view k_container_lists[] = {"initContainers", "containers", "ephemeralContainers"};
constexpr int k_max_image_depth = 32;

// Container lists anywhere in `n`: in a mapping, its container lists first (in pod spec order),
// then every other value in document order.
void collect_images(const yaml::Node& n, int depth, std::vector<Image>& out) {
  if (depth > k_max_image_depth) return;
  if (n.is_sequence()) {
    for (const yaml::Node* item : n.items) collect_images(*item, depth + 1, out);
    return;
  }
  if (!n.is_mapping()) return;
  for (std::string_view list : k_container_lists) {
    const yaml::Node* containers = n.get(list);
    if (!containers || !containers->is_sequence()) continue;
    for (const yaml::Node* c : containers->items) {
      if (!c->is_mapping()) continue;
      const yaml::Node* image = c->get("image");
      if (!image || !image->is_string()) continue;
      out.push_back(Image{image->text, image, std::string(c->get_string("name"))});
    }
  }
  // A single container (Argo Workflows' templates[].container).
  if (const yaml::Node* c = n.get("container"); c && c->is_mapping())
    if (const yaml::Node* image = c->get("image"); image && image->is_string())
      out.push_back(Image{image->text, image, std::string(c->get_string("name"))});
  for (const auto& e : n.entries) {
    if (e.key->text == "container" && e.value->is_mapping()) continue;
    bool container_list = std::find(std::begin(k_container_lists), std::end(k_container_lists),
                                    e.key->text) != std::end(k_container_lists);
    if (!container_list || !e.value->is_sequence()) collect_images(*e.value, depth + 1, out);
  }
}

// CRDs (their schemas' examples and defaults), ConfigMaps and Secrets (data) run nothing.
bool runs_nothing(const Object& object) {
  if (!object.node || !object.node->is_mapping()) return true;
  if (object.kind == "CustomResourceDefinition" && group_of(object.api_version) == "apiextensions.k8s.io") return true;
  return group_of(object.api_version).empty() && (object.kind == "ConfigMap" || object.kind == "Secret");
}

// Every string under a key named `image` in `n`, in document order.
void collect_image_fields(const yaml::Node& n, int depth, std::vector<Image>& out) {
  if (depth > k_max_image_depth) return;
  if (n.is_sequence()) {
    for (const yaml::Node* item : n.items) collect_image_fields(*item, depth + 1, out);
    return;
  }
  if (!n.is_mapping()) return;
  for (const auto& e : n.entries) {
    if (e.key->text == "image" && e.value->is_string()) out.push_back(Image{e.value->text, e.value, std::string(n.get_string("name"))});
    else collect_image_fields(*e.value, depth + 1, out);
  }
}

}  // namespace

std::vector<Image> images_of(const Object& object) {
  std::vector<Image> out;
  if (runs_nothing(object)) return out;
  for (const auto& e : object.node->entries)
    if (e.key->text != "metadata" && e.key->text != "status") collect_images(*e.value, 0, out);
  return out;
}

std::vector<Image> image_fields_of(const Object& object) {
  std::vector<Image> out;
  if (runs_nothing(object)) return out;
  for (const auto& e : object.node->entries)
    if (e.key->text != "metadata" && e.key->text != "status") collect_image_fields(*e.value, 0, out);
  return out;
}

std::vector<KustomizeImage> kustomization_images(const yaml::Node& k) {
  std::vector<KustomizeImage> out;
  const yaml::Node* images = k.get("images");
  if (!images || !images->is_sequence()) return out;
  for (const yaml::Node* e : images->items) {
    if (!e->is_mapping()) continue;
    std::string ref(e->get_string("newName").empty() ? e->get_string("name") : e->get_string("newName"));
    if (ref.empty()) continue;
    if (auto d = e->get_string("digest"); !d.empty())
      ref += "@" + std::string(d);
    else if (const yaml::Node* t = e->get("newTag"); t && t->is_scalar() && !t->text.empty())
      ref += ":" + std::string(t->text);
    out.push_back(KustomizeImage{std::move(ref), e});
  }
  return out;
}

}  // namespace portcullis::manifest
