#pragma once
// The API's connections, accepted here rather than by cpp-httplib so that no client can hold
// the API: at most `max_connections` open at once and `max_per_client` from one address (a
// connection beyond is answered 503 and closed), a request must arrive whole within `deadline`
// of the server starting to wait for it and each write of its answer be taken within `deadline` (a slower
// or silent client is disconnected), TLS when a certificate is given. What a request means is
// decided by `Serve`: cpp-httplib's routing, called with a stream that keeps those deadlines.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "shared/util/error.hpp"

namespace httplib {
class Stream;
}

namespace portcullis::daemon {

struct ListenerLimits {
  int max_connections = 64;
  int max_per_client = 16;
  std::chrono::milliseconds deadline{10'000};
  std::chrono::milliseconds keep_alive{5'000};  // idle between requests (at most `deadline`)
  int max_requests_per_connection = 100;
};

// Reads one request from `stream` and answers it; `last`: ask the client to close. Sets
// `closed` when the client asked to close; false when nothing more can be read or written.
using Serve = std::function<bool(httplib::Stream& stream, bool last, bool& closed)>;

class Listener {
 public:
  // `on_drop` is told why a connection was dropped ("timeout", "too-many", "too-many-per-client",
  // "tls"), on the thread that dropped it.
  Listener(Serve serve, ListenerLimits limits, std::function<void(std::string_view reason)> on_drop = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Serves HTTPS with this certificate chain and key (PEM); fails when they cannot be used.
  util::Result<void> use_tls(const std::filesystem::path& cert, const std::filesystem::path& key);
  // Binds `host`:`port` (0: any free port); returns the port bound.
  util::Result<int> bind(const std::string& host, int port);
  // Accepts on the calling thread until stop(); each connection is served on a thread of its own.
  void serve();
  // Ends serve(), disconnects every client and waits for their threads. Idempotent; callable
  // before serve() (which then returns at once) and from any thread.
  void stop();

  std::size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
