#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "shared/git/repository.hpp"
#include "tests/unit/support/tempdir.hpp"

extern char** environ;

using namespace portcullis;
using git::Change;
using git::EntryKind;
using git::Oid;
using git::Repository;
namespace fs = std::filesystem;

namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs the real `git` with fixed arguments in `cwd`. The child gets the parent's environment
// without any GIT_* variable (so a test that sets them for libgit2 never leaks them into the
// fixture), no system or global config, fixed identities and dates, plus `env`.
RunResult run_git(const fs::path& cwd, const std::vector<std::string>& args, std::string_view input = {},
                  const Env& env = {}) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("GIT_") || kv.starts_with("HOME=")) continue;
    env_strings.emplace_back(kv);
  }
  const Env fixed = {{"HOME", cwd.string()},
                     {"GIT_CONFIG_NOSYSTEM", "1"},
                     {"GIT_CONFIG_GLOBAL", "/dev/null"},
                     {"GIT_AUTHOR_NAME", "Test"},
                     {"GIT_AUTHOR_EMAIL", "test@example.com"},
                     {"GIT_AUTHOR_DATE", "1700000000 +0000"},
                     {"GIT_COMMITTER_NAME", "Test"},
                     {"GIT_COMMITTER_EMAIL", "test@example.com"},
                     {"GIT_COMMITTER_DATE", "1700000000 +0000"}};
  for (const auto& [k, v] : fixed) env_strings.push_back(k + "=" + v);
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{"git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                                        "-c", "tag.gpgsign=false"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int in[2], out[2], err[2];
  REQUIRE(::pipe(in) == 0);
  REQUIRE(::pipe(out) == 0);
  REQUIRE(::pipe(err) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvpe("git", argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  std::string_view pending = input;
  while (!pending.empty()) {
    ssize_t n = ::write(in[1], pending.data(), pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(in[1]);
  RunResult r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

Oid to_oid(const std::string& hex) {
  auto o = Oid::from_hex(hex);
  INFO("not an object id: '" << hex << "'");
  REQUIRE(o);
  return *o;
}

// One entry of a tree built by `Fixture::tree`: a blob (`content`) or, for mode 160000, a
// gitlink to the commit id in `content`.
struct Item {
  std::string mode;
  std::string path;
  std::string content;
};

// A repository built with the real git CLI in a directory of a TempDir.
class Fixture {
 public:
  Fixture(const test::TempDir& tmp, const std::string& name, bool bare = false) : m_tmp(tmp.path()), m_dir(tmp / name) {
    fs::create_directories(m_dir);
    if (bare) git({"init", "-q", "--bare"});
    else git({"init", "-q"});
  }

  const fs::path& dir() const { return m_dir; }

  // Runs git and requires success; returns stdout without its trailing newline.
  std::string git(const std::vector<std::string>& args, std::string_view input = {}, const Env& env = {}) const {
    auto r = run_git(m_dir, args, input, env);
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    INFO("git" << cmd << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  Oid rev(const std::string& rev) const { return to_oid(git({"rev-parse", "--verify", "-q", rev})); }

  Oid blob(const std::string& content, const Env& env = {}) const {
    return to_oid(git({"hash-object", "-w", "--stdin"}, content, env));
  }

  // Builds a tree from `items` in a fresh index (nested paths allowed).
  Oid tree(const std::vector<Item>& items) const {
    // All blobs in one `hash-object` run: each content goes through a scratch file.
    std::string paths;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].mode == "160000") continue;
      const fs::path scratch = m_tmp / ("blob-" + std::to_string(i));
      std::ofstream(scratch, std::ios::binary | std::ios::trunc) << items[i].content;
      paths += scratch.string() + "\n";
    }
    std::istringstream ids(paths.empty() ? std::string() : git({"hash-object", "-w", "--no-filters", "--stdin-paths"}, paths));
    std::string info;
    for (const auto& it : items) {
      std::string id = it.content;
      if (it.mode != "160000") REQUIRE(std::getline(ids, id));
      info += it.mode + " " + (it.mode == "160000" ? "commit" : "blob") + " " + id + "\t" + it.path + "\n";
    }
    const fs::path index = m_tmp / ("index-" + std::to_string(++m_indexes));
    fs::remove(index);
    Env env{{"GIT_INDEX_FILE", index.string()}};
    git({"update-index", "--add", "--index-info"}, info, env);
    return to_oid(git({"write-tree"}, {}, env));
  }

  Oid commit(const Oid& tree, const std::vector<Oid>& parents, const std::string& message) const {
    std::vector<std::string> args{"commit-tree", tree.hex(), "-m", message};
    for (const auto& p : parents) {
      args.push_back("-p");
      args.push_back(p.hex());
    }
    return to_oid(git(args));
  }

  void set_ref(const std::string& ref, const Oid& oid) const { git({"update-ref", ref, oid.hex()}); }

 private:
  fs::path m_tmp;
  fs::path m_dir;
  mutable int m_indexes = 0;
};

Repository open_repo(const fs::path& path) {
  auto r = Repository::open(path);
  INFO(path << ": " << (r ? std::string() : r.error().message));
  REQUIRE(r);
  return std::move(*r);
}

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

// Sets and unsets environment variables for one scope, restoring the previous values.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::vector<std::pair<std::string, std::optional<std::string>>>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      m_saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() {
    for (auto it = m_saved.rbegin(); it != m_saved.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> m_saved;
};

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
  Fixture work(tmp, "work");
  Fixture bare(tmp, "bare.git", /*bare=*/true);
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
  Fixture f(tmp, "repo");
  Oid t1 = f.tree({{"100644", "a.txt", "one\n"}});
  Oid t2 = f.tree({{"100644", "a.txt", "two\n"}});
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
  Fixture empty(tmp, "empty");
  Fixture empty_bare(tmp, "empty.git", true);
  Fixture full(tmp, "full");
  Oid c1 = full.commit(full.tree({{"100644", "f", "x"}}), {}, "one");
  Oid c2 = full.commit(full.tree({{"100644", "f", "y"}}), {c1}, "two");
  full.set_ref("refs/heads/main", c2);
  full.set_ref("refs/heads/other", c1);
  Fixture bare(tmp, "bare.git", true);
  Oid b1 = bare.commit(bare.tree({{"100644", "g", "z"}}), {}, "one");
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
  Fixture f(tmp, "repo");
  const std::string sub_commit = "2222222222222222222222222222222222222222";
  Oid root = f.tree({
      {"100644", "a.txt", "alpha\n"},
      {"100755", "bin/run.sh", "#!/bin/sh\n"},
      {"120000", "link", "a.txt"},
      {"100644", "dir/sub/f.yaml", "k: v\n"},
      {"160000", "vendor/lib", sub_commit},
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
  Fixture f(tmp, "repo");
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
  Fixture f(tmp, "repo");
  auto repo_of = [&] { return open_repo(f.dir()); };

  struct Case {
    const char* name;
    std::vector<Item> before;
    std::vector<Item> after;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"identical trees", {{"100644", "a", "1"}}, {{"100644", "a", "1"}}, {}},
      {"added, modified, deleted",
       {{"100644", "a.txt", "1"}, {"100644", "gone.txt", "g"}, {"100644", "same.txt", "s"}},
       {{"100644", "a.txt", "2"}, {"100644", "new.txt", "n"}, {"100644", "same.txt", "s"}},
       {"M a.txt", "D gone.txt", "A new.txt"}},
      {"mode change only", {{"100644", "run", "x"}}, {{"100755", "run", "x"}}, {"M run"}},
      {"blob to symlink", {{"100644", "l", "a"}}, {{"120000", "l", "a"}}, {"M l"}},
      {"nested change beside an identical subtree",
       {{"100644", "d/keep/k", "k"}, {"100644", "d/x/f", "1"}, {"100644", "e", "e"}},
       {{"100644", "d/keep/k", "k"}, {"100644", "d/x/f", "2"}, {"100644", "e", "e"}},
       {"M d/x/f"}},
      {"file replaced by a directory", {{"100644", "thing", "t"}, {"100644", "z", "z"}},
       {{"100644", "thing/inner", "i"}, {"100644", "thing/more", "m"}, {"100644", "z", "z"}},
       {"D thing", "A thing/inner", "A thing/more"}},
      {"directory replaced by a file", {{"100644", "thing/inner", "i"}}, {{"100644", "thing", "t"}},
       {"A thing", "D thing/inner"}},
      {"whole directory added and removed", {{"100644", "old/a", "1"}, {"100644", "old/b/c", "2"}},
       {{"100644", "new/a", "1"}},
       {"A new/a", "D old/a", "D old/b/c"}},
      // Git sorts a tree "a" as "a/": after "a.b" ('.' < '/') and before "a0" ('0' > '/').
      {"a.b deleted beside tree a/", {{"100644", "a.b", "1"}, {"100644", "a/x", "1"}, {"100644", "a/y", "y"}},
       {{"100644", "a/x", "2"}, {"100644", "a/y", "y"}},
       {"D a.b", "M a/x"}},
      {"a.b added beside tree a/", {{"100644", "a/x", "1"}}, {{"100644", "a.b", "1"}, {"100644", "a/x", "1"}},
       {"A a.b"}},
      {"a0 and a/ changed", {{"100644", "a0", "1"}, {"100644", "a/x", "1"}, {"100644", "a.b", "1"}},
       {{"100644", "a0", "2"}, {"100644", "a/x", "2"}, {"100644", "a.b", "2"}},
       {"M a.b", "M a/x", "M a0"}},
      {"a-b removed, a/ modified", {{"100644", "a-b", "1"}, {"100644", "a/x", "1"}}, {{"100644", "a/x", "2"}},
       {"D a-b", "M a/x"}},
      {"submodule bumped",
       {{"160000", "vendor/lib", "2222222222222222222222222222222222222222"}},
       {{"160000", "vendor/lib", "3333333333333333333333333333333333333333"}},
       {"M vendor/lib"}},
  };
  SECTION("table of tree pairs") {
    for (const auto& c : cases) {
      INFO(c.name);
      Oid before = f.tree(c.before);
      Oid after = f.tree(c.after);
      auto repo = repo_of();
      CHECK(diff_lines(repo, before, after) == c.expected);
    }
  }

  SECTION("kinds and ids of a change") {
    Oid before = f.tree({{"100644", "run", "x"}});
    Oid after = f.tree({{"100755", "run", "y"}});
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
    Oid t = f.tree({{"100644", "a0", "1"}, {"100644", "a/x", "1"}, {"100644", "a.b", "1"}, {"100644", "b/c/d", "1"}});
    auto repo = repo_of();
    CHECK(diff_lines(repo, std::nullopt, t) == std::vector<std::string>{"A a.b", "A a/x", "A a0", "A b/c/d"});
    CHECK(diff_lines(repo, t, std::nullopt) == std::vector<std::string>{"D a.b", "D a/x", "D a0", "D b/c/d"});
    CHECK(diff_lines(repo, std::nullopt, std::nullopt).empty());
  }

  SECTION("the prefix is applied to every path") {
    Oid before = f.tree({{"100644", "a", "1"}, {"100644", "d/b", "1"}});
    Oid after = f.tree({{"100644", "a", "2"}, {"100644", "d/b", "2"}, {"100644", "n", "n"}});
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
    Oid before = f.tree({{"100644", "a", "1"}, {"100644", "d/x", "1"}, {"100644", "d/y", "1"}, {"100644", "z", "1"}});
    Oid after = f.tree({{"100644", "a", "2"}, {"100644", "d/x", "2"}, {"100644", "d/y", "2"}, {"100644", "z", "2"}});
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
  Fixture f(tmp, "repo");
  Oid root = f.tree({
      {"100644", "a0", "1"},
      {"100644", "a/x", "2"},
      {"100644", "a.b", "3"},
      {"100755", "bin/run", "4"},
      {"120000", "link", "a0"},
      {"160000", "mod", "2222222222222222222222222222222222222222"},
      {"100644", "d/e/f/g", "5"},
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
  Fixture f(tmp, "repo");
  Oid c1 = f.commit(f.tree({{"100644", "f", "1"}}), {}, "one");
  Oid c2 = f.commit(f.tree({{"100644", "f", "2"}}), {c1}, "two");
  Oid c3 = f.commit(f.tree({{"100644", "f", "3"}}), {c2}, "three");
  Oid side = f.commit(f.tree({{"100644", "f", "s"}}), {c1}, "side");
  Oid merge = f.commit(f.tree({{"100644", "f", "m"}}), {c3, side}, "merge");
  Oid orphan = f.commit(f.tree({{"100644", "o", "o"}}), {}, "orphan");
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
  Fixture f(tmp, "repo");
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
  Fixture f(tmp, "srv:x/repo");
  const fs::path objects = f.dir() / ".git/objects";
  const fs::path quarantine = tmp / "q:uarantine/objects";
  const fs::path alternate = tmp / "al:t/objects";
  auto saved = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const auto old_git_dir = saved("GIT_DIR");
  const auto old_object_dir = saved("GIT_OBJECT_DIRECTORY");
  const auto old_alternates = saved("GIT_ALTERNATE_OBJECT_DIRECTORIES");
  fs::create_directories(quarantine);
  fs::create_directories(alternate);

  Oid base_tree = f.tree({{"100644", "base.txt", "base\n"}});
  Oid base = f.commit(base_tree, {}, "base");
  f.set_ref("refs/heads/main", base);
  Oid base_blob = f.rev("main:base.txt");

  // Objects of the incoming push, written the way receive-pack does: into the quarantine,
  // with the repository's own objects as an alternate (git must accept the quoted form).
  const Env into_quarantine{{"GIT_OBJECT_DIRECTORY", quarantine.string()},
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
  CHECK(saved("GIT_DIR") == old_git_dir);
  CHECK(saved("GIT_OBJECT_DIRECTORY") == old_object_dir);
  CHECK(saved("GIT_ALTERNATE_OBJECT_DIRECTORIES") == old_alternates);

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
