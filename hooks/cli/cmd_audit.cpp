#include <CLI/CLI.hpp>

#include <iostream>
#include <map>

#include "hooks/cli/command.hpp"
#include "hooks/report.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks::cli {

namespace {

// The cluster break-glass windows of portcullisd's audit log that are open or whose follow-up
// is pending (the last line of each window decides); prints them and returns how many, -1 when
// the log cannot be read.
int print_open_windows(const std::filesystem::path& path, bool json) {
  auto text = util::read_file(path, 1ull << 32);
  if (!text) {
    std::cerr << "portcullis audit: " << text.error().message << "\n";
    return -1;
  }
  struct Last {
    std::string line, state, time, target, actor, reason;
  };
  std::map<std::string, Last> windows;  // by window id
  std::vector<std::string> order;
  for (auto line : util::split(*text, '\n')) {
    if (line.empty()) continue;
    auto doc = yaml::parse_json(line);
    if (!doc || doc->documents.empty() || !doc->documents[0].root) continue;
    const yaml::Node& r = *doc->documents[0].root;
    auto event = r.get_string("event");
    if (!event.starts_with("break-glass-") || event == "break-glass-change") continue;
    std::string id(r.get_string("window"));
    if (!windows.contains(id)) order.push_back(id);
    Last& w = windows[id];
    w.line = std::string(line);
    if (event == "break-glass-open") {
      w = Last{std::string(line), "OPEN", std::string(r.get_string("time")), std::string(r.get_string("target")),
               std::string(r.get_string("actor")), std::string(r.get_string("reason"))};
    } else if (event == "break-glass-close") {
      bool reverted = r.get_string("outcome") == "reverted" || r.get_string("then") == "revert";
      w.state = reverted ? "" : "FOLLOW-UP PENDING";
    } else if (event == "break-glass-follow-up-done") {
      w.state = "";
    }  // break-glass-follow-up (the commit written): still pending until Git matches
  }
  int open = 0;
  for (const auto& id : order) {
    const Last& w = windows[id];
    if (w.state.empty()) continue;
    ++open;
    if (json) std::cout << w.line << "\n";
    else
      std::cout << printable(w.time) << "  " << printable(w.actor) << "  cluster " << printable(w.target) << "  window "
                << printable(id) << "  BREAK-GLASS " << w.state << ": " << printable(w.reason) << "\n";
  }
  return open;
}

}  // namespace

