#pragma once
// A real HTTP(S) receiver on loopback for tests of senders (alerts, notifications): a
// cpp-httplib server on 127.0.0.1 and a free port that records every request and answers
// 200, or a chosen status for the next N requests.
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::test {

struct ReceivedRequest {
  std::string method;
  std::string path;
  httplib::Headers headers;
  std::string body;
  std::chrono::steady_clock::time_point at;
  int status = 0;  // what the receiver answered

  std::string header(const std::string& name) const {
    auto it = headers.find(name);  // httplib::Headers compares names case-insensitively
    return it == headers.end() ? std::string() : it->second;
  }
};

// PEM files of the certificate (chain) and private key an HTTPS receiver serves.
struct TlsFiles {
  std::filesystem::path cert;
  std::filesystem::path key;
};

class Receiver {
 public:
  // Listens (HTTPS with `tls`) until destroyed; throws when the certificate does not load, no
  // port can be bound or the server does not start within 10 s.
  explicit Receiver(std::optional<TlsFiles> tls = std::nullopt, int default_status = 200)
      : m_tls(tls.has_value()), m_default_status(default_status) {
    if (tls) {
      auto ssl = std::make_unique<httplib::SSLServer>(tls->cert.c_str(), tls->key.c_str());
      if (!ssl->is_valid()) throw std::runtime_error("the test receiver cannot load " + tls->cert.string());
      m_server = std::move(ssl);
    } else {
      m_server = std::make_unique<httplib::Server>();
    }
    m_server->Post(".*", [this](const httplib::Request& q, httplib::Response& a) { handle(q, a); });
    m_server->Put(".*", [this](const httplib::Request& q, httplib::Response& a) { handle(q, a); });
    m_port = m_server->bind_to_any_port("127.0.0.1");
    if (m_port <= 0) throw std::runtime_error("the test receiver cannot bind a port on 127.0.0.1");
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
    // stop() before the loop runs would be lost and join() would hang: wait until it runs.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!m_server->is_running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        m_thread.detach();
        throw std::runtime_error("the test receiver did not start");
      }
      std::this_thread::yield();
    }
  }
  ~Receiver() {
    m_server->stop();
    m_thread.join();
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  int port() const { return m_port; }
  // "http(s)://<host>:<port><path>"
  std::string url(const std::string& path = "/hook", const std::string& host = "127.0.0.1") const {
    return (m_tls ? "https://" : "http://") + host + ":" + std::to_string(m_port) + path;
  }

  // Answers the next `times` requests with `status` (after those already scheduled).
  void answer(int status, int times = 1) {
    std::lock_guard lock(m_mutex);
    for (int i = 0; i < times; ++i) m_scripted.push_back(status);
  }

  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  std::size_t count() const {
    std::lock_guard lock(m_mutex);
    return m_requests.size();
  }

  // Waits until at least `n` requests arrived, or `timeout`. True when they did.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(m_mutex);
    return m_arrived.wait_for(lock, timeout, [&] { return m_requests.size() >= n; });
  }

 private:
  void handle(const httplib::Request& q, httplib::Response& a) {
    std::lock_guard lock(m_mutex);
    int status = m_default_status;
    if (!m_scripted.empty()) {
      status = m_scripted.front();
      m_scripted.pop_front();
    }
    m_requests.push_back({q.method, q.path, q.headers, q.body, std::chrono::steady_clock::now(), status});
    a.status = status;
    a.set_content(status < 300 ? "ok" : "injected failure", "text/plain");
    m_arrived.notify_all();
  }

  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  int m_port = 0;
  bool m_tls;
  int m_default_status;
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_arrived;
  std::deque<int> m_scripted;
  std::vector<ReceivedRequest> m_requests;
};

}  // namespace portcullis::test
