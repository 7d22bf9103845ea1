#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "shared/kube/client.hpp"

using namespace portcullis;

namespace {

// A loopback TCP socket, listening or not: the kernel completes connections to a listening one
// (they wait in its backlog) and nobody ever answers them, as with an apiserver that is stopped.
struct Socket {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  explicit Socket(bool listening) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t n = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0);
    port = ntohs(a.sin_port);
    if (listening) REQUIRE(::listen(fd, 16) == 0);
  }
  ~Socket() { ::close(fd); }
};

kube::Client client_of(int port) {
  kube::Connection c;
  c.server = "http://127.0.0.1:" + std::to_string(port);
  auto client = kube::Client::connect(c);
  REQUIRE(client);
  client->set_timeout(std::chrono::seconds(1));
  return std::move(*client);
}

}  // namespace

TEST_CASE("a server that takes the connection and never answers fails the request after the read timeout",
          "[kubeclient]") {
  Socket silent(true);
  auto client = client_of(silent.port);
  auto started = std::chrono::steady_clock::now();
  auto r = client.get("/version");
  auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("GET http://127.0.0.1:" + std::to_string(silent.port) + "/version failed") == 0);
  CHECK(r.error().message.find("no answer within 1s") != std::string::npos);
  CHECK(waited >= std::chrono::milliseconds(900));
  CHECK(waited < std::chrono::seconds(5));
}

TEST_CASE("a port nobody listens on fails the request at once, saying it cannot connect", "[kubeclient]") {
  Socket closed(false);  // bound, so the port stays ours, but not listening: refused
  auto client = client_of(closed.port);
  auto started = std::chrono::steady_clock::now();
  auto r = client.get("/version");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("cannot connect") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
}

TEST_CASE("a TLS server that takes the connection and never answers the handshake is told apart from a bad certificate",
          "[kubeclient]") {
  Socket silent(true);
  kube::Connection c;
  c.server = "https://127.0.0.1:" + std::to_string(silent.port);
  c.insecure_skip_verify = true;
  auto client = kube::Client::connect(c);
  REQUIRE(client);
  auto r = client->get("/version");  // after the 5 s connection timeout
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(r.error().message.find("the TLS handshake got no answer within 5s") != std::string::npos);
  CHECK(r.error().message.find("not signed") == std::string::npos);
}
