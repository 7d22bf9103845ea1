#pragma once
// The two hook runs, shared by `portcullis hook ...` and the lean `portcullis-hook` executable
// (hook_exe.hpp): pre-receive judges the push, post-receive notifies the daemons and carries the
// identity indexes forward.
#include <chrono>
#include <filesystem>
#include <string>

#include "hooks/install.hpp"
#include "hooks/notify.hpp"

namespace portcullis::hooks::cli {

// How post-receive delivers its event: hooks/notify.hpp's notify_push in `portcullis`; nullptr
// where no HTTP client is linked (the caller hands such pushes to `portcullis` instead).
using Notifier = NotifyResult (*)(const policy::ServerConfig& config, const notify::Event& event,
                                  const std::filesystem::path& spool, std::chrono::milliseconds budget);

// Reads `<old> <new> <ref>` lines on stdin, prints the report on stderr; 0 accepts, 1 rejects.
int run_pre_receive(const std::string& config_path, Layout layout);
// Never fails the push (it has landed): 0, with warnings on stderr.
int run_post_receive(const std::string& config_path, Notifier notifier);

}  // namespace portcullis::hooks::cli
