#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "hooks/index.hpp"
#include "shared/util/fs.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
namespace fs = std::filesystem;

namespace {

// A tree id that names no real tree: the index only uses it as a file name.
git::Oid tree_id(unsigned n) {
  git::Oid o;
  o.bytes[0] = 0xab;
  o.bytes[18] = static_cast<unsigned char>(n >> 8);
  o.bytes[19] = static_cast<unsigned char>(n);
  return o;
}

fs::path file_of(const test::TempDir& dir, const git::Oid& tree) { return dir / (tree.hex() + ".idx"); }

std::string cm(const std::string& ns, const std::string& name) { return object_key({"", "ConfigMap", ns, name}); }

std::vector<std::string> strings(const std::vector<std::string_view>& views) { return {views.begin(), views.end()}; }

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

// Exercises every accessor of `index` for `keys`: under ASan a read outside the mapping fails.
void read_everything(const IdentityIndex& index, const std::vector<std::string>& keys) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < index.size(); ++i) {
    auto r = index.at(i);
    chars += r.key.size() + r.path.size();
  }
  for (const auto& k : keys)
    for (auto p : index.lookup(k)) chars += p.size();
  for (auto p : index.lookup("")) chars += p.size();
  for (auto p : index.lookup(std::string(300, '\xff'))) chars += p.size();
  SUCCEED("read " << chars << " characters");
}

}  // namespace

