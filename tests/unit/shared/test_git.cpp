#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/util/fs.hpp"
#include "tests/unit/support/env.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using git::Change;
using git::EntryKind;
using git::Oid;
using git::Repository;
using test::EnvVars;
using test::GitFixture;
using test::GitItem;
using test::open_repo;
using test::run_git;
using test::ScopedEnv;
using test::to_oid;
namespace fs = std::filesystem;

namespace {

// "A path", "D path", "M path" for each change, in the order reported.
std::vector<std::string> diff_lines(const Repository& repo, std::optional<Oid> before, std::optional<Oid> after,
                                    std::string_view prefix = {}) {
  std::vector<std::string> out;
  auto r = repo.diff(before, after, prefix, [&](const Change& c) {
    out.push_back(std::string(c.before && c.after ? "M " : c.after ? "A " : "D ") + c.path);
    return true;
  });
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  return out;
}

// C-quotes a path the way git writes an entry of GIT_ALTERNATE_OBJECT_DIRECTORIES.
std::string c_quote(const std::string& path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const std::string k_hex = "0123456789abcdef0123456789abcdef01234567";
const std::string k_missing_tree = "1111111111111111111111111111111111111111";

}  // namespace

TEST_CASE("Oid parses 40 hex digits and prints them in lower case", "[git]") {
  struct Case {
    std::string text;
    bool valid;
    const char* hex;
  };
  const Case cases[] = {
      {k_hex, true, "0123456789abcdef0123456789abcdef01234567"},
      {"0123456789ABCDEF0123456789ABCDEF01234567", true, "0123456789abcdef0123456789abcdef01234567"},
      {std::string(40, '0'), true, "0000000000000000000000000000000000000000"},
      {"ffffffffffffffffffffffffffffffffffffffff", true, "ffffffffffffffffffffffffffffffffffffffff"},
      {k_hex.substr(0, 39), false, ""},
      {k_hex + "8", false, ""},
      {"", false, ""},
      {"g123456789abcdef0123456789abcdef01234567", false, ""},
      {"0123456789abcdef0123456789abcdef0123456 ", false, ""},
      {"0123456789abcdef-123456789abcdef01234567", false, ""},
  };
  for (const auto& c : cases) {
    INFO("'" << c.text << "'");
    auto o = Oid::from_hex(c.text);
    REQUIRE(o.has_value() == c.valid);
    if (!o) continue;
    CHECK(o->hex() == c.hex);
    CHECK(o->short_hex() == std::string(c.hex).substr(0, 12));
  }
  CHECK(Oid::from_hex(k_hex)->bytes[0] == 0x01);
  CHECK(Oid::from_hex(k_hex)->bytes[19] == 0x67);

  struct ZeroCase {
    std::string text;
    bool zero;
  };
  const ZeroCase zeros[] = {
      {std::string(40, '0'), true},
      {std::string(39, '0') + "1", false},
      {"1" + std::string(39, '0'), false},
      {k_hex, false},
  };
  for (const auto& z : zeros) {
    INFO(z.text);
    CHECK(Oid::from_hex(z.text)->is_zero() == z.zero);
  }
  CHECK(Oid{}.is_zero());
  CHECK(*Oid::from_hex(k_hex) == *Oid::from_hex("0123456789ABCDEF0123456789ABCDEF01234567"));
  CHECK(*Oid::from_hex(std::string(40, '0')) < *Oid::from_hex(k_hex));
}

TEST_CASE("split_alternates reads GIT_ALTERNATE_OBJECT_DIRECTORIES as git writes it", "[git]") {
  struct Case {
    const char* name;
    std::string value;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"empty", "", {}},
      {"plain", "/srv/repo.git/objects", {"/srv/repo.git/objects"}},
      {"several", "/a/objects:/b/objects:/c/objects", {"/a/objects", "/b/objects", "/c/objects"}},
      {"quoted entry with a colon", "\"/a:b/objects\":/c/objects", {"/a:b/objects", "/c/objects"}},
      {"quoted entry last", "/c/objects:\"/a:b/objects\"", {"/c/objects", "/a:b/objects"}},
      {"two quoted entries", "\"/x:1/objects\":\"/y:2/objects\"", {"/x:1/objects", "/y:2/objects"}},
      {"escaped quote and backslash", "\"/a\\\"q\\\\b:c\"", {"/a\"q\\b:c"}},
      {"escaped quote before the end", "\"/a:\\\"\":/b", {"/a:\"", "/b"}},
      {"tab and newline escapes", "\"/t\\tn\\n:x\"", {"/t\tn\n:x"}},
      {"octal escapes", "\"/caf\\303\\251:x\"", {"/caf\xC3\xA9:x"}},
      {"empty parts are skipped", "::/a::/b:", {"/a", "/b"}},
      {"only separators", ":::", {}},
  };
  for (const auto& c : cases) {
    INFO(c.name << ": " << c.value);
    CHECK(git::split_alternates(c.value) == c.expected);
  }
}

