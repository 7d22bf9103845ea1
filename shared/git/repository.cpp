#include "shared/git/repository.hpp"

#include <git2.h>
#include <libdeflate.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>

#include "shared/git/tree.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::git {

namespace fs = std::filesystem;

namespace {

// libgit2's global state, initialised once per process, with limits that keep the hook's
// memory small (objects are read once; a large cache only grows RSS).
struct Library {
  Library() {
    git_libgit2_init();
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, static_cast<ssize_t>(8 << 20));
    // libgit2 caches no tree over 4 KB by default (portcullisd's mirror check reads trees
    // through libgit2; Repository parses and caches its own, see Impl::tree). Trees up to 2 MB
    // (~30,000 entries) stay cached for the process.
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, static_cast<size_t>(2) << 20);
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, static_cast<size_t>(256) << 20);
    // libgit2 keeps every pack file it has opened open (default: no limit). portcullisd's
    // mirror gains one pack per fetch and is never repacked, so without a limit it runs out of
    // file descriptors after about as many pushes as its RLIMIT_NOFILE (1,024 under systemd).
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, static_cast<unsigned int>(128));
    // Objects are read from repositories whose objects git has already verified (index-pack
    // hashes every pushed object before the hooks run); hashing each again on every read was
    // a tenth of the hook's time.
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
  }
  ~Library() { git_libgit2_shutdown(); }
};

void ensure_library() {
  static Library library;
}

util::Error libgit2_error(std::string_view what) {
  const ::git_error* e = git_error_last();
  std::string msg(what);
  if (e && e->message) {
    msg += ": ";
    msg += e->message;
  }
  return util::Error{msg, "git", {}, 0, 0};
}

template <class T, void (*Free)(T*)>
struct Handle {
  T* p = nullptr;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
  ~Handle() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};

using CommitH = Handle<git_commit, git_commit_free>;
using ObjectH = Handle<git_object, git_object_free>;
using BlobH = Handle<git_blob, git_blob_free>;
using OdbH = Handle<git_odb, git_odb_free>;
using ConfigH = Handle<git_config, git_config_free>;
using RefH = Handle<git_reference, git_reference_free>;

git_oid to_git(const Oid& o) {
  git_oid g;
  std::memcpy(g.id, o.bytes.data(), 20);
  return g;
}

Oid from_git(const git_oid* g) {
  Oid o;
  std::memcpy(o.bytes.data(), g->id, 20);
  return o;
}

Oid from_raw(const unsigned char* id) {
  Oid o;
  std::memcpy(o.bytes.data(), id, 20);
  return o;
}

std::string join(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string out(prefix);
  if (out.back() != '/') out += '/';
  out += name;
  return out;
}

}  // namespace

std::optional<Oid> Oid::from_hex(std::string_view hex) {
  if (hex.size() != 40) return std::nullopt;
  Oid o;
  for (std::size_t i = 0; i < 20; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    o.bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return o;
}

std::string Oid::hex() const {
  static const char* digits = "0123456789abcdef";
  std::string s(40, '0');
  for (std::size_t i = 0; i < 20; ++i) {
    s[2 * i] = digits[bytes[i] >> 4];
    s[2 * i + 1] = digits[bytes[i] & 15];
  }
  return s;
}

bool Oid::is_zero() const {
  for (auto b : bytes)
    if (b) return false;
  return true;
}

std::size_t OidHash::operator()(const Oid& o) const noexcept {
  std::size_t h;
  std::memcpy(&h, o.bytes.data(), sizeof h);
  return h;
}

std::vector<std::string> split_alternates(std::string_view value) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value[i] == ':') {
      ++i;
      continue;
    }
    if (value[i] == '"') {
      std::size_t j = i + 1;
      while (j < value.size() && value[j] != '"') j += value[j] == '\\' ? 2 : 1;
      std::size_t end = std::min(j + 1, value.size());
      out.push_back(util::unquote_c_style(value.substr(i, end - i)));
      i = end;
    } else {
      std::size_t j = value.find(':', i);
      if (j == std::string_view::npos) j = value.size();
      out.emplace_back(value.substr(i, j - i));
      i = j;
    }
  }
  return out;
}