TEST_CASE("keys name objects and CRD kinds; describe_key turns them back into words", "[index]") {
  struct Case {
    std::string key;
    std::string expected_key;
    std::string description;
  };
  const Case cases[] = {
      {object_key({"apps", "Deployment", "prod", "web"}), std::string("o\x1f" "apps\x1f" "Deployment\x1f" "prod\x1f" "web"),
       "apps/Deployment prod/web"},
      {object_key({"", "ConfigMap", "", "cfg"}), std::string("o\x1f\x1f" "ConfigMap\x1f\x1f" "cfg"), "ConfigMap cfg"},
      {object_key({"", "Namespace", "", "team-a"}), std::string("o\x1f\x1f" "Namespace\x1f\x1f" "team-a"),
       "Namespace team-a"},
      {crd_key("example.com", "Widget"), std::string("c\x1f" "example.com\x1f" "Widget"), "CRD for example.com/Widget"},
      {"something else", "something else", "something else"},
      {std::string("o\x1f" "only-two"), std::string("o\x1f" "only-two"), std::string("o\x1f" "only-two")},
      {"", "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.description);
    CHECK(c.key == c.expected_key);
    CHECK(describe_key(c.key) == c.description);
  }
  // Object and CRD keys never collide, and each part of the identity matters.
  CHECK(object_key({"example.com", "Widget", "", ""}) != crd_key("example.com", "Widget"));
  CHECK(object_key({"a", "B", "c", "d"}) != object_key({"", "B", "c", "d"}));
  CHECK(object_key({"", "B", "c", "d"}) != object_key({"", "B", "", "d"}));
}

TEST_CASE("a stored index answers lookups with every path of a key, in order", "[index]") {
  test::TempDir dir;
  const auto tree = tree_id(1);
  // Unsorted, with a duplicate record and keys that are prefixes of each other.
  std::vector<IndexRecord> records = {
      {cm("prod", "web"), "environments/prod/z.yaml"},
      {cm("prod", "we"), "environments/prod/we.yaml"},
      {cm("prod", "web-2"), "environments/prod/web-2.yaml"},
      {cm("prod", "web"), "environments/prod/a.yaml"},
      {cm("prod", "web"), "environments/prod/z.yaml"},
      {crd_key("example.com", "Widget"), "environments/prod/crds.yaml"},
      {cm("", "web"), "environments/prod/nons.yaml"},
  };
  REQUIRE(IdentityIndex::store(dir.path(), tree, records));
  auto index = IdentityIndex::load(dir.path(), tree);
  REQUIRE(index);
  CHECK(index->size() == 6);

  struct Case {
    std::string key;
    std::vector<std::string> paths;
  };
  const Case cases[] = {
      {cm("prod", "web"), {"environments/prod/a.yaml", "environments/prod/z.yaml"}},
      {cm("prod", "we"), {"environments/prod/we.yaml"}},
      {cm("prod", "web-2"), {"environments/prod/web-2.yaml"}},
      {cm("", "web"), {"environments/prod/nons.yaml"}},
      {crd_key("example.com", "Widget"), {"environments/prod/crds.yaml"}},
      {cm("prod", "w"), {}},
      {cm("prod", "web-"), {}},
      {cm("prod", "web-22"), {}},
      {cm("dev", "web"), {}},
      {object_key({"example.com", "Widget", "", ""}), {}},
      {"", {}},
      {"a", {}},
      {"\x7f", {}},
  };
  for (const auto& c : cases) {
    INFO(describe_key(c.key));
    CHECK(strings(index->lookup(c.key)) == c.paths);
  }
  // at() walks the records in key order.
  for (std::size_t i = 1; i < index->size(); ++i) CHECK(index->at(i - 1) < index->at(i));
  CHECK(index->at(0).key == crd_key("example.com", "Widget"));
}

TEST_CASE("with_prefix returns the run of records whose key starts with the prefix, in order", "[index]") {
  test::TempDir dir;
  const std::vector<IndexRecord> records = {
      {crd_key("example.com", "Widget"), "crds.yaml"}, {crd_key("a.io", "A"), "a.yaml"},
      {crd_key("a.io", "A"), "more.yaml"},             {cm("prod", "web"), "web.yaml"},
      {"i\x1fnginx:1.25", "web.yaml"},                 {"i\x1fnginx:1.25", "api.yaml"},
      {"i\x1fredis:7", "cache.yaml"},                  {"b", "b.yaml"},
  };
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(1), records));
  auto index = IdentityIndex::load(dir.path(), tree_id(1));
  REQUIRE(index);
  auto keys_paths = [](const std::vector<IndexRecord>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) out.push_back(describe_key(r.key) + " @ " + r.path);
    return out;
  };
  struct Case {
    std::string prefix;
    std::size_t count;
  };
  const Case cases[] = {
      {"c\x1f", 3}, {"i\x1f", 3}, {"o\x1f", 1}, {"i\x1fnginx", 2}, {"i\x1fnginx:1.25", 2},
      {"x", 0},      {"\x7f", 0},  {"", 8},       {"b", 1},
  };
  for (const auto& c : cases) {
    INFO(describe_key(c.prefix));
    auto got = index->with_prefix(c.prefix);
    CHECK(got.size() == c.count);
    // The very records a pass over the whole index keeps, in its order.
    std::vector<IndexRecord> scanned;
    for (std::size_t i = 0; i < index->size(); ++i)
      if (index->at(i).key.starts_with(c.prefix)) scanned.push_back(index->at(i));
    CHECK(keys_paths(got) == keys_paths(scanned));
  }
  CHECK(IdentityIndex().with_prefix("c\x1f").empty());
}

TEST_CASE("an empty index loads and finds nothing; an index never loaded is empty", "[index]") {
  test::TempDir dir;
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(2), {}));
  auto index = IdentityIndex::load(dir.path(), tree_id(2));
  REQUIRE(index);
  CHECK(index->size() == 0);
  CHECK(index->lookup(cm("prod", "web")).empty());
  CHECK(index->lookup("").empty());

  IdentityIndex unloaded;
  CHECK(unloaded.size() == 0);
  CHECK(unloaded.lookup(cm("prod", "web")).empty());
}