TEST_CASE("Repository::open finds work trees and bare repositories", "[git]") {
  test::TempDir tmp;
  GitFixture work(tmp, "work");
  GitFixture bare(tmp, "bare.git", /*bare=*/true);
  fs::create_directories(work.dir() / "deep/er");
  fs::create_directories(tmp / "plain");

  struct Case {
    const char* name;
    fs::path open;
    std::optional<fs::path> git_dir;  // nullopt: must fail
  };
  const Case cases[] = {
      {"work tree", work.dir(), work.dir() / ".git"},
      {"sub-directory of a work tree", work.dir() / "deep/er", work.dir() / ".git"},
      {"the .git directory", work.dir() / ".git", work.dir() / ".git"},
      {"bare repository", bare.dir(), bare.dir()},
      {"not a repository", tmp / "plain", std::nullopt},
      {"missing directory", tmp / "nowhere", std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = Repository::open(c.open);
    CHECK(r.has_value() == c.git_dir.has_value());
    if (r.has_value() != c.git_dir.has_value()) continue;
    if (r) {
      CHECK(fs::equivalent(r->git_dir(), *c.git_dir));
    } else {
      CHECK_THAT(r.error().message, Catch::Contains(c.open.string()));
      CHECK(r.error().rule == "git");
    }
  }
}

TEST_CASE("revisions resolve and peel to commits", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  Oid t1 = f.tree_batched({{"a.txt", "one\n"}});
  Oid t2 = f.tree_batched({{"a.txt", "two\n"}});
  Oid c1 = f.commit(t1, {}, "first");
  Oid c2 = f.commit(t2, {c1}, "second");
  f.set_ref("refs/heads/main", c2);
  f.set_ref("refs/heads/old", c1);
  f.git({"tag", "-a", "v1", "-m", "release", c1.hex()});
  f.git({"tag", "-a", "treetag", "-m", "a tree", t1.hex()});
  f.git({"tag", "-a", "nested", "-m", "tag of a tag", "v1"});
  Oid tag = f.rev("refs/tags/v1");
  Oid tree_tag = f.rev("refs/tags/treetag");
  Oid nested_tag = f.rev("refs/tags/nested");
  Oid blob = f.rev("HEAD:a.txt");
  REQUIRE(tag != c1);

  auto repo = open_repo(f.dir());

  SECTION("resolve_commit") {
    struct Case {
      const char* rev;
      std::optional<Oid> expected;  // nullopt: must fail
    };
    const Case cases[] = {
        {"main", c2},
        {"refs/heads/main", c2},
        {"HEAD", c2},
        {"HEAD~1", c1},
        {"main^", c1},
        {"old", c1},
        {"v1", c1},  // an annotated tag peels to its commit
        {"nested", c1},
        {"no-such-branch", std::nullopt},
        {"HEAD~5", std::nullopt},
        {"treetag", std::nullopt},  // a tag of a tree is not a commit
        {"HEAD^{tree}", std::nullopt},
    };
    for (const auto& c : cases) {
      INFO(c.rev);
      auto r = repo.resolve_commit(c.rev);
      CHECK(r.has_value() == c.expected.has_value());
      if (r.has_value() != c.expected.has_value()) continue;
      if (r) CHECK(*r == *c.expected);
      else CHECK_THAT(r.error().message, Catch::Contains(c.rev));
    }
    auto by_hex = repo.resolve_commit(c1.hex());
    REQUIRE(by_hex);
    CHECK(*by_hex == c1);
  }

  SECTION("peel_to_commit") {
    struct Case {
      const char* name;
      Oid oid;
      std::optional<Oid> expected;
    };
    const Case cases[] = {
        {"commit", c2, c2},
        {"annotated tag", tag, c1},
        {"tag of a tag", nested_tag, c1},
        {"tree", t1, std::nullopt},
        {"blob", blob, std::nullopt},
        {"tag of a tree", tree_tag, std::nullopt},
    };
    for (const auto& c : cases) {
      INFO(c.name);
      auto r = repo.peel_to_commit(c.oid);
      CHECK(r);
      if (!r) continue;
      CHECK(*r == c.expected);
    }
    auto missing = repo.peel_to_commit(*Oid::from_hex(k_hex));
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains(Oid::from_hex(k_hex)->short_hex()));
  }

  SECTION("commit_tree") {
    auto r1 = repo.commit_tree(c1);
    REQUIRE(r1);
    CHECK(*r1 == t1);
    auto r2 = repo.commit_tree(c2);
    REQUIRE(r2);
    CHECK(*r2 == t2);
    CHECK(*r2 == f.rev("main^{tree}"));
    CHECK_FALSE(repo.commit_tree(t1));  // a tree is not a commit
    CHECK_FALSE(repo.commit_tree(*Oid::from_hex(k_hex)));
  }
}

TEST_CASE("head_commit is nullopt in an empty repository", "[git]") {
  test::TempDir tmp;
  GitFixture empty(tmp, "empty");
  GitFixture empty_bare(tmp, "empty.git", true);
  GitFixture full(tmp, "full");
  Oid c1 = full.commit(full.tree_batched({{"f", "x"}}), {}, "one");
  Oid c2 = full.commit(full.tree_batched({{"f", "y"}}), {c1}, "two");
  full.set_ref("refs/heads/main", c2);
  full.set_ref("refs/heads/other", c1);
  GitFixture bare(tmp, "bare.git", true);
  Oid b1 = bare.commit(bare.tree_batched({{"g", "z"}}), {}, "one");
  bare.set_ref("refs/heads/main", b1);

  struct Case {
    const char* name;
    fs::path dir;
    std::optional<Oid> expected;
  };
  const Case cases[] = {
      {"empty work tree", empty.dir(), std::nullopt},
      {"empty bare", empty_bare.dir(), std::nullopt},
      {"branch with commits", full.dir(), c2},
      {"bare with commits", bare.dir(), b1},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto repo = open_repo(c.dir);
    auto h = repo.head_commit();
    CHECK(h);
    if (h) CHECK(*h == c.expected);
  }
  full.git({"symbolic-ref", "HEAD", "refs/heads/other"});
  auto repo = open_repo(full.dir());
  auto h = repo.head_commit();
  REQUIRE(h);
  CHECK(*h == c1);
}

