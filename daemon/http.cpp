#include "daemon/http.hpp"

#include <httplib.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>

#include "daemon/listener.hpp"
#include "daemon/log.hpp"
#include "daemon/replay.hpp"
#include "shared/notify/event.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

constexpr std::size_t k_max_body = 1 << 20;
constexpr std::int64_t k_window = 300;

// cpp-httplib's routing, reached from connections the Listener accepts.
class Routes : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void answer(httplib::Response& res, int status, std::string_view error) {
  res.status = status;
  res.set_content(util::dump(util::Json{{"error", std::string(error)}}) + "\n", "application/json");
}

// An id of a signed request: what the hook and `new_event_id` make, and what the replay file
// can hold.
bool valid_request_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

}  // namespace

struct HttpServer::Impl {
  Service& service;
  Routes routes;
  Listener listener;
  std::string secret;
  std::string read_token;  // empty: the read endpoints are open (loopback only, see config)
  ReplayGuard replays;

  explicit Impl(Service& s)
      : service(s),
        listener([this](httplib::Stream& strm, bool last, bool& closed) {
                   return routes.process_request(strm, last, closed, nullptr);
                 },
                 limits_of(s.config().api),
                 [this](std::string_view reason) {
                   service.metrics().add("portcullis_api_connections_dropped_total",
                                         "reason=\"" + std::string(reason) + "\"");
                 }),
        replays(s.config().state_dir.empty() ? std::filesystem::path() : s.config().state_dir / "api-request-ids",
                2 * k_window + 60, unix_now()) {}

  static ListenerLimits limits_of(const ApiConfig& api) {
    ListenerLimits l;
    l.max_connections = api.max_connections;
    l.max_per_client = api.max_connections_per_client;
    l.deadline = api.request_timeout;
    return l;
  }

  void count(std::string_view endpoint, std::string_view result) {
    service.metrics().add(endpoint == "events" ? "portcullis_events_total" : "portcullis_allow_prune_total",
                          "result=\"" + std::string(result) + "\"");
  }

  // Verifies the signature over method, path, id and body, and the timestamp; on failure fills
  // `res`, counts, and returns nullopt; else the request's id.
  std::optional<std::string> authenticate(const httplib::Request& req, httplib::Response& res,
                                          std::string_view endpoint) {
    if (secret.empty()) {
      answer(res, 503, "no secretFile configured: signed requests are refused");
      count(endpoint, "refused");
      return std::nullopt;
    }
    std::string id = req.get_header_value(std::string(notify::k_event_id_header));
    std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
    if (!valid_request_id(id)) {
      answer(res, 400, "missing or malformed X-Portcullis-Event-Id (1-128 of [A-Za-z0-9._-])");
      count(endpoint, "malformed");
      return std::nullopt;
    }
    auto rejection = notify::verify(secret, req.get_header_value(std::string(notify::k_signature_header)),
                                    req.get_header_value(std::string(notify::k_timestamp_header)),
                                    {req.method, path, id, req.body}, unix_now(), k_window);
    switch (rejection) {
      case notify::Rejection::none: return id;
      case notify::Rejection::malformed:
        answer(res, 400, "missing or malformed signature headers");
        count(endpoint, "malformed");
        return std::nullopt;
      case notify::Rejection::bad_signature:
        answer(res, 401, "bad signature (it covers method, path, request id and body)");
        count(endpoint, "bad-signature");
        return std::nullopt;
      case notify::Rejection::stale:
        answer(res, 401, "timestamp outside the 5-minute window");
        count(endpoint, "stale");
        return std::nullopt;
    }
    return std::nullopt;
  }

  // Whether `id` is used for the first time; else (a replay, or no record possible) fills
  // `res` and counts.
  bool first_use(const std::string& id, httplib::Response& res, std::string_view endpoint) {
    auto use = replays.use(id, unix_now());
    if (!use) {
      log(LogLevel::error, "cannot record a request id; the request is refused", {{"error", use.error().message}});
      answer(res, 503, "cannot record the request id");
      count(endpoint, "refused");
      return false;
    }
    if (*use == ReplayGuard::Use::replay) {
      answer(res, 409, "request already received (each signed request is acted on once)");
      count(endpoint, "replay");
      return false;
    }
    return true;
  }

