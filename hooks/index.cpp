#include "hooks/index.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "shared/util/fs.hpp"

namespace portcullis::hooks {

namespace fs = std::filesystem;

namespace {

// 004: only what the one render reads (no kustomization images, no excluded files); 003: image
// references too (002: objects and CRD kinds; 001 held repository paths). A file
// of another version does not load, so it is rebuilt rather than misread.
constexpr char k_magic[8] = {'P', 'C', 'I', 'D', 'X', '0', '0', '4'};
constexpr char k_sep = '\x1f';
constexpr std::size_t k_keep_files = 64;

struct Header {
  char magic[8];
  std::uint32_t count;
  std::uint32_t data_size;
};

// A delta file: the index of a tree as the index of its base tree less the records of the
// `removed_count` paths it lists, plus `count` records of its own. Laid out as the header, the
// records' offsets, the removed paths (each NUL-terminated, sorted), then the records' data.
constexpr char k_delta_magic[8] = {'P', 'C', 'I', 'D', 'D', '0', '0', '1'};
constexpr std::uint32_t k_max_depth = 8;

struct DeltaHeader {
  char magic[8];
  unsigned char base[20];
  std::uint32_t depth;  // the base's depth + 1; a whole file's is 0
  std::uint32_t removed_count;
  std::uint32_t removed_size;
  std::uint32_t count;
  std::uint32_t data_size;
};
static_assert(sizeof(DeltaHeader) == 48);

fs::path file_of(const fs::path& dir, const git::Oid& tree) {
  return dir / (tree.hex() + ".idx");
}

}  // namespace

std::string object_key(const manifest::Identity& id) {
  std::string k = "o";
  for (const auto* part : {&id.group, &id.kind, &id.namespace_, &id.name}) {
    k += k_sep;
    k += *part;
  }
  return k;
}

std::string crd_key(std::string_view group, std::string_view kind) {
  std::string k = "c";
  k += k_sep;
  k += group;
  k += k_sep;
  k += kind;
  return k;
}

std::string describe_key(std::string_view key) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto p = key.find(k_sep, start);
    parts.push_back(key.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  if (parts.size() == 5 && parts[0] == "o") {
    manifest::Identity id{std::string(parts[1]), std::string(parts[2]), std::string(parts[3]),
                          std::string(parts[4])};
    return id.describe();
  }
  if (parts.size() == 3 && parts[0] == "c")
    return "CRD for " + std::string(parts[1]) + "/" + std::string(parts[2]);
  return std::string(key);
}

struct IdentityIndex::Map {
  util::MappedFile file;
  const std::uint32_t* offsets = nullptr;
  const char* data = nullptr;
  std::uint32_t count = 0;
  std::uint32_t data_size = 0;
};

IdentityIndex::IdentityIndex() = default;
IdentityIndex::~IdentityIndex() = default;
IdentityIndex::IdentityIndex(IdentityIndex&&) noexcept = default;
IdentityIndex& IdentityIndex::operator=(IdentityIndex&&) noexcept = default;

std::optional<IdentityIndex> IdentityIndex::load(const fs::path& dir, const git::Oid& tree) {
  return load_chain(dir, tree, k_max_depth);
}

namespace {

// The paths of a delta's removed section: `count` NUL-terminated strings filling `size` bytes,
// in strictly increasing order; nullopt otherwise.
std::optional<std::vector<std::string_view>> removed_paths(const char* data, std::size_t size, std::uint32_t count) {
  if (count > size) return std::nullopt;  // every path takes its NUL at least
  std::vector<std::string_view> out;
  out.reserve(count);
  std::size_t at = 0;
  while (at < size) {
    const auto* nul = static_cast<const char*>(std::memchr(data + at, '\0', size - at));
    if (!nul) return std::nullopt;
    std::string_view path(data + at, static_cast<std::size_t>(nul - (data + at)));
    if (!out.empty() && path <= out.back()) return std::nullopt;
    out.push_back(path);
    at += path.size() + 1;
  }
  if (out.size() != count) return std::nullopt;
  return out;
}

}  // namespace

std::optional<IdentityIndex> IdentityIndex::load_chain(const fs::path& dir, const git::Oid& tree,
                                                       std::uint32_t deltas_left) {
  auto file = util::MappedFile::open(file_of(dir, tree));
  if (!file || file->bytes().size() < sizeof(Header)) return std::nullopt;
  auto map = std::make_unique<Map>();
  map->file = std::move(*file);
  const char* bytes = map->file.bytes().data();
  const std::size_t size = map->file.bytes().size();
  IdentityIndex index;
  index.m_tree = tree;
  if (std::memcmp(bytes, k_magic, 8) == 0) {
    const auto* h = reinterpret_cast<const Header*>(bytes);
    std::size_t table = sizeof(Header) + std::size_t{h->count} * 4;
    if (table > size || size - table != h->data_size) return std::nullopt;
    map->count = h->count;
    map->data_size = h->data_size;
    map->offsets = reinterpret_cast<const std::uint32_t*>(bytes + sizeof(Header));
    map->data = bytes + table;
  } else if (std::memcmp(bytes, k_delta_magic, 8) == 0 && size >= sizeof(DeltaHeader)) {
    DeltaHeader h;
    std::memcpy(&h, bytes, sizeof h);
    const std::size_t table = sizeof(DeltaHeader) + std::size_t{h.count} * 4;
    if (h.depth == 0 || h.depth > k_max_depth || deltas_left == 0) return std::nullopt;
    if (table > size || size - table != std::size_t{h.removed_size} + h.data_size) return std::nullopt;
    auto removed = removed_paths(bytes + table, h.removed_size, h.removed_count);
    if (!removed) return std::nullopt;
    git::Oid base_tree;
    std::memcpy(base_tree.bytes.data(), h.base, 20);
    if (base_tree == tree) return std::nullopt;
    auto below = load_chain(dir, base_tree, deltas_left - 1);
    if (!below || below->m_depth + 1 != h.depth) return std::nullopt;
    map->count = h.count;
    map->data_size = h.data_size;
    map->offsets = reinterpret_cast<const std::uint32_t*>(bytes + sizeof(DeltaHeader));
    map->data = bytes + table + h.removed_size;
    index.m_removed = std::move(*removed);
    index.m_base = std::make_unique<IdentityIndex>(std::move(*below));
    index.m_depth = h.depth;
  } else {
    return std::nullopt;
  }
  // Records are bounds-checked as they are read (key_at/path_at), not here: loading stays
  // O(deltas) so a push into a large environment costs no more than one into a small one.
  index.m_map = std::move(map);
  return index;
}

namespace {

// The file's bytes, from records added in order; a record equal to the one before is dropped.
class Writer {
 public:
  Writer(std::size_t records, std::size_t bytes) {
    m_offsets.reserve(records);
    m_data.reserve(bytes);
  }
  void add(std::string_view key, std::string_view path) {
    if (!m_offsets.empty() && key == m_last_key && path == m_last_path) return;
    m_offsets.push_back(static_cast<std::uint32_t>(m_data.size()));
    m_data.append(key);
    m_data += '\0';
    m_data.append(path);
    m_data += '\0';
    m_last_key = key;
    m_last_path = path;
  }
  // The records' offsets and data, as a delta file lays them out.
  std::string offsets_bytes() const {
    return std::string(reinterpret_cast<const char*>(m_offsets.data()), m_offsets.size() * 4);
  }
  const std::string& data_bytes() const { return m_data; }
  std::uint32_t count() const { return static_cast<std::uint32_t>(m_offsets.size()); }

