#pragma once
// Fixture repositories built with the real `git` CLI inside a TempDir (a fresh repository per
// test, never mutated by the code under test), and the libgit2-backed Repository opened on them.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/git/repository.hpp"
#include "tests/unit/support/process.hpp"
#include "tests/unit/support/tempdir.hpp"

namespace portcullis::test {

// Runs the real `git` with `args` in `cwd` through run_process (no GIT_* variable of the parent,
// no system or global config, fixed identities and dates, plus `env`), with init.defaultBranch=main
// and signing of commits and tags off; `input` goes to its stdin.
inline ProcessResult run_git(const std::filesystem::path& cwd, const std::vector<std::string>& args,
                             std::string_view input = {}, const EnvVars& env = {}) {
  std::vector<std::string> argv{
      "git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, cwd, input, env);
}

// The object id spelled by `hex`; REQUIREs that it is one.
inline git::Oid to_oid(const std::string& hex) {
  auto o = git::Oid::from_hex(hex);
  INFO("not an object id: '" << hex << "'");
  REQUIRE(o);
  return *o;
}

// Opens the repository at `path` through libgit2; REQUIREs success.
inline git::Repository open_repo(const std::filesystem::path& path) {
  auto r = git::Repository::open(path);
  INFO(path << ": " << (r ? std::string() : r.error().message));
  REQUIRE(r);
  return std::move(*r);
}

// One entry of a tree: a blob with `content` (modes 100644, 100755, 120000 for a symlink
// whose target is `content`) or, for mode 160000, a gitlink to the commit id in `content`.
struct GitItem {
  std::string path;
  std::string content;
  std::string mode = "100644";
};

// A repository at `tmp/name` (with a work tree unless `bare`) whose objects and refs are
// written with plumbing. Every git run REQUIREs success.
class GitFixture {
 public:
  explicit GitFixture(const TempDir& tmp, const std::string& name = "repo", bool bare = false)
      : m_tmp(tmp.path()), m_dir(tmp / name) {
    std::filesystem::create_directories(m_dir);
    if (bare)
      git({"init", "-q", "--bare"});
    else
      git({"init", "-q"});
  }

  const std::filesystem::path& dir() const { return m_dir; }

  // Runs git and requires success; returns stdout without its trailing newlines.
  std::string git(const std::vector<std::string>& args, std::string_view input = {},
                  const EnvVars& env = {}) const {
    auto r = run_git(m_dir, args, input, env);
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    INFO("git" << cmd << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  git::Oid rev(const std::string& rev) const { return to_oid(git({"rev-parse", "--verify", "-q", rev})); }

  git::Oid blob(const std::string& content, const EnvVars& env = {}) const {
    return to_oid(git({"hash-object", "-w", "--stdin"}, content, env));
  }

  // Builds a tree from `items` in a fresh index (nested paths allowed): one `hash-object` run
  // per blob, no `update-index` run for an empty tree.
  git::Oid tree(const std::vector<GitItem>& items) const {
    std::string info;
    for (const auto& it : items) {
      bool link = it.mode == "160000";
      std::string id = link ? it.content : blob(it.content).hex();
      info += it.mode + " " + (link ? "commit" : "blob") + " " + id + "\t" + it.path + "\n";
    }
    return write_tree(info, /*always_update_index=*/false);
  }

  // The same tree as `tree`, with fewer git runs: all blobs in one `hash-object --stdin-paths`
  // run (each content through a scratch file), then `update-index` even for an empty tree.
  git::Oid tree_batched(const std::vector<GitItem>& items) const {
    std::string paths;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].mode == "160000") continue;
      const auto scratch = m_tmp / ("blob-" + std::to_string(i));
      std::ofstream(scratch, std::ios::binary | std::ios::trunc) << items[i].content;
      paths += scratch.string() + "\n";
    }
    std::istringstream ids(
        paths.empty() ? std::string() : git({"hash-object", "-w", "--no-filters", "--stdin-paths"}, paths));
    std::string info;
    for (const auto& it : items) {
      std::string id = it.content;
      if (it.mode != "160000") REQUIRE(std::getline(ids, id));
      info += it.mode + " " + (it.mode == "160000" ? "commit" : "blob") + " " + id + "\t" + it.path + "\n";
    }
    return write_tree(info, /*always_update_index=*/true);
  }

  git::Oid commit(const git::Oid& tree, const std::vector<git::Oid>& parents,
                  const std::string& message = "c") const {
    std::vector<std::string> args{"commit-tree", tree.hex(), "-m", message};
    for (const auto& p : parents) {
      args.push_back("-p");
      args.push_back(p.hex());
    }
    return to_oid(git(args));
  }

  // A commit of exactly `items` on top of `parents`.
  git::Oid commit(const std::vector<GitItem>& items, const std::vector<git::Oid>& parents = {},
                  const std::string& message = "c") const {
    return commit(tree(items), parents, message);
  }

  void set_ref(const std::string& ref, const git::Oid& oid) const { git({"update-ref", ref, oid.hex()}); }

  git::Repository open() const { return open_repo(m_dir); }

 private:
  // Writes the tree of `index_info` (lines of `git update-index --index-info`) through a fresh
  // index file in the TempDir.
  git::Oid write_tree(const std::string& index_info, bool always_update_index) const {
    const auto index = m_tmp / ("index-" + std::to_string(++m_indexes));
    std::filesystem::remove(index);
    EnvVars env{{"GIT_INDEX_FILE", index.string()}};
    if (always_update_index || !index_info.empty())
      git({"update-index", "--add", "--index-info"}, index_info, env);
    return to_oid(git({"write-tree"}, {}, env));
  }

  std::filesystem::path m_tmp;
  std::filesystem::path m_dir;
  mutable int m_indexes = 0;
};

}  // namespace portcullis::test
