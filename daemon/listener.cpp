#include "daemon/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace portcullis::daemon {

using Clock = std::chrono::steady_clock;

namespace {

// A file descriptor, closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  int get() const { return m_fd; }
  void reset() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
  }

 private:
  int m_fd;
};

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

std::string ssl_error_text() {
  char buf[256] = {};
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Waits until `fd` is ready for `events`, or `deadline` passes (false). Errors and hang-ups
// count as ready: the next call on the socket reports them.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

std::string address_of(const sockaddr_storage& addr, int* port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
    if (port) *port = ntohs(a.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
    if (port) *port = ntohs(a.sin6_port);
  }
  return buf;
}

// One connection's stream for cpp-httplib. Reads end by the request's deadline; each write of
// the answer by a deadline set when it starts. Reads are buffered: cpp-httplib
// reads request lines a byte at a time.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int fd, SSL* ssl, std::string ip, int port, std::chrono::milliseconds limit)
      : m_fd(fd), m_ssl(ssl), m_ip(std::move(ip)), m_port(port), m_limit(limit) {}

  // The next request must arrive whole by `deadline`.
  void next_request(Clock::time_point deadline) {
    m_read_deadline = deadline;
    m_timed_out = false;
  }
  bool timed_out() const { return m_timed_out; }

  enum class Wait { ready, closed, idle };
  // Waits up to `until` for the first bytes of a request.
  Wait wait_request(Clock::time_point until) {
    if (m_begin < m_end) return Wait::ready;
    auto deadline = std::exchange(m_read_deadline, until);
    ssize_t n = fill();
    m_read_deadline = deadline;
    if (n > 0) return Wait::ready;
    bool idle = m_timed_out;
    m_timed_out = false;
    return idle ? Wait::idle : Wait::closed;
  }

  bool is_readable() const override { return m_begin < m_end || (m_ssl && SSL_pending(m_ssl) > 0); }
  // False also when the client closed its side: cpp-httplib asks before each part of a
  // streamed answer (an event stream), which then ends instead of waiting for a write to fail.
  bool is_writable() const override {
    pollfd p{m_fd, static_cast<short>(POLLOUT | POLLRDHUP), 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) == 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (m_begin == m_end) {
      ssize_t n = fill();
      if (n <= 0) return n;
    }
    std::size_t n = std::min(size, m_end - m_begin);
    std::copy_n(m_buffer + m_begin, n, ptr);
    m_begin += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    // Each write must be taken within the deadline: an answer is one or two writes, an event
    // stream one per event, so a live stream lasts while its client keeps reading.
    m_write_deadline = Clock::now() + m_limit;
    std::size_t done = 0;
    while (done < size) {
      if (m_ssl) {
        ERR_clear_error();
        int n = SSL_write(m_ssl, ptr + done, static_cast<int>(std::min<std::size_t>(size - done, 1 << 30)));
        if (n > 0) {
          done += static_cast<std::size_t>(n);
          continue;
        }
        if (!wait_ssl(SSL_get_error(m_ssl, n), m_write_deadline)) return -1;
        continue;
      }
      ssize_t n = ::send(m_fd, ptr + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_for(m_fd, POLLOUT, m_write_deadline)) return timeout();
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(done);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = m_ip;
    port = m_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    port = 0;
    ip.clear();
    if (::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) ip = address_of(addr, &port);
  }
  socket_t socket() const override { return m_fd; }

 private:
  ssize_t timeout() {
    m_timed_out = true;
    return -1;
  }

  // After an SSL call that did not complete: waits for what it wants by `deadline`; false
  // (and the stream timed out when the deadline passed) when it cannot go on.
  bool wait_ssl(int error, Clock::time_point deadline) {
    short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) return false;
    if (wait_for(m_fd, events, deadline)) return true;
    m_timed_out = true;
    return false;
  }

  // Reads what is there into the empty buffer: the bytes read, 0 at the end, -1 on an error
  // or when the deadline passes.
  ssize_t fill() {
    m_begin = m_end = 0;
    for (;;) {
      if (m_ssl) {
        ERR_clear_error();
        int n = SSL_read(m_ssl, m_buffer, sizeof m_buffer);
        if (n > 0) {
          m_end = static_cast<std::size_t>(n);
          return n;
        }
        int error = SSL_get_error(m_ssl, n);
        if (error == SSL_ERROR_ZERO_RETURN) return 0;
        if (!wait_ssl(error, m_read_deadline)) return -1;
        continue;
      }
      ssize_t n = ::recv(m_fd, m_buffer, sizeof m_buffer, MSG_DONTWAIT);
      if (n >= 0) {
        m_end = static_cast<std::size_t>(n);
        return n;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_for(m_fd, POLLIN, m_read_deadline)) return timeout();
    }
  }

  int m_fd;
  SSL* m_ssl;
  std::string m_ip;
  int m_port;
  std::chrono::milliseconds m_limit;
  Clock::time_point m_read_deadline{}, m_write_deadline{};
  bool m_timed_out = false;
  char m_buffer[8192];
  std::size_t m_begin = 0, m_end = 0;
};

