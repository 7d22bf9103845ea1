#pragma once
// The one render: which files of an environment declare objects, and which objects they
// declare. The gate validates exactly what it yields and the daemon applies exactly that;
// nothing else decides (tests/unit/daemon/test_agreement.cpp proves the two agree).
//
// A file is read for objects when it is a regular file (blob or executable) whose name ends in
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
#include "shared/manifest/object.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::render {

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

}  // namespace portcullis::render