// A tree read from the object database, or from the copy kept of it, and parsed
// (shared/git/tree): its bytes and entries.
struct RawTree {
  Oid id;
  Handle<git_odb_object, git_odb_object_free> object;
  std::string owned;      // the bytes, when read from a loose object
  util::MappedFile kept;  // the bytes, when read from the copy kept of the tree
  std::string_view data;  // the bytes: in `object`, `owned` or `kept`
  std::vector<RawEntry> entries;
  std::size_t bytes = 0;
  // Read against the tree `base` (parse_tree_after): the entries both share at each end.
  std::optional<Oid> base;
  Unchanged unchanged;
};
using TreeP = std::shared_ptr<const RawTree>;

struct Repository::Impl {
  git_repository* repo = nullptr;
  mutable git_odb* odb_handle = nullptr;
  // Parsed trees by id: a push's checks diff the same trees several times. Trees up to 2 MB
  // (~30,000 entries) are kept, 8 MB in all; past that the cache starts again.
  static constexpr std::size_t k_tree_kept_max = std::size_t{2} << 20;
  static constexpr std::size_t k_tree_cache_bytes = std::size_t{8} << 20;
  mutable std::unordered_map<Oid, TreeP, OidHash> trees;
  mutable std::size_t tree_bytes = 0;
  // Object directories whose loose trees are read here (read_loose): the repository's own and a
  // hook's quarantine and alternates.
  std::vector<fs::path> object_dirs;
  // Where copies of large trees are kept between processes (keep_large_trees), if anywhere.
  std::optional<fs::path> kept_dir;
  static constexpr std::size_t k_kept_min_bytes = std::size_t{32} << 10;  // ~800 entries
  static constexpr std::size_t k_kept_files = 32;
  ~Impl() {
    trees.clear();  // their objects before the object database
    if (odb_handle) git_odb_free(odb_handle);
    if (repo) git_repository_free(repo);
  }

  // The repository's object database, opened once (alternates added later are seen too: it is
  // the same object).
  git_odb* odb() const {
    if (!odb_handle) git_repository_odb(&odb_handle, repo);
    return odb_handle;
  }

  // The tree `oid`, parsed; `where` is its path, for messages. A tree that lists a name twice or
  // out of order, or a name a checkout refuses, is refused (parse_tree). With `base`, a tree it
  // probably repeats most of (the other side of a diff), only what differs is read.
  util::Result<TreeP> tree(const Oid& oid, std::string_view where, const RawTree* base = nullptr) const {
    if (auto it = trees.find(oid); it != trees.end()) return it->second;
    auto t = std::make_shared<RawTree>();
    t->id = oid;
    if (!read_kept(oid, *t)) {
      if (auto r = read_object(oid, where, base, *t); !r) return util::fail(r.error());
      keep(oid, t->data);
    }
    // What the tree holds: an inflated loose object's buffer is larger than its bytes.
    t->bytes = std::max(t->data.size(), t->owned.capacity()) + t->entries.capacity() * sizeof(RawEntry);
    TreeP shared = std::move(t);
    if (shared->data.size() <= k_tree_kept_max) {
      if (tree_bytes + shared->bytes > k_tree_cache_bytes) {
        trees.clear();
        tree_bytes = 0;
      }
      trees.emplace(oid, shared);
      tree_bytes += shared->bytes;
    }
    return shared;
  }

  util::Result<void> read_object(const Oid& oid, std::string_view where, const RawTree* base, RawTree& t) const {
    if (auto loose = read_loose_tree(oid)) {
      if (!*loose) return util::fail(loose->error());
      t.owned = std::move((*loose)->bytes);
      t.data = std::string_view(t.owned).substr((*loose)->start);
    } else {
      git_oid g = to_git(oid);
      if (git_odb_read(t.object.out(), odb(), &g) != 0)
        return util::fail(libgit2_error("cannot read tree " + oid.short_hex()));
      if (git_odb_object_type(t.object.get()) != GIT_OBJECT_TREE)
        return util::fail("object " + oid.short_hex() + " is not a tree");
      t.data = std::string_view(static_cast<const char*>(git_odb_object_data(t.object.get())),
                                git_odb_object_size(t.object.get()));
    }
    auto entries = base && t.data.size() >= k_kept_min_bytes
                       ? parse_tree_after(base->data, base->entries, t.data, where, &t.unchanged)
                       : parse_tree(t.data, where);
    if (!entries) return util::fail(entries.error());
    t.entries = std::move(*entries);
    if (base && t.unchanged.head + t.unchanged.tail > 0) t.base = base->id;
    return {};
  }