Runner setup_audit(CLI::App& app) {
  struct Options {
    std::string config;
    std::string log;
    std::string repo;
    std::string daemon_log;
    bool open_break_glass = false;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "List the gate's audit records (one per push: time, pusher, decision, refs, rules). With "
      "--open-break-glass, only break-glass pushes still open: a ref whose latest accepted push used "
      "break-glass (a later normal push that passes every check closes it). Exit status 0, or 1 when "
      "--open-break-glass finds open ones, 2 on usage errors.");
  app.add_option("--config", o->config, "server config naming the audit log");
  app.add_option("--log", o->log, "the audit log itself");
  app.add_option("--repo", o->repo,
                 "repository whose default audit log to read (<repo>/portcullis/audit.jsonl)");
  app.add_option("--daemon-log", o->daemon_log,
                 "portcullisd's audit log (<stateDir>/audit.jsonl): with --open-break-glass, also the cluster "
                 "break-glass windows still open or whose follow-up is pending");
  app.add_flag("--open-break-glass", o->open_break_glass,
               "only break-glass pushes not yet followed by a normal push");
  app.add_flag("--json", o->json, "print the records as JSON lines");
  return [o] {
    std::filesystem::path log = o->log;
    if (log.empty() && !o->config.empty()) {
      auto c = policy::load_server_config(o->config);
      if (!c) {
        std::cerr << "portcullis audit: " << c.error().describe() << "\n";
        return int(k_exit_usage);
      }
      log = c->audit_log;
    }
    if (log.empty() && !o->repo.empty()) {
      auto repo = git::Repository::open(o->repo);
      if (!repo) {
        std::cerr << "portcullis audit: " << repo.error().message << "\n";
        return int(k_exit_usage);
      }
      log = repo->git_dir() / "portcullis" / "audit.jsonl";
    }
    if (log.empty() && !o->daemon_log.empty() && o->open_break_glass) {
      int open = print_open_windows(o->daemon_log, o->json);
      return open < 0 ? int(k_exit_usage) : open > 0 ? int(k_exit_rejected) : int(k_exit_ok);
    }
    if (log.empty()) {
      std::cerr << "portcullis audit: name the log with --log, --config or --repo\n";
      return int(k_exit_usage);
    }
    auto text = util::read_file(log, 1ull << 32);
    if (!text) {
      std::cerr << "portcullis audit: " << text.error().message << "\n";
      return int(k_exit_usage);
    }
    struct Record {
      std::string line;
      std::string time, pusher, decision, reason;
      std::vector<std::string> refs, rules;
      bool break_glass = false;
    };
    std::vector<Record> records;
    for (auto line : util::split(*text, '\n')) {
      if (line.empty()) continue;
      auto doc = yaml::parse_json(line);
      if (!doc || doc->documents.empty() || !doc->documents[0].root) continue;  // a damaged line is skipped
      const yaml::Node& r = *doc->documents[0].root;
      if (r.get_string("event") != "push") continue;
      Record rec;
      rec.line = std::string(line);
      rec.time = std::string(r.get_string("time"));
      rec.pusher = std::string(r.get_string("pusher"));
      rec.decision = std::string(r.get_string("decision"));
      if (const yaml::Node* refs = r.get("refs"))
        for (const yaml::Node* ref : refs->items) rec.refs.emplace_back(ref->get_string("ref"));
      if (const yaml::Node* rules = r.get("rules"))
        for (const yaml::Node* rule : rules->items) rec.rules.emplace_back(rule->text);
      if (const yaml::Node* bg = r.get("breakGlass")) {
        rec.break_glass = true;
        rec.reason = std::string(bg->get_string("reason"));
      }
      records.push_back(std::move(rec));
    }
    std::vector<const Record*> shown;
    if (o->open_break_glass) {
      std::map<std::string, const Record*> last_accepted;
      for (const auto& r : records)
        if (r.decision == "accepted")
          for (const auto& ref : r.refs) last_accepted[ref] = &r;
      for (const auto& [ref, r] : last_accepted)
        if (r->break_glass && (shown.empty() || shown.back() != r)) shown.push_back(r);
    } else {
      for (const auto& r : records) shown.push_back(&r);
    }
    for (const Record* r : shown) {
      if (o->json) {
        std::cout << r->line << "\n";
        continue;
      }
      std::string refs, rules;
      for (const auto& x : r->refs) refs += (refs.empty() ? "" : ",") + x;
      for (const auto& x : r->rules) rules += (rules.empty() ? "" : ",") + x;
      // Every field was written by or for a pusher: shown escaped, never as terminal controls.
      std::cout << printable(r->time) << "  " << (r->pusher.empty() ? "-" : printable(r->pusher)) << "  "
                << printable(r->decision) << "  " << printable(refs);
      if (!rules.empty()) std::cout << "  rules=" << printable(rules);
      if (r->break_glass) std::cout << "  BREAK-GLASS: " << printable(r->reason);
      std::cout << "\n";
    }
    int windows = 0;
    if (o->open_break_glass && !o->daemon_log.empty() && (windows = print_open_windows(o->daemon_log, o->json)) < 0)
      return int(k_exit_usage);
    return o->open_break_glass && (!shown.empty() || windows > 0) ? int(k_exit_rejected) : int(k_exit_ok);
  };
}

}  // namespace portcullis::hooks::cli