TEST_CASE("entry_at finds files, directories, symlinks and submodules", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  const std::string sub_commit = "2222222222222222222222222222222222222222";
  Oid root = f.tree_batched({
      {"a.txt", "alpha\n"},
      {"bin/run.sh", "#!/bin/sh\n", "100755"},
      {"link", "a.txt", "120000"},
      {"dir/sub/f.yaml", "k: v\n"},
      {"vendor/lib", sub_commit, "160000"},
  });
  auto repo = open_repo(f.dir());

  struct Case {
    const char* path;
    std::optional<EntryKind> kind;  // nullopt: absent
    std::string rev;                // what `git rev-parse` names the object
  };
  const Case cases[] = {
      {"a.txt", EntryKind::blob, root.hex() + ":a.txt"},
      {"bin", EntryKind::tree, root.hex() + ":bin"},
      {"bin/run.sh", EntryKind::executable, root.hex() + ":bin/run.sh"},
      {"link", EntryKind::symlink, root.hex() + ":link"},
      {"dir", EntryKind::tree, root.hex() + ":dir"},
      {"dir/", EntryKind::tree, root.hex() + ":dir"},
      {"dir/sub", EntryKind::tree, root.hex() + ":dir/sub"},
      {"dir/sub/f.yaml", EntryKind::blob, root.hex() + ":dir/sub/f.yaml"},
      {"vendor/lib", EntryKind::submodule, ""},
      {"", EntryKind::tree, root.hex()},
      {"missing", std::nullopt, ""},
      {"dir/missing", std::nullopt, ""},
      {"dir/sub/f.yaml/deeper", std::nullopt, ""},
      {"a.txt/x", std::nullopt, ""},
      {"nowhere/at/all", std::nullopt, ""},
  };
  for (const auto& c : cases) {
    INFO("'" << c.path << "'");
    auto e = repo.entry_at(root, c.path);
    CHECK(e);
    if (!e) continue;
    CHECK(e->has_value() == c.kind.has_value());
    if (e->has_value() != c.kind.has_value()) continue;
    if (!c.kind) continue;
    CHECK((*e)->kind == *c.kind);
    if (c.kind == EntryKind::submodule) CHECK((*e)->oid.hex() == sub_commit);
    else CHECK((*e)->oid == f.rev(c.rev));
  }
  CHECK_FALSE(repo.entry_at(*Oid::from_hex(k_hex), "a.txt"));  // no such tree
}

