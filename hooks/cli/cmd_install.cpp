#include <unistd.h>

#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "hooks/cli/command.hpp"
#include "hooks/install.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"

namespace portcullis::hooks::cli {

namespace fs = std::filesystem;

namespace {

fs::path self_executable() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("portcullis") : p;
}

// What the hook scripts run: the lean `portcullis-hook` installed beside this executable (it
// starts in a fraction of the time), else this executable.
fs::path hook_executable() {
  fs::path self = self_executable();
  fs::path lean = self.parent_path() / "portcullis-hook";
  std::error_code ec;
  if (self.has_parent_path() && fs::is_regular_file(lean, ec) && ::access(lean.c_str(), X_OK) == 0) return lean;
  return self;
}

std::string shown(const fs::path& p) {
  return fs::absolute(p).lexically_normal().string();
}

// What the administrator still has to do, or what the host now does, per layout.
void print_next_steps(const InstallTarget& target, const fs::path& config) {
  std::string defaults =
      config.empty() ? " (built-in server defaults; pass --config to set the schema store)" : "";
  switch (target.layout) {
    case Layout::plain:
      std::cout << "configured receive.advertisePushOptions=true\n"
                << "Portcullis now judges every push to " << shown(target.dir) << defaults << "\n";
      break;
    case Layout::gitolite:
      if (target.scope == GitoliteScope::common) {
        std::cout
            << "next: gitolite links hooks/common/ of LOCAL_CODE into every repository: commit and push "
               "these files in gitolite-admin when LOCAL_CODE is \"$rc{GL_ADMIN_BASE}/local\", or run "
               "`gitolite setup --hooks-only` as the gitolite user when LOCAL_CODE is on the server.\n";
      } else {
        std::cout
            << "next: enable them per repository in gitolite.conf (with 'repo-specific-hooks' in ENABLE of "
               "~/.gitolite.rc):\n"
            << "    option hook.pre-receive  = portcullis-pre-receive\n"
            << "    option hook.post-receive = portcullis-post-receive\n";
      }
      std::cout
          << "The pusher is gitolite's GL_USER. For push options (-o portcullis.format=json, break-glass) "
             "add `config receive.advertisePushOptions = true` to the repositories (GIT_CONFIG_KEYS in the "
             "rc must allow it)."
          << defaults << "\n";
      break;
    case Layout::gitlab:
      std::cout << "GitLab (Gitaly) runs custom_hooks/pre-receive.d/ in " << shown(target.dir)
                << " after its own checks, in name order, beside the hooks already there; the pusher is "
                   "GL_USERNAME, and rejections are prefixed with GL-HOOK-ERR: so GitLab's web UI shows them."
                << defaults << "\n";
      break;
    case Layout::gitea:
      std::cout << "Gitea's hooks/pre-receive runs every executable in hooks/pre-receive.d/ of "
                << shown(target.dir) << ", beside its own (gitea); the pusher is GITEA_PUSHER_NAME."
                << defaults << "\n";
      break;
  }
}

}  // namespace

