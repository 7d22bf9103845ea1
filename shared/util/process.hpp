#pragma once
// Running a program with a fixed argument list (never through a shell).
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::util {

struct ProcessResult {
  int status = -1;  // exit status; 128+N when killed by signal N
  std::string out, err;
};

// Runs argv[0] (searched in PATH) with `argv` in `cwd` (empty: the current directory), stdin
// empty, and captures stdout and stderr. Fails only when it cannot be started.
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {});
// The same with `env` set (or overridden) in the child's environment: for values that must not
// appear in a process listing (credentials handed to git as GIT_CONFIG_* entries).
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                  const std::vector<std::pair<std::string, std::string>>& env);

}  // namespace portcullis::util