TEST_CASE("object_size and read_blob honour the size limit", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  const std::string hundred(100, 'x');
  const std::string binary("a\0b\xff", 4);
  Oid big = f.blob(hundred);
  Oid bin = f.blob(binary);
  Oid empty = f.blob("");
  auto repo = open_repo(f.dir());

  struct Case {
    const char* name;
    Oid oid;
    const std::string* content;
    std::uint64_t limit;
    bool ok;
  };
  static const std::string nothing;
  const Case cases[] = {
      {"below the limit", big, &hundred, 1000, true},
      {"exactly the limit", big, &hundred, 100, true},
      {"one byte over", big, &hundred, 99, false},
      {"far over", big, &hundred, 0, false},
      {"binary content", bin, &binary, 4, true},
      {"empty blob, zero limit", empty, &nothing, 0, true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto size = repo.object_size(c.oid);
    CHECK(size);
    if (size) CHECK(*size == c.content->size());
    auto r = repo.read_blob(c.oid, c.limit);
    CHECK(r.has_value() == c.ok);
    if (r.has_value() != c.ok) continue;
    if (r) CHECK(*r == *c.content);
    else {
      CHECK(r.error().rule == "file.too-large");
      CHECK_THAT(r.error().message, Catch::Contains("file is " + std::to_string(c.content->size()) + " bytes") &&
                                        Catch::Contains("the limit is " + std::to_string(c.limit)));
    }
  }
  CHECK_FALSE(repo.object_size(*Oid::from_hex(k_hex)));
  CHECK_FALSE(repo.read_blob(*Oid::from_hex(k_hex), 1 << 20));
}

TEST_CASE("diff reports changed paths in git's order", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  auto repo_of = [&] { return open_repo(f.dir()); };

  struct Case {
    const char* name;
    std::vector<GitItem> before;
    std::vector<GitItem> after;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"identical trees", {{"a", "1"}}, {{"a", "1"}}, {}},
      {"added, modified, deleted",
       {{"a.txt", "1"}, {"gone.txt", "g"}, {"same.txt", "s"}},
       {{"a.txt", "2"}, {"new.txt", "n"}, {"same.txt", "s"}},
       {"M a.txt", "D gone.txt", "A new.txt"}},
      {"mode change only", {{"run", "x"}}, {{"run", "x", "100755"}}, {"M run"}},
      {"blob to symlink", {{"l", "a"}}, {{"l", "a", "120000"}}, {"M l"}},
      {"nested change beside an identical subtree",
       {{"d/keep/k", "k"}, {"d/x/f", "1"}, {"e", "e"}},
       {{"d/keep/k", "k"}, {"d/x/f", "2"}, {"e", "e"}},
       {"M d/x/f"}},
      {"file replaced by a directory", {{"thing", "t"}, {"z", "z"}},
       {{"thing/inner", "i"}, {"thing/more", "m"}, {"z", "z"}},
       {"D thing", "A thing/inner", "A thing/more"}},
      {"directory replaced by a file", {{"thing/inner", "i"}}, {{"thing", "t"}},
       {"A thing", "D thing/inner"}},
      {"whole directory added and removed", {{"old/a", "1"}, {"old/b/c", "2"}},
       {{"new/a", "1"}},
       {"A new/a", "D old/a", "D old/b/c"}},
      // Git sorts a tree "a" as "a/": after "a.b" ('.' < '/') and before "a0" ('0' > '/').
      {"a.b deleted beside tree a/", {{"a.b", "1"}, {"a/x", "1"}, {"a/y", "y"}},
       {{"a/x", "2"}, {"a/y", "y"}},
       {"D a.b", "M a/x"}},
      {"a.b added beside tree a/", {{"a/x", "1"}}, {{"a.b", "1"}, {"a/x", "1"}},
       {"A a.b"}},
      {"a0 and a/ changed", {{"a0", "1"}, {"a/x", "1"}, {"a.b", "1"}},
       {{"a0", "2"}, {"a/x", "2"}, {"a.b", "2"}},
       {"M a.b", "M a/x", "M a0"}},
      {"a-b removed, a/ modified", {{"a-b", "1"}, {"a/x", "1"}}, {{"a/x", "2"}},
       {"D a-b", "M a/x"}},
      {"submodule bumped",
       {{"vendor/lib", "2222222222222222222222222222222222222222", "160000"}},
       {{"vendor/lib", "3333333333333333333333333333333333333333", "160000"}},
       {"M vendor/lib"}},
  };
  SECTION("table of tree pairs") {
    for (const auto& c : cases) {
      INFO(c.name);
      Oid before = f.tree_batched(c.before);
      Oid after = f.tree_batched(c.after);
      auto repo = repo_of();
      CHECK(diff_lines(repo, before, after) == c.expected);
    }
  }

  SECTION("kinds and ids of a change") {
    Oid before = f.tree_batched({{"run", "x"}});
    Oid after = f.tree_batched({{"run", "y", "100755"}});
    auto repo = repo_of();
    std::vector<Change> seen;
    REQUIRE(repo.diff(before, after, "", [&](const Change& c) {
      seen.push_back(c);
      return true;
    }));
    REQUIRE(seen.size() == 1);
    REQUIRE(seen[0].before);
    REQUIRE(seen[0].after);
    CHECK(seen[0].before->kind == EntryKind::blob);
    CHECK(seen[0].after->kind == EntryKind::executable);
    CHECK(seen[0].before->oid == f.rev(before.hex() + ":run"));
    CHECK(seen[0].after->oid == f.rev(after.hex() + ":run"));
  }

  SECTION("against the empty tree on either side") {
    Oid t = f.tree_batched({{"a0", "1"}, {"a/x", "1"}, {"a.b", "1"}, {"b/c/d", "1"}});
    auto repo = repo_of();
    CHECK(diff_lines(repo, std::nullopt, t) == std::vector<std::string>{"A a.b", "A a/x", "A a0", "A b/c/d"});
    CHECK(diff_lines(repo, t, std::nullopt) == std::vector<std::string>{"D a.b", "D a/x", "D a0", "D b/c/d"});
    CHECK(diff_lines(repo, std::nullopt, std::nullopt).empty());
  }

  SECTION("the prefix is applied to every path") {
    Oid before = f.tree_batched({{"a", "1"}, {"d/b", "1"}});
    Oid after = f.tree_batched({{"a", "2"}, {"d/b", "2"}, {"n", "n"}});
    auto repo = repo_of();
    struct PrefixCase {
      const char* prefix;
      std::vector<std::string> expected;
    };
    const PrefixCase cases2[] = {
        {"", {"M a", "M d/b", "A n"}},
        {"environments/prod", {"M environments/prod/a", "M environments/prod/d/b", "A environments/prod/n"}},
        {"environments/prod/", {"M environments/prod/a", "M environments/prod/d/b", "A environments/prod/n"}},
    };
    for (const auto& c : cases2) {
      INFO("prefix '" << c.prefix << "'");
      CHECK(diff_lines(repo, before, after, c.prefix) == c.expected);
    }
    CHECK(diff_lines(repo, std::nullopt, before, "p") == std::vector<std::string>{"A p/a", "A p/d/b"});
  }

  SECTION("identical subtrees are skipped without being read") {
    // `keep` names a tree object that does not exist: reading it would fail.
    const std::string a1 = f.blob("1").hex(), a2 = f.blob("2").hex();
    Oid before = to_oid(f.git({"mktree", "--missing"}, "040000 tree " + k_missing_tree + "\tkeep\n100644 blob " + a1 + "\tf\n"));
    Oid after = to_oid(f.git({"mktree", "--missing"}, "040000 tree " + k_missing_tree + "\tkeep\n100644 blob " + a2 + "\tf\n"));
    auto repo = repo_of();
    CHECK(diff_lines(repo, before, after) == std::vector<std::string>{"M f"});
    // The subtree really is missing: a diff that has to enter it fails.
    auto r = repo.diff(std::nullopt, after, "", [](const Change&) { return true; });
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(k_missing_tree.substr(0, 12)));
    // Same trees on both sides are not read at all.
    Oid missing = *Oid::from_hex(k_missing_tree);
    CHECK(repo.diff(missing, missing, "", [](const Change&) { return true; }));
  }

  SECTION("returning false stops the walk") {
    Oid before = f.tree_batched({{"a", "1"}, {"d/x", "1"}, {"d/y", "1"}, {"z", "1"}});
    Oid after = f.tree_batched({{"a", "2"}, {"d/x", "2"}, {"d/y", "2"}, {"z", "2"}});
    auto repo = repo_of();
    for (std::size_t stop_after : {1u, 2u, 3u, 4u}) {
      INFO("stop after " << stop_after);
      std::vector<std::string> seen;
      auto r = repo.diff(before, after, "", [&](const Change& c) {
        seen.push_back(c.path);
        return seen.size() < stop_after;
      });
      REQUIRE(r);
      const std::vector<std::string> all{"a", "d/x", "d/y", "z"};
      CHECK(seen == std::vector<std::string>(all.begin(), all.begin() + static_cast<long>(stop_after)));
    }
    std::vector<std::string> added;
    REQUIRE(repo.diff(std::nullopt, after, "", [&](const Change& c) {
      added.push_back(c.path);
      return c.path != "d/x";  // stop inside a subtree
    }));
    CHECK(added == std::vector<std::string>{"a", "d/x"});
  }
}

