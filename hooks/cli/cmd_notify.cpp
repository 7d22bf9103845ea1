#include <CLI/CLI.hpp>

#include <iostream>

#include "hooks/cli/command.hpp"
#include "hooks/notify.hpp"
#include "shared/git/repository.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks::cli {

Runner setup_notify(CLI::App& app) {
  struct Options {
    std::string config;
    std::string repo;
    bool flush = false;
    std::string timeout = "30s";
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Deliver push events that post-receive could not deliver (they wait in the spool: notify.spool in "
      "the server config, or <repository>/portcullis/spool). Exit status 0 when the spool is empty "
      "afterwards, 1 when events remain, 2 on usage or configuration errors.");
  app.add_flag("--flush", o->flush, "deliver the spooled events")->required();
  app.add_option("--config", o->config, "server config (YAML)")->required();
  app.add_option("--repo", o->repo, "repository whose default spool to flush (when notify.spool is not set)");
  app.add_option("--timeout", o->timeout, "give up after this long")->capture_default_str();
  return [o] {
    auto config = policy::load_server_config(o->config);
    if (!config) {
      std::cerr << "portcullis notify: " << config.error().describe() << "\n";
      return int(k_exit_usage);
    }
    std::filesystem::path spool = config->notify_spool;
    if (spool.empty()) {
      if (o->repo.empty()) {
        std::cerr << "portcullis notify: the server config sets no notify.spool; pass --repo\n";
        return int(k_exit_usage);
      }
      auto repo = git::Repository::open(o->repo);
      if (!repo) {
        std::cerr << "portcullis notify: " << repo.error().message << "\n";
        return int(k_exit_usage);
      }
      spool = repo->git_dir() / "portcullis" / "spool";
    }
    auto ms = util::parse_duration_ms(o->timeout);
    if (!ms) {
      std::cerr << "portcullis notify: --timeout " << o->timeout << " is not a duration\n";
      return int(k_exit_usage);
    }
    auto r = flush_spool(*config, spool, std::chrono::milliseconds(*ms));
    for (const auto& p : r.problems) std::cerr << "portcullis notify: " << p << "\n";
    std::cout << "delivered " << r.delivered << ", still spooled " << r.spooled << "\n";
    return r.spooled == 0 ? int(k_exit_ok) : int(k_exit_rejected);
  };
}

}  // namespace portcullis::hooks::cli