TEST_CASE("missing, foreign and damaged index files load as nothing or as safe lookups", "[index]") {
  test::TempDir dir;
  const auto tree = tree_id(3);
  std::vector<IndexRecord> records = {{cm("prod", "a"), "environments/prod/a.yaml"},
                                      {cm("prod", "b"), "environments/prod/b.yaml"},
                                      {cm("prod", "c"), "environments/prod/c.yaml"}};
  std::vector<std::string> keys;
  for (const auto& r : records) keys.push_back(r.key);
  REQUIRE(IdentityIndex::store(dir.path(), tree, records));
  auto good = util::read_file(file_of(dir, tree));
  REQUIRE(good);
  REQUIRE(good->size() > 16 + 3 * 4);

  CHECK_FALSE(IdentityIndex::load(dir / "nowhere", tree));
  CHECK_FALSE(IdentityIndex::load(dir.path(), tree_id(4)));

  const std::size_t header = 16;
  const std::size_t data = header + 3 * 4;
  auto patched = [&](std::size_t at, std::string_view bytes) {
    std::string s = *good;
    s.replace(at, bytes.size(), bytes);
    return s;
  };
  auto u32 = [](std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  std::string no_terminators = *good;
  for (std::size_t i = data; i < no_terminators.size(); ++i)
    if (no_terminators[i] == '\0') no_terminators[i] = '/';

  struct Case {
    const char* name;
    std::string bytes;
    bool loads;  // the damage is found at load time; otherwise lookups must stay in bounds
  };
  const Case cases[] = {
      {"empty file", "", false},
      {"shorter than the header", good->substr(0, 10), false},
      {"garbage", "this is not an identity index, honestly", false},
      {"wrong magic", patched(0, "X"), false},
      {"other format version", patched(7, std::string(1, static_cast<char>((*good)[7] + 1))), false},
      {"header only", good->substr(0, header), false},
      {"truncated record table", good->substr(0, header + 6), false},
      {"truncated data", good->substr(0, good->size() - 5), false},
      {"trailing bytes", *good + "extra", false},
      {"huge count", patched(8, u32(0xFFFFFFFFu)), false},
      {"huge data size", patched(12, u32(0xFFFFFFF0u)), false},
      {"offsets beyond the data", patched(header, u32(0xFFFFFF00u) + u32(0x7FFFFFFFu) + u32(100000)), true},
      {"offsets at the very end", patched(header, u32(0) + u32(static_cast<std::uint32_t>(good->size() - data)) +
                                                      u32(static_cast<std::uint32_t>(good->size() - data - 1))),
       true},
      {"offsets out of order", patched(header, u32(40) + u32(0) + u32(20)), true},
      {"no NUL terminators", no_terminators, true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir damaged;
    REQUIRE(util::write_file(file_of(damaged, tree), c.bytes));
    auto index = IdentityIndex::load(damaged.path(), tree);
    if (!c.loads) {
      CHECK_FALSE(index);
      continue;
    }
    if (!index) continue;
    read_everything(*index, keys);
    // Carried forward, a damaged index stays in bounds too: refused when its records are out of
    // order (the caller builds the index whole), else what it writes loads.
    auto stored = IdentityIndex::store_carried(damaged.path(), tree_id(5), *index, {"environments/prod/b.yaml"},
                                               {{cm("prod", "d"), "environments/prod/d.yaml"}});
    if (!stored) {
      CHECK(stored.error().message.find("out of order") != std::string::npos);
      CHECK_FALSE(fs::exists(file_of(damaged, tree_id(5))));
      continue;
    }
    auto carried = IdentityIndex::load(damaged.path(), tree_id(5));
    REQUIRE(carried);
    read_everything(*carried, keys);
    CHECK(strings(carried->lookup(cm("prod", "d"))) == std::vector<std::string>{"environments/prod/d.yaml"});
  }
}

TEST_CASE("an index file stays valid for its readers while it is replaced", "[index]") {
  test::TempDir dir;
  const auto tree = tree_id(5);
  REQUIRE(IdentityIndex::store(dir.path(), tree, {{cm("prod", "a"), "old.yaml"}}));
  auto before = IdentityIndex::load(dir.path(), tree);
  REQUIRE(before);
  REQUIRE(IdentityIndex::store(dir.path(), tree, {{cm("prod", "a"), "new.yaml"}, {cm("prod", "b"), "b.yaml"}}));
  auto after = IdentityIndex::load(dir.path(), tree);
  REQUIRE(after);
  CHECK(strings(before->lookup(cm("prod", "a"))) == std::vector<std::string>{"old.yaml"});
  CHECK(strings(after->lookup(cm("prod", "a"))) == std::vector<std::string>{"new.yaml"});
  CHECK(after->size() == 2);
  // Written atomically: nothing but the index itself is left in the directory.
  CHECK(files_in(dir.path()) == std::vector<fs::path>{tree.hex() + ".idx"});
}

TEST_CASE("store creates its directory and fails cleanly where it cannot write", "[index]") {
  test::TempDir dir;
  REQUIRE(IdentityIndex::store(dir / "a/b/c", tree_id(6), {{cm("", "x"), "x.yaml"}}));
  CHECK(IdentityIndex::load(dir / "a/b/c", tree_id(6)));
  dir.write("file", "a regular file");
  auto r = IdentityIndex::store(dir / "file/sub", tree_id(6), {{cm("", "x"), "x.yaml"}});
  CHECK_FALSE(r);
}

TEST_CASE("store keeps the 64 newest index files", "[index]") {
  test::TempDir dir;
  // 64 older files with distinct modification times, the first the oldest.
  const auto long_ago = fs::file_time_type::clock::now() - std::chrono::hours(24);
  for (unsigned i = 0; i < 64; ++i) {
    REQUIRE(IdentityIndex::store(dir.path(), tree_id(100 + i), {{cm("", "x"), std::to_string(i) + ".yaml"}}));
    fs::last_write_time(file_of(dir, tree_id(100 + i)), long_ago + std::chrono::minutes(i));
  }
  CHECK(files_in(dir.path()).size() == 64);
  for (unsigned i = 0; i < 6; ++i) {
    REQUIRE(IdentityIndex::store(dir.path(), tree_id(200 + i), {{cm("", "x"), "new.yaml"}}));
    CHECK(IdentityIndex::load(dir.path(), tree_id(200 + i)));
  }
  auto files = files_in(dir.path());
  CHECK(files.size() == 64);
  for (unsigned i = 0; i < 64; ++i) {
    INFO("old index " << i);
    CHECK(fs::exists(file_of(dir, tree_id(100 + i))) == (i >= 6));
  }
  for (unsigned i = 0; i < 6; ++i) CHECK(fs::exists(file_of(dir, tree_id(200 + i))));
  // Files that are not indexes are left alone and not counted.
  dir.write("README", "not an index");
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(300), {}));
  CHECK(fs::exists(dir / "README"));
  CHECK(files_in(dir.path()).size() == 65);
  for (const auto& f : files_in(dir.path())) CHECK(f.string().find(".tmp") == std::string::npos);
}

