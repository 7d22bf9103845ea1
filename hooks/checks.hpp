#pragma once
// The checks of one file under an environment: file rules, YAML, Kubernetes objects,
// schemas and content rules. Pure with respect to the push: the gate decides which files
// to check and aggregates what comes back.
#include <optional>
#include <string>
#include <vector>

#include "hooks/crds.hpp"
#include "hooks/index.hpp"
#include "hooks/report.hpp"
#include "shared/git/repository.hpp"
#include "shared/manifest/object.hpp"
#include "shared/policy/policy.hpp"
#include "shared/render/environment.hpp"
#include "shared/schema/program.hpp"

namespace portcullis::hooks {

struct CheckContext {
  const git::Repository& repo;
  const policy::ServerConfig& config;
  const policy::Policy& policy;
  const policy::Environment& env;
  const schema::Program* store;  // nullptr: schema validation is off
  CrdRegistry& crds;
  const render::Selection& selection;  // which files are objects (the one render, at the new tip)
  // What the environment may write into its cluster (the server config); nullptr: not configured.
  const policy::EnvironmentConfinement* confinement = nullptr;
};

// An object (or CRD kind) a file declares, for duplicate detection and the identity index.
struct Declared {
  std::string key;  // object_key() / crd_key()
  std::string object;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

// A container image a file references (for promotion rules).
struct UsedImage {
  std::string reference;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

struct FileResult {
  std::vector<Finding> findings;  // `ref` left empty
  std::vector<Declared> declared;
  std::vector<UsedImage> images;
  std::vector<manifest::Identity> applied;  // the objects the daemon applies of it, as written
  std::size_t objects = 0;
  bool checked = false;   // the file's content was read and checked
  bool deferred = false;  // some objects' kinds have no schema yet: check again once every CRD is known
};

enum class Pass {
  first,     // everything; objects of unknown kinds are deferred
  deferred,  // only the objects of kinds the store does not know; unknown now means missing
};

FileResult check_file(const CheckContext& ctx, const std::string& path, const git::TreeEntry& entry,
                      Pass pass);

// The checks of one object a kustomize environment renders (shared/render), as if it were the
// only object of its origin `file` (a repository path), naming the object. A finding is
// reported where the field it concerns came from, as `output` (the build that rendered the
// object) locates the field's node: the base line, or the line of the patch that set it;
// else at `file`:`line`. `encrypted`: a complete SOPS object, declared but never validated.
FileResult check_rendered(const CheckContext& ctx, const std::string& file, std::uint32_t line,
                          const manifest::Object& object, bool encrypted, Pass pass,
                          const kustomize::Output* output = nullptr);

// The images the render of the kustomize environment at `env_path` of the tree `root` may run;
// nullopt when it has no kustomization or does not build. `kustomized`: whether it has one, when
// the caller knows (IndexCache::is_kustomized), else asked.
std::optional<std::vector<std::string>> rendered_images(const git::Repository& repo, const git::Oid& root,
                                                        std::string_view env_path,
                                                        std::optional<bool> kustomized = std::nullopt);

// The key under which `object` is indexed: namespace defaulted from the environment and
// dropped for cluster-scoped kinds.
std::string key_of(const manifest::Object& object, const policy::Environment& env,
                   const schema::Program* store);
std::string image_key(std::string_view reference);

// Which images of an object count (manifest/object.hpp): those it runs (what an environment is
// counted as running: identity indexes, soak ledgers), or those it may run (what a push brings
// into an environment: content and promotion rules).
enum class ImageReading { runs, may_run };

// The image references of the objects a parsed manifest declares (the one render's objects;
// encrypted documents and kustomizations declare none that are applied).
std::vector<UsedImage> images_in(const yaml::Stream& stream, ImageReading reading);
// What the objects of the blob of a file the render reads may run (nothing when it does not parse).
std::vector<UsedImage> images_in_blob(const git::Repository& repo, const std::string& path, const git::Oid& blob,
                                      const policy::ServerConfig& config);

// Index records of one file of the environment (`path` relative to it), without validating it:
// only files the render reads under `selection` declare anything; unparsable ones declare
// nothing. Images are recorded under image_key().
std::vector<IndexRecord> index_records(const git::Repository& repo, const std::string& path,
                                       const git::TreeEntry& entry, const policy::Environment& env,
                                       const policy::ServerConfig& config, const schema::Program* store,
                                       const render::Selection& selection);

}  // namespace portcullis::hooks
