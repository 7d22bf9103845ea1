// shared/git/tree: Git's tree format read byte by byte, with the hostile trees a pusher can write
// (`git hash-object -t tree --literally` stores any bytes as a tree; receive-pack without
// fsckObjects takes them). What git's own reader accepts must read as libgit2 read it; the rest
// is refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <vector>

#include "shared/git/tree.hpp"

using namespace portcullis;
using git::EntryKind;
using git::RawEntry;

namespace {

const std::string k_id(20, '\x11');

std::string entry(const std::string& mode, const std::string& name, const std::string& id = k_id) {
  return mode + " " + name + std::string(1, '\0') + id;
}

// "<mode> <kind> <name>" for each entry, or "error: <message>".
std::vector<std::string> read(const std::string& bytes) {
  auto r = git::parse_tree(bytes, "environments/prod");
  if (!r) return {"error: " + r.error().message};
  std::vector<std::string> out;
  for (const RawEntry& e : *r) {
    const char* kind = e.kind == EntryKind::tree         ? "tree"
                       : e.kind == EntryKind::executable ? "exec"
                       : e.kind == EntryKind::symlink    ? "link"
                       : e.kind == EntryKind::submodule  ? "commit"
                                                         : "blob";
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", e.mode);
    out.push_back(std::string(mode) + " " + kind + " " + std::string(e.name));
    CHECK(std::string(reinterpret_cast<const char*>(e.id), 20) == k_id);
  }
  return out;
}

bool refused(const std::string& bytes, const std::string& words) {
  auto r = read(bytes);
  INFO((r.empty() ? std::string() : r[0]));
  return r.size() == 1 && r[0].starts_with("error: ") && r[0].find(words) != std::string::npos;
}

}  // namespace