TEST_CASE("store never trims the index it has just written, whatever the other files' times", "[index]") {
  // After the clock steps back (NTP, a restored VM), the existing files look newer than a
  // fresh one. Trimming must not delete the file store() was asked to write, or every push
  // that needs this index fails to build it.
  test::TempDir dir;
  const auto future = fs::file_time_type::clock::now() + std::chrono::hours(1);
  for (unsigned i = 0; i < 64; ++i) {
    REQUIRE(IdentityIndex::store(dir.path(), tree_id(400 + i), {}));
    fs::last_write_time(file_of(dir, tree_id(400 + i)), future + std::chrono::seconds(i));
  }
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(500), {{cm("", "x"), "x.yaml"}}));
  auto index = IdentityIndex::load(dir.path(), tree_id(500));
  REQUIRE(index);
  CHECK(strings(index->lookup(cm("", "x"))) == std::vector<std::string>{"x.yaml"});
  CHECK(files_in(dir.path()).size() == 64);
}

TEST_CASE("store_carried's index answers as the index stored whole of the old records less the changed files plus the added", "[index]") {
  const std::vector<IndexRecord> old_records = {
      {cm("prod", "a"), "a.yaml"},    {cm("prod", "b"), "b.yaml"},  {cm("prod", "b"), "multi.yaml"},
      {cm("prod", "m"), "multi.yaml"}, {cm("prod", "z"), "z.yaml"}, {crd_key("example.com", "Widget"), "crds.yaml"},
  };
  struct Case {
    const char* what;
    std::vector<std::string> changed;  // sorted, as the caller passes them
    std::vector<IndexRecord> added;
  };
  const Case cases[] = {
      {"nothing changes", {}, {}},
      {"a file is removed", {"multi.yaml"}, {}},
      {"every file is removed", {"a.yaml", "b.yaml", "crds.yaml", "multi.yaml", "z.yaml"}, {}},
      {"a file changes what it declares", {"b.yaml"}, {{cm("prod", "c"), "b.yaml"}}},
      {"added records sort first, between and last, unsorted",
       {"new.yaml"},
       {{cm("prod", "zz"), "new.yaml"}, {crd_key("a.io", "A"), "new.yaml"}, {cm("prod", "b"), "new.yaml"}}},
      {"a new file declares a key another file declares", {"0.yaml"}, {{cm("prod", "a"), "0.yaml"}}},
      {"a file declares one object twice", {"d.yaml"}, {{cm("prod", "d"), "d.yaml"}, {cm("prod", "d"), "d.yaml"}}},
      {"a changed path that is not in the old index", {"ghost.yaml"}, {}},
      {"an added file the caller did not list as changed", {}, {{cm("prod", "a"), "b.yaml"}}},
  };
  const std::vector<std::string> keys = {cm("prod", "a"), cm("prod", "b"), cm("prod", "c"), cm("prod", "d"),
                                         cm("prod", "m"), cm("prod", "z"), cm("prod", "zz"), "", "o", "c\x1f"};
  for (const auto& c : cases) {
    INFO(c.what);
    test::TempDir dir;
    REQUIRE(IdentityIndex::store(dir.path(), tree_id(1), old_records));
    auto old = IdentityIndex::load(dir.path(), tree_id(1));
    REQUIRE(old);
    REQUIRE(IdentityIndex::store_carried(dir.path(), tree_id(2), *old, c.changed, c.added));
    std::vector<IndexRecord> whole = c.added;
    for (const auto& r : old_records) {
      const bool changed = std::find(c.changed.begin(), c.changed.end(), r.path) != c.changed.end() ||
                           std::any_of(c.added.begin(), c.added.end(), [&](const IndexRecord& a) { return a.path == r.path; });
      if (!changed) whole.push_back(r);
    }
    REQUIRE(IdentityIndex::store(dir.path(), tree_id(3), whole));
    auto carried = IdentityIndex::load(dir.path(), tree_id(2));
    auto stored = IdentityIndex::load(dir.path(), tree_id(3));
    REQUIRE(carried);
    REQUIRE(stored);
    CHECK(carried->depth() == 1);
    CHECK(carried->records() == stored->records());
    CHECK(carried->size() == stored->size());
    for (const auto& k : keys) {
      INFO("key " << describe_key(k));
      CHECK(strings(carried->lookup(k)) == strings(stored->lookup(k)));
      CHECK(carried->with_prefix(k) == stored->with_prefix(k));
    }
  }
}

