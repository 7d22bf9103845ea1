// `portcullis hook pre-receive|post-receive`: the CLI front of the hook runs (hook_run.hpp).
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "hooks/cli/command.hpp"
#include "hooks/cli/hook_run.hpp"
#include "hooks/install.hpp"
#include "hooks/notify.hpp"

namespace portcullis::hooks::cli {

Runner setup_hook(CLI::App& app) {
  struct Options {
    std::string which;
    std::string config;
    std::string layout = "plain";
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Run as a Git server hook. pre-receive reads `<old> <new> <ref>` lines on stdin and exits 0 to "
      "accept the push, 1 to reject it; post-receive updates Portcullis' indexes. Installed by "
      "`portcullis install`. Push option portcullis.format=json asks for JSON output. --layout names the Git "
      "host that runs the hook (written by `portcullis install --layout`): with gitlab, every line of a text "
      "rejection starts with \"GL-HOOK-ERR: \" so GitLab shows it in its web UI; plain, gitolite and gitea "
      "print "
      "as is. The pusher comes from the server config's identity.env (by default GL_USER for gitolite, "
      "GL_USERNAME for GitLab, GITEA_PUSHER_NAME for Gitea, GITHUB_USER_LOGIN, REMOTE_USER for smart HTTP).");
  app.add_option("hook", o->which, "pre-receive or post-receive")
      ->required()
      ->check(CLI::IsMember({"pre-receive", "post-receive"}));
  app.add_option("--config", o->config, "server config (YAML)");
  app.add_option("--layout", o->layout, "the Git host that runs the hook: plain, gitolite, gitlab or gitea")
      ->check(CLI::IsMember({"plain", "gitolite", "gitlab", "gitea"}))
      ->capture_default_str();
  return [o] {
    Layout layout = parse_layout(o->layout).value_or(Layout::plain);
    return o->which == "pre-receive" ? run_pre_receive(o->config, layout) : run_post_receive(o->config, &notify_push);
  };
}

}  // namespace portcullis::hooks::cli