TEST_CASE("walk visits every non-tree entry with its prefix", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  Oid root = f.tree_batched({
      {"a0", "1"},
      {"a/x", "2"},
      {"a.b", "3"},
      {"bin/run", "4", "100755"},
      {"link", "a0", "120000"},
      {"mod", "2222222222222222222222222222222222222222", "160000"},
      {"d/e/f/g", "5"},
  });
  auto repo = open_repo(f.dir());

  struct Case {
    const char* prefix;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"", {"a.b", "a/x", "a0", "bin/run", "d/e/f/g", "link", "mod"}},
      {"env/prod", {"env/prod/a.b", "env/prod/a/x", "env/prod/a0", "env/prod/bin/run", "env/prod/d/e/f/g",
                    "env/prod/link", "env/prod/mod"}},
  };
  for (const auto& c : cases) {
    INFO("prefix '" << c.prefix << "'");
    std::vector<std::string> seen;
    std::vector<EntryKind> kinds;
    REQUIRE(repo.walk(root, c.prefix, [&](const std::string& path, const git::TreeEntry& e) {
      seen.push_back(path);
      kinds.push_back(e.kind);
      return true;
    }));
    CHECK(seen == c.expected);
    CHECK(kinds == std::vector<EntryKind>{EntryKind::blob, EntryKind::blob, EntryKind::blob, EntryKind::executable,
                                          EntryKind::blob, EntryKind::symlink, EntryKind::submodule});
  }

  std::vector<std::string> seen;
  REQUIRE(repo.walk(root, "", [&](const std::string& path, const git::TreeEntry& e) {
    seen.push_back(path);
    CHECK(e.oid == (e.kind == EntryKind::submodule ? *Oid::from_hex("2222222222222222222222222222222222222222")
                                                   : f.rev(root.hex() + ":" + path)));
    return path != "bin/run";
  }));
  CHECK(seen == std::vector<std::string>{"a.b", "a/x", "a0", "bin/run"});

  std::vector<std::string> sub;
  auto d = repo.entry_at(root, "d");
  REQUIRE(d);
  REQUIRE(d->has_value());
  REQUIRE(repo.walk((*d)->oid, "d", [&](const std::string& path, const git::TreeEntry&) {
    sub.push_back(path);
    return true;
  }));
  CHECK(sub == std::vector<std::string>{"d/e/f/g"});
  CHECK_FALSE(repo.walk(*Oid::from_hex(k_hex), "", [](const std::string&, const git::TreeEntry&) { return true; }));
}

TEST_CASE("is_ancestor follows history", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  Oid c1 = f.commit(f.tree_batched({{"f", "1"}}), {}, "one");
  Oid c2 = f.commit(f.tree_batched({{"f", "2"}}), {c1}, "two");
  Oid c3 = f.commit(f.tree_batched({{"f", "3"}}), {c2}, "three");
  Oid side = f.commit(f.tree_batched({{"f", "s"}}), {c1}, "side");
  Oid merge = f.commit(f.tree_batched({{"f", "m"}}), {c3, side}, "merge");
  Oid orphan = f.commit(f.tree_batched({{"o", "o"}}), {}, "orphan");
  auto repo = open_repo(f.dir());

  struct Case {
    const char* name;
    Oid ancestor, descendant;
    bool expected;
  };
  const Case cases[] = {
      {"parent", c1, c2, true},
      {"grandparent", c1, c3, true},
      {"child is not an ancestor", c3, c1, false},
      {"same commit", c2, c2, true},
      {"diverged: main tip vs side", c3, side, false},
      {"diverged: side vs main tip", side, c3, false},
      {"fork point", c1, side, true},
      {"second parent of a merge", side, merge, true},
      {"first-parent line of a merge", c2, merge, true},
      {"unrelated history", orphan, c3, false},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = repo.is_ancestor(c.ancestor, c.descendant);
    CHECK(r);
    if (r) CHECK(*r == c.expected);
    // Cross-check with git itself.
    auto g = run_git(f.dir(), {"merge-base", "--is-ancestor", c.ancestor.hex(), c.descendant.hex()});
    CHECK((g.status == 0) == c.expected);
  }
}

