#pragma once
// The push event the post-receive hook sends to portcullisd, and the HMAC-SHA256 signature of
// every request to portcullisd's API that acts (events, allow-prune) and of webhook alerts. It
// covers the whole request, so that a captured one cannot be sent to another endpoint:
//   X-Portcullis-Signature: sha256=<hex of HMAC(secret, "<timestamp>\n<METHOD>\n<path>\n<id>\n<body>")>
//   X-Portcullis-Timestamp: <unix seconds>
//   X-Portcullis-Event-Id:  <id>: the event's id for an event, a fresh one for any other request;
//                           receivers act on an id once
// <path> is the request's path without the query ("/v1/events"). None of the first four
// parts can hold a newline, so the message splits one way only.
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

// What a signature covers besides the timestamp.
struct SignedRequest {
  std::string_view method;  // "POST"
  std::string_view path;    // "/v1/events", without the query
  std::string_view id;      // X-Portcullis-Event-Id
  std::string_view body;
};

// "sha256=<hex>" over "<timestamp>\n<method>\n<path>\n<id>\n<body>".
std::string sign(std::string_view secret, std::int64_t timestamp, const SignedRequest& request);

enum class Rejection { none, bad_signature, stale, malformed };

// Checks a signature header against the request and timestamp, and the timestamp against
// `now` within +-`window_seconds`. Constant-time comparison. Malformed: a header missing or
// not as written above, an empty id, or a newline in method, path or id.
Rejection verify(std::string_view secret, std::string_view signature_header, std::string_view timestamp_header,
                 const SignedRequest& request, std::int64_t now, std::int64_t window_seconds = 300);

// 32 random hex digits.
std::string new_event_id();

}  // namespace portcullis::notify