  // The read endpoints answer only with the bearer token, when one is configured.
  bool may_read(const httplib::Request& req, httplib::Response& res) {
    if (read_token.empty()) return true;
    std::string given = req.get_header_value("Authorization");
    std::string wanted = "Bearer " + read_token;
    if (given.size() == wanted.size() && CRYPTO_memcmp(given.data(), wanted.data(), wanted.size()) == 0) return true;
    res.set_header("WWW-Authenticate", "Bearer");
    answer(res, 401, "this endpoint needs Authorization: Bearer <the token of api.readTokenFile>");
    service.metrics().add("portcullis_api_unauthorized_total", "");
    return false;
  }

  void on_event(const httplib::Request& req, httplib::Response& res) {
    auto id = authenticate(req, res, "events");
    if (!id) return;
    auto event = notify::parse_event(req.body);
    if (!event) {
      answer(res, 400, event.error().message);
      count("events", "malformed");
      return;
    }
    if (event->id != *id) {
      answer(res, 400, "the event's id is not the X-Portcullis-Event-Id it was signed with");
      count("events", "malformed");
      return;
    }
    if (!first_use(*id, res, "events")) return;
    service.on_event(*event);
    res.status = 202;
    res.set_content("{\"queued\":true}\n", "application/json");
  }

  void on_allow_prune(const httplib::Request& req, httplib::Response& res) {
    auto id = authenticate(req, res, "allow-prune");
    if (!id) return;
    std::string target = req.matches[1];
    if (!service.knows_target(target)) {
      answer(res, 404, "no such target");
      count("allow-prune", "unknown-target");
      return;
    }
    if (!first_use(*id, res, "allow-prune")) return;
    service.allow_prune(target);
    count("allow-prune", "allowed");
    log(LogLevel::warn, "prune guard lifted once", {{"target", target}, {"requestId", *id}});
    res.set_content("{\"allowed\":true}\n", "application/json");
  }

  void setup() {
    routes.set_payload_max_length(k_max_body);
    routes.Post("/v1/events", [this](const httplib::Request& req, httplib::Response& res) { on_event(req, res); });
    routes.Post(R"(/v1/targets/([a-z0-9-]+)/allow-prune)",
                [this](const httplib::Request& req, httplib::Response& res) { on_allow_prune(req, res); });
    routes.Get("/v1/targets", [this](const httplib::Request& req, httplib::Response& res) {
      if (may_read(req, res)) res.set_content(status_json(service.status()), "application/json");
    });
    routes.Get("/v1/images", [this](const httplib::Request& req, httplib::Response& res) {
      if (may_read(req, res)) res.set_content(service.images_json(), "application/json");
    });
    routes.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    routes.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      bool ready = service.ready();
      res.status = ready ? 200 : 503;
      res.set_content(ready ? "ready\n" : "first sync not done yet\n", "text/plain");
    });
    routes.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      if (may_read(req, res)) res.set_content(service.metrics().render(), "text/plain; version=0.0.4");
    });
    routes.set_error_handler([](const httplib::Request&, httplib::Response& res) {
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
  m_impl->setup();
}

HttpServer::~HttpServer() { stop(); }

util::Result<int> HttpServer::bind() {
  const Config& c = m_impl->service.config();
  if (!c.api.read_token_file.empty()) {
    auto token = util::read_file(c.api.read_token_file, 64 << 10);
    if (!token) return util::fail("cannot read api.readTokenFile: " + token.error().message);
    m_impl->read_token = std::string(util::trim(*token));
    if (m_impl->read_token.empty()) return util::fail("api.readTokenFile " + c.api.read_token_file.string() + " is empty");
  }
  if (!c.tls_cert.empty())
    if (auto tls = m_impl->listener.use_tls(c.tls_cert, c.tls_key); !tls) return util::fail(tls.error());
  auto port = m_impl->listener.bind(c.listen_host, c.listen_port);
  if (!port) return port;
  log(LogLevel::info, "listening", {{"address", c.listen_host + ":" + std::to_string(*port)},
                                    {"tls", c.tls_cert.empty() ? "false" : "true"},
                                    {"readToken", m_impl->read_token.empty() ? "false" : "true"}});
  return port;
}

void HttpServer::serve() { m_impl->listener.serve(); }

bool HttpServer::listen() {
  auto bound = bind();
  if (!bound) {
    log(LogLevel::error, "cannot serve the API", {{"error", bound.error().message}});
    return false;
  }
  serve();
  return true;
}

void HttpServer::stop() { m_impl->listener.stop(); }

}  // namespace portcullis::daemon
