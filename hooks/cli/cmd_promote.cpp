#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "hooks/cli/command.hpp"
#include "hooks/promote.hpp"
#include "hooks/soak.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/process.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks::cli {

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string from, to, image, server, ref;
  bool dry_run = false, force = false;
};

std::string span(std::int64_t s) {
  if (s >= 3600) return std::to_string(s / 3600) + "h" + std::to_string((s % 3600) / 60) + "m";
  if (s >= 60) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s) + "s";
}

// The Git server's repository when it is on this machine: --server, else origin's URL when it
// is a path or file:// URL. nullopt when neither.
std::optional<git::Repository> server_repository(const git::Repository& clone, const std::string& server) {
  std::string where = server;
  if (where.empty()) {
    auto url = clone.config_string("remote.origin.url");
    if (!url || !*url) return std::nullopt;
    where = **url;
    if (where.starts_with("file://")) where = where.substr(7);
    if (!where.starts_with("/")) return std::nullopt;
  }
  auto repo = git::Repository::open(where);
  if (!repo) return std::nullopt;
  return std::move(*repo);
}

struct SoakCheck {
  bool applies = false;    // the target has a soak rule
  bool available = false;  // the server's ledger could be read
  std::optional<SoakLedger> ledger;
  std::string ref;
};

SoakCheck read_soak(const git::Repository& clone, const PromotePlan& plan, const Options& o) {
  SoakCheck c;
  c.applies = plan.to.promotion && plan.to.promotion->soak_ms > 0;
  if (!c.applies) return c;
  c.ref = !o.ref.empty() ? o.ref : clone.head_ref().value_or("refs/heads/main");
  auto server = server_repository(clone, o.server);
  if (!server) return c;
  auto tip = server->resolve_commit(c.ref);
  if (!tip) return c;
  c.available = true;
  c.ledger = load_soak_ledger(server->git_dir() / "portcullis" / "index", c.ref, plan.from.path, *tip);
  return c;
}

// Prints the plan and the soak verdicts; returns whether the soak blocks it.
bool report(const PromotePlan& plan, const SoakCheck& soak, const std::vector<SoakVerdict>& verdicts, std::int64_t now) {
  std::cout << "promote " << plan.from.name << " -> " << plan.to.name << ":\n";
  for (const auto& f : plan.files) {
    for (const auto& u : f.updates) {
      std::cout << "  " << u.image << ": " << (u.old_value.empty() ? "(none)" : u.old_value) << " -> " << u.new_value
                << " (" << f.path << (u.line ? ":" + std::to_string(u.line) : "") << ")\n";
    }
  }
  if (plan.files.empty()) std::cout << "  nothing to change: " << plan.to.name << " already runs what " << plan.from.name << " runs\n";
  for (const auto& b : plan.blocked) std::cout << "not promoted: " << b.image << ": " << b.reason << "\n";
  for (const auto& p : plan.problems) std::cout << "problem: " << p << "\n";
  if (!soak.applies || plan.files.empty()) return false;
  std::int64_t need = plan.to.promotion->soak_ms / 1000;
  if (!soak.available) {
    std::cout << "soak: " << plan.to.name << " requires " << span(need) << " in " << plan.from.name
              << "; the Git server's record of arrivals is not reachable from here (give --server PATH on the server); "
                 "the gate judges it when this is pushed\n";
    return false;
  }
  bool blocked = false;
  for (const auto& v : verdicts) {
    if (!v.known) {
      blocked = true;
      std::cout << "soak: " << v.reference << " is not in " << plan.from.name << " on " << soak.ref
                << " by the Git server's record yet (push it there first); " << plan.to.name << " requires "
                << span(need) << " after that\n";
    } else if (!v.met) {
      blocked = true;
      std::cout << "soak: " << v.reference << " has been in " << plan.from.name << " for " << span(now - v.since)
                << " (since " << util::rfc3339_utc(v.since) << ", the push of " << v.arrival_commit << ", by the Git server's clock); "
                << plan.to.name << " requires " << span(need) << ": promotable at " << util::rfc3339_utc(v.ready_at) << " (in "
                << span(v.ready_at - now) << ")\n";
    } else {
      std::cout << "soak: " << v.reference << " has soaked " << span(now - v.since) << " in " << plan.from.name
                << " (requires " << span(need) << ")\n";
    }
  }
  return blocked;
}

