#include "daemon/http.hpp"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <ctime>

#include "daemon/breakglass.hpp"
#include "daemon/listener.hpp"
#include "daemon/log.hpp"
#include "daemon/replay.hpp"
#include "daemon/statuspage.hpp"
#include "shared/notify/event.hpp"
#include "shared/signing/allowed_signers.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

constexpr std::size_t k_max_body = 1 << 20;
constexpr std::int64_t k_window = 300;

// cpp-httplib's routing, reached from connections the Listener accepts. cpp-httplib streams a
// chunked answer (the event stream) only while its server socket is valid; ours is never
// listened on, so it holds a placeholder that is not a descriptor until shut_down().
class Routes : public httplib::Server {
 public:
  Routes() { svr_sock_ = -2; }
  using httplib::Server::process_request;
  void shut_down() { svr_sock_ = INVALID_SOCKET; }
};

constexpr std::string_view k_cookie = "portcullis_read";
// The page loads its script and style from the daemon only; nothing inline, nothing elsewhere.
constexpr const char* k_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
constexpr auto k_keep_alive = std::chrono::seconds(15);
constexpr auto k_recheck = std::chrono::seconds(2);  // health changes without an event

void page_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy", k_csp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Frame-Options", "DENY");
}

// The session cookie's value: HMAC-SHA256 of a fixed label under the read token, so that the
// cookie is not the token (a leaked cookie does not give the Bearer token) and needs no state.
std::string cookie_value(const std::string& token) {
  static constexpr std::string_view label = "portcullis status page session v1";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()), reinterpret_cast<const unsigned char*>(label.data()),
       label.size(), mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += "0123456789abcdef"[mac[i] >> 4];
    hex += "0123456789abcdef"[mac[i] & 15];
  }
  return hex;
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The value of cookie `name` in a Cookie header ("" when absent).
std::string cookie_of(const std::string& header, std::string_view name) {
  for (std::string_view rest = header; !rest.empty();) {
    auto semi = rest.find(';');
    std::string_view part = util::trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=')
      return std::string(part.substr(name.size() + 1));
  }
  return {};
}

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
  ReplayGuard nonces;  // of break-glass requests
  std::mutex streams_mutex;
  std::mutex doc_mutex;
  std::string doc_cache;
  std::uint64_t doc_changes = 0;
  std::chrono::steady_clock::time_point doc_built{};
  int streams = 0;
  bool stopping = false;

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
                2 * k_window + 60, unix_now()),
        nonces(s.config().state_dir.empty() ? std::filesystem::path() : s.config().state_dir / "break-glass-nonces",
               2 * k_break_glass_skew + 60, unix_now()) {}

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
    if (same_secret(req.get_header_value("Authorization"), "Bearer " + read_token)) return true;
    // The status page's session (a browser cannot put a header on an EventSource).
    std::string cookie = cookie_of(req.get_header_value("Cookie"), k_cookie);
    if (!cookie.empty() && same_secret(cookie, cookie_value(read_token))) return true;
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

  // POST /v1/break-glass: a request signed with an on-call user's SSH key (daemon/breakglass.hpp).
  void on_break_glass(const httplib::Request& req, httplib::Response& res) {
    auto metric = [&](std::string_view action, std::string_view result) {
      service.metrics().add("portcullis_break_glass_requests_total",
                            "action=\"" + std::string(action) + "\",result=\"" + std::string(result) + "\"");
    };
    const auto& bg = service.config().break_glass;
    if (bg.allowed_signers_file.empty()) {
      answer(res, 404, "break-glass is not configured (breakGlass.allowedSignersFile)");
      return;
    }
    // Read at each request: keys rotate without a restart.
    auto signers = signing::load_allowed_signers(bg.allowed_signers_file);
    if (!signers) {
      log(LogLevel::error, "cannot read breakGlass.allowedSignersFile", {{"error", signers.error().message}});
      answer(res, 503, "the daemon cannot read its allowed signers");
      return;
    }
    auto refused = [&](const Refused& r) {
      res.status = refusal_status(r.why);
      res.set_content(util::dump(util::Json{{"error", r.message}, {"rule", std::string(refusal_rule(r.why))}}) + "\n",
                      "application/json");
      log(LogLevel::warn, "break-glass request refused", {{"rule", std::string(refusal_rule(r.why))}, {"why", r.message}});
      metric("-", refusal_rule(r.why).substr(12));
    };
    auto authorized = authorize(req.body, service.config(), *signers, unix_now());
    if (!authorized) return refused(authorized.error());
    auto use = nonces.use(authorized->request.nonce, unix_now());
    if (!use) {
      log(LogLevel::error, "cannot record a break-glass nonce; the request is refused", {{"error", use.error().message}});
      answer(res, 503, "cannot record the request's nonce");
      return;
    }
    if (*use == ReplayGuard::Use::replay)
      return refused(Refused{Refusal::replay, "request already received (each signed request is acted on once)"});
    auto [status, body] = service.break_glass(*authorized);
    metric(authorized->request.action, status < 300 ? "ok" : "failed");
    res.status = status;
    res.set_content(body, "application/json");
  }

  // The page's session: `token` (from ?token= or the sign-in form) sets the cookie and sends
  // the browser to /status, so the token leaves the address bar and history.
  void sign_in(const std::string& token, httplib::Response& res) {
    page_headers(res);
    if (read_token.empty() || !same_secret(token, read_token)) {
      res.status = read_token.empty() ? 303 : 401;
      if (read_token.empty()) res.set_header("Location", "/status");
      res.set_content("wrong token\n", "text/plain");
      if (!read_token.empty()) service.metrics().add("portcullis_api_unauthorized_total", "");
      return;
    }
    bool tls = !service.config().tls_cert.empty();
    res.set_header("Set-Cookie", std::string(k_cookie) + "=" + cookie_value(read_token) +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200" + (tls ? "; Secure" : ""));
    res.status = 303;
    res.set_header("Location", "/status");
  }

  // GET /v1/events: the status document whenever it changes (event "status"), a comment every
  // k_keep_alive otherwise. At most statusPage.maxEventStreams at once; each ends when the
  // client goes or the server stops.
  void on_stream(const httplib::Request& req, httplib::Response& res) {
    if (!may_read(req, res)) return;
    {
      std::lock_guard lock(streams_mutex);
      if (stopping || streams >= service.config().status_page.max_event_streams) {
        answer(res, 503, "too many live-update streams; retry later");
        res.set_header("Retry-After", "5");
        service.metrics().add("portcullis_event_streams_refused_total", "");
        return;
      }
      ++streams;
    }
    service.metrics().set("portcullis_event_streams", "", static_cast<double>(streams));
    // Frees the stream's place when cpp-httplib drops the answer (client gone, or stop).
    struct Slot {
      Impl* d;
      explicit Slot(Impl* impl) : d(impl) {}
      Slot(const Slot&) = delete;
      Slot& operator=(const Slot&) = delete;
      ~Slot() {
        std::lock_guard lock(d->streams_mutex);
        --d->streams;
        d->service.metrics().set("portcullis_event_streams", "", static_cast<double>(d->streams));
      }
    };
    auto slot = std::make_shared<Slot>(this);
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream", [this, slot, sent = std::string(), first = true,
                                                           quiet_since = std::chrono::steady_clock::now()](
                                                              std::size_t, httplib::DataSink& sink) mutable {
      std::uint64_t seen = service.changes();
      if (!first) service.wait_change(seen, k_recheck);
      if (is_stopping() || !sink.is_writable()) return false;  // stopping, or the client went
      std::string doc = document();
      std::string out = first ? "retry: 3000\n\n" : "";
      first = false;
      auto now = std::chrono::steady_clock::now();
      if (doc != sent) {
        out += "event: status\ndata: " + doc + "\n\n";
        sent = std::move(doc);
      } else if (now - quiet_since >= k_keep_alive) {
        out += ": keep-alive\n\n";
      }
      if (out.empty()) return true;
      quiet_since = now;
      return sink.write(out.data(), out.size());
    });
  }

  // The status document, shared by every stream for a second while nothing signalled a change:
  // n streams cost one build (it reads two audit log tails), not n.
  std::string document() {
    std::lock_guard lock(doc_mutex);
    auto now = std::chrono::steady_clock::now();
    std::uint64_t changes = service.changes();
    if (doc_cache.empty() || changes != doc_changes || now - doc_built >= std::chrono::seconds(1)) {
      doc_cache = status_document(service);
      doc_changes = changes;
      doc_built = now;
    }
    return doc_cache;
  }

  bool is_stopping() {
    std::lock_guard lock(streams_mutex);
    return stopping;
  }

  void setup_page() {
    routes.Get("/status", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_param("token")) return sign_in(req.get_param_value("token"), res);
      page_headers(res);
      res.set_content(std::string(status_html()), "text/html; charset=utf-8");
    });
    routes.Post("/status/sign-in", [this](const httplib::Request& req, httplib::Response& res) {
      sign_in(req.get_param_value("token"), res);
    });
    routes.Get("/status.css", [](const httplib::Request&, httplib::Response& res) {
      page_headers(res);
      res.set_content(std::string(status_css()), "text/css; charset=utf-8");
    });
    routes.Get("/status.js", [](const httplib::Request&, httplib::Response& res) {
      page_headers(res);
      res.set_content(std::string(status_js()), "text/javascript; charset=utf-8");
    });
    routes.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    routes.Get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      if (may_read(req, res)) res.set_content(status_document(service) + "\n", "application/json");
    });
    routes.Get("/v1/events", [this](const httplib::Request& req, httplib::Response& res) { on_stream(req, res); });
  }

  void setup() {
    service.metrics().describe("portcullis_event_streams", "gauge", "Live-update streams (GET /v1/events) open now.");
    service.metrics().describe("portcullis_event_streams_refused_total", "counter",
                               "Live-update streams refused: statusPage.maxEventStreams were open.");
    setup_page();
    routes.set_payload_max_length(k_max_body);
    routes.Post("/v1/events", [this](const httplib::Request& req, httplib::Response& res) { on_event(req, res); });
    routes.Post(R"(/v1/targets/([a-z0-9-]+)/allow-prune)",
                [this](const httplib::Request& req, httplib::Response& res) { on_allow_prune(req, res); });
    routes.Post("/v1/break-glass",
                [this](const httplib::Request& req, httplib::Response& res) { on_break_glass(req, res); });
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

void HttpServer::stop() {
  {
    std::lock_guard lock(m_impl->streams_mutex);
    m_impl->stopping = true;
  }
  m_impl->routes.shut_down();
  m_impl->service.wake_all();  // event streams waiting for a change see the stop
  m_impl->listener.stop();
}

}  // namespace portcullis::daemon
