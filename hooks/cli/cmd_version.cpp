#include <git2.h>
#include <yaml.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "hooks/cli/command.hpp"

namespace portcullis::hooks::cli {

Runner setup_version(CLI::App& app) {
  app.description("print the version of portcullis and of the libraries it runs on");
  return [] {
    int major = 0, minor = 0, rev = 0;
    git_libgit2_version(&major, &minor, &rev);
    std::cout << "portcullis " << PORTCULLIS_VERSION << " (libgit2 " << major << '.' << minor << '.' << rev
              << ", libyaml " << yaml_get_version_string() << ")\n";
    return k_exit_ok;
  };
}

}  // namespace portcullis::hooks::cli
