#pragma once
// The `portcullis` command line (namespace portcullis::hooks::cli): a table of subcommands, each adding its
// options to a CLI11 app and returning the function that runs it.
#include <functional>
#include <string_view>

namespace CLI {
class App;
}

namespace portcullis::hooks::cli {

// Exit codes scripts can rely on.
enum ExitCode : int {
  k_exit_ok = 0,        // accepted / clean / done
  k_exit_rejected = 1,  // the push or range is rejected (check, hook)
  k_exit_usage = 2,     // bad usage or an environment error (missing repository, bad config)
};

using Runner = std::function<int()>;

struct Command {
  std::string_view name;
  std::string_view help;
  // Adds the command's options to `app`; the returned runner executes it after parsing.
  std::function<Runner(CLI::App& app)> setup;
};

Runner setup_install(CLI::App& app);
Runner setup_hook(CLI::App& app);
Runner setup_check(CLI::App& app);
Runner setup_schemas(CLI::App& app);
Runner setup_notify(CLI::App& app);
Runner setup_status(CLI::App& app);
Runner setup_approve(CLI::App& app);
Runner setup_audit(CLI::App& app);
Runner setup_render(CLI::App& app);
Runner setup_promote(CLI::App& app);
Runner setup_version(CLI::App& app);

// Entry point of the `portcullis` executable.
int main(int argc, char** argv);

}  // namespace portcullis::hooks::cli
