#pragma once
// Read access to Git repositories through libgit2, shaped for the gate: tree lookups, a tree
// diff that skips identical subtrees, blob reads with size limits, and opening a repository
// the way a pre-receive hook must (quarantined objects included).
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::git {

struct Oid {
  std::array<unsigned char, 20> bytes{};

  // Parses 40 hex digits; nullopt otherwise.
  static std::optional<Oid> from_hex(std::string_view hex);
  std::string hex() const;
  std::string short_hex() const { return hex().substr(0, 12); }
  bool is_zero() const;
  auto operator<=>(const Oid&) const = default;
};

struct OidHash {
  std::size_t operator()(const Oid& o) const noexcept;
};

enum class EntryKind { blob, executable, symlink, tree, submodule };

struct TreeEntry {
  Oid oid;
  EntryKind kind = EntryKind::blob;
};

// One path that differs between two trees. A path that changed from blob to tree (or back)
// is reported as a deletion and an addition.
struct Change {
  std::string path;
  std::optional<TreeEntry> before;
  std::optional<TreeEntry> after;
};

// Splits GIT_ALTERNATE_OBJECT_DIRECTORIES as git writes it: ':'-separated, entries that
// contain ':' C-quoted.
std::vector<std::string> split_alternates(std::string_view value);

class Repository {
 public:
  ~Repository();
  Repository(Repository&&) noexcept;
  Repository& operator=(Repository&&) noexcept;

  // Opens the repository at or above `path` (a work tree or a bare repository).
  static util::Result<Repository> open(const std::filesystem::path& path);
  // Opens the repository a Git hook runs in: $GIT_DIR (default "."), plus the quarantine
  // directory ($GIT_OBJECT_DIRECTORY) and $GIT_ALTERNATE_OBJECT_DIRECTORIES, so objects of a
  // push that is not accepted yet are visible.
  static util::Result<Repository> open_hook_environment();

  std::filesystem::path git_dir() const;

  // Keeps a copy of every large tree read (32 KB and more: a directory of ~800 entries) in
  // `dir`, and reads trees from there before the object database: a push into a directory of
  // 20,000 files otherwise inflates the directory's old version anew in every hook. A copy is
  // used only when its bytes hash to the tree's id; the newest 32 are kept.
  void keep_large_trees(const std::filesystem::path& dir);

  // Resolves a revision (name, hex, "HEAD~1") to a commit.
  util::Result<Oid> resolve_commit(std::string_view rev) const;
  // The commit `oid` names, peeling annotated tags; nullopt when it is not a commit (a tree,
  // a blob, a tag of one).
  util::Result<std::optional<Oid>> peel_to_commit(const Oid& oid) const;
  util::Result<Oid> commit_tree(const Oid& commit) const;
  // The commit the repository's HEAD (default branch) points at; nullopt in an empty repository
  // (an unborn branch). Fails when HEAD cannot be read or does not lead to a commit.
  util::Result<std::optional<Oid>> head_commit() const;
  // The ref HEAD names ("refs/heads/main"); nullopt when HEAD is detached or unreadable.
  std::optional<std::string> head_ref() const;
  // The entry at `path` ("a/b") in `tree`; nullopt when absent. "" is the tree itself.
  util::Result<std::optional<TreeEntry>> entry_at(const Oid& tree, std::string_view path) const;
  util::Result<std::uint64_t> object_size(const Oid& oid) const;
  // Reads a blob; fails when it is larger than `max_bytes` (rule "file.too-large", message
  // "file is N bytes; the limit is M") without reading it.
  util::Result<std::string> read_blob(const Oid& oid, std::uint64_t max_bytes) const;

  // Calls `on_change` for every path under `prefix` that differs between `before` and
  // `after` (nullopt = empty tree); both are trees rooted at `prefix`. Identical subtrees are
  // skipped without being read. Returning false from `on_change` stops the walk.
  util::Result<void> diff(std::optional<Oid> before, std::optional<Oid> after, std::string_view prefix,
                          const std::function<bool(const Change&)>& on_change) const;
  // The entries directly in `tree` (subtrees not entered), in tree order.
  util::Result<std::vector<std::pair<std::string, TreeEntry>>> entries(const Oid& tree) const;
  // Calls `on_entry` for every non-tree entry below `tree`, with paths prefixed by `prefix`.
  util::Result<void> walk(
      const Oid& tree, std::string_view prefix,
      const std::function<bool(const std::string& path, const TreeEntry&)>& on_entry) const;

  // The raw content of any object and its type name ("commit", "tree", "blob", "tag").
  struct RawObject {
    std::string type;
    std::string data;
  };
  util::Result<RawObject> read_raw(const Oid& oid, std::uint64_t max_bytes = 64 << 20) const;

  struct CommitInfo {
    Oid id;
    std::vector<Oid> parents;
    std::string author_name, author_email;
    std::int64_t committer_time = 0;  // unix seconds
  };
  util::Result<CommitInfo> commit_info(const Oid& commit) const;

  // Commits reachable from `tip` but from none of `exclude` and none of the repository's refs
  // matching `exclude_glob` (e.g. "refs/*": what a push brings in), newest first, at most
  // `limit`. `truncated` tells whether the limit cut the list.
  util::Result<std::vector<Oid>> new_commits(const Oid& tip, const std::vector<Oid>& exclude,
                                             std::string_view exclude_glob, std::size_t limit,
                                             bool* truncated = nullptr) const;

  // First-parent history from `tip`, newest first, at most `limit` commits.
  util::Result<std::vector<Oid>> first_parent_history(const Oid& tip, std::size_t limit) const;

  // Refs whose names match `glob` ("refs/approvals/*"), with the object each points at.
  util::Result<std::vector<std::pair<std::string, Oid>>> refs_matching(std::string_view glob) const;

  // True when `ancestor` is `descendant` or one of its ancestors.
  util::Result<bool> is_ancestor(const Oid& ancestor, const Oid& descendant) const;

  util::Result<std::optional<std::string>> config_string(std::string_view key) const;
  util::Result<void> set_config_bool(std::string_view key, bool value);

 private:
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::git
