#include "shared/manifest/object.hpp"

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

bool is_sops(const yaml::Node& document) {
  const yaml::Node* sops = document.get("sops");
  return sops && sops->is_mapping() && sops->get("mac");
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

const yaml::Node* pod_spec_of(const yaml::Node& obj, std::string_view kind) {
  if (kind == "Pod") return obj.get("spec");
  if (kind == "CronJob") return obj.at({"spec", "jobTemplate", "spec", "template", "spec"});
  if (kind == "PodTemplate") return obj.at({"template", "spec"});
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet" ||
      kind == "ReplicationController" || kind == "Job")
    return obj.at({"spec", "template", "spec"});
  return nullptr;
}

}  // namespace

std::vector<Image> images_of(const Object& object) {
  std::vector<Image> out;
  if (!object.node || !object.node->is_mapping()) return out;
  const yaml::Node* spec = pod_spec_of(*object.node, object.kind);
  if (!spec || !spec->is_mapping()) return out;
  for (std::string_view list : {"initContainers", "containers", "ephemeralContainers"}) {
    const yaml::Node* containers = spec->get(list);
    if (!containers || !containers->is_sequence()) continue;
    for (const yaml::Node* c : containers->items) {
      if (!c->is_mapping()) continue;
      const yaml::Node* image = c->get("image");
      if (!image || !image->is_string()) continue;
      out.push_back(Image{image->text, image, std::string(c->get_string("name"))});
    }
  }
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
