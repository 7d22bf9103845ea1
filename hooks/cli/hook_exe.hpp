#pragma once
// `portcullis-hook`: the lean executable Git servers run on every push. It does what
// `portcullis hook pre-receive|post-receive` does, linked without the HTTP and TLS stack (and,
// by default, statically): a process started twice per push spends no time in the dynamic
// loader (ARCHITECTURE.md, "Hook start-up"). A post-receive that must notify daemons hands the
// run to the `portcullis` beside it, which has the HTTP client.
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "hooks/install.hpp"

namespace portcullis::hooks::cli {

struct HookArgs {
  std::string which;  // "pre-receive" or "post-receive"
  std::string config;
  Layout layout = Layout::plain;
};
struct HookHelp {};
struct HookVersion {};
struct HookUsageError {
  std::string message;
};
using HookCommand = std::variant<HookArgs, HookHelp, HookVersion, HookUsageError>;

// `[hook] pre-receive|post-receive [--config C] [--layout L]` (also `--opt=value`), `--help`,
// `--version`: the arguments after argv[0].
HookCommand parse_hook_args(std::span<const std::string_view> args);

// Entry point of the `portcullis-hook` executable.
int hook_main(int argc, char** argv);

}  // namespace portcullis::hooks::cli
