#pragma once
// Kubernetes objects as found in manifest files: identity, images, and the file-level
// conventions (kustomizations, SOPS-encrypted files, v1 Lists) that decide what a document is.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/yaml/node.hpp"

namespace portcullis::manifest {

// (group, kind, namespace, name): what the apiserver keys objects by.
struct Identity {
  std::string group;  // "" for the core group
  std::string kind;
  std::string namespace_;  // "" when not set in the manifest
  std::string name;
  auto operator<=>(const Identity&) const = default;
  // "apps/Deployment prod/web" style, for messages.
  std::string describe() const;
};

// "apps" for "apps/v1", "" for "v1".
std::string_view group_of(std::string_view api_version);

// One object declared in a file: a top-level document, or an item of a v1 List.
struct Object {
  const yaml::Node* node = nullptr;
  std::size_t document = 0;  // 0-based index of the document in the file
  std::string_view api_version;
  std::string_view kind;
  std::string_view name;
  std::string_view namespace_;
  Identity identity() const;
};

// What a file under an environment path is, from its name alone.
enum class FileRole { manifest, kustomization, ignored };
FileRole role_of(std::string_view path);

// True for a SOPS-encrypted document (a top-level "sops" mapping with a "mac").
bool is_sops(const yaml::Node& document);

// Expands a document into objects: a List's items, or the document itself.
void collect_objects(const yaml::Node& document, std::size_t index, std::vector<Object>& out);

// A container image reference and where it was written.
struct Image {
  std::string_view reference;  // as written: "registry:5000/team/app:1.2@sha256:..."
  const yaml::Node* node;      // the scalar, for its mark
  std::string container;       // container name, for messages
};

struct ImageRef {
  std::string_view name;    // everything before tag and digest
  std::string_view tag;     // "" when none
  std::string_view digest;  // "" when none ("sha256:...")
};
ImageRef parse_image(std::string_view reference);

// Images of the pod spec embedded in `object` (Pod, Deployment, StatefulSet, DaemonSet,
// ReplicaSet, ReplicationController, Job, CronJob, PodTemplate): containers,
// initContainers, ephemeralContainers.
std::vector<Image> images_of(const Object& object);

// The image references a kustomization's `images:` entries produce: (newName or name), then
// @digest or :newTag when set.
struct KustomizeImage {
  std::string reference;
  const yaml::Node* node;  // the entry, for its mark
};
std::vector<KustomizeImage> kustomization_images(const yaml::Node& kustomization);

}  // namespace portcullis::manifest
