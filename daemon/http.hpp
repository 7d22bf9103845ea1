#pragma once
// The daemon's HTTP API. Requests that act are signed (shared/notify/event.hpp: HMAC over
// timestamp, method, path, request id and body) and acted on once per id:
//   POST /v1/events                    push events (401 bad signature or stale, 409 replay,
//                                      413 too large, 400 malformed, 202 queued)
//   POST /v1/targets/NAME/allow-prune  lift the prune guard once (a fresh id per request; 409
//                                      when replayed, 404 for an unknown target)
// Reads: GET /v1/targets (status, JSON), /v1/images (image automation), /v1/status (the status
// page's document), /v1/events (it, as server-sent events) and /metrics need "Authorization:
// Bearer <token>" or the status page's session cookie when api.readTokenFile is set (it must
// be, off loopback); /healthz, /readyz and the page itself (/status, /status.css, /status.js:
// no data) are open.
// GET /status?token=T or POST /status/sign-in (form field token) sets the session cookie
// (HttpOnly, SameSite=Strict, an HMAC of the token, not the token) and redirects to /status.
// docs/status-page.md.
// Connections are capped and every request has a deadline (daemon/listener.hpp).
#include <memory>

#include "daemon/service.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

class HttpServer {
 public:
  explicit HttpServer(Service& service);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Reads the read token, loads TLS and binds the configured address; returns the port bound
  // (the configured one, or a free one for port 0). Fails with why.
  util::Result<int> bind();
  // Serves until stop().
  void serve();
  // bind() and serve(); false (with a logged reason) when it cannot bind.
  bool listen();
  // Ends serve() and disconnects every client. Callable from any thread, more than once.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
