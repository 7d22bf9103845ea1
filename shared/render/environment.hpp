#pragma once
// The one render: which files of an environment declare objects, and which objects they
// declare. The gate validates exactly what it yields and the daemon applies exactly that;
// nothing else decides (tests/unit/daemon/test_agreement.cpp proves the two agree).
//
// An environment with a kustomization file at its root (kustomization.yaml, kustomization.yml or
// Kustomization) is rendered by kustomize (shared/kustomize) over the repository tree at the
// commit: its objects are the build's output, nothing else in the directory is read as objects,
// and the build may read files anywhere in the repository (kustomize's load restrictions with
// the repository root as the source's root: nothing outside it, no symbolic links). Every path
// the build read or probed is an input of the environment (`Kustomized::files_read`): a change
// to any of them changes what the environment applies.
//
// Without one, a file is read for objects when it is a regular file (blob or executable) whose name ends in
// .yaml, .yml or .json, is not a kustomization file (not rendered yet) and is not excluded by the
// repository's `manifests.exclude` as it is at the commit rendered. Its documents are objects,
// the items of a List expanded; a complete SOPS-encrypted document is set aside (never applied:
// the daemon cannot decrypt).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/kustomize/kustomize.hpp"
#include "shared/manifest/object.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::render {

// The environments of `policy` in `tree`: its declared ones, or every directory directly under
// environments/ (read without reading what is in them). Fails when those trees cannot be read.
util::Result<std::vector<policy::Environment>> environments_at(const git::Repository& repo,
                                                               const policy::Policy& policy, const git::Oid& tree);
// The same, with none where the trees cannot be read: for callers that judge nothing by it
// (the gate's judgement of an update uses environments_at, and refuses what it cannot read).
std::vector<policy::Environment> environments_of(const git::Repository& repo, const policy::Policy& policy,
                                                 const git::Oid& tree);

// Which files are read: what the repository's policy at the rendered commit excludes.
struct Selection {
  std::vector<std::string> exclude;  // globs over repository paths (manifests.exclude)

  // A short text that changes with the selection ("" when nothing is excluded): caches of what
  // a tree declares (identity indexes, the daemon's inventory) are keyed by tree and selection.
  std::string key() const;
  bool operator==(const Selection&) const = default;
};

enum class FileUse {
  objects,        // read: every document declares objects
  kustomization,  // kustomization.yaml: declares nothing (kustomize is not rendered yet)
  excluded,       // matched by manifests.exclude: never read
  other,          // not .yaml/.yml/.json, or not a regular file
};

// `path` (a repository path) relative to the environment at `env_path`; nullopt when it is not
// below it.
std::optional<std::string_view> within(std::string_view env_path, std::string_view path);

// What the render makes of the file at `rel` (relative to the environment at `env_path`).
FileUse use_of(const Selection& selection, std::string_view env_path, std::string_view rel,
               git::EntryKind kind = git::EntryKind::blob);

// What a parsed file declares: its objects in document order (List items expanded), and the
// documents set aside.
struct Declared {
  std::vector<manifest::Object> objects;
  std::vector<std::size_t> encrypted;    // complete SOPS documents: declared, never applied
  std::vector<std::size_t> not_objects;  // documents that are a sequence or a scalar: an error
};
Declared declared_in(const yaml::Stream& stream);

// Parses a file by its name: JSON for .json, YAML otherwise.
util::Result<yaml::Stream> parse_file(std::string_view path, std::string_view text, const yaml::Limits& limits = {});

struct File {
  std::string path;  // relative to the environment
  git::Oid blob;
};

// Every file of the environment `tree` (at `env_path` in the repository) that the render reads,
// in tree order.
util::Result<std::vector<File>> environment_files(const git::Repository& repo, const git::Oid& tree,
                                                  std::string_view env_path, const Selection& selection);

// The selection at `commit`: manifests.exclude of its .portcullis.yaml (nothing excluded
// without one). Fails when the file is there but unreadable or invalid: a render must not guess.
util::Result<Selection> selection_at(const git::Repository& repo, const git::Oid& commit);

// True when the environment at `env_path` of the repository tree `root` has a kustomization
// file at its root (and so renders through kustomize).
util::Result<bool> is_kustomized(const git::Repository& repo, const git::Oid& root, std::string_view env_path);

// A kustomize environment rendered: the build's output (objects with their origin file, a
// repository path, and line; files_read, repository paths) and its objects as manifest objects
// (`document` is the index in `output.objects`): those applied, and the complete SOPS-encrypted
// ones, set aside as in a plain environment (declared, never applied).
struct Kustomized {
  kustomize::Output output;
  std::vector<manifest::Object> objects;
  std::vector<manifest::Object> encrypted;
};

// Builds the environment at `env_path` of the repository tree `root`. Fails with the build's
// error (rule kustomize.* or yaml.*, file set) when it does not build.
util::Result<Kustomized> build_environment(const git::Repository& repo, const git::Oid& root,
                                           std::string_view env_path);

// A digest of what `paths` (repository paths) are in the tree `root`: their entries' ids and
// kinds (a directory: only that it is one), or their absence. Equal digests at two trees mean a render that read exactly `paths`
// gives the same result at both.
std::string inputs_digest(const git::Repository& repo, const git::Oid& root, const std::vector<std::string>& paths);

// The inputs of the environment at `env_path` of `root` that lie outside its directory
// (repository paths): empty for an environment without a kustomization; nullopt when its build
// fails (then nothing is known of what it reads).
std::optional<std::vector<std::string>> outside_inputs(const git::Repository& repo, const git::Oid& root,
                                                       std::string_view env_path);

}  // namespace portcullis::render
