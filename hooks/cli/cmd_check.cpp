#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <optional>

#include "hooks/cli/command.hpp"
#include "hooks/gate.hpp"
#include "shared/schema/store.hpp"

namespace portcullis::hooks::cli {

Runner setup_check(CLI::App& app) {
  struct Options {
    std::string repo = ".";
    std::string base;
    std::string head = "HEAD";
    std::string format = "text";
    std::string config;
    std::string schemas;
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Run the gate's content checks on a range of commits in any clone: in CI, or from a pre-push "
      "hook. The policy is read from --base (the target as it is before the change), or from --head "
      "when there is no base. Without --base every file under the environments is checked. Exit "
      "status: 0 clean (warnings allowed), 1 rejected, 2 usage or environment error.");
  app.add_option("--repo", o->repo, "repository (work tree or bare)")->capture_default_str();
  app.add_option("--base", o->base, "the target before the change, e.g. origin/main");
  app.add_option("--head", o->head, "the change")->capture_default_str();
  app.add_option("--format", o->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--config", o->config, "server config (YAML) for the schema store and limits");
  app.add_option("--schemas", o->schemas, "schema store directory (overrides the config's schemaStore)");
  return [o] {
    auto started = std::chrono::steady_clock::now();
    policy::ServerConfig config;
    if (!o->config.empty()) {
      auto c = policy::load_server_config(o->config);
      if (!c) {
        std::cerr << "portcullis check: " << c.error().describe() << "\n";
        return int(k_exit_usage);
      }
      config = std::move(*c);
    }
    if (!o->schemas.empty()) config.schema_store = o->schemas;
    auto repo = git::Repository::open(o->repo);
    if (!repo) {
      std::cerr << "portcullis check: " << repo.error().message << "\n";
      return int(k_exit_usage);
    }
    auto head = repo->resolve_commit(o->head);
    if (!head) {
      std::cerr << "portcullis check: " << head.error().message << "\n";
      return int(k_exit_usage);
    }
    RefUpdate update{git::Oid{}, *head, "HEAD"};
    if (!o->base.empty()) {
      auto base = repo->resolve_commit(o->base);
      if (!base) {
        std::cerr << "portcullis check: " << base.error().message << "\n";
        return int(k_exit_usage);
      }
      update.old_oid = *base;
    }
    std::optional<schema::Program> store;
    std::vector<std::string> notes;
    if (!config.schema_store.empty()) {
      auto s = schema::open_store(config.schema_store);
      if (!s) {
        std::cerr << "portcullis check: " << s.error().message << "\n";
        return int(k_exit_usage);
      }
      store = std::move(*s);
    } else {
      notes.push_back("schema validation is off: pass --schemas DIR or --config with a schemaStore");
    }
    Deadline deadline(std::chrono::minutes(30));
    std::vector<RefUpdate> updates{update};
    GateInput in{*repo,
                 config,
                 store ? &*store : nullptr,
                 updates,
                 deadline,
                 GateMode::check,
                 repo->git_dir() / "portcullis" / "index",
                 {},
                 std::nullopt,
                 0,
                 nullptr};
    Report report = run_gate(in);
    report.notes.insert(report.notes.begin(), notes.begin(), notes.end());
    report.stats.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
            .count();
    std::cout << (o->format == "json" ? render_json(report) : render_text(report));
    for (const auto& f : report.findings)
      if (f.rule == "gate.internal") return int(k_exit_usage);
    return report.rejected() ? int(k_exit_rejected) : int(k_exit_ok);
  };
}

}  // namespace portcullis::hooks::cli
