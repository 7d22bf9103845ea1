#pragma once
// The identity index: for one environment tree, which file declares which object (and which
// CRD kind). Lets the gate find duplicates across a whole environment by reading only the
// files a push changes. Files are named by the environment's tree id, written atomically,
// mapped read-only, and rebuilt from Git whenever missing or damaged. The index of a tree a
// push changed is stored as a delta on the index of the tree it changed: the old index less the
// changed files' records, plus theirs (a chain of at most 8, then stored whole), so a push into
// an environment of 20,000 files writes what it changed, not 20,000 records.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/manifest/object.hpp"
#include "shared/util/error.hpp"

namespace portcullis::hooks {

struct IndexRecord {
  std::string key;   // object_key(), crd_key() or image_key()
  std::string path;  // file that declares it, relative to the environment's directory
  bool operator<(const IndexRecord& o) const { return std::tie(key, path) < std::tie(o.key, o.path); }
  bool operator==(const IndexRecord&) const = default;
};

std::string object_key(const manifest::Identity& id);
std::string crd_key(std::string_view group, std::string_view kind);
// The object identity a key names (for messages).
std::string describe_key(std::string_view key);

class IdentityIndex {
 public:
  IdentityIndex();
  ~IdentityIndex();
  IdentityIndex(IdentityIndex&&) noexcept;
  IdentityIndex& operator=(IdentityIndex&&) noexcept;

  // The index of `tree` stored under `dir`; nullopt when absent or damaged.
  static std::optional<IdentityIndex> load(const std::filesystem::path& dir, const git::Oid& tree);
  // Stores `records` as the index of `tree` (atomically) and trims old index files.
  static util::Result<void> store(const std::filesystem::path& dir, const git::Oid& tree,
                                  std::vector<IndexRecord> records);

  // Stores the index of `tree` carried forward from `old` (loaded from `dir`), the index of the
  // tree it changed from: the old records of files not in `changed`, plus `added` (records of
  // files in `changed`). Written as a delta on `old`, whose chain of files it marks as newest so
  // trimming keeps them; past 8 deltas, whole. Fails, writing nothing, when it cannot write.
  static util::Result<void> store_carried(const std::filesystem::path& dir, const git::Oid& tree,
                                          const IdentityIndex& old, const std::vector<std::string>& changed,
                                          std::vector<IndexRecord> added);

  // Paths that declare `key`, in order.
  std::vector<std::string_view> lookup(std::string_view key) const;
  // The records whose key starts with `prefix` ("c\x1f": CRD kinds), in order: a binary search
  // and the matching run, not a pass over the whole environment.
  std::vector<IndexRecord> with_prefix(std::string_view prefix) const;
  // Every record, in order (a pass over the whole index).
  std::vector<IndexRecord> records() const;
  std::size_t size() const;
  IndexRecord at(std::size_t i) const;
  // How many deltas lie between this index and a whole file (0: it is one).
  std::uint32_t depth() const { return m_depth; }

 private:
  static std::optional<IdentityIndex> load_chain(const std::filesystem::path& dir, const git::Oid& tree,
                                                 std::uint32_t deltas_left);
  bool removed(std::string_view path) const;
  std::size_t own_size() const;
  std::size_t first_not_below(std::string_view key) const;
  std::string_view key_at(std::size_t i) const;
  std::string_view path_at(std::size_t i) const;
  struct Map;
  std::unique_ptr<Map> m_map;                // this file: its own records
  std::unique_ptr<IdentityIndex> m_base;     // a delta's base, else null
  std::vector<std::string_view> m_removed;   // a delta's changed paths (sorted, in m_map)
  git::Oid m_tree;
  std::uint32_t m_depth = 0;
};

}  // namespace portcullis::hooks