TEST_CASE("config values are read and written", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  f.git({"config", "portcullis.mode", "strict"});
  auto repo = open_repo(f.dir());

  struct Case {
    const char* key;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"core.bare", "false"},
      {"portcullis.mode", "strict"},
      {"portcullis.missing", std::nullopt},
      {"receive.fsckObjects", std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.key);
    auto v = repo.config_string(c.key);
    CHECK(v);
    if (v) CHECK(*v == c.expected);
  }

  REQUIRE(repo.set_config_bool("receive.fsckObjects", true));
  REQUIRE(repo.set_config_bool("portcullis.enabled", false));
  auto v = repo.config_string("receive.fsckObjects");
  REQUIRE(v);
  CHECK(*v == std::optional<std::string>("true"));
  auto off = repo.config_string("portcullis.enabled");
  REQUIRE(off);
  CHECK(*off == std::optional<std::string>("false"));
  // The value landed in the repository's own config, where git reads it.
  CHECK(f.git({"config", "--local", "--bool", "receive.fsckobjects"}) == "true");
  CHECK(f.git({"config", "--local", "--bool", "portcullis.enabled"}) == "false");
  REQUIRE(repo.set_config_bool("receive.fsckObjects", false));
  CHECK(f.git({"config", "--local", "--bool", "receive.fsckobjects"}) == "false");
}

TEST_CASE("open_hook_environment sees quarantined objects of a push", "[git]") {
  test::TempDir tmp;
  // Paths with ':' force git's C-quoting in GIT_ALTERNATE_OBJECT_DIRECTORIES.
  GitFixture f(tmp, "srv:x/repo");
  const fs::path objects = f.dir() / ".git/objects";
  const fs::path quarantine = tmp / "q:uarantine/objects";
  const fs::path alternate = tmp / "al:t/objects";
  const auto old_git_dir = test::env_value("GIT_DIR");
  const auto old_object_dir = test::env_value("GIT_OBJECT_DIRECTORY");
  const auto old_alternates = test::env_value("GIT_ALTERNATE_OBJECT_DIRECTORIES");
  fs::create_directories(quarantine);
  fs::create_directories(alternate);

  Oid base_tree = f.tree_batched({{"base.txt", "base\n"}});
  Oid base = f.commit(base_tree, {}, "base");
  f.set_ref("refs/heads/main", base);
  Oid base_blob = f.rev("main:base.txt");

  // Objects of the incoming push, written the way receive-pack does: into the quarantine,
  // with the repository's own objects as an alternate (git must accept the quoted form).
  const EnvVars into_quarantine{{"GIT_OBJECT_DIRECTORY", quarantine.string()},
                            {"GIT_ALTERNATE_OBJECT_DIRECTORIES", c_quote(objects.string())}};
  Oid pushed_blob = f.blob("quarantined\n", into_quarantine);
  Oid pushed_tree = to_oid(f.git({"mktree"},
                                 "100644 blob " + base_blob.hex() + "\tbase.txt\n100644 blob " + pushed_blob.hex() +
                                     "\tnew.txt\n",
                                 into_quarantine));
  Oid pushed = to_oid(f.git({"commit-tree", pushed_tree.hex(), "-p", base.hex(), "-m", "push"}, {}, into_quarantine));
  // An object only reachable through an alternate named in the environment.
  Oid alt_blob = f.blob("alternate\n", {{"GIT_OBJECT_DIRECTORY", alternate.string()}});
  // The fixture is what it claims: the pushed objects are not in the repository itself.
  CHECK(run_git(f.dir(), {"cat-file", "-e", pushed_blob.hex()}).status != 0);
  CHECK(run_git(f.dir(), {"cat-file", "-e", pushed.hex()}).status != 0);
  CHECK(run_git(f.dir(), {"cat-file", "-e", alt_blob.hex()}).status != 0);
  CHECK(run_git(f.dir(), {"cat-file", "-e", pushed.hex()}, {}, into_quarantine).status == 0);

  struct Visible {
    const char* name;
    Oid oid;
    bool in_hook;
    bool in_plain;
  };
  const Visible objects_table[] = {
      {"existing blob", base_blob, true, true},
      {"existing commit", base, true, true},
      {"quarantined blob", pushed_blob, true, false},
      {"quarantined tree", pushed_tree, true, false},
      {"quarantined commit", pushed, true, false},
      {"blob in a quoted alternate", alt_blob, true, false},
  };

  {
    ScopedEnv env({{"GIT_DIR", (f.dir() / ".git").string()},
                   {"GIT_OBJECT_DIRECTORY", quarantine.string()},
                   {"GIT_ALTERNATE_OBJECT_DIRECTORIES", c_quote(objects.string()) + ":" + c_quote(alternate.string())},
                   {"GIT_QUARANTINE_PATH", quarantine.string()}});
    auto hook = Repository::open_hook_environment();
    INFO((hook ? std::string() : hook.error().message));
    REQUIRE(hook);
    CHECK(fs::equivalent(hook->git_dir(), f.dir() / ".git"));
    auto plain = open_repo(f.dir());

    for (const auto& o : objects_table) {
      INFO(o.name);
      CHECK(hook->object_size(o.oid).has_value() == o.in_hook);
      CHECK(plain.object_size(o.oid).has_value() == o.in_plain);
    }
    auto text = hook->read_blob(pushed_blob, 1024);
    REQUIRE(text);
    CHECK(*text == "quarantined\n");
    auto alt_text = hook->read_blob(alt_blob, 1024);
    REQUIRE(alt_text);
    CHECK(*alt_text == "alternate\n");
    auto tree = hook->commit_tree(pushed);
    REQUIRE(tree);
    CHECK(*tree == pushed_tree);
    CHECK_FALSE(plain.commit_tree(pushed));
    auto entry = hook->entry_at(pushed_tree, "new.txt");
    REQUIRE(entry);
    REQUIRE(entry->has_value());
    CHECK((*entry)->oid == pushed_blob);
    CHECK(diff_lines(*hook, base_tree, pushed_tree) == std::vector<std::string>{"A new.txt"});
    auto anc = hook->is_ancestor(base, pushed);
    REQUIRE(anc);
    CHECK(*anc);
    auto peeled = hook->peel_to_commit(pushed);
    REQUIRE(peeled);
    CHECK(*peeled == std::optional<Oid>(pushed));
  }
  // The environment is back as it was.
  CHECK(test::env_value("GIT_DIR") == old_git_dir);
  CHECK(test::env_value("GIT_OBJECT_DIRECTORY") == old_object_dir);
  CHECK(test::env_value("GIT_ALTERNATE_OBJECT_DIRECTORIES") == old_alternates);

  SECTION("without the alternates variable only the quarantine is added") {
    ScopedEnv env({{"GIT_DIR", (f.dir() / ".git").string()},
                   {"GIT_OBJECT_DIRECTORY", quarantine.string()},
                   {"GIT_ALTERNATE_OBJECT_DIRECTORIES", std::nullopt}});
    auto hook = Repository::open_hook_environment();
    REQUIRE(hook);
    CHECK(hook->object_size(pushed).has_value());
    CHECK(hook->object_size(base).has_value());
    CHECK_FALSE(hook->object_size(alt_blob).has_value());
  }

  SECTION("a GIT_DIR that is not a repository fails and names it") {
    ScopedEnv env({{"GIT_DIR", (tmp / "nothing-here").string()},
                   {"GIT_OBJECT_DIRECTORY", std::nullopt},
                   {"GIT_ALTERNATE_OBJECT_DIRECTORIES", std::nullopt}});
    auto hook = Repository::open_hook_environment();
    REQUIRE_FALSE(hook);
    CHECK_THAT(hook.error().message, Catch::Contains("nothing-here"));
  }
}

