#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <optional>

#include "hooks/audit.hpp"
#include "hooks/cli/hook_run.hpp"
#include "hooks/cli/command.hpp"
#include "hooks/gate.hpp"
#include "hooks/install.hpp"
#include "hooks/watchdog.hpp"
#include "shared/schema/store.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks::cli {

namespace fs = std::filesystem;

namespace {

// Everything the hook prints reaches the pusher as `remote:` lines; stderr is unbuffered.
void say(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string read_stdin(std::size_t limit) {
  std::string in;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (in.size() < limit) in.append(buf, static_cast<std::size_t>(n));
  }
  return in;
}

// The push options git hands the hook (receive.advertisePushOptions), in order.
std::vector<std::string> push_options() {
  std::vector<std::string> out;
  const char* count = std::getenv("GIT_PUSH_OPTION_COUNT");
  if (!count) return out;
  int n = std::atoi(count);
  for (int i = 0; i < n && i < 100; ++i)
    if (const char* v = std::getenv(("GIT_PUSH_OPTION_" + std::to_string(i)).c_str())) out.emplace_back(v);
  return out;
}

std::optional<std::string> push_option(std::string_view name) {
  for (const auto& opt : push_options())
    if (opt.starts_with(name) && opt.size() > name.size() && opt[name.size()] == '=')
      return opt.substr(name.size() + 1);
  return std::nullopt;
}

constexpr std::string_view k_fail_open_note =
    "failMode is open: the push is accepted although it could not be fully checked";

bool only_gate_failures(const Report& r) {
  for (const auto& f : r.findings)
    if (f.level == Level::error && f.rule != "gate.budget" && f.rule != "gate.internal") return false;
  return true;
}

fs::path audit_path(const policy::ServerConfig& config, const fs::path& git_dir) {
  return config.audit_log.empty() ? git_dir / "portcullis" / "audit.jsonl" : config.audit_log;
}

// Hard stops behind the watchdog, for what blocks where no deadline is polled. SIGALRM ends the
// hook with a prepared message (none when it is the output that blocks) and exit status, so
// neither the hook nor the receive-pack waiting for it outlives the push:
//  - recording the decision: an audit log on a FIFO without a reader or on a hung network file
//    system. The push is rejected k_stuck_grace after the budget.
//  - showing it: once the pusher is gone, receive-pack stops reading the hook's output (and
//    waits for the hook), so a report larger than the pipe never drains. The recorded verdict
//    stands (the audit log says what git does), k_output_grace after it was recorded.
constexpr auto k_stuck_grace = std::chrono::seconds(2);
constexpr auto k_output_grace = std::chrono::seconds(20);
char g_stop_message[512];
std::size_t g_stop_size = 0;
int g_stop_status = k_exit_rejected;

extern "C" void on_stop(int) {
  if (g_stop_size > 0) (void)!::write(STDERR_FILENO, g_stop_message, g_stop_size);
  ::_exit(g_stop_status);
}

void disarm_stop() {
  itimerval t{};
  ::setitimer(ITIMER_REAL, &t, nullptr);
}

// Ends the process at `deadline` with `status`, after writing `message` (prepared here: the
// handler only calls write(2) and _exit(2)). Replaces a stop armed before.
void arm_stop(std::chrono::steady_clock::time_point deadline, int status, std::string_view message) {
  disarm_stop();
  g_stop_size = std::min(message.size(), sizeof g_stop_message);
  if (g_stop_size > 0) std::memcpy(g_stop_message, message.data(), g_stop_size);  // data() may be null
  g_stop_status = status;
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGALRM, &sa, nullptr);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now())
                .count();
  us = std::max<decltype(us)>(us, 1000);
  itimerval t{};
  t.it_value.tv_sec = static_cast<time_t>(us / 1000000);
  t.it_value.tv_usec = static_cast<suseconds_t>(us % 1000000);
  ::setitimer(ITIMER_REAL, &t, nullptr);
}

// After the decision is recorded: the report may block only so long, then `status` stands.
void arm_output_stop(int status) {
  arm_stop(std::chrono::steady_clock::now() + k_output_grace, status, {});
}

}  // namespace

