#pragma once
// Where a kustomize build reads its files: an abstract, read-only tree of files addressed by
// normalised relative paths ("overlays/prod/kustomization.yaml"; "" is the root). The build
// never leaves it: a path that climbs above the root is refused before any read.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/util/error.hpp"

namespace portcullis::kustomize {

enum class EntryType { missing, file, directory, other };  // other: symlink, submodule, device...

class FileSource {
 public:
  virtual ~FileSource() = default;
  // What is at `path`; `missing` when nothing is.
  virtual util::Result<EntryType> type(std::string_view path) const = 0;
  // The content of the regular file at `path`; fails (rule "file.too-large") past `max_bytes`.
  virtual util::Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const = 0;
  // The names of the entries directly in the directory `path`, sorted bytewise.
  virtual util::Result<std::vector<std::string>> list(std::string_view path) const = 0;
};

// A directory on disk. Symbolic links are `other`: never followed, so nothing outside the
// root can be reached through one.
class DiskSource final : public FileSource {
 public:
  explicit DiskSource(std::filesystem::path root) : m_root(std::move(root)) {}
  util::Result<EntryType> type(std::string_view path) const override;
  util::Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override;
  util::Result<std::vector<std::string>> list(std::string_view path) const override;

 private:
  std::filesystem::path m_root;
};

// A tree of a Git repository (e.g. a commit's root tree). Symlinks and submodules are `other`.
class GitSource final : public FileSource {
 public:
  GitSource(const git::Repository& repo, const git::Oid& tree) : m_repo(repo), m_tree(tree) {}
  util::Result<EntryType> type(std::string_view path) const override;
  util::Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override;
  util::Result<std::vector<std::string>> list(std::string_view path) const override;

 private:
  const git::Repository& m_repo;
  git::Oid m_tree;
};

// Joins `base` (a normalised directory) and `relative` (as written in a kustomization) into a
// normalised path. Fails with rule "kustomize.outside" when `relative` is absolute or climbs
// above the root.
util::Result<std::string> join_path(std::string_view base, std::string_view relative);

// True when `path` is `dir` or below it (both normalised; "" is the root).
bool is_within(std::string_view dir, std::string_view path);

}  // namespace portcullis::kustomize