TEST_CASE("diff and walk refuse a tree that lists a name twice or out of order", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  const Oid x = f.blob("kind: ConfigMap\nmetadata: {name: x}\n"), y = f.blob("kind: ConfigMap\nmetadata: {name: y}\n");
  auto entry = [](const std::string& name, const Oid& blob) {
    return "100644 " + name + std::string(1, '\0') + std::string(reinterpret_cast<const char*>(blob.bytes.data()), 20);
  };
  // Git never writes these; `hash-object --literally` does, as a hostile pusher's tool would.
  auto raw_tree = [&](const std::string& bytes) {
    return to_oid(f.git({"hash-object", "-t", "tree", "-w", "--literally", "--stdin"}, bytes));
  };
  const Oid twice = raw_tree(entry("a.yaml", x) + entry("a.yaml", y));
  const Oid unsorted = raw_tree(entry("b.yaml", x) + entry("a.yaml", y));
  const Oid good = f.tree({{"a.yaml", "kind: ConfigMap\nmetadata: {name: x}\n"}});
  auto repo = open_repo(f.dir());
  struct Case {
    const char* what;
    std::optional<Oid> before, after;
  };
  const Case cases[] = {
      {"a name twice, after", good, twice},  {"a name twice, before", twice, good},
      {"a name twice, added", std::nullopt, twice}, {"out of order, after", good, unsorted},
      {"out of order, removed", unsorted, std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = repo.diff(c.before, c.after, "environments/prod", [](const Change&) { return true; });
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("twice or out of order") != std::string::npos);
  }
  for (const Oid& t : {twice, unsorted}) {
    auto w = repo.walk(t, "", [](const std::string&, const git::TreeEntry&) { return true; });
    REQUIRE_FALSE(w);
    CHECK(w.error().message.find("twice or out of order") != std::string::npos);
  }
  CHECK(repo.walk(good, "", [](const std::string&, const git::TreeEntry&) { return true; }));
}

