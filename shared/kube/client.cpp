#include "shared/kube/client.hpp"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>

#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"
#include "shared/util/tls.hpp"
#include "shared/util/url.hpp"

namespace portcullis::kube {

namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

}  // namespace

struct Client::Impl {
  Connection connection;
  util::Url url;
  std::unique_ptr<httplib::ClientImpl> http;
  bool own_ca = false;  // verified by OpenSSL against the kubeconfig's CA alone (util::trust_only)
  std::chrono::milliseconds read_timeout{60'000};
  httplib::Headers headers(std::string_view accept) const;
  std::string transport_error(httplib::Error e) const;
};

// What a failed exchange means, for people: httplib says only "Read" or "Connection". A failed
// TLS handshake is told apart by OpenSSL's error queue (cleared before each request): a
// certificate that does not verify leaves its reason there, a server that never answers only
// "shutdown while in init" (httplib giving up) or nothing.
std::string Client::Impl::transport_error(httplib::Error e) const {
  std::string why = httplib::to_string(e);
  const std::string not_signed =
      " (the server's certificate is not signed by the configured certificate authority, or its name does not match)";
  switch (e) {
    case httplib::Error::Connection: return why + " (cannot connect: refused, unreachable, or no answer within 5s)";
    case httplib::Error::Read:
      return why + " (no answer within " + util::duration_text(read_timeout.count()) + ", or the connection was closed)";
    case httplib::Error::Write: return why + " (cannot send within " + util::duration_text(read_timeout.count()) + ")";
    case httplib::Error::SSLServerVerification: return why + not_signed;
    case httplib::Error::SSLConnection: {
      // A certificate that does not verify leaves its reason in the queue; a handshake given up
      // on (httplib then shuts the half-made session down) or closed by the server does not.
      bool verify_failed = false;
      std::string other;
      while (unsigned long queued = ERR_get_error()) {
        int reason = ERR_GET_REASON(queued);
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) verify_failed = true;
        else if (reason != SSL_R_SHUTDOWN_WHILE_IN_INIT && other.empty())
          if (const char* text = ERR_reason_error_string(queued)) other = text;
      }
      if (verify_failed || (own_ca && !other.empty())) return why + not_signed;
      if (other.empty()) return why + " (the TLS handshake got no answer within 5s, or the connection was closed)";
      return why + " (the TLS handshake failed: " + other + ")";
    }
    default: return why;
  }
}

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Connection& Client::connection() const { return m_impl->connection; }

util::Result<Client> Client::connect(const Connection& connection) {
  auto url = util::parse_url(connection.server);
  if (!url) return util::fail(url.error());
  auto impl = std::make_unique<Impl>();
  impl->connection = connection;
  impl->url = *url;
  if (url->scheme == "http") {
    impl->http = std::make_unique<httplib::ClientImpl>(url->host, url->port);
  } else {
    std::unique_ptr<X509, X509Deleter> cert;
    std::unique_ptr<EVP_PKEY, KeyDeleter> key;
    if (!connection.client_cert_pem.empty()) {
      std::unique_ptr<BIO, BioDeleter> cb(BIO_new_mem_buf(connection.client_cert_pem.data(),
                                                          static_cast<int>(connection.client_cert_pem.size())));
      cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
      std::unique_ptr<BIO, BioDeleter> kb(BIO_new_mem_buf(connection.client_key_pem.data(),
                                                          static_cast<int>(connection.client_key_pem.size())));
      key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
      if (!cert || !key) return util::fail("the client certificate or key is not valid PEM");
    }
    auto ssl = cert ? std::make_unique<httplib::SSLClient>(url->host, url->port, cert.get(), key.get())
                    : std::make_unique<httplib::SSLClient>(url->host, url->port);
    if (connection.insecure_skip_verify) {
      ssl->enable_server_certificate_verification(false);
    } else if (!connection.ca_pem.empty()) {
      X509_STORE* store = util::make_ca_store(connection.ca_pem);
      if (!store) return util::fail("the certificate authority is not valid PEM");
      ssl->enable_server_certificate_verification(false);  // OpenSSL verifies: see util::trust_only
      util::trust_only(ssl->ssl_context(), store, url->host);
      impl->own_ca = true;
    } else {
      ssl->enable_server_certificate_verification(true);  // the system's CAs
    }
    impl->http = std::move(ssl);
  }
  impl->http->set_connection_timeout(5, 0);
  impl->http->set_read_timeout(60, 0);
  impl->http->set_keep_alive(true);
  // Headers and body leave in separate writes: with Nagle on, each request with a body waits
  // for the delayed ACK of its headers (~40 ms on Linux).
  impl->http->set_tcp_nodelay(true);
  return Client(std::move(impl));
}

