#include "hooks/index.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

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
  void* base = nullptr;
  std::size_t size = 0;
  const std::uint32_t* offsets = nullptr;
  const char* data = nullptr;
  std::uint32_t count = 0;
  std::uint32_t data_size = 0;
  ~Map() {
    if (base) munmap(base, size);
  }
};

IdentityIndex::IdentityIndex() = default;
IdentityIndex::~IdentityIndex() = default;
IdentityIndex::IdentityIndex(IdentityIndex&&) noexcept = default;
IdentityIndex& IdentityIndex::operator=(IdentityIndex&&) noexcept = default;

std::optional<IdentityIndex> IdentityIndex::load(const fs::path& dir, const git::Oid& tree) {
  fs::path path = file_of(dir, tree);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(Header)) {
    ::close(fd);
    return std::nullopt;
  }
  auto size = static_cast<std::size_t>(st.st_size);
  void* base = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) return std::nullopt;
  auto map = std::make_unique<Map>();
  map->base = base;
  map->size = size;
  const auto* h = static_cast<const Header*>(base);
  if (std::memcmp(h->magic, k_magic, 8) != 0) return std::nullopt;
  std::size_t table = sizeof(Header) + std::size_t{h->count} * 4;
  if (table > size || size - table != h->data_size) return std::nullopt;
  map->count = h->count;
  map->data_size = h->data_size;
  map->offsets = reinterpret_cast<const std::uint32_t*>(static_cast<const char*>(base) + sizeof(Header));
  map->data = static_cast<const char*>(base) + table;
  // Records are bounds-checked as they are read (key_at/path_at), not here: loading stays
  // O(1) so a push into a large environment costs no more than one into a small one.
  IdentityIndex index;
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
  // Records copied as they are: the bytes [begin, end) of `data`, records starting at `starts`.
  // The caller vouches that they are sorted, unique and after what was added before.
  void add_run(const char* data, std::uint32_t begin, std::uint32_t end, const std::vector<std::uint32_t>& starts) {
    const auto base = static_cast<std::uint32_t>(m_data.size());
    m_data.append(data + begin, end - begin);
    for (auto s : starts) m_offsets.push_back(base + (s - begin));
    m_last_key = m_last_path = {};  // an added record never equals an old one (its file changed)
  }
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
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (auto& e : fs::directory_iterator(dir, ec))
    // The file just written is never a candidate, whatever the clock says about the others.
    if (e.path().extension() == ".idx" && e.path() != written)
      files.emplace_back(e.last_write_time(ec), e.path());
  if (files.size() + 1 > k_keep_files) {
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t i = k_keep_files - 1; i < files.size(); ++i) fs::remove(files[i].second, ec);
  }
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
  auto is_changed = [&](std::string_view path) {
    return std::binary_search(changed.begin(), changed.end(), path, std::less<>{});
  };
  std::size_t bytes = old.m_map ? old.m_map->data_size : 0;
  for (const auto& r : added) bytes += r.key.size() + r.path.size() + 2;
  Writer w(old.size() + added.size(), bytes);
  // Kept old records go out in runs, copied as bytes: a run is a stretch of records that lie
  // back to back in the old file with nothing to insert or drop between them.
  const char* data = old.m_map ? old.m_map->data : nullptr;
  std::uint32_t run_begin = 0, run_end = 0;
  std::vector<std::uint32_t> run_starts;
  auto flush = [&] {
    if (!run_starts.empty()) w.add_run(data, run_begin, run_end, run_starts);
    run_starts.clear();
  };
  std::size_t j = 0;
  std::string_view prev_key, prev_path;
  const std::size_t data_size = old.m_map ? old.m_map->data_size : 0;
  for (std::size_t i = 0; i < old.size(); ++i) {
    // key_at and path_at, with the key measured once (this loop runs over every record of the
    // environment on every push).
    const std::size_t off = old.m_map->offsets[i];
    std::string_view key = bounded(data, data_size, off);
    std::string_view path = bounded(data, data_size, off + key.size() + 1);
    // Damage that loading does not look for shows here: records out of order cannot be merged.
    if (i > 0 && std::tie(key, path) <= std::tie(prev_key, prev_path))
      return util::fail("the identity index of the old tree is damaged (records out of order)");
    prev_key = key;
    prev_path = path;
    if (!changed.empty() && is_changed(path)) {
      flush();
      continue;
    }
    if (j < added.size() && std::tie(added[j].key, added[j].path) < std::tie(key, path)) {
      flush();
      for (; j < added.size() && std::tie(added[j].key, added[j].path) < std::tie(key, path); ++j)
        w.add(added[j].key, added[j].path);
    }
    // A damaged file's record may lack its terminator or lie outside the data: copied on its own.
    const bool whole = key.data() != nullptr && path.data() == key.data() + key.size() + 1 &&
                       path.data() + path.size() < data + data_size && path.data()[path.size()] == '\0';
    if (!whole) {
      flush();
      w.add(key, path);
      continue;
    }
    const auto begin = static_cast<std::uint32_t>(key.data() - data);
    const auto end = static_cast<std::uint32_t>(path.data() + path.size() - data);
    if (run_starts.empty() || begin != run_end) {
      flush();
      run_begin = begin;
    }
    run_starts.push_back(begin);
    run_end = end + 1;
  }
  flush();
  for (; j < added.size(); ++j) w.add(added[j].key, added[j].path);
  return write_index(dir, tree, w.finish());
}

std::string_view IdentityIndex::key_at(std::size_t i) const {
  return bounded(m_map->data, m_map->data_size, m_map->offsets[i]);
}

std::string_view IdentityIndex::path_at(std::size_t i) const {
  return bounded(m_map->data, m_map->data_size, std::size_t{m_map->offsets[i]} + key_at(i).size() + 1);
}

std::size_t IdentityIndex::first_not_below(std::string_view key) const {
  std::size_t lo = 0, hi = m_map ? m_map->count : 0;
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
  for (std::size_t i = first_not_below(key); i < size() && key_at(i) == key; ++i) out.push_back(path_at(i));
  return out;
}

std::vector<IndexRecord> IdentityIndex::with_prefix(std::string_view prefix) const {
  std::vector<IndexRecord> out;
  for (std::size_t i = first_not_below(prefix); i < size(); ++i) {
    std::string_view key = key_at(i);
    if (!key.starts_with(prefix)) break;
    out.push_back(IndexRecord{std::string(key), std::string(path_at(i))});
  }
  return out;
}

std::size_t IdentityIndex::size() const {
  return m_map ? m_map->count : 0;
}

IndexRecord IdentityIndex::at(std::size_t i) const {
  return IndexRecord{std::string(key_at(i)), std::string(path_at(i))};
}

}  // namespace portcullis::hooks
