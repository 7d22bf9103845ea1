#pragma once
// The identity index: for one environment tree, which file declares which object (and which
// CRD kind). Lets the gate find duplicates across a whole environment by reading only the
// files a push changes. Files are content-addressed by the environment's tree id, written
// atomically, mapped read-only, and rebuilt from Git whenever missing or damaged.
#include <filesystem>
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

  // Stores the index of `tree` carried forward from `old`, the index of the tree it changed from:
  // the old records of files not in `changed` (sorted), merged with `added`, straight from the
  // mapped file (copying 20,000 records one by one was a third of post-receive). Fails, writing
  // nothing, when `old` turns out damaged: the caller builds the index whole.
  static util::Result<void> store_carried(const std::filesystem::path& dir, const git::Oid& tree,
                                          const IdentityIndex& old, const std::vector<std::string>& changed,
                                          std::vector<IndexRecord> added);

  // Paths that declare `key`, in order.
  std::vector<std::string_view> lookup(std::string_view key) const;
  // The records whose key starts with `prefix` ("c\x1f": CRD kinds), in order: a binary search
  // and the matching run, not a pass over the whole environment.
  std::vector<IndexRecord> with_prefix(std::string_view prefix) const;
  std::size_t size() const;
  IndexRecord at(std::size_t i) const;

 private:
  std::size_t first_not_below(std::string_view key) const;
  std::string_view key_at(std::size_t i) const;
  std::string_view path_at(std::size_t i) const;
  struct Map;
  std::unique_ptr<Map> m_map;
};

}  // namespace portcullis::hooks
