#include <CLI/CLI.hpp>

#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <span>

#include "hooks/cli/command.hpp"

namespace portcullis::hooks::cli {

namespace {

const Command k_commands[] = {
    {"install",
     "install its hooks into a bare repository or a Git host (--layout plain, gitolite, gitlab, gitea)",
     setup_install},
    {"hook", "run as a Git server hook (pre-receive, post-receive)", setup_hook},
    {"check", "run the gate's checks on a range in any clone (CI, pre-push)", setup_check},
    {"schemas", "manage the schema store (import a cluster's OpenAPI document)", setup_schemas},
    {"approve", "approve a commit for protected refs with a signed tag under refs/approvals/", setup_approve},
    {"audit", "list the gate's audit records (--open-break-glass)", setup_audit},
    {"break-glass", "open, close or list a signed break-glass window of a reconciler target", setup_break_glass},
    {"notify", "deliver spooled push events to the reconciler (notify --flush)", setup_notify},
    {"status", "show the reconciler's targets (portcullisd's /v1/targets)", setup_status},
    {"render", "print the objects a directory declares (kustomizations built natively)", setup_render},
    {"promote", "copy the images one environment runs into another's manifests, as one commit", setup_promote},
    {"version", "print the version", setup_version},
};

// The commands to set up: only the one `argv` names when it names one (a hook run is
// `portcullis hook pre-receive`, and setting up every command's options is a tenth of its
// start-up), else all of them, so that `--help` and a misspelt command list every command.
std::span<const Command> commands_to_set_up(int argc, char** argv) {
  if (argc >= 2)
    for (const auto& c : k_commands)
      if (c.name == argv[1]) return {&c, 1};
  return k_commands;
}

// `status`, unless it says all is well and the output did not all get written (SIGPIPE is
// ignored: `portcullis audit | head` would otherwise end 0 with its output cut short).
int with_output_written(int status) {
  std::cout.flush();
  if (std::cout || status != k_exit_ok) return status;
  std::cerr << "portcullis: the output could not be written (" << std::strerror(errno) << ")\n";
  return k_exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  // As portcullisd: a peer gone mid-write (a notify target or apiserver that resets the
  // connection, a closed pipe) fails that write; it does not end the process before it can
  // spool, record or say what happened.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"portcullis: the GitOps gate. Git accepts only what is valid, owned and promoted.",
               "portcullis"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show help for every command");
  std::vector<std::pair<CLI::App*, Runner>> runners;
  for (const auto& c : commands_to_set_up(argc, argv)) {
    CLI::App* sub = app.add_subcommand(std::string(c.name), std::string(c.help));
    runners.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return k_exit_usage;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return with_output_written(run());
  } catch (const std::exception& e) {
    std::cerr << "portcullis: internal error: " << e.what() << "\n";
    return k_exit_usage;
  }
  return k_exit_usage;
}

}  // namespace portcullis::hooks::cli
