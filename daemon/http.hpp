#pragma once
// The daemon's HTTP API (cpp-httplib):
//   POST /v1/events                    signed push events (401 bad signature or stale, 409 replay,
//                                      413 too large, 400 malformed, 202 queued)
//   POST /v1/targets/NAME/allow-prune  signed like events (empty JSON body): lift the prune guard once
//   GET  /v1/targets                   status of every target (JSON)
//   GET  /healthz, /readyz, /metrics
#include <memory>

#include "daemon/service.hpp"

namespace portcullis::daemon {

class HttpServer {
 public:
  explicit HttpServer(Service& service);
  ~HttpServer();
  // Binds and serves until stop(); false (with a logged reason) when it cannot bind.
  bool listen();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