TEST_CASE("carried indexes chain 8 deltas deep, then are stored whole; a chain missing a link does not load", "[index]") {
  test::TempDir dir;
  std::vector<IndexRecord> expected = {{cm("prod", "base"), "base.yaml"}};
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(1000), expected));
  for (unsigned push = 1; push <= 20; ++push) {
    auto old = IdentityIndex::load(dir.path(), tree_id(1000 + push - 1));
    REQUIRE(old);
    // Each push changes base.yaml and adds a file of its own.
    const std::string own = "f" + std::to_string(push) + ".yaml";
    std::vector<IndexRecord> added = {{cm("prod", "base-" + std::to_string(push)), "base.yaml"},
                                      {cm("prod", own), own}};
    REQUIRE(IdentityIndex::store_carried(dir.path(), tree_id(1000 + push), *old, {"base.yaml", own}, added));
    expected.erase(std::remove_if(expected.begin(), expected.end(), [](const IndexRecord& r) { return r.path == "base.yaml"; }),
                   expected.end());
    expected.insert(expected.end(), added.begin(), added.end());
    std::sort(expected.begin(), expected.end());
    auto now = IdentityIndex::load(dir.path(), tree_id(1000 + push));
    REQUIRE(now);
    INFO("push " << push);
    CHECK(now->depth() == push % 9);
    CHECK(now->records() == expected);
    CHECK(strings(now->lookup(cm("prod", "base-" + std::to_string(push)))) == std::vector<std::string>{"base.yaml"});
    CHECK(now->lookup(cm("prod", "base")).empty());
  }
  // Push 13 is a delta on 12, 11 and 10, whose base (9) is whole: without 11, neither loads.
  fs::remove(file_of(dir, tree_id(1011)));
  CHECK_FALSE(IdentityIndex::load(dir.path(), tree_id(1013)));
  CHECK(IdentityIndex::load(dir.path(), tree_id(1009)));
}

