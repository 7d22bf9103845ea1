#pragma once
// The audit record of a gate decision: one JSON line per push, appended to the audit log.
#include <filesystem>
#include <span>
#include <string>

#include "hooks/gate.hpp"
#include "hooks/report.hpp"

namespace portcullis::hooks {

struct AuditContext {
  std::string push_id;  // random, also shown to the pusher
  std::string repository;
  std::string pusher;   // empty when the hosting layer names nobody
  std::span<const RefUpdate> updates;
};

// `{"time":...,"event":"push","decision":"accepted|rejected",...}\n`
std::string audit_line(const AuditContext& ctx, const Report& report, std::string_view decision);

// 16 random hex digits.
std::string new_push_id();

// The pusher's name from the first of `variables` that is set and non-empty.
std::string pusher_from_env(std::span<const std::string> variables);

}  // namespace portcullis::hooks