int run_pre_receive(const std::string& config_path, Layout layout) {
  auto started = std::chrono::steady_clock::now();
  policy::ServerConfig config;
  if (!config_path.empty()) {
    auto c = policy::load_server_config(config_path);
    if (!c) {
      read_stdin(1 << 20);
      say(adapt_output(
          layout,
          "portcullis: push rejected: the server config cannot be read: " + c.error().describe() +
              "\nportcullis: tell the Git server's administrators; no push is accepted until it is fixed.\n",
          true));
      return k_exit_rejected;
    }
    config = std::move(*c);
  }
  auto budget = std::chrono::milliseconds(config.time_budget_ms);
  // The checks stop themselves a little before the budget; the watchdog is the hard stop.
  Deadline soft(budget * 9 / 10);
  AuditContext audit;
  audit.push_id = new_push_id();
  arm_stop(started + budget + k_stuck_grace, k_exit_rejected,
           adapt_output(
               layout,
               "portcullis: push rejected: the hook is stuck " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(k_stuck_grace).count()) +
                   " s past its time budget of " + std::to_string(config.time_budget_ms) +
                   " ms, so the decision cannot be recorded (push " + audit.push_id +
                   ")\n      fix: tell the Git server's administrators: writing the audit log blocks "
                   "(a FIFO without a reader? a hung file system?)\n",
               true));
  std::string input = read_stdin(64 << 20);

  audit.pusher = pusher_from_env(config.identity_env);
  std::vector<RefUpdate> updates;
  Report report;

  auto repo = git::Repository::open_hook_environment();
  fs::path git_dir = repo ? repo->git_dir() : fs::path(".");
  if (repo) repo->keep_large_trees(git_dir / "portcullis" / "trees");
  audit.repository = fs::absolute(git_dir).lexically_normal().string();
  if (audit.repository.size() > 1 && audit.repository.back() == '/') audit.repository.pop_back();
  fs::path log = audit_path(config, git_dir);
  // failMode open applies only to a push the gate has found to reach nothing protected; the
  // watchdog reads the verdict at any time (false until the gate has described every update).
  FailOpenGate may_fail_open;
  auto fail_open = [&] { return config.fail_mode == policy::FailMode::open && may_fail_open.allowed.load(); };

  auto watchdog_fire = [&] {
    Report late;
    late.stats.refs = updates.size();
    late.fail_open = fail_open();
    Finding f;
    f.rule = "gate.budget";
    f.message = "the checks did not finish within the time budget of " +
                std::to_string(config.time_budget_ms) + " ms";
    late.add(f);
    late.stats.duration_ms = config.time_budget_ms;
    bool logged = static_cast<bool>(
        util::append_line(log, audit_line(audit, late, late.fail_open ? "accepted" : "rejected")));
    arm_output_stop(late.fail_open && logged ? k_exit_ok : k_exit_rejected);
    if (late.fail_open && logged) {
      say("portcullis: WARNING: checks did not finish within " + std::to_string(config.time_budget_ms) +
          " ms; push ACCEPTED UNCHECKED because failMode is open (push " + audit.push_id + ")\n");
      ::_exit(0);
    }
    say(adapt_output(layout,
                     "portcullis: push rejected: the checks did not finish within the time budget of " +
                         std::to_string(config.time_budget_ms) + " ms (push " + audit.push_id + ")" +
                         (logged ? "" : "; the decision cannot be recorded in the audit log either") +
                         "\n      fix: retry, or split the push into smaller pushes\n",
                     true));
    ::_exit(k_exit_rejected);
  };
  auto parsed = parse_updates(input, config.max_refs);
  if (!parsed) {
    Finding f;
    f.rule = "gate.internal";
    f.message = parsed.error().message;
    f.hint = "push with git, at most limits.maxRefs refs at a time";
    report.add(f);
  } else {
    updates = std::move(*parsed);
  }
  audit.updates = updates;
  // From here on, `updates` and `audit` are only read, so the watchdog may use them.
  Watchdog watchdog(started + budget, watchdog_fire);

  std::optional<schema::Program> store;
  if (report.findings.empty()) {
    if (!repo) {
      Finding f;
      f.rule = "gate.internal";
      f.message = repo.error().message;
      report.add(f);
    } else if (!config.schema_store.empty()) {
      auto s = schema::open_store(config.schema_store);
      if (!s) {
        Finding f;
        f.rule = "gate.internal";
        f.message = "the schema store cannot be used: " + s.error().message;
        report.add(f);
      } else {
        store = std::move(*s);
      }
    } else {
      report.notes.push_back("schema validation is off: the server config names no schemaStore");
    }
  }
  // Without its schema store the gate still runs (every rule but the schemas): its findings
  // stand, and it alone decides whether the push may fail open (never past a plaintext Secret).
  const bool store_missing = repo && !report.findings.empty() && !config.schema_store.empty() && !store;
  std::optional<GateInput> in;  // set when the gate ran
  if (report.findings.empty() || store_missing) {
    in.emplace(*repo,
                 config,
                 store ? &*store : nullptr,
                 updates,
                 soft,
                 GateMode::hook,
                 git_dir / "portcullis" / "index",
                 audit.pusher,
                 break_glass_request(push_options()),
                 0,
                 &may_fail_open);
    auto before = std::move(report);
    report = run_gate(*in);
    report.notes.insert(report.notes.begin(), before.notes.begin(), before.notes.end());
    report.findings.insert(report.findings.begin(), before.findings.begin(), before.findings.end());
  }
  // The gate classified the push as it ran; when it could not run (no repository, input it
  // cannot read), the push is classified here, so that failMode open still never covers a
  // protected one.
  if (report.rejected() && config.fail_mode == policy::FailMode::open && parsed && repo && !in) {
    bool reaches = false;
    for (const auto& u : updates) reaches = reaches || reaches_protected(describe_update(*repo, config, u));
    auto break_glass = break_glass_request(push_options());
    bool refused = break_glass && break_glass_refusal(config, audit.pusher, *break_glass);
    may_fail_open.allowed.store(!reaches && !refused);
  }
  report.stats.refs = updates.size();
  report.stats.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  // failMode open accepts what could not be judged in time or for internal reasons, never a
  // push whose updates could not even be read (too many refs, input git never sends): the
  // gate did not see those refs, and git would still store the ones it can. Never a push to a
  // protected ref or environment either (may_fail_open): a pusher can make any push slow.
  if (report.rejected() && fail_open() && parsed && only_gate_failures(report)) {
    report.fail_open = true;
    for (auto& f : report.findings)
      if (f.level == Level::error) f.level = Level::warning;
    report.notes.push_back(std::string(k_fail_open_note));
  }
  if (!watchdog.disarm()) return k_exit_rejected;  // unreachable: an expired watchdog ends the process

  std::string decision = report.rejected() ? "rejected" : "accepted";
  auto logged = util::append_line(log, audit_line(audit, report, decision));
  if (!logged) {
    // Rejected after all: nothing may say the push is accepted.
    if (report.fail_open) {
      report.fail_open = false;
      std::erase(report.notes, std::string(k_fail_open_note));
    }
    Finding f;
    f.rule = "gate.audit";
    f.message = "cannot record the decision in the audit log (" + logged.error().message +
                "); every decision must be recorded, so the push is rejected";
    report.add(f);
  }
  arm_output_stop(report.rejected() ? k_exit_rejected : k_exit_ok);
  bool json = push_option("portcullis.format").value_or("text") == "json";
  std::string text = json ? render_json(report) : render_text(report);
  if (report.rejected() || !report.findings.empty() || report.fail_open)
    text += "portcullis: push id " + audit.push_id + "\n";
  // JSON stays one machine-readable line; text rejections are adapted to the host (GitLab's UI).
  say(json ? text : adapt_output(layout, text, report.rejected()));
  // The pusher has the verdict; post-receive will find the new tips' identity indexes made
  // from the trees this run has in memory (a cache: content-addressed, rebuilt when missing).
  if (in && !report.rejected() && !report.fail_open) {
    try {
      update_indexes(*in, false);
    } catch (const std::exception&) {  // a cache: post-receive makes what is missing
    }
  }
  return report.rejected() ? k_exit_rejected : k_exit_ok;
}

