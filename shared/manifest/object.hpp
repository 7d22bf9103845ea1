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

// Whether (`api_version`, `kind`) is a core v1 Secret as the apiserver decodes it: "/v1" is
// the core group's v1 too, and a kind written as !!binary (its base64) is decoded.
bool is_secret(std::string_view api_version, std::string_view kind);

// The `data` or `stringData` mapping (in that order) of a core v1 Secret that carries values:
// plaintext unless its document is SOPS-encrypted. nullptr for other objects or empty ones.
const yaml::Node* secret_values(const Object& object);

// True for a document with a top-level "sops" key, well-formed or not.
bool has_sops_stanza(const yaml::Node& document);
// Why `document` is not a complete SOPS-encrypted document; nullopt when it is one: a "sops"
// mapping with an encrypted `mac`, a `lastmodified` and at least one key group (a key entry
// with its `enc`), at least one encrypted value (ENC[AES256_GCM,data:...,iv:...,tag:...,type:...])
// outside it, every value that looks encrypted well-formed, and for a v1 Secret every value of
// `data` and `stringData` encrypted. A made-up stanza never makes plaintext pass as ciphertext.
std::optional<std::string> sops_problem(const yaml::Node& document);
// True for a complete SOPS-encrypted document (sops_problem() is nullopt).
bool is_sops(const yaml::Node& document);
// True for an ENC[AES256_GCM,data:<base64>,iv:<base64>,tag:<base64>,type:<type>] value.
bool is_sops_ciphertext(std::string_view value);

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

// Two readings of the images in an object, both by shape rather than by kind, and neither for
// a CustomResourceDefinition (its schema's examples and defaults run nothing), a ConfigMap or a
// Secret (data):
//
// What it runs: the `image` of every item of a container list (`initContainers`, `containers`,
// `ephemeralContainers`: sequences of mappings) anywhere but metadata and status. Pods,
// workloads, CronJobs and PodTemplates have them where their pod spec is; so do custom resources
// that embed a pod template (Argo Rollouts, Knative Services). Per mapping in pod spec order,
// then document order. What an environment counts as running (promotion sources) is this.
std::vector<Image> images_of(const Object& object);

// What it may run: every string value of a key named `image` anywhere but metadata and status
// (also Argo Workflows' `container`, Tekton's `steps`, any operator's own spelling). The rules
// on what an environment may take (no :latest, digests, promotion) read this wider set.
std::vector<Image> image_fields_of(const Object& object);

// The image references a kustomization's `images:` entries produce: (newName or name), then
// @digest or :newTag when set.
struct KustomizeImage {
  std::string reference;
  const yaml::Node* node;  // the entry, for its mark
};
std::vector<KustomizeImage> kustomization_images(const yaml::Node& kustomization);

}  // namespace portcullis::manifest
