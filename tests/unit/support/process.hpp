#pragma once
// Runs a real program (git, ssh-keygen, openssl, ...) for a test: fixed argument lists only,
// nothing goes through a shell.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern char** environ;

namespace portcullis::test {

// Environment variables as (name, value) pairs.
using EnvVars = std::vector<std::pair<std::string, std::string>>;

struct ProcessResult {
  int status = -1;  // the exit status; -1 when the program did not exit normally
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] looked up in PATH) in `cwd` with `input` on its stdin (written while its
// output is read, so any size is fine) and returns its exit status, stdout and stderr.
// The child gets the parent's environment without GIT_*, HOME and SSH_AUTH_SOCK (so a test that
// sets them for the code under test never leaks them into a fixture), then HOME=`cwd`, no system
// or global git config, fixed git identities and dates, then `env`.
// Makes exactly four assertions (REQUIREs on pipe and fork), whatever the program does.
inline ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                 std::string_view input = {}, const EnvVars& env = {}) {
  // A name given in `env` replaces every earlier value: with two entries of one name, the
  // child's getenv would return the first.
  auto in_env = [&](std::string_view name) {
    return std::any_of(env.begin(), env.end(), [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("GIT_") || kv.starts_with("HOME=") || kv.starts_with("SSH_AUTH_SOCK=")) continue;
    if (in_env(kv.substr(0, kv.find('=')))) continue;
    env_strings.emplace_back(kv);
  }
  const EnvVars fixed = {{"HOME", cwd.string()},
                         {"GIT_CONFIG_NOSYSTEM", "1"},
                         {"GIT_CONFIG_GLOBAL", "/dev/null"},
                         {"GIT_AUTHOR_NAME", "Test"},
                         {"GIT_AUTHOR_EMAIL", "test@example.com"},
                         {"GIT_AUTHOR_DATE", "1700000000 +0000"},
                         {"GIT_COMMITTER_NAME", "Test"},
                         {"GIT_COMMITTER_EMAIL", "test@example.com"},
                         {"GIT_COMMITTER_DATE", "1700000000 +0000"}};
  for (const auto& [k, v] : fixed)
    if (!in_env(k)) env_strings.push_back(k + "=" + v);
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);

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
    ::execvpe(cargv[0], cargv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ProcessResult r;
  std::string_view pending = input;
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
  if (pending.empty()) {
    ::close(in[1]);
    fds[2].fd = -1;
  }
  std::string* sinks[2] = {&r.out, &r.err};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(fds[2].fd, pending.data(), std::min<std::size_t>(pending.size(), 65536));
      if (n > 0) pending.remove_prefix(static_cast<std::size_t>(n));
      if (pending.empty() || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        ::close(fds[2].fd);
        fds[2].fd = -1;
      }
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
      }
    }
  }
  if (fds[2].fd >= 0) ::close(fds[2].fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace portcullis::test
