#pragma once
// Fixture repositories for the hooks tests, built with the real `git` CLI inside a TempDir
// (a fresh repository per test, never mutated by the code under test).
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/git/repository.hpp"
#include "tests/unit/support/tempdir.hpp"

extern char** environ;

namespace portcullis::test {

using GitEnv = std::vector<std::pair<std::string, std::string>>;

struct GitRun {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs the real `git` with `args` in `cwd`: no GIT_* variable of the parent, no system or
// global config, fixed identities and dates, plus `env`; `input` goes to its stdin.
inline GitRun run_git(const std::filesystem::path& cwd, const std::vector<std::string>& args,
                      std::string_view input = {}, const GitEnv& env = {}) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("GIT_") || kv.starts_with("HOME=")) continue;
    env_strings.emplace_back(kv);
  }
  const GitEnv fixed = {{"HOME", cwd.string()},
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
  // Inputs are small (blobs of a few KiB at most): git reads all of its stdin before writing.
  std::string_view pending = input;
  while (!pending.empty()) {
    ssize_t n = ::write(in[1], pending.data(), pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(in[1]);
  GitRun r;
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

inline git::Oid to_oid(const std::string& hex) {
  auto o = git::Oid::from_hex(hex);
  INFO("not an object id: '" << hex << "'");
  REQUIRE(o);
  return *o;
}

// One entry of a tree: a blob with `content` (modes 100644, 100755, 120000 for a symlink
// whose target is `content`) or, for mode 160000, a gitlink to the commit id in `content`.
struct GitItem {
  std::string path;
  std::string content;
  std::string mode = "100644";
};

// A (non-bare) repository at `tmp/name` whose objects and refs are written with plumbing.
class GitFixture {
 public:
  explicit GitFixture(const TempDir& tmp, const std::string& name = "repo") : m_tmp(tmp.path()), m_dir(tmp / name) {
    std::filesystem::create_directories(m_dir);
    git({"init", "-q"});
  }

  const std::filesystem::path& dir() const { return m_dir; }

  // Runs git and requires success; returns stdout without its trailing newlines.
  std::string git(const std::vector<std::string>& args, std::string_view input = {}, const GitEnv& env = {}) const {
    auto r = run_git(m_dir, args, input, env);
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    INFO("git" << cmd << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  git::Oid blob(const std::string& content) const { return to_oid(git({"hash-object", "-w", "--stdin"}, content)); }

  // Builds a tree from `items` in a fresh index (nested paths allowed).
  git::Oid tree(const std::vector<GitItem>& items) const {
    std::string info;
    for (const auto& it : items) {
      bool link = it.mode == "160000";
      std::string id = link ? it.content : blob(it.content).hex();
      info += it.mode + " " + (link ? "commit" : "blob") + " " + id + "\t" + it.path + "\n";
    }
    const auto index = m_tmp / ("index-" + std::to_string(++m_indexes));
    std::filesystem::remove(index);
    GitEnv env{{"GIT_INDEX_FILE", index.string()}};
    if (!info.empty()) git({"update-index", "--add", "--index-info"}, info, env);
    return to_oid(git({"write-tree"}, {}, env));
  }

  git::Oid commit(const git::Oid& tree, const std::vector<git::Oid>& parents, const std::string& message = "c") const {
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

  git::Repository open() const {
    auto r = git::Repository::open(m_dir);
    INFO(m_dir << ": " << (r ? std::string() : r.error().message));
    REQUIRE(r);
    return std::move(*r);
  }

 private:
  std::filesystem::path m_tmp;
  std::filesystem::path m_dir;
  mutable int m_indexes = 0;
};

}  // namespace portcullis::test
