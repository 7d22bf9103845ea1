#include <CLI/CLI.hpp>

#include <iostream>

#include "hooks/cli/command.hpp"
#include "shared/git/repository.hpp"
#include "shared/util/process.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks::cli {

namespace {

// A ref-name-safe form of an identity ("Alice <a@x>" -> "alice-a-x").
std::string ref_safe(std::string_view s) {
  std::string out;
  for (char c : util::to_lower(s)) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '@';
    out += ok ? c : '-';
  }
  while (!out.empty() && (out.front() == '.' || out.front() == '-')) out.erase(0, 1);
  return out.empty() ? "approver" : out;
}

}  // namespace

Runner setup_approve(CLI::App& app) {
  struct Options {
    std::string rev = "HEAD";
    std::string remote = "origin";
    std::string repo = ".";
    std::string as;
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Approve a commit for protected refs: creates an annotated tag signed with your SSH key (git's "
      "gpg.format=ssh and user.signingkey must be set) that points at exactly that commit, and pushes it "
      "to refs/approvals/<commit>/<you>. The gate counts it when the signer is an owner in CODEOWNERS; "
      "an approval of another commit does not count, so new commits need a new approval.");
  app.add_option("rev", o->rev, "the commit to approve")->capture_default_str();
  app.add_option("--remote", o->remote, "where to push the approval")->capture_default_str();
  app.add_option("--repo", o->repo, "the clone")->capture_default_str();
  app.add_option("--as", o->as, "name in the approval's ref (default: git config user.email)");
  return [o] {
    auto repo = git::Repository::open(o->repo);
    if (!repo) {
      std::cerr << "portcullis approve: " << repo.error().message << "\n";
      return int(k_exit_usage);
    }
    auto commit = repo->resolve_commit(o->rev);
    if (!commit) {
      std::cerr << "portcullis approve: " << commit.error().message << "\n";
      return int(k_exit_usage);
    }
    std::string who = o->as;
    if (who.empty())
      if (auto email = repo->config_string("user.email"); email && *email) who = **email;
    if (who.empty()) {
      std::cerr << "portcullis approve: set git config user.email or pass --as NAME\n";
      return int(k_exit_usage);
    }
    std::string sha = commit->hex();
    std::string tag = "portcullis-approval-" + sha.substr(0, 12) + "-" + ref_safe(who);
    std::string target = "refs/approvals/" + sha + "/" + ref_safe(who);
    auto git = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {"git", "-C", o->repo});
      return util::run_process(args);
    };
    auto made = git({"tag", "-s", "-f", "-m", "Approve " + sha + " for protected refs", tag, sha});
    if (!made || made->status != 0) {
      std::cerr
          << "portcullis approve: cannot create a signed tag (is gpg.format=ssh and user.signingkey set?): "
          << (made ? made->err : made.error().message);
      return int(k_exit_usage);
    }
    auto pushed = git({"push", o->remote, "refs/tags/" + tag + ":" + target});
    (void)git({"tag", "-d", tag});
    if (!pushed || pushed->status != 0) {
      std::cerr << "portcullis approve: cannot push the approval: "
                << (pushed ? pushed->err : pushed.error().message);
      return int(k_exit_rejected);
    }
    std::cout << "approved " << sha.substr(0, 12) << " as " << who << ": pushed " << target << "\n";
    return int(k_exit_ok);
  };
}

}  // namespace portcullis::hooks::cli
