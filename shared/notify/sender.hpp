#pragma once
// Delivering signed events over HTTP(S), with TLS verified.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/util/error.hpp"

namespace portcullis::notify {

struct Destination {
  std::string url;     // http(s)://host:port/v1/events
  std::string secret;  // shared HMAC secret
  std::string ca_pem;  // trusted CA for https; empty: the system's trust store
};

// POSTs `body` to the destination's URL, signed (shared/notify/event.hpp) for that method and
// path with `event_id` at time `now`. Returns the HTTP status; transport failures (refused,
// timed out, TLS) are errors. Never takes longer than `timeout`.
util::Result<int> send(const Destination& destination, std::string_view body, std::string_view event_id,
                       std::int64_t now, std::chrono::milliseconds timeout);

}  // namespace portcullis::notify
