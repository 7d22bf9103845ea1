#include "daemon/http.hpp"

#include <httplib.h>

#include <ctime>
#include <map>
#include <mutex>

#include "daemon/log.hpp"
#include "shared/notify/event.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

constexpr std::size_t k_max_body = 1 << 20;
constexpr std::int64_t k_window = 300;

}  // namespace

struct HttpServer::Impl {
  Service& service;
  std::unique_ptr<httplib::Server> server;
  std::string secret;
  std::mutex seen_mutex;
  std::map<std::string, std::int64_t> seen;  // event id -> time received (kept for twice the window)

  explicit Impl(Service& s) : service(s) {}

  void count(const char* result) { service.metrics().add("portcullis_events_total", std::string("result=\"") + result + "\""); }

  // Verifies signature and timestamp; on failure fills `res` and returns false.
  bool authenticate(const httplib::Request& req, httplib::Response& res) {
    if (secret.empty()) {
      res.status = 503;
      res.set_content("{\"error\":\"no secretFile configured: events are refused\"}\n", "application/json");
      count("refused");
      return false;
    }
    auto rejection = notify::verify(secret, req.get_header_value(std::string(notify::k_signature_header)),
                                    req.get_header_value(std::string(notify::k_timestamp_header)), req.body,
                                    static_cast<std::int64_t>(std::time(nullptr)), k_window);
    switch (rejection) {
      case notify::Rejection::none: return true;
      case notify::Rejection::malformed:
        res.status = 400;
        res.set_content("{\"error\":\"missing or malformed signature headers\"}\n", "application/json");
        count("malformed");
        return false;
      case notify::Rejection::bad_signature:
        res.status = 401;
        res.set_content("{\"error\":\"bad signature\"}\n", "application/json");
        count("bad-signature");
        return false;
      case notify::Rejection::stale:
        res.status = 401;
        res.set_content("{\"error\":\"timestamp outside the 5-minute window\"}\n", "application/json");
        count("stale");
        return false;
    }
    return false;
  }

  void setup() {
    server->set_payload_max_length(k_max_body);
    server->set_read_timeout(10, 0);
    server->Post("/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authenticate(req, res)) return;
      auto event = notify::parse_event(req.body);
      if (!event) {
        res.status = 400;
        res.set_content("{\"error\":\"" + util::json_escape(event.error().message) + "\"}\n", "application/json");
        count("malformed");
        return;
      }
      {
        std::lock_guard lock(seen_mutex);
        auto now = static_cast<std::int64_t>(std::time(nullptr));
        std::erase_if(seen, [&](const auto& kv) { return kv.second < now - 2 * k_window; });
        if (!seen.emplace(event->id, now).second) {
          res.status = 409;
          res.set_content("{\"error\":\"event already received\"}\n", "application/json");
          count("replay");
          return;
        }
      }
      service.on_event(*event);
      res.status = 202;
      res.set_content("{\"queued\":true}\n", "application/json");
    });
    server->Post(R"(/v1/targets/([a-z0-9-]+)/allow-prune)", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authenticate(req, res)) return;
      if (!service.allow_prune(req.matches[1])) {
        res.status = 404;
        res.set_content("{\"error\":\"no such target\"}\n", "application/json");
        return;
      }
      log(LogLevel::warn, "prune guard lifted once", {{"target", std::string(req.matches[1])}});
      res.set_content("{\"allowed\":true}\n", "application/json");
    });
    server->Get("/v1/targets", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(status_json(service.status()), "application/json");
    });
    server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      bool ready = service.ready();
      res.status = ready ? 200 : 503;
      res.set_content(ready ? "ready\n" : "first sync not done yet\n", "text/plain");
    });
    server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(service.metrics().render(), "text/plain; version=0.0.4");
    });
    server->set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.status == 413) res.set_content("{\"error\":\"body larger than 1 MiB\"}\n", "application/json");
    });
  }
};

HttpServer::HttpServer(Service& service) : m_impl(std::make_unique<Impl>(service)) {
  const Config& c = service.config();
  if (!c.secret_file.empty()) {
    if (auto s = util::read_file(c.secret_file, 64 << 10)) m_impl->secret = std::string(util::trim(*s));
    else log(LogLevel::error, "cannot read the event secret; events are refused", {{"error", s.error().message}});
  }
  if (!c.tls_cert.empty())
    m_impl->server = std::make_unique<httplib::SSLServer>(c.tls_cert.c_str(), c.tls_key.c_str());
  else
    m_impl->server = std::make_unique<httplib::Server>();
  m_impl->setup();
}

HttpServer::~HttpServer() = default;

bool HttpServer::listen() {
  const Config& c = m_impl->service.config();
  if (!m_impl->server->is_valid()) {
    log(LogLevel::error, "cannot serve HTTPS: the certificate or key cannot be loaded");
    return false;
  }
  if (!m_impl->server->bind_to_port(c.listen_host.c_str(), c.listen_port)) {
    log(LogLevel::error, "cannot listen", {{"address", c.listen_host + ":" + std::to_string(c.listen_port)}});
    return false;
  }
  log(LogLevel::info, "listening", {{"address", c.listen_host + ":" + std::to_string(c.listen_port)}});
  return m_impl->server->listen_after_bind();
}

void HttpServer::stop() { m_impl->server->stop(); }

}  // namespace portcullis::daemon
