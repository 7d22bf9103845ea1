#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

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
    {"notify", "deliver spooled push events to the reconciler (notify --flush)", setup_notify},
    {"status", "show the reconciler's targets (portcullisd's /v1/targets)", setup_status},
    {"render", "print the objects a directory declares (kustomizations built natively)", setup_render},
    {"promote", "copy the images one environment runs into another's manifests, as one commit", setup_promote},
    {"version", "print the version", setup_version},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"portcullis: the GitOps gate. Git accepts only what is valid, owned and promoted.",
               "portcullis"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show help for every command");
  std::vector<std::pair<CLI::App*, Runner>> runners;
  for (const auto& c : k_commands) {
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
      if (sub->parsed()) return run();
  } catch (const std::exception& e) {
    std::cerr << "portcullis: internal error: " << e.what() << "\n";
    return k_exit_usage;
  }
  return k_exit_usage;
}

}  // namespace portcullis::hooks::cli