TEST_CASE("large trees are kept beside the repository, used only when their bytes are the tree's", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  const Oid blob = f.blob("kind: ConfigMap\n"), other = f.blob("kind: Secret\n");
  auto entry = [](const std::string& name, const Oid& id, const std::string& mode = "100644") {
    return mode + " " + name + std::string(1, '\0') + std::string(reinterpret_cast<const char*>(id.bytes.data()), 20);
  };
  // A directory of `n` manifests (~41 bytes an entry: 1,000 make a tree of 41 KB), `changed`
  // with another blob, `extra` added after entry 500.
  auto directory = [&](int n, int changed = -1, const std::string& extra = "") {
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "cm-%04d.yaml", i);
      bytes += entry(name, i == changed ? other : blob);
      if (i == 500) bytes += extra;
    }
    return to_oid(f.git({"hash-object", "-t", "tree", "-w", "--literally", "--stdin"}, bytes));
  };
  const Oid a = directory(1000), b = directory(1000, 700);
  const Oid twice = directory(1000, -1, entry("cm-0500.yaml", other));
  const Oid small = directory(10), small_b = directory(10, 3);
  const fs::path kept = tmp / "kept";
  auto kept_file = [&](const Oid& t) { return kept / (t.hex() + ".v2.tree"); };
  auto diff_in = [&](const Oid& before, const Oid& after) {
    auto repo = open_repo(f.dir());
    repo.keep_large_trees(kept);
    return diff_lines(repo, before, after);
  };
  const std::vector<std::string> one_change{"M cm-0700.yaml"};

  CHECK(diff_in(a, b) == one_change);
  CHECK(fs::exists(kept_file(a)));
  CHECK(fs::exists(kept_file(b)));
  CHECK(diff_in(small, small_b) == std::vector<std::string>{"M cm-0003.yaml"});
  CHECK_FALSE(fs::exists(kept_file(small)));  // small trees are read from Git each time
  // Read from the kept copies, in another Repository: the same changes.
  CHECK(diff_in(a, b) == one_change);
  CHECK(diff_in(b, a) == one_change);

  SECTION("a damaged or misplaced copy is not used, and is removed") {
    struct Case {
      const char* what;
      std::string bytes;
    };
    const std::string a_bytes = *util::read_file(kept_file(a));
    auto flipped = [&](std::size_t at) {
      std::string bytes = a_bytes;
      bytes[at] ^= 1;
      return bytes;
    };
    const std::size_t header = 36;  // magic, id, size, checksum
    const Case cases[] = {
        {"another tree's copy (a valid tree, the wrong one)", *util::read_file(kept_file(b))},
        {"cut short by a byte", a_bytes.substr(0, a_bytes.size() - 1)},
        {"a byte more", a_bytes + "x"},
        {"a bit flipped in the bytes", flipped(a_bytes.size() / 2)},
        {"a bit flipped in the last byte", flipped(a_bytes.size() - 1)},
        {"a bit flipped in the id", flipped(8)},
        {"a bit flipped in the checksum", flipped(header - 1)},
        {"another format's magic", flipped(7)},
        {"the tree's bytes alone (a v1 copy)", a_bytes.substr(header)},
        {"the header alone", a_bytes.substr(0, header)},
        {"empty", ""},
    };
    for (const auto& c : cases) {
      INFO(c.what);
      REQUIRE(util::write_file(kept_file(a), c.bytes));
      CHECK(diff_in(a, b) == one_change);
      // Read from Git instead, and kept again as it is.
      auto again = util::read_file(kept_file(a));
      REQUIRE(again);
      CHECK(*again == a_bytes);
      CHECK(diff_in(a, b) == one_change);
    }
  }

  SECTION("a tree that lists a name twice is refused against a kept copy, and not kept") {
    auto repo = open_repo(f.dir());
    repo.keep_large_trees(kept);
    auto r = repo.diff(a, twice, "environments/prod", [](const Change&) { return true; });
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("environments/prod/cm-0500.yaml twice or out of order") != std::string::npos);
    CHECK_FALSE(fs::exists(kept_file(twice)));
  }

  SECTION("the newest 32 copies are kept") {
    for (int i = 0; i < 36; ++i) CHECK(diff_in(a, directory(1000, i)).size() == 1);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(kept)) files += e.path().extension() == ".tree";
    CHECK(files == 32);
  }
}

TEST_CASE("loose trees are inflated here, packed and damaged ones are left to libgit2", "[git]") {
  test::TempDir tmp;
  GitFixture f(tmp, "repo");
  const Oid blob = f.blob("kind: ConfigMap\n"), other = f.blob("kind: Secret\n");
  auto directory = [&](int n, int changed) {
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "cm-%04d.yaml", i);
      const Oid& id = i == changed ? other : blob;
      bytes += "100644 " + std::string(name) + std::string(1, '\0') +
               std::string(reinterpret_cast<const char*>(id.bytes.data()), 20);
    }
    return to_oid(f.git({"hash-object", "-t", "tree", "-w", "--stdin"}, bytes));
  };
  const Oid a = directory(3000, -1), b = directory(3000, 2999), small = directory(3, 1);
  auto loose_file = [&](const Oid& o) { return f.dir() / ".git/objects" / o.hex().substr(0, 2) / o.hex().substr(2); };
  REQUIRE(fs::exists(loose_file(a)));
  const std::vector<std::string> last{"M cm-2999.yaml"};
  {
    auto repo = open_repo(f.dir());
    CHECK(diff_lines(repo, a, b) == last);
    CHECK(diff_lines(repo, std::nullopt, small) ==
          std::vector<std::string>{"A cm-0000.yaml", "A cm-0001.yaml", "A cm-0002.yaml"});
  }
  SECTION("a blob asked for as a tree") {
    auto repo = open_repo(f.dir());
    auto r = repo.diff(std::nullopt, blob, "", [](const Change&) { return true; });
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("is not a tree") != std::string::npos);
  }
  SECTION("a damaged loose tree fails as libgit2 fails, whatever the damage") {
    const auto good = util::read_file(loose_file(b));
    REQUIRE(good);
    // (libgit2 1.5 spins on some of these: read here, they fail.)
    for (const std::string& bytes : {good->substr(0, good->size() / 2), good->substr(0, good->size() - 4),
                                     std::string(good->size(), 'x'), std::string()}) {
      fs::permissions(loose_file(b), fs::perms::owner_write, fs::perm_options::add);
      REQUIRE(util::write_file(loose_file(b), bytes));
      auto repo = open_repo(f.dir());
      auto r = repo.diff(a, b, "", [](const Change&) { return true; });
      REQUIRE_FALSE(r);
      CHECK(r.error().message.find("cannot read tree " + b.short_hex() + ": its loose object is damaged") !=
            std::string::npos);
    }
  }
  SECTION("packed trees") {
    f.git({"update-ref", "refs/keep/a", f.git({"commit-tree", a.hex(), "-m", "a"})});
    f.git({"update-ref", "refs/keep/b", f.git({"commit-tree", b.hex(), "-m", "b"})});
    f.git({"repack", "-a", "-d", "-q"});
    f.git({"prune-packed"});
    REQUIRE_FALSE(fs::exists(loose_file(a)));
    auto repo = open_repo(f.dir());
    CHECK(diff_lines(repo, a, b) == last);
  }
}
