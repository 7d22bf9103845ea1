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

util::Result<std::vector<RawEntry>> parse_tree(std::string_view data, std::string_view where) {
  std::vector<RawEntry> out;
  out.reserve(data.size() / 40);  // a 20-byte id, a mode and a short name
  const char* p = data.data();
  const char* const end = p + data.size();
  while (p < end) {
    RawEntry e;
    std::uint32_t mode = 0;
    const char* const mode_begin = p;
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
    if (e.name.empty()) return util::fail(malformed(where, "an entry without a name"));
    if (e.name == "." || e.name == ".." || is_dot_git(e.name) || e.name.find('/') != std::string_view::npos)
      return util::fail(malformed(where, "an entry named \"" + std::string(e.name) +
                                             "\", which a checkout refuses (git fsck: hasDot, hasDotdot, "
                                             "hasDotgit or fullPathname)"));
    e.mode = normalise(mode);
    if (e.mode == 0) {
      char octal[16];
      std::snprintf(octal, sizeof octal, "%o", mode);
      return util::fail(malformed(where, "the entry \"" + std::string(e.name) + "\" has mode " + octal +
                                             ", which git does not write (git fsck: badFilemode)"));
    }
    e.kind = kind_of(e.mode);
    // Git's order, each name once: a tree named N also may not follow a file named N, which sorts
    // before it with other names between ("N.yaml" sorts between file N and tree N).
    const bool after_file_of_its_name = e.is_tree() && !out.empty() && out.back().name.starts_with(e.name) &&
                                        find_entry(out, e.name, false) != nullptr;
    if ((!out.empty() && compare_entries(out.back().name, out.back().is_tree(), e.name, e.is_tree()) >= 0) ||
        after_file_of_its_name)
      return util::fail(util::Error{"a tree lists " + path_of(where, e.name) +
                                        " twice or out of order (git fsck: duplicateEntries or treeNotSorted); "
                                        "Git never writes such a tree: rewrite the commit with git",
                                    "git", {}, 0, 0});
    out.push_back(e);
  }
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