  // A loose object's inflated bytes: "tree <size>\0" and the tree's bytes from `start` (left
  // in place: moving 337 KB to drop 12 bytes costs more than keeping them).
  struct Inflated {
    std::string bytes;
    std::size_t start = 0;
  };

  // The bytes of tree `oid` when it is a loose object in one of `object_dirs`, inflated by
  // libdeflate (2-3 times zlib's speed: a push's new version of a 6,667-entry directory arrives
  // as a loose object of 337 KB, and inflating it was the largest cost left of a one-file push
  // there); nullopt when it is not loose there, or too large, which libgit2 then reads. A loose
  // object that does not inflate, or is not a tree, is an error here: libgit2 1.5 spins on some
  // damaged loose objects instead of failing.
  std::optional<util::Result<Inflated>> read_loose_tree(const Oid& oid) const {
    const std::string hex = oid.hex();
    for (const auto& dir : object_dirs) {
      const fs::path path = dir / hex.substr(0, 2) / hex.substr(2);
      std::error_code ec;
      if (!fs::exists(path, ec)) continue;
      // Read, not mapped: a read error is an error here, where in a mapping it would be a
      // SIGBUS that ends the hook before it records its decision.
      auto packed = util::read_file(path, k_tree_kept_max);
      if (!packed) return std::nullopt;  // too large for a kept tree: libgit2's
      return inflate_tree(*packed, oid);
    }
    return std::nullopt;
  }

  // "tree <size>\0<bytes>", zlib-compressed, inflated; nullopt when larger than a tree kept.
  static std::optional<util::Result<Inflated>> inflate_tree(std::string_view packed, const Oid& oid) {
    struct Free {
      void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
    };
    static thread_local std::unique_ptr<libdeflate_decompressor, Free> d(libdeflate_alloc_decompressor());
    if (!d) return std::nullopt;
    auto damaged = [&] {
      return util::Result<Inflated>(
          util::fail("cannot read tree " + oid.short_hex() + ": its loose object is damaged"));
    };
    // libdeflate needs room for all of it: trees compress to about half (ids do not compress).
    constexpr std::size_t k_most = k_tree_kept_max + 32;
    std::string out;
    std::size_t room = std::min<std::size_t>(packed.size() * 4 + 64, k_most);
    while (true) {
      std::size_t got = 0;
      libdeflate_result r = LIBDEFLATE_BAD_DATA;
      out.resize_and_overwrite(room, [&](char* buf, std::size_t n) {
        r = libdeflate_zlib_decompress(d.get(), packed.data(), packed.size(), buf, n, &got);
        return r == LIBDEFLATE_SUCCESS ? got : 0;
      });
      if (r == LIBDEFLATE_SUCCESS) break;
      if (r != LIBDEFLATE_INSUFFICIENT_SPACE) return damaged();
      if (room >= k_most) return std::nullopt;
      room = std::min<std::size_t>(room * 2, k_most);
    }
    const std::size_t space = out.find(' '), nul = out.find('\0');
    if (space == std::string::npos || nul == std::string::npos || space > nul ||
        out.size() - nul - 1 != parse_size(std::string_view(out).substr(space + 1, nul - space - 1)))
      return damaged();
    if (std::string_view(out).substr(0, space) != "tree")
      return util::Result<Inflated>(util::fail("object " + oid.short_hex() + " is not a tree"));
    return util::Result<Inflated>(Inflated{std::move(out), nul + 1});
  }

  // A loose object header's decimal size; SIZE_MAX when it is not one.
  static std::size_t parse_size(std::string_view digits) {
    if (digits.empty() || digits.size() > 12 || (digits.size() > 1 && digits[0] == '0')) return SIZE_MAX;
    std::size_t n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return SIZE_MAX;
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    return n;
  }

