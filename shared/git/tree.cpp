#include "shared/git/tree.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace portcullis::git {

namespace {

// The modes git writes (and 0100664, which gits before 2005 wrote for group-writable files),
// normalised; 0 for any other. Git and libgit2 read other modes differently (git by the S_IFMT
// bits: 041000 is a directory to git, a file to libgit2; 120755 a symlink to git, an executable
// to libgit2; 0 or 644 a submodule to git), so a tree that carries one could hide a directory
// from the gate that git serves: refused (git fsck: badFilemode).
std::uint32_t normalise(std::uint32_t mode) {
  switch (mode) {
    case 040000:
    case 0100644:
    case 0100755:
    case 0120000:
    case 0160000: return mode;
    case 0100664: return 0100644;
    default: return 0;
  }
}

EntryKind kind_of(std::uint32_t mode) {
  switch (mode) {
    case 040000: return EntryKind::tree;
    case 0100755: return EntryKind::executable;
    case 0120000: return EntryKind::symlink;
    case 0160000: return EntryKind::submodule;
    default: return EntryKind::blob;
  }
}

std::string path_of(std::string_view where, std::string_view name) {
  std::string out(where);
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

bool is_dot_git(std::string_view name) {
  return name.size() == 4 && name[0] == '.' && (name[1] | 0x20) == 'g' && (name[2] | 0x20) == 'i' &&
         (name[3] | 0x20) == 't';
}

util::Error malformed(std::string_view where, std::string_view what) {
  return util::Error{"tree " + std::string(where.empty() ? "/" : where) + " is malformed (" + std::string(what) +
                         "); Git never writes such a tree: rewrite the commit with git",
                     "git", {}, 0, 0};
}

}  // namespace

int compare_entries(std::string_view a, bool a_tree, std::string_view b, bool b_tree) {
  const std::size_t n = std::min(a.size(), b.size());
  if (n > 0)
    if (int c = std::memcmp(a.data(), b.data(), n); c != 0) return c;
  const unsigned char ca = a.size() > n ? static_cast<unsigned char>(a[n]) : (a_tree ? '/' : 0);
  const unsigned char cb = b.size() > n ? static_cast<unsigned char>(b[n]) : (b_tree ? '/' : 0);
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}

namespace {

// How much of a tree's bytes parse_tree checks: everything, or only the structure of bytes
// already known to be a tree it accepted (a verified copy of one).
enum class Checks { all, structure };

// The entry at `p` (before `end`), moving `p` past it; with Checks::all its mode and name are
// checked too (not its place among the others).
util::Result<RawEntry> read_entry(const char*& p, const char* end, std::string_view where, Checks checks) {
  RawEntry e;
  std::uint32_t mode = 0;
  const char* const mode_begin = p;
  // The modes of nearly every entry, compared whole.
  if (end - p > 7 && std::memcmp(p, "100644 ", 7) == 0) {
    mode = 0100644;
    p += 6;
  } else if (end - p > 6 && std::memcmp(p, "40000 ", 6) == 0) {
    mode = 040000;
    p += 5;
  }
  for (; p < end && *p >= '0' && *p <= '7'; ++p) {
    if (p - mode_begin >= 10) return util::fail(malformed(where, "a mode of more than 10 digits"));
    mode = mode * 8 + static_cast<std::uint32_t>(*p - '0');
  }
  if (p == mode_begin || p == end || *p != ' ')
    return util::fail(malformed(where, "an entry's mode is not octal digits followed by a space"));
  ++p;
  const auto* nul = static_cast<const char*>(std::memchr(p, '\0', static_cast<std::size_t>(end - p)));
  if (!nul) return util::fail(malformed(where, "an entry's name does not end"));
  e.name = std::string_view(p, static_cast<std::size_t>(nul - p));
  p = nul + 1;
  if (end - p < 20) return util::fail(malformed(where, "an entry's id is cut short"));
  e.id = reinterpret_cast<const unsigned char*>(p);
  p += 20;
  if (checks == Checks::all) {
    if (e.name.empty()) return util::fail(malformed(where, "an entry without a name"));
    if (e.name == "." || e.name == ".." || is_dot_git(e.name) || e.name.find('/') != std::string_view::npos)
      return util::fail(malformed(where, "an entry named \"" + std::string(e.name) +
                                             "\", which a checkout refuses (git fsck: hasDot, hasDotdot, "
                                             "hasDotgit or fullPathname)"));
  }
  e.mode = normalise(mode);
  if (e.mode == 0) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%o", mode);
    return util::fail(malformed(where, "the entry \"" + std::string(e.name) + "\" has mode " + octal +
                                           ", which git does not write (git fsck: badFilemode)"));
  }
  e.kind = kind_of(e.mode);
  return e;
}

util::Error listed_twice(std::string_view where, std::string_view name) {
  return util::Error{"a tree lists " + path_of(where, name) +
                         " twice or out of order (git fsck: duplicateEntries or treeNotSorted); "
                         "Git never writes such a tree: rewrite the commit with git",
                     "git", {}, 0, 0};
}

// Whether `e` may follow `before` (the entries so far, in order): Git's order, each name once.
// A tree named N also may not follow a file named N, which sorts before it with other names
// between ("N.yaml" sorts between file N and tree N).
bool may_follow(const std::vector<RawEntry>& before, const RawEntry& e) {
  if (before.empty()) return true;
  if (compare_entries(before.back().name, before.back().is_tree(), e.name, e.is_tree()) >= 0) return false;
  return !(e.is_tree() && before.back().name.starts_with(e.name) && find_entry(before, e.name, false) != nullptr);
}

util::Result<std::vector<RawEntry>> parse(std::string_view data, std::string_view where, Checks checks) {
  std::vector<RawEntry> out;
  out.reserve(data.size() / 40);  // a 20-byte id, a mode and a short name
  const char* p = data.data();
  const char* const end = p + data.size();
  while (p < end) {
    auto e = read_entry(p, end, where, checks);
    if (!e) return util::fail(e.error());
    if (checks == Checks::all && !may_follow(out, *e)) return util::fail(listed_twice(where, e->name));
    out.push_back(*e);
  }
  return out;
}

// The length of the longest common prefix of `a` and `b`, compared a block at a time.
std::size_t common_prefix(std::string_view a, std::string_view b) {
  constexpr std::size_t k_block = 256;
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i + k_block <= n && std::memcmp(a.data() + i, b.data() + i, k_block) == 0) i += k_block;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// The length of the longest common suffix of `a` and `b`, at most `limit`.
std::size_t common_suffix(std::string_view a, std::string_view b, std::size_t limit) {
  constexpr std::size_t k_block = 256;
  const char* ea = a.data() + a.size();
  const char* eb = b.data() + b.size();
  std::size_t i = 0;
  while (i + k_block <= limit && std::memcmp(ea - i - k_block, eb - i - k_block, k_block) == 0) i += k_block;
  while (i < limit && ea[-1 - static_cast<std::ptrdiff_t>(i)] == eb[-1 - static_cast<std::ptrdiff_t>(i)]) ++i;
  return i;
}

// `e`, an entry of a tree whose bytes begin at `from`, moved to the same bytes `shift` further
// on in the tree whose bytes begin at `to`.
RawEntry moved(const RawEntry& e, const char* from, const char* to, std::ptrdiff_t shift) {
  RawEntry out = e;
  out.name = std::string_view(to + (e.name.data() - from) + shift, e.name.size());
  out.id = reinterpret_cast<const unsigned char*>(to + (reinterpret_cast<const char*>(e.id) - from) + shift);
  return out;
}

}  // namespace

