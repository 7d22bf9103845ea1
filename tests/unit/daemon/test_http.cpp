#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http.hpp"
#include "daemon/service.hpp"
#include "shared/notify/event.hpp"
#include "tests/unit/support/poll.hpp"
#include "tests/unit/support/tempdir.hpp"
#include "tests/unit/support/tls.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::eventually;

namespace {

const std::string k_secret = "s3cret-for-tests";

// A raw TCP connection from `source` (any 127.0.0.0/8 address) to 127.0.0.1:`port`.
class RawClient {
 public:
  RawClient(int port, const char* source = "127.0.0.1") {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(m_fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~RawClient() { ::close(m_fd); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // False once the server has closed the connection.
  bool send(std::string_view data) {
    return ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(data.size());
  }

  // Reads until the server closes the connection (true, with what it sent in `received`) or
  // `timeout` passes (false).
  bool closed_within(std::chrono::milliseconds timeout, std::string* received = nullptr) {
    auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
      if (n <= 0) return true;  // end, or reset
      if (received) received->append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int m_fd = -1;
};

struct Reply {
  int status = 0;  // 0: no answer
  std::string body;
};

// portcullisd's API on 127.0.0.1 and a free port, for targets prod and dev, serving on a
// thread of its own until destroyed.
class Api {
 public:
  explicit Api(const std::function<void(Config&)>& adjust = {}, const std::filesystem::path& state = {}) {
    std::signal(SIGPIPE, SIG_IGN);  // as portcullisd: a client gone mid-answer is an error, not a signal
    m_config.repository.url = "file:///nonexistent/config.git";
    m_config.state_dir = state.empty() ? m_tmp / "state" : state;
    std::filesystem::create_directories(m_config.state_dir);
    m_config.secret_file = m_tmp.write("notify.secret", k_secret + "\n");
    m_config.listen_port = 0;
    for (const char* name : {"prod", "dev"}) {
      TargetConfig t;
      t.name = name;
      t.path = std::string("environments/") + name;
      m_config.targets.push_back(t);
    }
    if (adjust) adjust(m_config);
    m_service = std::make_unique<Service>(m_config);
    m_http = std::make_unique<HttpServer>(*m_service);
    auto bound = m_http->bind();
    INFO((bound ? std::string() : bound.error().message));
    REQUIRE(bound);
    m_port = *bound;
    m_thread = std::thread([this] { m_http->serve(); });
  }
  ~Api() {
    m_http->stop();
    m_thread.join();
  }

  int port() const { return m_port; }
  const test::TempDir& tmp() const { return m_tmp; }
  Service& service() { return *m_service; }

  // One request on a connection of its own.
  Reply request(const std::string& method, const std::string& path, const httplib::Headers& headers = {},
                const std::string& body = {}) const {
    httplib::Client client("127.0.0.1", m_port);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(5, 0);
    httplib::Result res = method == "POST" ? client.Post(path.c_str(), headers, body, "application/json")
                                           : client.Get(path.c_str(), headers);
    return res ? Reply{res->status, res->body} : Reply{};
  }

  // The value of a metric sample (name and labels as rendered), 0 when absent.
  double metric(const std::string& sample) {
    std::string text = m_service->metrics().render();
    auto at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return 0;
    auto start = at + sample.size() + 2;
    return std::stod(text.substr(start, text.find('\n', start) - start));
  }

 private:
  test::TempDir m_tmp;
  Config m_config;
  std::unique_ptr<Service> m_service;
  std::unique_ptr<HttpServer> m_http;
  std::thread m_thread;
  int m_port = 0;
};

httplib::Headers signed_headers(std::int64_t timestamp, const std::string& method, const std::string& path,
                                const std::string& id, const std::string& body) {
  return {{std::string(notify::k_signature_header), notify::sign(k_secret, timestamp, {method, path, id, body})},
          {std::string(notify::k_timestamp_header), std::to_string(timestamp)},
          {std::string(notify::k_event_id_header), id}};
}

std::string event_body(const std::string& id) {
  notify::Event e;
  e.id = id;
  e.repository = "config.git";
  e.refs.push_back({"refs/heads/main", std::string(40, '0'), std::string(40, '1')});
  return notify::to_json(e);
}

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

TEST_CASE("slow clients cannot starve /healthz: capped per address and cut off at the deadline", "[http]") {
  Api api([](Config& c) { c.api.request_timeout = 1500ms; });
  // 25 clients of one address send a request's headers a line at a time, never ending them.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 25; ++i) {
    slow.push_back(std::make_unique<RawClient>(api.port(), "127.0.0.2"));
    slow.back()->send("GET /healthz HTTP/1.1\r\nHost: portcullisd\r\n");
  }
  std::atomic<bool> dripping{true};
  std::thread drip([&] {
    while (dripping) {
      for (auto& c : slow) c->send("X-Slow: 1\r\n");
      std::this_thread::sleep_for(100ms);  // the attack's pace
    }
  });
  auto started = Clock::now();
  // Beyond 16 from one address, each is answered 503 at once.
  CHECK(eventually([&] { return api.metric("portcullis_api_connections_dropped_total{reason=\"too-many-per-client\"}") == 9; }));
  // Meanwhile /healthz answers at once, again and again.
  for (int i = 0; i < 10; ++i) {
    auto t0 = Clock::now();
    Reply r = api.request("GET", "/healthz");
    CHECK(r.status == 200);
    CHECK(Clock::now() - t0 < 500ms);
  }
  CHECK(Clock::now() - started < 1500ms);  // all of it while the slow clients were held
  // Every slow client is disconnected: 9 at once with a 503, 16 at the deadline.
  int refused = 0;
  for (auto& c : slow) {
    std::string got;
    CHECK(c->closed_within(3s, &got));
    if (got.starts_with("HTTP/1.1 503")) ++refused;
  }
  CHECK(refused == 9);
  CHECK(Clock::now() - started < 3500ms);
  CHECK(eventually([&] { return api.metric("portcullis_api_connections_dropped_total{reason=\"timeout\"}") == 16; }));
  dripping = false;
  drip.join();
  CHECK(api.request("GET", "/healthz").status == 200);
}

TEST_CASE("a silent connection, a slow body and a full house end within the deadline", "[http]") {
  SECTION("a connection that sends nothing") {
    Api api([](Config& c) { c.api.request_timeout = 500ms; });
    RawClient silent(api.port());
    auto t0 = Clock::now();
    CHECK(silent.closed_within(3s));
    CHECK(Clock::now() - t0 >= 400ms);
    CHECK(api.metric("portcullis_api_connections_dropped_total{reason=\"timeout\"}") == 1);
  }
  SECTION("a body sent slower than the deadline") {
    Api api([](Config& c) { c.api.request_timeout = 500ms; });
    RawClient slow_body(api.port());
    slow_body.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{");
    auto t0 = Clock::now();
    bool closed = false;
    while (!closed && Clock::now() - t0 < 3s) {
      slow_body.send(" ");
      closed = slow_body.closed_within(100ms);
    }
    CHECK(closed);
    CHECK(Clock::now() - t0 < 1500ms);
  }
  SECTION("more connections than the cap: the next is answered 503 at once, served again once they are cut") {
    Api api([](Config& c) {
      c.api.request_timeout = 800ms;
      c.api.max_connections = 4;
    });
    std::vector<std::unique_ptr<RawClient>> held;
    for (const char* from : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"})
      held.push_back(std::make_unique<RawClient>(api.port(), from));
    CHECK(eventually([&] { return api.request("GET", "/healthz").status == 503; }, 2s));
    for (auto& c : held) CHECK(c->closed_within(3s));
    CHECK(eventually([&] { return api.request("GET", "/healthz").status == 200; }));
  }
}

TEST_CASE("keep-alive clients are served request after request", "[http]") {
  Api api([](Config& c) { c.api.request_timeout = 1s; });
  httplib::Client client("127.0.0.1", api.port());
  client.set_keep_alive(true);
  for (int i = 0; i < 20; ++i) {
    auto res = client.Get("/healthz");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
}

TEST_CASE("signed requests are bound to method, path and id, and each is acted on once", "[http]") {
  Api api;
  const auto t = now();
  const std::string body = event_body("ev-1");
  const auto event = signed_headers(t, "POST", "/v1/events", "ev-1", body);
  CHECK(api.request("POST", "/v1/events", event, body).status == 202);
  CHECK(api.request("POST", "/v1/events", event, body).status == 409);

  // The captured event sent to allow-prune: signed for another path.
  CHECK(api.request("POST", "/v1/targets/prod/allow-prune", event, body).status == 401);
  CHECK(api.request("POST", "/v1/targets/prod/allow-prune", event, "{}").status == 401);

  const std::string prune_path = "/v1/targets/prod/allow-prune";
  const auto prune = signed_headers(t, "POST", prune_path, "ap-1", "{}");
  CHECK(api.request("POST", prune_path, prune, "{}").status == 200);
  CHECK(api.request("POST", prune_path, prune, "{}").status == 409);  // single use
  // Sent to another target: its path is not the one signed.
  CHECK(api.request("POST", "/v1/targets/dev/allow-prune", prune, "{}").status == 401);
  // An id is used once, whichever endpoint it was signed for.
  CHECK(api.request("POST", "/v1/targets/dev/allow-prune",
                    signed_headers(t, "POST", "/v1/targets/dev/allow-prune", "ev-1", "{}"), "{}")
            .status == 409);

  struct Case {
    const char* name;
    std::string path;
    httplib::Headers headers;
    std::string body;
    int status;
  };
  auto without_id = signed_headers(t, "POST", prune_path, "ap-2", "{}");
  without_id.erase(std::string(notify::k_event_id_header));
  const Case cases[] = {
      {"an unknown target", "/v1/targets/qa/allow-prune", signed_headers(t, "POST", "/v1/targets/qa/allow-prune", "ap-3", "{}"),
       "{}", 404},
      {"no id", prune_path, without_id, "{}", 400},
      {"an id with a space", prune_path, signed_headers(t, "POST", prune_path, "a b", "{}"), "{}", 400},
      {"stale", prune_path, signed_headers(t - 600, "POST", prune_path, "ap-4", "{}"), "{}", 401},
      {"another secret", prune_path,
       {{std::string(notify::k_signature_header), notify::sign("other", t, {"POST", prune_path, "ap-5", "{}"})},
        {std::string(notify::k_timestamp_header), std::to_string(t)},
        {std::string(notify::k_event_id_header), "ap-5"}},
       "{}", 401},
      {"an event signed under another id than its own", "/v1/events",
       signed_headers(t, "POST", "/v1/events", "ev-other", event_body("ev-2")), event_body("ev-2"), 400},
      {"an event whose body changed", "/v1/events", signed_headers(t, "POST", "/v1/events", "ev-3", event_body("ev-3")),
       event_body("ev-3") + " ", 401},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(api.request("POST", c.path, c.headers, c.body).status == c.status);
  }
  CHECK(api.metric("portcullis_events_total{result=\"replay\"}") == 1);
  CHECK(api.metric("portcullis_allow_prune_total{result=\"allowed\"}") == 1);
  CHECK(api.metric("portcullis_allow_prune_total{result=\"replay\"}") == 2);
  CHECK(api.metric("portcullis_allow_prune_total{result=\"bad-signature\"}") == 4);
}

TEST_CASE("the record of used ids outlives a restart", "[http]") {
  test::TempDir state;
  const auto t = now();
  const std::string path = "/v1/targets/prod/allow-prune";
  const auto prune = signed_headers(t, "POST", path, "ap-restart", "{}");
  {
    Api first({}, state.path());
    CHECK(first.request("POST", path, prune, "{}").status == 200);
  }
  Api second({}, state.path());
  CHECK(second.request("POST", path, prune, "{}").status == 409);
  CHECK(second.request("POST", path, signed_headers(t, "POST", path, "ap-fresh", "{}"), "{}").status == 200);
}

TEST_CASE("with a read token, status and metrics answer only with it; health stays open", "[http]") {
  test::TempDir tokens;
  auto token = tokens.write("read.token", "t0ken-of-the-reader\n");
  Api api([&](Config& c) { c.api.read_token_file = token; });
  const httplib::Headers right{{"Authorization", "Bearer t0ken-of-the-reader"}};
  const httplib::Headers wrong{{"Authorization", "Bearer t0ken-of-the-readex"}};
  for (const char* path : {"/v1/targets", "/v1/images", "/metrics"}) {
    INFO(path);
    CHECK(api.request("GET", path).status == 401);
    CHECK(api.request("GET", path, wrong).status == 401);
    Reply ok = api.request("GET", path, right);
    CHECK(ok.status == 200);
  }
  CHECK(api.request("GET", "/healthz").status == 200);
  CHECK(api.request("GET", "/readyz").status == 503);  // no sync has run: open, and honest
  CHECK(api.metric("portcullis_api_unauthorized_total") == 6);
}

TEST_CASE("without a read token, status and metrics are open (loopback only)", "[http]") {
  Api api;
  CHECK(api.request("GET", "/v1/targets").status == 200);
  CHECK(api.request("GET", "/metrics").status == 200);
  Reply images = api.request("GET", "/v1/images");  // image automation off: empty lists
  CHECK(images.status == 200);
  CHECK(images.body == "{\"images\":[],\"registries\":[]}\n");
}

TEST_CASE("over TLS: served with the certificate, and a silent handshake is cut off", "[http]") {
  test::TempDir certs;
  auto files = test::self_signed(certs, "api");
  Api api([&](Config& c) {
    c.tls_cert = files.cert;
    c.tls_key = files.key;
    c.api.request_timeout = 700ms;
  });
  httplib::SSLClient client("127.0.0.1", api.port());
  client.set_ca_cert_path(files.cert.c_str());
  client.enable_server_certificate_verification(true);
  auto res = client.Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 200);
  RawClient silent(api.port());
  CHECK(silent.closed_within(3s));
  CHECK(api.metric("portcullis_api_connections_dropped_total{reason=\"timeout\"}") == 1);
}
