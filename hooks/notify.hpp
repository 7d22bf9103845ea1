#pragma once
// Post-receive notification: one signed event per push to every daemon in the server config,
// within a time budget; what cannot be delivered is spooled and delivered by a later hook run
// or `portcullis notify --flush`. At-least-once: receivers de-duplicate by event id.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/notify/event.hpp"
#include "shared/policy/policy.hpp"

namespace portcullis::hooks {

struct NotifyResult {
  std::size_t delivered = 0;
  std::size_t spooled = 0;   // left in the spool for later
  std::vector<std::string> problems;  // one line each, for the log / the pusher
};

// Sends `event` to every target, spooling failures under `spool`; then delivers spooled
// events while time remains. Never throws, never exceeds `budget`.
NotifyResult notify_push(const policy::ServerConfig& config, const notify::Event& event,
                         const std::filesystem::path& spool, std::chrono::milliseconds budget);

// Delivers spooled events (oldest first) until the spool is empty or `budget` is spent.
NotifyResult flush_spool(const policy::ServerConfig& config, const std::filesystem::path& spool,
                         std::chrono::milliseconds budget);

}  // namespace portcullis::hooks