  // A kept copy: this header, then the tree's bytes. The checksum (CRC-32, by libdeflate at
  // ~15 GB/s) covers the id, the size and the bytes: it finds a copy torn, damaged or put under
  // another tree's name. It is not a defence against forgery; nobody but the server writes
  // here, and whoever can write here can write the repository's objects too. (v1 copies were
  // checked by hashing them as Git does: 0.17 ms for a directory of 6,667 entries, against
  // 0.02 ms for the checksum.)
  struct KeptHeader {
    char magic[8];
    unsigned char id[20];
    std::uint32_t size;
    std::uint32_t crc;
  };
  static_assert(sizeof(KeptHeader) == 36);  // no padding: the header is written as it lies
  static constexpr char k_kept_magic[8] = {'P', 'C', 'K', 'T', 'R', 'E', 'E', '2'};
  static std::uint32_t kept_crc(const KeptHeader& h, std::string_view data) {
    std::uint32_t crc = libdeflate_crc32(0, h.id, sizeof h.id);
    crc = libdeflate_crc32(crc, &h.size, sizeof h.size);
    return libdeflate_crc32(crc, data.data(), data.size());
  }

  fs::path kept_path(const Oid& oid) const { return *kept_dir / (oid.hex() + ".v2.tree"); }

  // The kept copy of tree `oid`, mapped, when there is one and its header and checksum say it
  // is that tree's, whole (a copy that is not is removed). Only trees parse_tree accepted are
  // kept, so the copy's entries are read without its checks.
  bool read_kept(const Oid& oid, RawTree& t) const {
    if (!kept_dir) return false;
    const fs::path path = kept_path(oid);
    auto file = util::MappedFile::open(path, k_tree_kept_max + sizeof(KeptHeader));
    if (!file) return false;
    const std::string_view bytes = file->bytes();
    KeptHeader h{};
    if (bytes.size() >= sizeof h) std::memcpy(&h, bytes.data(), sizeof h);
    const std::string_view data = bytes.substr(std::min(bytes.size(), sizeof h));
    if (bytes.size() < sizeof h || std::memcmp(h.magic, k_kept_magic, sizeof h.magic) != 0 ||
        std::memcmp(h.id, oid.bytes.data(), sizeof h.id) != 0 || h.size != data.size() ||
        h.crc != kept_crc(h, data)) {
      std::error_code ec;
      fs::remove(path, ec);
      return false;
    }
    auto entries = reread_tree(data);
    if (!entries) return false;
    t.kept = std::move(*file);
    t.data = data;
    t.entries = std::move(*entries);
    return true;
  }

  // Keeps a copy of a large tree that parse_tree accepted, for the next process that reads it:
  // the directory's version a push changes is the one the next push starts from. Best effort:
  // a copy that cannot be written is not kept. `data` must be the bytes Git stored under `oid`
  // (read from the object database, where Git hashed what it wrote): the copy is trusted by its
  // name, and reread without parse_tree's checks.
  void keep(const Oid& oid, std::string_view data) const {
    if (!kept_dir || data.size() < k_kept_min_bytes || data.size() > k_tree_kept_max) return;
    std::error_code ec;
    const fs::path path = kept_path(oid);
    if (fs::exists(path, ec)) return;
    fs::create_directories(*kept_dir, ec);
    KeptHeader h{};
    std::memcpy(h.magic, k_kept_magic, sizeof h.magic);
    std::memcpy(h.id, oid.bytes.data(), sizeof h.id);
    h.size = static_cast<std::uint32_t>(data.size());
    h.crc = kept_crc(h, data);
    const std::string_view header(reinterpret_cast<const char*>(&h), sizeof h);
    if (util::write_file(path, {header, data}, 0644, util::Sync::no))
      util::keep_newest(*kept_dir, ".tree", k_kept_files, path);
  }