TEST_CASE("parse_tree reads the trees git writes, with libgit2's normalised modes", "[git_tree]") {
  struct Case {
    const char* what;
    std::string bytes;
    std::vector<std::string> entries;
  };
  const Case cases[] = {
      {"an empty tree", "", {}},
      {"every kind",
       entry("100644", "a.yaml") + entry("100755", "b.sh") + entry("120000", "c") + entry("40000", "d") +
           entry("160000", "e"),
       {"100644 blob a.yaml", "100755 exec b.sh", "120000 link c", "40000 tree d", "160000 commit e"}},
      // Old gits wrote group-writable blobs and zero-padded modes; libgit2 and git read them.
      {"100664 and a zero-padded mode", entry("100664", "a") + entry("040000", "b"),
       {"100644 blob a", "40000 tree b"}},
      {"a tree sorts as if its name ended in '/'", entry("100644", "a.yaml") + entry("40000", "a") +
                                                        entry("100644", "a0"),
       {"100644 blob a.yaml", "40000 tree a", "100644 blob a0"}},
      {"a name may start with a space", entry("100644 ", "a"), {"100644 blob  a"}},
      {"order is bytewise: \"a b\" before \"\\x1fc\" is out of order",
       entry("100644", "a b") + entry("100644", "\x1f" "c") + entry("100644", "\xc3\xa9"),
       {"error: twice or out of order"}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto got = read(c.bytes);
    if (c.entries.size() == 1 && c.entries[0].starts_with("error: "))
      CHECK(refused(c.bytes, c.entries[0].substr(7)));
    else
      CHECK(got == c.entries);
  }
  CHECK(read(entry("100644", "\x1f" "c") + entry("100644", "a b") + entry("100644", "\xc3\xa9")) ==
        std::vector<std::string>{"100644 blob \x1f" "c", "100644 blob a b", "100644 blob \xc3\xa9"});
}

TEST_CASE("parse_tree refuses what git refuses, names a checkout refuses and misordered trees", "[git_tree]") {
  struct Case {
    const char* what;
    std::string bytes;
    const char* words;
  };
  const Case cases[] = {
      {"no mode", entry("", "a"), "not octal digits"},
      {"a mode with a leading space (libgit2 read it, git does not)", " 100644 a" + std::string(1, '\0') + k_id,
       "not octal digits"},
      {"a signed mode", entry("+100644", "a"), "not octal digits"},
      {"an 8 in the mode", entry("100648", "a"), "not octal digits"},
      {"a mode of 11 digits", entry("00000100644", "a"), "more than 10 digits"},
      {"a tab for the space", "100644\ta" + std::string(1, '\0') + k_id, "not octal digits"},
      {"a mode at the end", "100644", "not octal digits"},
      {"a name that does not end", "100644 a", "does not end"},
      {"an id cut short", entry("100644", "a", std::string(19, '\x11')), "cut short"},
      {"an id cut short after a good entry", entry("100644", "a") + entry("100644", "b", "x"), "cut short"},
      {"an empty name", entry("100644", ""), "without a name"},
      {"a name with a slash", entry("100644", "prod/app.yaml"), "fullPathname"},
      {"a slash-only name", entry("40000", "/"), "fullPathname"},
      {".", entry("40000", "."), "hasDot"},
      {"..", entry("40000", ".."), "hasDot"},
      {".git", entry("40000", ".git"), "hasDotgit"},
      {".GiT", entry("100644", ".GiT"), "hasDotgit"},
      {"a name twice", entry("100644", "a.yaml") + entry("100644", "a.yaml"), "a.yaml twice or out of order"},
      {"a name twice, other ids", entry("100644", "a.yaml") + entry("100644", "a.yaml", std::string(20, 'x')),
       "environments/prod/a.yaml twice"},
      {"a tree twice", entry("40000", "d") + entry("40000", "d"), "twice or out of order"},
      {"out of order", entry("100644", "b") + entry("100644", "a"), "environments/prod/a twice or out of order"},
      {"a tree before the blob its name sorts after", entry("40000", "a") + entry("100644", "a.yaml"),
       "twice or out of order"},
      {"a file and a tree of one name (git fsck: duplicateEntries)", entry("100644", "a") + entry("40000", "a"),
       "a twice or out of order"},
      {"a file and a tree of one name, other names between",
       entry("100644", "x") + entry("100644", "x-c") + entry("100644", "x.b") + entry("40000", "x"),
       "x twice or out of order"},
      // Modes git does not write, which git and libgit2 read differently (git by the S_IFMT bits).
      {"41000: a directory to git, a file to libgit2", entry("41000", "docs"), "badFilemode"},
      {"240000", entry("240000", "docs"), "badFilemode"},
      {"1040000", entry("1040000", "docs"), "badFilemode"},
      {"120755: a symlink to git, an executable to libgit2", entry("120755", "a"), "badFilemode"},
      {"0: a submodule to git", entry("0", "a"), "has mode 0"},
      {"644", entry("644", "a"), "badFilemode"},
      {"140000", entry("140000", "a"), "badFilemode"},
      {"160755", entry("160755", "a"), "badFilemode"},
      {"100700", entry("100700", "a"), "badFilemode"},
      {"170000", entry("170000", "a"), "badFilemode"},
      {"garbage after the last entry", entry("100644", "a") + "x", "not octal digits"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(refused(c.bytes, c.words));
  }
  // Messages name the tree, the root as "/".
  auto root = git::parse_tree(entry("40000", ".git"), "");
  REQUIRE_FALSE(root);
  CHECK(root.error().message.starts_with("tree / is malformed"));
}

TEST_CASE("parse_tree never reads past its bytes, whatever they are", "[git_tree]") {
  // Every prefix of a good tree, and every single-byte change of it: refused or read, no crash
  // (the unit suite runs under ASan and UBSan too).
  const std::string good = entry("100644", "a.yaml") + entry("40000", "apps") + entry("100755", "run.sh");
  std::size_t read_whole = 0;
  for (std::size_t n = 0; n <= good.size(); ++n) {
    std::string cut = good.substr(0, n);
    if (git::parse_tree(cut, "x")) ++read_whole;
  }
  CHECK(read_whole == 4);  // empty, and after each of the three entries
  for (std::size_t i = 0; i < good.size(); ++i)
    for (int b : std::initializer_list<int>{0, ' ', '/', '0', '8', 0xff}) {
      std::string bent = good;
      bent[i] = static_cast<char>(b);
      (void)git::parse_tree(bent, "x");
    }
}

TEST_CASE("find_entry finds a name by binary search, a tree where one is wanted", "[git_tree]") {
  const std::string bytes = entry("100644", "a") + entry("100644", "a.yaml") + entry("40000", "apps-x") +
                            entry("40000", "b") + entry("160000", "sub") + entry("100644", "z");
  auto entries = git::parse_tree(bytes, "");
  REQUIRE(entries);
  struct Case {
    const char* name;
    bool want_tree;
    const char* found;  // "<kind> <name>" or nullptr
  };
  const Case cases[] = {
      {"a", false, "blob"},      {"a", true, nullptr},      {"a.yaml", false, "blob"}, {"a.yaml", true, nullptr},
      {"b", false, "tree"},      {"b", true, "tree"},       {"apps-x", true, "tree"},  {"sub", false, "commit"},
      {"z", false, "blob"},      {"", false, nullptr},      {"apps", false, nullptr},  {"apps-xy", false, nullptr},
      {"zz", false, nullptr},    {"0", false, nullptr},
  };
  for (const auto& c : cases) {
    INFO(c.name << (c.want_tree ? " (tree)" : ""));
    const RawEntry* e = git::find_entry(*entries, c.name, c.want_tree);
    if (!c.found) {
      CHECK(e == nullptr);
      continue;
    }
    REQUIRE(e);
    CHECK(e->name == c.name);
    const char* kind = e->kind == EntryKind::tree ? "tree" : e->kind == EntryKind::submodule ? "commit" : "blob";
    CHECK(std::string(kind) == c.found);
  }
}

namespace {

// A directory as a push finds it: `n` manifests named cm-0000.yaml..., each with its own id,
// and two trees among them.
std::string big_tree(int n) {
  std::vector<std::pair<std::string, std::string>> items;  // sort key, entry bytes
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "cm-%04d.yaml", i);
    std::string id(20, '\0');
    for (int b = 0; b < 20; ++b) id[b] = static_cast<char>((i * 31 + b * 7) & 0xff);  // NULs and spaces too
    items.emplace_back(name, entry("100644", name, id));
  }
  items.emplace_back("base/", entry("40000", "base"));
  items.emplace_back("x/", entry("40000", "x"));
  std::sort(items.begin(), items.end());
  std::string out;
  for (const auto& [key, bytes] : items) out += bytes;
  return out;
}

// "<mode> <name> <id>" of each entry, or "error: <message>".
std::vector<std::string> listing(const util::Result<std::vector<RawEntry>>& r, const std::string& bytes) {
  if (!r) return {"error: " + r.error().message};
  std::vector<std::string> out;
  for (const RawEntry& e : *r) {
    // Every entry points into the bytes it was read from.
    CHECK(e.name.data() >= bytes.data());
    CHECK(reinterpret_cast<const char*>(e.id) + 20 <= bytes.data() + bytes.size());
    out.push_back(std::to_string(e.mode) + " " + std::string(e.name) + " " +
                  std::string(reinterpret_cast<const char*>(e.id), 20));
  }
  return out;
}

// parse_tree_after(base, bytes) is parse_tree(bytes), entry for entry and refusal for refusal.
void same_as_whole(const std::string& base, const std::string& bytes) {
  auto base_entries = git::parse_tree(base, "env");
  REQUIRE(base_entries);
  git::Unchanged unchanged;
  auto after = git::parse_tree_after(base, *base_entries, bytes, "env", &unchanged);
  auto whole = git::parse_tree(bytes, "env");
  CHECK(listing(after, bytes) == listing(whole, bytes));
  if (after) CHECK(unchanged.head + unchanged.tail <= std::min(after->size(), base_entries->size()));
}

}  // namespace