constexpr std::string_view k_busy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n"
    "Retry-After: 1\r\n\r\ntoo many connections\n";

}  // namespace

struct Listener::Impl {
  Serve serve;
  ListenerLimits limits;
  std::function<void(std::string_view)> on_drop;
  std::unique_ptr<SSL_CTX, SslCtxFree> tls;
  Fd listening;
  Fd wake_read, wake_write;  // stop() writes a byte: the accept loop's poll wakes
  std::atomic<bool> stopping{false};

  mutable std::mutex mutex;
  std::condition_variable all_gone;
  std::map<std::uint64_t, int> open;      // connection -> its socket, while served
  std::map<std::string, int> per_client;  // address -> connections open
  std::uint64_t next_id = 0;
  int threads = 0;

  void drop(std::string_view reason) {
    if (on_drop) on_drop(reason);
  }

  // Takes a new connection on, or answers 503 and closes it when a cap is reached.
  void admit(Fd fd, const sockaddr_storage& addr) {
    int port = 0;
    std::string ip = address_of(addr, &port);
    const char* refused = nullptr;
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      if (static_cast<int>(open.size()) >= limits.max_connections) refused = "too-many";
      else if (per_client[ip] >= limits.max_per_client) refused = "too-many-per-client";
      if (!refused) {
        id = ++next_id;
        open[id] = fd.get();
        ++per_client[ip];
        ++threads;
      } else if (per_client[ip] == 0) {
        per_client.erase(ip);
      }
    }
    if (refused) {
      if (!tls) (void)::send(fd.get(), k_busy.data(), k_busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      // What the client sent already is read away: closing with unread input would reset the
      // connection, and the client might lose the 503.
      char sink[4096];
      for (int i = 0; i < 16 && ::recv(fd.get(), sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
      }
      ::shutdown(fd.get(), SHUT_WR);
      drop(refused);
      return;
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([this, id, ip, port, conn = std::move(fd)]() mutable {
      try {
        serve_connection(conn.get(), ip, port);
      } catch (...) {
        // A handler that throws loses its connection, nothing more.
      }
      std::lock_guard lock(mutex);
      open.erase(id);
      if (--per_client[ip] == 0) per_client.erase(ip);
      conn.reset();  // closed only now: stop() never shuts down a socket number reused meanwhile
      --threads;
      all_gone.notify_all();
    }).detach();
  }

  // The TLS handshake, within the first request's deadline; nullptr when it failed.
  std::unique_ptr<SSL, SslFree> handshake(int fd, Clock::time_point deadline) {
    std::unique_ptr<SSL, SslFree> ssl(SSL_new(tls.get()));
    if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) return nullptr;
    for (;;) {
      ERR_clear_error();
      int n = SSL_accept(ssl.get());
      if (n == 1) return ssl;
      int error = SSL_get_error(ssl.get(), n);
      short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (events == 0) {
        drop("tls");
        return nullptr;
      }
      if (!wait_for(fd, events, deadline)) {
        drop("timeout");
        return nullptr;
      }
    }
  }

  void serve_connection(int fd, const std::string& ip, int port) {
    const auto first = Clock::now() + limits.deadline;
    std::unique_ptr<SSL, SslFree> ssl;
    if (tls) {
      ssl = handshake(fd, first);
      if (!ssl) return;
    }
    DeadlineStream stream(fd, ssl.get(), ip, port, limits.deadline);
    for (int n = 0; n < limits.max_requests_per_connection && !stopping; ++n) {
      auto waiting = Clock::now();
      auto deadline = n == 0 ? first : waiting + limits.deadline;
      stream.next_request(deadline);
      // A new connection has the whole deadline to send its request; an idle one keep_alive.
      auto wait = stream.wait_request(n == 0 ? deadline : std::min(deadline, waiting + limits.keep_alive));
      if (wait == DeadlineStream::Wait::closed) break;
      if (wait == DeadlineStream::Wait::idle) {
        if (n == 0) drop("timeout");
        break;
      }
      bool closed = false;
      bool last = n + 1 == limits.max_requests_per_connection;
      bool ok = serve(stream, last, closed);
      if (stream.timed_out()) {
        drop("timeout");
        break;
      }
      if (!ok || closed) break;
    }
    if (ssl) SSL_shutdown(ssl.get());  // close_notify, not waiting for the peer's
    ::shutdown(fd, SHUT_RDWR);
  }
};

Listener::Listener(Serve serve, ListenerLimits limits, std::function<void(std::string_view)> on_drop)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->serve = std::move(serve);
  m_impl->limits = limits;
  m_impl->limits.keep_alive = std::min(limits.keep_alive, limits.deadline);
  m_impl->on_drop = std::move(on_drop);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
    m_impl->wake_read = Fd(fds[0]);
    m_impl->wake_write = Fd(fds[1]);
  }
}