  std::string finish() const {
    Header h{};
    std::memcpy(h.magic, k_magic, 8);
    h.count = static_cast<std::uint32_t>(m_offsets.size());
    h.data_size = static_cast<std::uint32_t>(m_data.size());
    std::string out;
    out.reserve(sizeof h + m_offsets.size() * 4 + m_data.size());
    out.append(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(reinterpret_cast<const char*>(m_offsets.data()), m_offsets.size() * 4);
    out += m_data;
    return out;
  }

 private:
  std::string m_data;
  std::vector<std::uint32_t> m_offsets;
  std::string_view m_last_key, m_last_path;  // into the caller's records, alive until finish()
};

// The NUL-terminated string at `off`, cut at the end of the section if a damaged file lacks
// the terminator.
std::string_view bounded(const char* data, std::size_t size, std::size_t off) {
  if (off >= size) return {};
  return std::string_view(data + off, strnlen(data + off, size - off));
}

// Writes the file of `tree` atomically, then keeps the newest index files only; an index that is
// trimmed is only rebuilt when needed.
util::Result<void> write_index(const fs::path& dir, const git::Oid& tree, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path written = file_of(dir, tree);
  if (auto r = util::write_file(written, bytes, 0644); !r) return r;
  util::keep_newest(dir, ".idx", k_keep_files, written);
  return {};
}

}  // namespace

util::Result<void> IdentityIndex::store(const fs::path& dir, const git::Oid& tree,
                                        std::vector<IndexRecord> records) {
  if (!std::is_sorted(records.begin(), records.end())) std::sort(records.begin(), records.end());
  std::size_t bytes = 0;
  for (const auto& r : records) bytes += r.key.size() + r.path.size() + 2;
  Writer w(records.size(), bytes);
  for (const auto& r : records) w.add(r.key, r.path);
  return write_index(dir, tree, w.finish());
}

util::Result<void> IdentityIndex::store_carried(const fs::path& dir, const git::Oid& tree, const IdentityIndex& old,
                                                const std::vector<std::string>& changed,
                                                std::vector<IndexRecord> added) {
  std::sort(added.begin(), added.end());
  added.erase(std::unique(added.begin(), added.end(),
                          [](const IndexRecord& a, const IndexRecord& b) { return a.key == b.key && a.path == b.path; }),
              added.end());
  // What the old index answers for these paths gives way to `added` (whose paths count as
  // changed whatever the caller says).
  std::vector<std::string> removed = changed;
  for (const auto& r : added) removed.push_back(r.path);
  std::sort(removed.begin(), removed.end());
  removed.erase(std::unique(removed.begin(), removed.end()), removed.end());
  if (!old.m_map || old.m_depth + 1 > k_max_depth) {
    // A chain at its longest (or no old file): stored whole.
    std::vector<IndexRecord> all;
    for (auto& r : old.records())
      if (!std::binary_search(removed.begin(), removed.end(), r.path)) all.push_back(std::move(r));
    all.insert(all.end(), std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
    return store(dir, tree, std::move(all));
  }
  std::size_t bytes = 0;
  for (const auto& r : added) bytes += r.key.size() + r.path.size() + 2;
  Writer w(added.size(), bytes);
  for (const auto& r : added) w.add(r.key, r.path);
  std::string removed_bytes;
  for (const auto& p : removed) {
    removed_bytes += p;
    removed_bytes += '\0';
  }
  DeltaHeader h{};
  std::memcpy(h.magic, k_delta_magic, 8);
  std::memcpy(h.base, old.m_tree.bytes.data(), 20);
  h.depth = old.m_depth + 1;
  h.removed_count = static_cast<std::uint32_t>(removed.size());
  h.removed_size = static_cast<std::uint32_t>(removed_bytes.size());
  h.count = w.count();
  h.data_size = static_cast<std::uint32_t>(w.data_bytes().size());
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out += w.offsets_bytes();
  out += removed_bytes;
  out += w.data_bytes();
  // The chain below is marked newest first, so trimming (which keeps the newest files) keeps it.
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const IdentityIndex* i = &old; i != nullptr; i = i->m_base.get()) fs::last_write_time(file_of(dir, i->m_tree), now, ec);
  return write_index(dir, tree, out);
}

std::string_view IdentityIndex::key_at(std::size_t i) const {
  return bounded(m_map->data, m_map->data_size, m_map->offsets[i]);
}

std::string_view IdentityIndex::path_at(std::size_t i) const {
  return bounded(m_map->data, m_map->data_size, std::size_t{m_map->offsets[i]} + key_at(i).size() + 1);
}

std::size_t IdentityIndex::own_size() const {
  return m_map ? m_map->count : 0;
}

bool IdentityIndex::removed(std::string_view path) const {
  return std::binary_search(m_removed.begin(), m_removed.end(), path);
}

std::size_t IdentityIndex::first_not_below(std::string_view key) const {
  std::size_t lo = 0, hi = own_size();
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (key_at(mid) < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

std::vector<std::string_view> IdentityIndex::lookup(std::string_view key) const {
  std::vector<std::string_view> out;
  for (std::size_t i = first_not_below(key); i < own_size() && key_at(i) == key; ++i) out.push_back(path_at(i));
  if (!m_base) return out;
  std::vector<std::string_view> kept;
  for (auto p : m_base->lookup(key))
    if (!removed(p)) kept.push_back(p);
  std::vector<std::string_view> merged;
  merged.reserve(out.size() + kept.size());
  std::merge(kept.begin(), kept.end(), out.begin(), out.end(), std::back_inserter(merged));
  return merged;
}

std::vector<IndexRecord> IdentityIndex::with_prefix(std::string_view prefix) const {
  std::vector<IndexRecord> out;
  for (std::size_t i = first_not_below(prefix); i < own_size(); ++i) {
    std::string_view key = key_at(i);
    if (!key.starts_with(prefix)) break;
    out.push_back(IndexRecord{std::string(key), std::string(path_at(i))});
  }
  if (!m_base) return out;
  std::vector<IndexRecord> kept;
  for (auto& r : m_base->with_prefix(prefix))
    if (!removed(r.path)) kept.push_back(std::move(r));
  std::vector<IndexRecord> merged;
  merged.reserve(out.size() + kept.size());
  std::merge(std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()),
             std::make_move_iterator(out.begin()), std::make_move_iterator(out.end()), std::back_inserter(merged));
  return merged;
}

std::vector<IndexRecord> IdentityIndex::records() const {
  return with_prefix("");
}

std::size_t IdentityIndex::size() const {
  return m_base ? records().size() : own_size();
}

IndexRecord IdentityIndex::at(std::size_t i) const {
  if (m_base) return records().at(i);
  return IndexRecord{std::string(key_at(i)), std::string(path_at(i))};
}

}  // namespace portcullis::hooks