TEST_CASE("parse_tree_after reads the next version of a directory as parse_tree reads it", "[git_tree]") {
  const std::string base = big_tree(400);
  const std::size_t mid = base.find("cm-0200.yaml") - 7;  // the entry's first byte
  const std::size_t next = base.find("cm-0201.yaml") - 7;
  const std::string other_id(20, '\x7f');
  struct Case {
    const char* what;
    std::string bytes;
  };
  const Case cases[] = {
      {"unchanged", base},
      {"one id changed", base.substr(0, next - 20) + other_id + base.substr(next)},
      {"the first entry's id changed", base.substr(0, base.find('\0') + 1) + other_id +
                                          base.substr(base.find('\0') + 21)},
      {"the last entry's id changed", base.substr(0, base.size() - 20) + other_id},
      {"an entry added", base.substr(0, next) + entry("100644", "cm-0200a.yaml") + base.substr(next)},
      {"an entry added first", entry("100644", "a.yaml") + base},
      {"an entry added last", base + entry("100644", "zz.yaml")},
      {"an entry removed", base.substr(0, mid) + base.substr(next)},
      {"every entry removed", ""},
      {"a mode changed", base.substr(0, mid) + "100755" + base.substr(mid + 6)},
      {"a name changed, order kept", base.substr(0, mid) + entry("100644", "cm-0200-b.yaml", other_id) +
                                         base.substr(next)},
      // What a pusher may write into the part that differs: each refused, as parse_tree refuses it.
      {"a name twice at the seam", base.substr(0, next) + base.substr(mid, next - mid) + base.substr(next)},
      {"a name out of order", base.substr(0, next) + entry("100644", "cm-0100.yaml") + base.substr(next)},
      {"a name out of order last", base + entry("100644", "a.yaml")},
      {"a file named as a tree that follows (x.yaml between)",
       base.substr(0, base.find("40000 x")) + entry("100644", "x") + entry("100644", "x.yaml") +
           base.substr(base.find("40000 x"))},
      {"a tree named as a file before it", base + entry("100644", "zz") + entry("100644", "zz.yaml") +
                                               entry("40000", "zz")},
      {"a tree named as a file of the base's", base.substr(0, mid) + entry("40000", "cm-0199.yaml") +
                                                   base.substr(mid)},
      {".git in the middle", base.substr(0, next) + entry("40000", ".git") + base.substr(next)},
      {"a name with a slash", base.substr(0, next) + entry("100644", "cm-0200/x") + base.substr(next)},
      {"a mode git does not write", base.substr(0, mid) + "100600" + base.substr(mid + 6)},
      {"cut inside an id", base.substr(0, base.size() - 5)},
      {"cut inside a name", base.substr(0, mid + 10)},
      {"garbage after the last entry", base + "x"},
      {"a byte inserted inside a name", base.substr(0, mid + 9) + "\x01" + base.substr(mid + 9)},
      {"a NUL inserted inside a name", base.substr(0, mid + 9) + std::string(1, '\0') + base.substr(mid + 9)},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    same_as_whole(base, c.bytes);
  }
  // A one-entry change reads one entry: the rest is the base's.
  const std::string changed = base.substr(0, next - 20) + other_id + base.substr(next);
  auto base_entries = git::parse_tree(base, "env");
  REQUIRE(base_entries);
  git::Unchanged unchanged;
  auto after = git::parse_tree_after(base, *base_entries, changed, "env", &unchanged);
  REQUIRE(after);
  CHECK(unchanged.head + unchanged.tail + 1 == base_entries->size());
}

TEST_CASE("parse_tree_after agrees with parse_tree on every small change of a directory", "[git_tree]") {
  // Seeded, so a failure repeats: bytes flipped, inserted and removed anywhere (ids hold NULs
  // and spaces, so a change can make the reading land anywhere).
  const std::string base = big_tree(120);
  std::uint32_t state = 20261207;
  auto next = [&](std::uint32_t bound) {
    state = state * 1103515245u + 12345u;
    return (state >> 8) % bound;
  };
  const char bytes[] = {'\0', ' ', '/', '0', '4', 'a', '\x7f', '\xff'};
  for (int round = 0; round < 3000; ++round) {
    std::string bent = base;
    const int edits = 1 + static_cast<int>(next(3));
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = next(static_cast<std::uint32_t>(bent.size()));
      const char b = bytes[next(sizeof bytes)];
      switch (next(3)) {
        case 0: bent[at] = b; break;
        case 1: bent.insert(bent.begin() + static_cast<std::ptrdiff_t>(at), b); break;
        default: bent.erase(at, 1 + next(40)); break;
      }
    }
    INFO("round " << round);
    same_as_whole(base, bent);
  }
}