  util::Result<bool> diff_rec(const std::optional<Oid>& a, const std::optional<Oid>& b,
                              const std::string& prefix, const std::function<bool(const Change&)>& cb,
                              int depth) const {
    if (depth > 256) return util::fail("tree nested deeper than 256 levels at " + prefix);
    TreeP ta, tb;
    if (a) {
      auto t = tree(*a, prefix);
      if (!t) return util::fail(t.error());
      ta = std::move(*t);
    }
    if (b) {
      auto t = tree(*b, prefix, ta.get());
      if (!t) return util::fail(t.error());
      tb = std::move(*t);
    }
    std::size_t na = ta ? ta->entries.size() : 0;
    std::size_t nb = tb ? tb->entries.size() : 0;
    std::size_t i = 0, j = 0;
    // Entries `b` was found to share with `a` when it was read against it are not compared again.
    if (a && tb && tb->base == *a) {
      i = j = tb->unchanged.head;
      na -= tb->unchanged.tail;
      nb -= tb->unchanged.tail;
    }
    auto emit_side = [&](const RawEntry& e, bool is_before) -> util::Result<bool> {
      std::string path = join(prefix, e.name);
      Oid oid = from_raw(e.id);
      if (e.is_tree()) {
        return is_before ? diff_rec(oid, std::nullopt, path, cb, depth + 1)
                         : diff_rec(std::nullopt, oid, path, cb, depth + 1);
      }
      Change c;
      c.path = std::move(path);
      (is_before ? c.before : c.after) = TreeEntry{oid, e.kind};
      return cb(c);
    };
    while (i < na || j < nb) {
      const RawEntry* ea = i < na ? &ta->entries[i] : nullptr;
      const RawEntry* eb = j < nb ? &tb->entries[j] : nullptr;
      int c;
      if (!ea)
        c = 1;
      else if (!eb)
        c = -1;
      else
        c = compare_entries(ea->name, ea->is_tree(), eb->name, eb->is_tree());
      util::Result<bool> r = true;
      if (c < 0) {
        r = emit_side(*ea, true);
        ++i;
      } else if (c > 0) {
        r = emit_side(*eb, false);
        ++j;
      } else {
        ++i;
        ++j;
        if (std::memcmp(ea->id, eb->id, 20) == 0 && ea->mode == eb->mode) continue;
        std::string path = join(prefix, ea->name);
        if (ea->is_tree() && eb->is_tree()) {
          r = diff_rec(from_raw(ea->id), from_raw(eb->id), path, cb, depth + 1);
        } else if (!ea->is_tree() && !eb->is_tree()) {
          Change ch;
          ch.path = std::move(path);
          ch.before = TreeEntry{from_raw(ea->id), ea->kind};
          ch.after = TreeEntry{from_raw(eb->id), eb->kind};
          r = cb(ch);
        } else {
          r = emit_side(*ea, true);
          if (r && *r) r = emit_side(*eb, false);
        }
      }
      if (!r) return r;
      if (!*r) return false;
    }
    return true;
  }

  util::Result<bool> walk_rec(const Oid& oid, const std::string& prefix,
                              const std::function<bool(const std::string&, const TreeEntry&)>& cb,
                              int depth) const {
    if (depth > 256) return util::fail("tree nested deeper than 256 levels at " + prefix);
    auto t = tree(oid, prefix);
    if (!t) return util::fail(t.error());
    const TreeP held = std::move(*t);  // the cache may start again while its subtrees are read
    for (const RawEntry& e : held->entries) {
      std::string path = join(prefix, e.name);
      if (e.is_tree()) {
        auto r = walk_rec(from_raw(e.id), path, cb, depth + 1);
        if (!r || !*r) return r;
      } else if (!cb(path, TreeEntry{from_raw(e.id), e.kind})) {
        return false;
      }
    }
    return true;
  }
};