util::Result<Response> Client::get(std::string_view path, std::string_view accept) {
  return request(Method::get, path, {}, "application/json", accept);
}

void Client::cancel() { m_impl->http->stop(); }

void Client::set_timeout(std::chrono::milliseconds timeout) {
  auto ms = timeout.count();
  m_impl->http->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  m_impl->http->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
  m_impl->read_timeout = timeout;
}

namespace {

std::string_view method_name(Client::Method m) {
  switch (m) {
    case Client::Method::get: return "GET";
    case Client::Method::post: return "POST";
    case Client::Method::put: return "PUT";
    case Client::Method::patch: return "PATCH";
    case Client::Method::del: return "DELETE";
  }
  return "GET";
}

}  // namespace

httplib::Headers Client::Impl::headers(std::string_view accept) const {
  httplib::Headers h{{"Accept", std::string(accept)}, {"User-Agent", "portcullis"}};
  std::string token = connection.token;
  if (!connection.token_file.empty()) {
    if (auto t = util::read_file(connection.token_file, 64 << 10)) token = std::string(util::trim(*t));
  }
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  return h;
}

util::Result<Response> Client::request(Method method, std::string_view path, std::string_view body,
                                       std::string_view content_type, std::string_view accept) {
  const Connection& c = m_impl->connection;
  auto headers = m_impl->headers(accept);
  if (c.token.empty() && c.token_file.empty() && !c.username.empty()) m_impl->http->set_basic_auth(c.username, c.password);
  std::string full = m_impl->url.path + std::string(path);
  std::string ct(content_type);
  // The body is streamed from the caller's buffer: httplib would otherwise keep a copy of its
  // own (an inventory is up to 1 MiB).
  httplib::ContentProvider provider = [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
    return sink.write(body.data() + offset, std::min(length, body.size() - offset));
  };
  auto send = [&]() -> httplib::Result {
    switch (method) {
      case Method::post: return m_impl->http->Post(full, headers, body.size(), provider, ct);
      case Method::put: return m_impl->http->Put(full, headers, body.size(), provider, ct);
      case Method::patch: return m_impl->http->Patch(full, headers, body.size(), provider, ct);
      case Method::del:
        return body.empty() ? m_impl->http->Delete(full, headers)
                            : m_impl->http->Delete(full, headers, body.data(), body.size(), ct);
      case Method::get: break;
    }
    return m_impl->http->Get(full, headers);
  };
  ERR_clear_error();  // what a failed handshake leaves there tells why (transport_error)
  httplib::Result res = send();
  if (!res) {
    return util::fail(std::string(method_name(method)) + " " + c.server + full + " failed: " + m_impl->transport_error(res.error()));
  }
  Response r;
  r.status = res->status;
  r.body = std::move(res->body);
  r.content_type = res->get_header_value("Content-Type");
  return r;
}

util::Result<int> Client::stream(std::string_view path, const std::function<bool(std::string_view)>& on_chunk) {
  auto headers = m_impl->headers("application/json");
  std::string full = m_impl->url.path + std::string(path);
  ERR_clear_error();
  auto res = m_impl->http->Get(full, headers, [&](const char* data, size_t len) { return on_chunk({data, len}); });
  if (!res && res.error() != httplib::Error::Canceled)
    return util::fail("GET " + m_impl->connection.server + full + " failed: " + m_impl->transport_error(res.error()));
  return res ? res->status : 0;
}

}  // namespace portcullis::kube