Listener::~Listener() { stop(); }

util::Result<void> Listener::use_tls(const std::filesystem::path& cert, const std::filesystem::path& key) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return util::fail("cannot make a TLS context: " + ssl_error_text());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1)
    return util::fail("cannot use the certificate " + cert.string() + ": " + ssl_error_text());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)
    return util::fail("cannot use the key " + key.string() + ": " + ssl_error_text());
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return util::fail("the key " + key.string() + " does not match the certificate " + cert.string());
  m_impl->tls = std::move(ctx);
  return {};
}

util::Result<int> Listener::bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return util::fail("cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
  int error = 0;
  for (addrinfo* a = found; a; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    if (fd.get() < 0) {
      error = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 128) != 0) {
      error = errno;
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    int bound_port = port;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) == 0) address_of(bound, &bound_port);
    m_impl->listening = std::move(fd);
    return bound_port;
  }
  return util::fail("cannot listen on " + host + ":" + service + ": " + std::string(std::strerror(error)));
}

void Listener::serve() {
  Impl& d = *m_impl;
  while (!d.stopping && d.listening.get() >= 0) {
    pollfd fds[2] = {{d.listening.get(), POLLIN, 0}, {d.wake_read.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(d.listening.get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    d.admit(Fd(fd), addr);
  }
}

void Listener::stop() {
  Impl& d = *m_impl;
  std::unique_lock lock(d.mutex);
  d.stopping = true;
  if (d.wake_write.get() >= 0) (void)!::write(d.wake_write.get(), "x", 1);
  for (const auto& [id, fd] : d.open) ::shutdown(fd, SHUT_RDWR);
  d.all_gone.wait(lock, [&] { return d.threads == 0; });
}

std::size_t Listener::open_connections() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->open.size();
}

}  // namespace portcullis::daemon