Runner setup_install(CLI::App& app) {
  struct Options {
    std::string layout = "plain";
    std::string repo;
    std::string local_code;
    bool repo_specific = false;
    std::string config;
    bool force = false;
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Install Portcullis' pre-receive and post-receive hooks (scripts that run `portcullis hook ...` with "
      "the "
      "server config) the way the Git host expects them:\n"
      "  plain     --repo BARE: BARE/hooks/pre-receive and post-receive; also sets "
      "receive.advertisePushOptions.\n"
      "  gitolite  --local-code DIR: DIR/hooks/common/pre-receive and post-receive, which gitolite links "
      "into "
      "every repository; with --repo-specific DIR/hooks/repo-specific/portcullis-pre-receive and "
      "portcullis-post-receive, enabled per repository with `option hook.pre-receive = "
      "portcullis-pre-receive`. DIR is gitolite's LOCAL_CODE (e.g. local/ in a gitolite-admin clone). The "
      "pusher is GL_USER.\n"
      "  gitlab    --repo BARE: BARE/custom_hooks/pre-receive.d/portcullis and post-receive.d/portcullis "
      "(GitLab server hooks). The pusher is GL_USERNAME; the hook runs with --layout gitlab, which prefixes "
      "every line of a rejection with \"GL-HOOK-ERR: \" so GitLab's web UI shows it.\n"
      "  gitea     --repo BARE: BARE/hooks/pre-receive.d/portcullis and post-receive.d/portcullis, run by "
      "Gitea's hooks/pre-receive beside its own. The pusher is GITEA_PUSHER_NAME.\n"
      "Other files in those directories are never touched. Idempotent: an unchanged hook is left alone. A "
      "file at Portcullis' path that Portcullis did not write is refused unless --force, which keeps it as "
      "<file>.portcullis-backup (without execute bits in a pre-receive.d/ directory, so the host does not "
      "run "
      "it).");
  app.add_option("--layout", o->layout, "how the Git host runs hooks: plain, gitolite, gitlab or gitea")
      ->check(CLI::IsMember({"plain", "gitolite", "gitlab", "gitea"}))
      ->capture_default_str();
  app.add_option("--repo", o->repo,
                 "the bare repository (or a .git directory); plain, gitlab and gitea layouts");
  app.add_option("--local-code", o->local_code, "gitolite's LOCAL_CODE directory; gitolite layout");
  app.add_flag("--repo-specific", o->repo_specific,
               "gitolite layout: write repo-specific hooks instead of common hooks");
  app.add_option("--config", o->config, "server config (YAML, schemas/server-config.schema.json)");
  app.add_flag("--force", o->force, "replace hooks that Portcullis did not write (keeping them as backups)");
  return [o] {
    auto usage = [](const std::string& message) {
      std::cerr << "portcullis install: " << message << "\n";
      return int(k_exit_usage);
    };
    InstallTarget target;
    target.layout = parse_layout(o->layout).value_or(Layout::plain);
    std::optional<git::Repository> repo;
    if (target.layout == Layout::gitolite) {
      if (!o->repo.empty())
        return usage(
            "--layout gitolite installs into gitolite's LOCAL_CODE directory: give --local-code DIR, "
            "not --repo (gitolite links the hooks into its repositories)");
      if (o->local_code.empty())
        return usage("--layout gitolite needs --local-code DIR (gitolite's LOCAL_CODE)");
      target.dir = o->local_code;
      target.scope = o->repo_specific ? GitoliteScope::repo_specific : GitoliteScope::common;
    } else {
      if (!o->local_code.empty() || o->repo_specific)
        return usage("--local-code and --repo-specific belong to --layout gitolite");
      if (o->repo.empty()) return usage("--repo is required (the bare repository)");
      auto r = git::Repository::open(o->repo);
      if (!r) return usage(r.error().message);
      target.dir = r->git_dir();
      repo = std::move(*r);
    }
    fs::path config;
    if (!o->config.empty()) {
      auto c = policy::load_server_config(o->config);
      if (!c) return usage(c.error().describe());
      config = c->source;
    }
    auto files = plan_hooks(target, hook_executable(), config);
    auto written = write_hooks(files, o->force ? Overwrite::keep_backup : Overwrite::refuse,
                               runs_whole_directory(target.layout));
    if (!written) return usage(written.error().message);
    for (const auto& w : *written) {
      if (!w.backup.empty())
        std::cout << "kept       " << w.backup.string() << " (the hook that was there)\n";
      switch (w.outcome) {
        case Outcome::installed: std::cout << "installed  "; break;
        case Outcome::updated: std::cout << "updated    "; break;
        case Outcome::unchanged: std::cout << "unchanged  "; break;
      }
      std::cout << w.path.string() << "\n";
    }
    if (target.layout == Layout::plain) {
      if (auto r = repo->set_config_bool("receive.advertisePushOptions", true); !r)
        return usage(r.error().message);
    }
    if (target.layout == Layout::gitea) {
      std::error_code ec;
      fs::path dispatcher = target.dir / "hooks" / "pre-receive";
      if (!fs::exists(dispatcher, ec))
        std::cerr << "portcullis install: warning: " << dispatcher.string()
                  << " is missing, so nothing runs hooks/pre-receive.d/ yet: Gitea writes it for the "
                     "repositories it manages (Site Administration, \"Resynchronize pre-receive, update and "
                     "post-receive hooks of all repositories\").\n";
    }
    print_next_steps(target, config);
    return int(k_exit_ok);
  };
}

}  // namespace portcullis::hooks::cli