util::Result<std::vector<RawEntry>> parse_tree(std::string_view data, std::string_view where) {
  return parse(data, where, Checks::all);
}

util::Result<std::vector<RawEntry>> reread_tree(std::string_view data) {
  return parse(data, "", Checks::structure);
}

util::Result<std::vector<RawEntry>> parse_tree_after(std::string_view base_data, const std::vector<RawEntry>& base,
                                                     std::string_view data, std::string_view where,
                                                     Unchanged* unchanged) {
  auto whole = [&] {
    if (unchanged) *unchanged = {};
    return parse_tree(data, where);
  };
  const std::size_t n = base.size();
  const char* const a = base_data.data();
  const char* const b = data.data();
  // Offsets in the base's bytes: entry k ends where k + 1 starts.
  auto end_of = [&](std::size_t k) {
    return static_cast<std::size_t>(reinterpret_cast<const char*>(base[k].id) + 20 - a);
  };
  auto start_of = [&](std::size_t k) { return k == 0 ? std::size_t{0} : end_of(k - 1); };
  if (n == 0 || data.empty() || end_of(n - 1) != base_data.size()) return whole();

  const std::size_t prefix = common_prefix(base_data, data);
  const std::size_t suffix = common_suffix(base_data, data, std::min(base_data.size(), data.size()) - prefix);
  const auto shift = static_cast<std::ptrdiff_t>(data.size()) - static_cast<std::ptrdiff_t>(base_data.size());
  // The base's entries that lie wholly in the common prefix are the new tree's first entries,
  // at the same offsets (entries are read one after another from the start).
  // (Offsets grow with the index: binary searches.)
  auto first_index = [&](std::size_t lo, auto&& is_past) {
    for (std::size_t hi = n; lo < hi;) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (is_past(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const std::size_t head = first_index(0, [&](std::size_t k) { return end_of(k) > prefix; });
  // The first of the base's entries that lie wholly in the common suffix.
  const std::size_t tail_from =
      first_index(head, [&](std::size_t k) { return start_of(k) >= base_data.size() - suffix; });
  std::vector<RawEntry> out;
  out.reserve(n + 16);
  for (std::size_t k = 0; k < head; ++k) out.push_back(moved(base[k], a, b, 0));
  const std::size_t middle_from = out.size();
  // Read what differs, entry by entry with every check, until the reading lands where one of
  // the base's entries in the common suffix starts: from there on the bytes, and so the
  // entries, are the base's.
  const char* p = b + start_of(head);
  const char* const end = b + data.size();
  std::size_t k = tail_from;
  while (true) {
    const std::ptrdiff_t in_base = (p - b) - shift;
    while (k < n && static_cast<std::ptrdiff_t>(start_of(k)) < in_base) ++k;
    if (k < n && static_cast<std::ptrdiff_t>(start_of(k)) == in_base) break;
    if (p == end) {
      k = n;
      break;
    }
    auto e = read_entry(p, end, where, Checks::all);
    if (!e || !may_follow(out, *e)) return whole();
    out.push_back(*e);
  }
  if (k < n) {
    // The seams: the last entry read before the base's first, and no file read here named as
    // a tree of the base's that follows (the base's entries were checked among themselves).
    if (!out.empty() && compare_entries(out.back().name, out.back().is_tree(), base[k].name, base[k].is_tree()) >= 0)
      return whole();
    for (std::size_t i = middle_from; i < out.size(); ++i) {
      if (out[i].is_tree()) continue;
      auto it = std::lower_bound(base.begin() + static_cast<std::ptrdiff_t>(k), base.end(), out[i].name,
                                 [](const RawEntry& e, std::string_view name) {
                                   return compare_entries(e.name, e.is_tree(), name, true) < 0;
                                 });
      if (it != base.end() && it->is_tree() && it->name == out[i].name) return whole();
    }
    for (std::size_t j = k; j < n; ++j) out.push_back(moved(base[j], a, b, shift));
  }
  if (unchanged) *unchanged = Unchanged{head, n - k};
  return out;
}

const RawEntry* find_entry(const std::vector<RawEntry>& entries, std::string_view name, bool want_tree) {
  auto find = [&](bool as_tree) -> const RawEntry* {
    auto it = std::lower_bound(entries.begin(), entries.end(), name, [&](const RawEntry& e, std::string_view n) {
      return compare_entries(e.name, e.is_tree(), n, as_tree) < 0;
    });
    return it != entries.end() && it->name == name && it->is_tree() == as_tree ? &*it : nullptr;
  };
  if (want_tree) return find(true);
  if (const RawEntry* e = find(false)) return e;
  return find(true);
}

}  // namespace portcullis::git