int run_post_receive(const std::string& config_path, Notifier notifier) {
  // Never fails the push (it has landed); works within a bounded time.
  policy::ServerConfig config;
  if (!config_path.empty()) {
    auto c = policy::load_server_config(config_path);
    if (!c) {
      read_stdin(64 << 20);
      say("portcullis: warning: the server config cannot be read: " + c.error().describe() + "\n");
      return k_exit_ok;
    }
    config = std::move(*c);
  }
  std::string input = read_stdin(64 << 20);
  auto updates = parse_updates(input, config.max_refs);
  auto repo = git::Repository::open_hook_environment();
  if (!updates || !repo) return k_exit_ok;
  repo->keep_large_trees(repo->git_dir() / "portcullis" / "trees");
  // Notify first: the reconciler's latency starts here; the index can wait.
  if (!config.notify_targets.empty() && notifier) {
    notify::Event event;
    event.id = notify::new_event_id();
    event.repository = fs::absolute(repo->git_dir()).lexically_normal().string();
    if (event.repository.size() > 1 && event.repository.back() == '/') event.repository.pop_back();
    for (const auto& u : *updates)
      event.refs.push_back(notify::RefChange{u.ref, u.old_oid.hex(), u.new_oid.hex()});
    event.pusher = pusher_from_env(config.identity_env);
    // The same request pre-receive judged: it accepted the push, so the request (when there is
    // one) had a reason and an allowed pusher.
    if (auto reason = break_glass_request(push_options()); reason && !break_glass_refusal(config, event.pusher, *reason)) {
      event.break_glass = true;
      event.reason = *reason;
    }
    event.time = static_cast<std::int64_t>(std::time(nullptr));
    fs::path spool =
        config.notify_spool.empty() ? repo->git_dir() / "portcullis" / "spool" : config.notify_spool;
    auto result = notifier(config, event, spool, std::chrono::milliseconds(config.notify_timeout_ms));
    for (const auto& p : result.problems) say("portcullis: warning: " + p + "\n");
  }
  std::optional<schema::Program> store;
  if (!config.schema_store.empty())
    if (auto s = schema::open_store(config.schema_store)) store = std::move(*s);
  Deadline deadline(std::chrono::seconds(30));
  GateInput in{*repo,
               config,
               store ? &*store : nullptr,
               *updates,
               deadline,
               GateMode::hook,
               repo->git_dir() / "portcullis" / "index",
               {},
               std::nullopt,
               0,
               nullptr};
  update_indexes(in);
  return k_exit_ok;
}

}  // namespace portcullis::hooks::cli