Repository::Repository(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Repository::~Repository() = default;
Repository::Repository(Repository&&) noexcept = default;
Repository& Repository::operator=(Repository&&) noexcept = default;

util::Result<Repository> Repository::open(const fs::path& path) {
  ensure_library();
  auto impl = std::make_unique<Impl>();
  if (git_repository_open_ext(&impl->repo, path.c_str(), 0, nullptr) != 0)
    return util::fail(libgit2_error("cannot open a Git repository at " + path.string()));
  impl->object_dirs.push_back(fs::path(git_repository_path(impl->repo)) / "objects");
  return Repository(std::move(impl));
}

util::Result<Repository> Repository::open_hook_environment() {
  ensure_library();
  // Git has already checked that the repository may be used; libgit2's ownership check would
  // only get in the way of servers that run hooks as another user (fcgiwrap, gitolite).
  git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
  const char* git_dir_env = std::getenv("GIT_DIR");
  fs::path git_dir = git_dir_env && *git_dir_env ? fs::path(git_dir_env) : fs::path(".");
  auto impl = std::make_unique<Impl>();
  if (git_repository_open_ext(&impl->repo, git_dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return util::fail(
        libgit2_error("cannot open the repository this hook runs in (GIT_DIR=" + git_dir.string() + ")"));
  OdbH odb;
  if (git_repository_odb(odb.out(), impl->repo) != 0)
    return util::fail(libgit2_error("cannot open the object database"));
  fs::path own_objects = fs::path(git_repository_path(impl->repo)) / "objects";
  std::vector<std::string> extra;
  if (const char* q = std::getenv("GIT_OBJECT_DIRECTORY"); q && *q) extra.emplace_back(q);
  if (const char* alt = std::getenv("GIT_ALTERNATE_OBJECT_DIRECTORIES"); alt && *alt)
    for (auto& a : split_alternates(alt)) extra.push_back(std::move(a));
  for (const auto& dir : extra) {
    std::error_code ec;
    if (fs::equivalent(dir, own_objects, ec)) continue;
    if (!fs::is_directory(dir, ec)) continue;
    if (git_odb_add_disk_alternate(odb.get(), dir.c_str()) != 0)
      return util::fail(libgit2_error("cannot add object directory " + dir));
    impl->object_dirs.push_back(dir);
  }
  // A push's new objects are in the quarantine: looked at first.
  impl->object_dirs.push_back(own_objects);
  return Repository(std::move(impl));
}

void Repository::keep_large_trees(const fs::path& dir) {
  m_impl->kept_dir = dir;
}

fs::path Repository::git_dir() const {
  return fs::path(git_repository_path(m_impl->repo));
}

util::Result<Oid> Repository::resolve_commit(std::string_view rev) const {
  ObjectH obj;
  std::string r(rev);
  if (git_revparse_single(obj.out(), m_impl->repo, r.c_str()) != 0)
    return util::fail(libgit2_error("unknown revision " + r));
  ObjectH commit;
  if (git_object_peel(commit.out(), obj.get(), GIT_OBJECT_COMMIT) != 0)
    return util::fail(libgit2_error("revision " + r + " is not a commit"));
  return from_git(git_object_id(commit.get()));
}

util::Result<std::optional<Oid>> Repository::peel_to_commit(const Oid& oid) const {
  ObjectH obj;
  git_oid g = to_git(oid);
  if (git_object_lookup(obj.out(), m_impl->repo, &g, GIT_OBJECT_ANY) != 0)
    return util::fail(libgit2_error("cannot read object " + oid.short_hex()));
  ObjectH commit;
  if (git_object_peel(commit.out(), obj.get(), GIT_OBJECT_COMMIT) != 0) return std::optional<Oid>{};
  return std::optional<Oid>{from_git(git_object_id(commit.get()))};
}

util::Result<Oid> Repository::commit_tree(const Oid& commit) const {
  CommitH c;
  git_oid g = to_git(commit);
  if (git_commit_lookup(c.out(), m_impl->repo, &g) != 0)
    return util::fail(libgit2_error("cannot read commit " + commit.short_hex()));
  return from_git(git_commit_tree_id(c.get()));
}

util::Result<std::optional<Oid>> Repository::head_commit() const {
  RefH head;
  int rc = git_repository_head(head.out(), m_impl->repo);
  if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND) return std::optional<Oid>{};
  if (rc != 0) return util::fail(libgit2_error("cannot read HEAD"));
  ObjectH commit;
  if (git_reference_peel(commit.out(), head.get(), GIT_OBJECT_COMMIT) != 0)
    return util::fail(libgit2_error("HEAD does not lead to a commit"));
  return std::optional<Oid>{from_git(git_object_id(commit.get()))};
}

std::optional<std::string> Repository::head_ref() const {
  RefH head;
  if (git_reference_lookup(head.out(), m_impl->repo, "HEAD") != 0) return std::nullopt;
  if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC) return std::nullopt;
  const char* target = git_reference_symbolic_target(head.get());
  return target ? std::optional<std::string>(target) : std::nullopt;
}

util::Result<std::optional<TreeEntry>> Repository::entry_at(const Oid& tree, std::string_view path) const {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  Oid at = tree;
  std::string where;
  if (path.empty()) return std::optional<TreeEntry>{TreeEntry{tree, EntryKind::tree}};
  while (true) {
    const std::size_t slash = path.find('/');
    const std::string_view name = path.substr(0, slash);
    if (name.empty()) return std::optional<TreeEntry>{};  // "a//b", as libgit2's entry_bypath
    auto t = m_impl->tree(at, where);
    if (!t) return util::fail(t.error());
    const RawEntry* e = find_entry((*t)->entries, name, slash != std::string_view::npos);
    if (!e) return std::optional<TreeEntry>{};
    if (slash == std::string_view::npos) return std::optional<TreeEntry>{TreeEntry{from_raw(e->id), e->kind}};
    at = from_raw(e->id);
    where = join(where, name);
    path.remove_prefix(slash + 1);
  }
}

util::Result<std::uint64_t> Repository::object_size(const Oid& oid) const {
  std::size_t len = 0;
  git_object_t type;
  git_oid g = to_git(oid);
  if (git_odb_read_header(&len, &type, m_impl->odb(), &g) != 0)
    return util::fail(libgit2_error("cannot read object " + oid.short_hex()));
  return static_cast<std::uint64_t>(len);
}

util::Result<std::string> Repository::read_blob(const Oid& oid, std::uint64_t max_bytes) const {
  auto size = object_size(oid);
  if (!size) return util::fail(size.error());
  if (*size > max_bytes)
    return util::fail(
        util::Error{"file is " + std::to_string(*size) + " bytes; the limit is " + std::to_string(max_bytes),
                    "file.too-large",
                    {},
                    0,
                    0});
  Handle<git_odb_object, git_odb_object_free> obj;
  git_oid g = to_git(oid);
  if (git_odb_read(obj.out(), m_impl->odb(), &g) != 0)
    return util::fail(libgit2_error("cannot read blob " + oid.short_hex()));
  if (git_odb_object_type(obj.get()) != GIT_OBJECT_BLOB)
    return util::fail("object " + oid.short_hex() + " is not a blob");
  const auto* data = static_cast<const char*>(git_odb_object_data(obj.get()));
  return std::string(data, git_odb_object_size(obj.get()));
}

util::Result<void> Repository::diff(std::optional<Oid> before, std::optional<Oid> after,
                                    std::string_view prefix,
                                    const std::function<bool(const Change&)>& on_change) const {
  if (before && after && *before == *after) return {};
  auto r = m_impl->diff_rec(before, after, std::string(prefix), on_change, 0);
  if (!r) return util::fail(r.error());
  return {};
}

util::Result<std::vector<std::pair<std::string, TreeEntry>>> Repository::entries(const Oid& oid) const {
  auto t = m_impl->tree(oid, "");
  if (!t) return util::fail(t.error());
  std::vector<std::pair<std::string, TreeEntry>> out;
  out.reserve((*t)->entries.size());
  for (const RawEntry& e : (*t)->entries) out.emplace_back(e.name, TreeEntry{from_raw(e.id), e.kind});
  return out;
}

util::Result<void> Repository::walk(
    const Oid& tree, std::string_view prefix,
    const std::function<bool(const std::string&, const TreeEntry&)>& on_entry) const {
  auto r = m_impl->walk_rec(tree, std::string(prefix), on_entry, 0);
  if (!r) return util::fail(r.error());
  return {};
}

util::Result<bool> Repository::is_ancestor(const Oid& ancestor, const Oid& descendant) const {
  if (ancestor == descendant) return true;
  git_oid a = to_git(ancestor), d = to_git(descendant);
  int rc = git_graph_descendant_of(m_impl->repo, &d, &a);
  if (rc < 0)
    return util::fail(libgit2_error("cannot compare history of " + ancestor.short_hex() + " and " +
                                    descendant.short_hex()));
  return rc == 1;
}

util::Result<Repository::RawObject> Repository::read_raw(const Oid& oid, std::uint64_t max_bytes) const {
  auto size = object_size(oid);
  if (!size) return util::fail(size.error());
  if (*size > max_bytes)
    return util::fail("object " + oid.short_hex() + " is larger than " + std::to_string(max_bytes) +
                      " bytes");
  Handle<git_odb_object, git_odb_object_free> obj;
  git_oid g = to_git(oid);
  if (git_odb_read(obj.out(), m_impl->odb(), &g) != 0)
    return util::fail(libgit2_error("cannot read object " + oid.short_hex()));
  RawObject r;
  r.type = git_object_type2string(git_odb_object_type(obj.get()));
  r.data.assign(static_cast<const char*>(git_odb_object_data(obj.get())), git_odb_object_size(obj.get()));
  return r;
}

util::Result<Repository::CommitInfo> Repository::commit_info(const Oid& commit) const {
  CommitH c;
  git_oid g = to_git(commit);
  if (git_commit_lookup(c.out(), m_impl->repo, &g) != 0)
    return util::fail(libgit2_error("cannot read commit " + commit.short_hex()));
  CommitInfo info;
  info.id = commit;
  for (unsigned i = 0; i < git_commit_parentcount(c.get()); ++i)
    info.parents.push_back(from_git(git_commit_parent_id(c.get(), i)));
  if (const git_signature* a = git_commit_author(c.get())) {
    info.author_name = a->name ? a->name : "";
    info.author_email = a->email ? a->email : "";
  }
  info.committer_time = static_cast<std::int64_t>(git_commit_time(c.get()));
  return info;
}

util::Result<std::vector<Oid>> Repository::new_commits(const Oid& tip, const std::vector<Oid>& exclude,
                                                       std::string_view exclude_glob, std::size_t limit,
                                                       bool* truncated) const {
  Handle<git_revwalk, git_revwalk_free> walk;
  if (git_revwalk_new(walk.out(), m_impl->repo) != 0) return util::fail(libgit2_error("cannot walk history"));
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  git_oid g = to_git(tip);
  if (git_revwalk_push(walk.get(), &g) != 0)
    return util::fail(libgit2_error("cannot walk from " + tip.short_hex()));
  for (const auto& e : exclude) {
    git_oid x = to_git(e);
    if (git_revwalk_hide(walk.get(), &x) != 0)
      return util::fail(libgit2_error("cannot exclude " + e.short_hex()));
  }
  if (!exclude_glob.empty()) {
    std::string glob(exclude_glob);
    // A glob matching no ref, or refs to non-commits, is not an error.
    (void)git_revwalk_hide_glob(walk.get(), glob.c_str());
    git_error_clear();
  }
  std::vector<Oid> out;
  git_oid next;
  if (truncated) *truncated = false;
  while (git_revwalk_next(&next, walk.get()) == 0) {
    if (out.size() >= limit) {
      if (truncated) *truncated = true;
      break;
    }
    out.push_back(from_git(&next));
  }
  return out;
}

util::Result<std::vector<Oid>> Repository::first_parent_history(const Oid& tip, std::size_t limit) const {
  std::vector<Oid> out;
  Oid current = tip;
  while (out.size() < limit) {
    out.push_back(current);
    auto info = commit_info(current);
    if (!info) return util::fail(info.error());
    if (info->parents.empty()) break;
    current = info->parents.front();
  }
  return out;
}

util::Result<std::vector<std::pair<std::string, Oid>>> Repository::refs_matching(
    std::string_view glob) const {
  std::vector<std::pair<std::string, Oid>> out;
  std::string g(glob);
  struct Payload {
    std::vector<std::pair<std::string, Oid>>* out;
    git_repository* repo;
  } payload{&out, m_impl->repo};
  int rc = git_reference_foreach_glob(
      m_impl->repo, g.c_str(),
      [](const char* name, void* p) -> int {
        auto* pl = static_cast<Payload*>(p);
        git_oid id;
        if (git_reference_name_to_id(&id, pl->repo, name) == 0) pl->out->emplace_back(name, from_git(&id));
        return 0;
      },
      &payload);
  if (rc != 0 && rc != GIT_ENOTFOUND) return util::fail(libgit2_error("cannot list refs " + g));
  return out;
}

util::Result<std::optional<std::string>> Repository::config_string(std::string_view key) const {
  ConfigH cfg;
  if (git_repository_config_snapshot(cfg.out(), m_impl->repo) != 0)
    return util::fail(libgit2_error("cannot read config"));
  const char* value = nullptr;
  std::string k(key);
  int rc = git_config_get_string(&value, cfg.get(), k.c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<std::string>{};
  if (rc != 0) return util::fail(libgit2_error("cannot read config " + k));
  return std::optional<std::string>{value};
}

util::Result<void> Repository::set_config_bool(std::string_view key, bool value) {
  ConfigH cfg;
  if (git_repository_config(cfg.out(), m_impl->repo) != 0)
    return util::fail(libgit2_error("cannot open config"));
  std::string k(key);
  if (git_config_set_bool(cfg.get(), k.c_str(), value ? 1 : 0) != 0)
    return util::fail(libgit2_error("cannot set " + k));
  return {};
}

}  // namespace portcullis::git
