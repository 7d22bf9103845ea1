#include "hooks/cli/hook_exe.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <vector>

#include "hooks/cli/command.hpp"
#include "hooks/cli/hook_run.hpp"
#include "shared/policy/policy.hpp"

namespace portcullis::hooks::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_usage =
    "usage: portcullis-hook [hook] pre-receive|post-receive [--config FILE] [--layout plain|gitolite|gitlab|gitea]\n"
    "\n"
    "The Git server hook of Portcullis, as `portcullis hook ...` (see `portcullis hook --help`), in a\n"
    "lean executable that starts fast. pre-receive reads `<old> <new> <ref>` lines on stdin and exits 0\n"
    "to accept the push, 1 to reject it; post-receive updates Portcullis' indexes and, when the server\n"
    "config names notify targets, runs the `portcullis` beside it to notify them. Installed by\n"
    "`portcullis install`. Exit codes: 0 accepted, 1 rejected, 2 usage or environment error.\n";

// `--name value` or `--name=value`: the value, advancing `i`; nullopt when `args[i]` is not it.
std::optional<std::string_view> option_value(std::span<const std::string_view> args, std::size_t& i,
                                             std::string_view name, std::string& error) {
  std::string_view a = args[i];
  if (!a.starts_with(name)) return std::nullopt;
  a.remove_prefix(name.size());
  if (a.starts_with('=')) return a.substr(1);
  if (!a.empty()) return std::nullopt;
  if (i + 1 >= args.size()) {
    error = std::string(name) + " needs a value";
    return std::string_view{};
  }
  return args[++i];
}

}  // namespace

HookCommand parse_hook_args(std::span<const std::string_view> args) {
  HookArgs out;
  std::size_t i = 0;
  if (!args.empty() && args[0] == "hook") ++i;
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string error;
    if (a == "--help" || a == "-h") return HookHelp{};
    if (a == "--version") return HookVersion{};
    if (auto v = option_value(args, i, "--config", error)) {
      if (!error.empty()) return HookUsageError{error};
      out.config = std::string(*v);
    } else if (auto l = option_value(args, i, "--layout", error)) {
      if (!error.empty()) return HookUsageError{error};
      auto layout = parse_layout(*l);
      if (!layout) return HookUsageError{"--layout must be plain, gitolite, gitlab or gitea, not \"" + std::string(*l) + "\""};
      out.layout = *layout;
    } else if ((a == "pre-receive" || a == "post-receive") && out.which.empty()) {
      out.which = std::string(a);
    } else {
      return HookUsageError{"unexpected argument \"" + std::string(a) + "\""};
    }
  }
  if (out.which.empty()) return HookUsageError{"name the hook: pre-receive or post-receive"};
  return out;
}

namespace {

// post-receive with notify targets: the same run by the `portcullis` beside this executable
// (stdin, the pushed refs, is left unread for it). Returns only when it cannot be started.
void hand_to_portcullis(const HookArgs& args) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  fs::path full = ec ? fs::path() : self.parent_path() / "portcullis";
  std::vector<std::string> argv = {full.string(), "hook", "post-receive", "--layout",
                                   std::string(layout_name(args.layout))};
  if (!args.config.empty()) argv.insert(argv.end(), {"--config", args.config});
  std::vector<char*> c;
  for (auto& a : argv) c.push_back(a.data());
  c.push_back(nullptr);
  if (!full.empty()) ::execv(full.c_str(), c.data());
  std::cerr << "portcullis: WARNING: cannot run " << (full.empty() ? "portcullis" : full.string())
            << " to notify the reconciler (" << (ec ? ec.message() : std::strerror(errno))
            << "); this push is not announced: the reconciler sees it at its next poll\n";
}

bool notifies(const std::string& config_path) {
  if (config_path.empty()) return false;
  auto config = policy::load_server_config(config_path);
  return config && !config->notify_targets.empty();  // a bad config is reported by the run itself
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  std::vector<std::string_view> args(argv + std::min(argc, 1), argv + argc);
  HookCommand command = parse_hook_args(args);
  if (std::holds_alternative<HookHelp>(command)) return std::cout << k_usage, k_exit_ok;
  if (std::holds_alternative<HookVersion>(command)) return std::cout << "portcullis-hook " PORTCULLIS_VERSION "\n", k_exit_ok;
  if (auto* e = std::get_if<HookUsageError>(&command)) {
    std::cerr << "portcullis-hook: " << e->message << "\n" << k_usage;
    return k_exit_usage;
  }
  const auto& hook = std::get<HookArgs>(command);
  if (hook.which == "pre-receive") return run_pre_receive(hook.config, hook.layout);
  if (notifies(hook.config)) hand_to_portcullis(hook);
  return run_post_receive(hook.config, nullptr);
}

}  // namespace

int hook_main(int argc, char** argv) {
  // A peer gone mid-write (git's end of stderr, a notify target that resets the connection) is
  // an error where it happens, not a signal that ends the hook before it records or spools.
  std::signal(SIGPIPE, SIG_IGN);
  // As `portcullis` does: an internal error is a usage/environment error (exit 2), which rejects
  // a pre-receive, never an abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "portcullis: internal error: " << e.what() << "\n";
    return k_exit_usage;
  }
}

}  // namespace portcullis::hooks::cli