TEST_CASE("damaged delta files load as nothing", "[index]") {
  test::TempDir dir;
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(1), {{cm("prod", "a"), "a.yaml"}, {cm("prod", "b"), "b.yaml"}}));
  auto old = IdentityIndex::load(dir.path(), tree_id(1));
  REQUIRE(old);
  REQUIRE(IdentityIndex::store_carried(dir.path(), tree_id(2), *old, {"b.yaml", "c.yaml"},
                                       {{cm("prod", "c"), "c.yaml"}}));
  auto good = util::read_file(file_of(dir, tree_id(2)));
  REQUIRE(good);
  auto patched = [&](std::size_t at, std::string_view bytes) {
    std::string s = *good;
    s.replace(at, bytes.size(), bytes);
    return s;
  };
  auto u32 = [](std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  // Header: magic 0-7, base 8-27, depth 28, removed count 32, removed size 36, count 40, data size 44.
  const std::string self(reinterpret_cast<const char*>(tree_id(2).bytes.data()), 20);
  const std::string missing(reinterpret_cast<const char*>(tree_id(9).bytes.data()), 20);
  const std::size_t removed_at = 48 + 4;
  struct Case {
    const char* name;
    std::string bytes;
  };
  const Case cases[] = {
      {"cut inside the header", good->substr(0, 40)},
      {"cut inside the data", good->substr(0, good->size() - 2)},
      {"trailing bytes", *good + "x"},
      {"depth 0", patched(28, u32(0))},
      {"depth not the base's + 1", patched(28, u32(2))},
      {"depth past the longest chain", patched(28, u32(9))},
      {"a base that is itself", patched(8, self)},
      {"a base that is missing", patched(8, missing)},
      {"more removed paths than listed", patched(32, u32(3))},
      {"huge removed count", patched(32, u32(0xFFFFFFF0u))},
      {"huge removed size", patched(36, u32(0xFFFFFFF0u))},
      {"huge count", patched(40, u32(0xFFFFFFFFu))},
      {"removed paths out of order", patched(removed_at, "c.yaml")},
      {"removed paths without their NUL", patched(removed_at + 6, "x")},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    REQUIRE(util::write_file(file_of(dir, tree_id(7)), c.bytes));
    CHECK_FALSE(IdentityIndex::load(dir.path(), tree_id(7)));
  }
  REQUIRE(util::write_file(file_of(dir, tree_id(7)), *good));
  auto again = IdentityIndex::load(dir.path(), tree_id(7));
  REQUIRE(again);
  CHECK(strings(again->lookup(cm("prod", "c"))) == std::vector<std::string>{"c.yaml"});
  CHECK(again->lookup(cm("prod", "b")).empty());
}

TEST_CASE("a carried index's chain is kept by trimming", "[index]") {
  test::TempDir dir;
  const auto long_ago = fs::file_time_type::clock::now() - std::chrono::hours(24);
  REQUIRE(IdentityIndex::store(dir.path(), tree_id(1), {{cm("prod", "a"), "a.yaml"}}));
  fs::last_write_time(file_of(dir, tree_id(1)), long_ago);
  for (unsigned i = 0; i < 63; ++i) {  // 64 files: the next write trims one, by age tree 1's
    REQUIRE(IdentityIndex::store(dir.path(), tree_id(100 + i), {}));
    fs::last_write_time(file_of(dir, tree_id(100 + i)), long_ago + std::chrono::minutes(1 + i));
  }
  auto old = IdentityIndex::load(dir.path(), tree_id(1));
  REQUIRE(old);
  REQUIRE(IdentityIndex::store_carried(dir.path(), tree_id(2), *old, {"b.yaml"}, {{cm("prod", "b"), "b.yaml"}}));
  auto carried = IdentityIndex::load(dir.path(), tree_id(2));
  REQUIRE(carried);
  CHECK(strings(carried->lookup(cm("prod", "a"))) == std::vector<std::string>{"a.yaml"});
  CHECK(files_in(dir.path()).size() == 64);
  CHECK_FALSE(fs::exists(file_of(dir, tree_id(100))));  // the oldest but for the chain
}

