#pragma once
// The push event the post-receive hook sends to portcullisd, and its HMAC-SHA256 signature:
//   X-Portcullis-Signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>
//   X-Portcullis-Timestamp: <unix seconds>
//   X-Portcullis-Event-Id:  <event id>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::notify {

struct RefChange {
  std::string ref;
  std::string old_id;
  std::string new_id;
};

struct Event {
  std::string id;          // unique; receivers de-duplicate by it
  std::string repository;  // path or name of the repository on the Git server
  std::vector<RefChange> refs;
  std::string pusher;      // empty when unknown
  bool break_glass = false;
  std::string reason;      // break-glass reason
  std::int64_t time = 0;   // unix seconds when the push landed
};

std::string to_json(const Event& event);
util::Result<Event> parse_event(std::string_view json);

inline constexpr std::string_view k_signature_header = "X-Portcullis-Signature";
inline constexpr std::string_view k_timestamp_header = "X-Portcullis-Timestamp";
inline constexpr std::string_view k_event_id_header = "X-Portcullis-Event-Id";

// "sha256=<hex>" over "<timestamp>.<body>".
std::string sign(std::string_view secret, std::int64_t timestamp, std::string_view body);

enum class Rejection { none, bad_signature, stale, malformed };

// Checks a signature header against the body and timestamp, and the timestamp against `now`
// within +-`window_seconds`. Constant-time comparison.
Rejection verify(std::string_view secret, std::string_view signature_header, std::string_view timestamp_header,
                 std::string_view body, std::int64_t now, std::int64_t window_seconds = 300);

// 32 random hex digits.
std::string new_event_id();

}  // namespace portcullis::notify