util::Result<std::string> git_out(const std::vector<std::string>& argv) {
  auto r = util::run_process(argv);
  if (!r) return util::fail(r.error());
  if (r->status != 0) return util::fail(argv[0] + " " + argv[1] + ": " + r->err);
  std::string out = r->out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Writes the plan's files into the work tree and commits exactly them.
util::Result<std::string> commit(const PromotePlan& plan, const std::string& message) {
  auto top = git_out({"git", "rev-parse", "--show-toplevel"});
  if (!top) return util::fail(top.error());
  for (const auto& f : plan.files) {
    fs::path rel(f.path);
    bool inside = rel.is_relative() && std::none_of(rel.begin(), rel.end(), [](const fs::path& c) { return c == ".." || c == ".git"; });
    if (!inside) return util::fail(f.path + ": not a path inside the work tree; nothing written");
    auto current = util::read_file(fs::path(*top) / f.path);
    if (!current || *current != f.old_text) {
      return util::fail(f.path + " differs from HEAD in the work tree; commit or stash local changes first");
    }
  }
  std::vector<std::string> add{"git", "-C", *top, "add", "--"}, commit{"git", "-C", *top, "commit", "-q", "-m", message, "--"};
  for (const auto& f : plan.files) {
    std::ofstream out(fs::path(*top) / f.path, std::ios::binary | std::ios::trunc);
    out << f.new_text;
    if (!out) return util::fail("cannot write " + f.path);
    add.push_back(f.path);
    commit.push_back(f.path);
  }
  if (auto a = git_out(add); !a) return util::fail(a.error());
  if (auto c = git_out(commit); !c) return util::fail(c.error());
  return git_out({"git", "-C", *top, "rev-parse", "HEAD"});
}

int run(const Options& o) {
  auto repo = git::Repository::open(".");
  if (!repo) {
    std::cerr << "portcullis promote: not in a Git repository: " << repo.error().message << "\n";
    return k_exit_usage;
  }
  auto head = repo->resolve_commit("HEAD");
  if (!head) {
    std::cerr << "portcullis promote: HEAD: " << head.error().message << "\n";
    return k_exit_usage;
  }
  PromoteRequest request{o.from, o.to, o.image.empty() ? std::nullopt : std::optional<std::string>(o.image)};
  auto plan = plan_promotion(*repo, *head, request);
  if (!plan) {
    std::cerr << "portcullis promote: " << plan.error().describe() << "\n";
    return k_exit_usage;
  }
  std::int64_t now = std::time(nullptr);
  SoakCheck soak = read_soak(*repo, *plan, o);
  auto verdicts = soak_verdicts(*plan, soak.ledger ? &*soak.ledger : nullptr, now);
  bool soak_blocks = report(*plan, soak, verdicts, now);
  std::string message = promote_message(*plan, verdicts);
  if (plan->files.empty()) return plan->blocked.empty() && plan->problems.empty() ? k_exit_ok : k_exit_rejected;
  if (o.dry_run) {
    std::cout << "dry run: nothing written; the commit message would be:\n\n" << message;
    return soak_blocks ? k_exit_rejected : k_exit_ok;
  }
  if (soak_blocks && !o.force) {
    std::cout << "not committed: the soak is not met (--force writes the commit anyway; the gate will reject its push)\n";
    return k_exit_rejected;
  }
  auto id = commit(*plan, message);
  if (!id) {
    std::cerr << "portcullis promote: " << id.error().message << "\n";
    return k_exit_usage;
  }
  std::cout << "committed " << id->substr(0, 12) << " on the current branch: push it, or open it for review\n";
  return plan->blocked.empty() && plan->problems.empty() ? k_exit_ok : k_exit_rejected;
}

}  // namespace

Runner setup_promote(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.description(
      "copy the images the --from environment runs (its render) into the --to environment's manifests, editing only "
      "the image fields (and kustomization images: entries) under its directory, and write one commit on the current "
      "branch. References are copied exactly as the source runs them; when --to requires digests, only pinned ones. "
      "When --to has a soak rule it is checked against the Git server's record of arrivals (reachable when origin is "
      "a local path, or with --server).\n"
      "Exit codes: 0 committed (or planned with --dry-run, or nothing to change); 1 not promotable as asked (the "
      "soak is not met, so nothing was committed; or some image was not copied: a digest required, several "
      "versions, an edit refused); 2 bad usage, unknown environment, not in a clone, local changes in a file to edit.");
  app.add_option("--from", o->from, "the environment promoted from (name or path)")->required();
  app.add_option("--to", o->to, "the environment promoted to (name or path)")->required();
  app.add_option("--image", o->image, "only this image (its name, or the last component of it)");
  app.add_flag("--dry-run", o->dry_run, "print the plan and the commit message; write nothing");
  app.add_flag("--force", o->force, "commit even when the soak is not met (the gate rejects the push until it is)");
  app.add_option("--server", o->server, "the Git server's repository on this machine, for its soak records");
  app.add_option("--ref", o->ref, "the server ref whose soak records count (default: the current branch)");
  return [o]() { return run(*o); };
}

}  // namespace portcullis::hooks::cli
