#include "shared/kube/client.hpp"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kube {

namespace {

struct Url {
  std::string scheme, host;
  int port = 0;
  std::string base_path;
};

util::Result<Url> parse_url(std::string_view server) {
  Url u;
  auto scheme_end = server.find("://");
  if (scheme_end == std::string_view::npos) return util::fail("server URL " + std::string(server) + " has no scheme");
  u.scheme = std::string(server.substr(0, scheme_end));
  std::string_view rest = server.substr(scheme_end + 3);
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.base_path = std::string(rest.substr(slash));
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  std::string_view host = hostport;
  std::string_view port;
  if (hostport.starts_with("[")) {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return util::fail("bad IPv6 address in " + std::string(server));
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') port = hostport.substr(close + 2);
  } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  u.host = std::string(host);
  u.port = u.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    try {
      u.port = std::stoi(std::string(port));
    } catch (...) {
      return util::fail("bad port in " + std::string(server));
    }
  }
  if (u.scheme != "https" && u.scheme != "http") return util::fail("unsupported scheme in " + std::string(server));
  return u;
}

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
  Url url;
  std::unique_ptr<httplib::ClientImpl> http;
};

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Connection& Client::connection() const { return m_impl->connection; }

util::Result<Client> Client::connect(const Connection& connection) {
  auto url = parse_url(connection.server);
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
    } else {
      ssl->enable_server_certificate_verification(true);
      if (!connection.ca_pem.empty()) {
        X509_STORE* store = X509_STORE_new();
        std::unique_ptr<BIO, BioDeleter> bio(
            BIO_new_mem_buf(connection.ca_pem.data(), static_cast<int>(connection.ca_pem.size())));
        int added = 0;
        while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
          X509_STORE_add_cert(store, ca);
          X509_free(ca);
          ++added;
        }
        if (!added) {
          X509_STORE_free(store);
          return util::fail("the certificate authority is not valid PEM");
        }
        ssl->set_ca_cert_store(store);  // takes ownership
      }
    }
    impl->http = std::move(ssl);
  }
  impl->http->set_connection_timeout(5, 0);
  impl->http->set_read_timeout(60, 0);
  impl->http->set_keep_alive(true);
  return Client(std::move(impl));
}

util::Result<Response> Client::get(std::string_view path, std::string_view accept) {
  httplib::Headers headers{{"Accept", std::string(accept)}, {"User-Agent", "portcullis"}};
  const Connection& c = m_impl->connection;
  std::string token = c.token;
  if (!c.token_file.empty()) {
    auto t = util::read_file(c.token_file, 64 << 10);
    if (!t) return util::fail(t.error());
    token = std::string(util::trim(*t));
  }
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  else if (!c.username.empty()) m_impl->http->set_basic_auth(c.username, c.password);
  std::string full = m_impl->url.base_path + std::string(path);
  auto res = m_impl->http->Get(full, headers);
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (res.error() == httplib::Error::SSLServerVerification)
      why += " (the server's certificate is not signed by the configured certificate authority, or its name does not match)";
    return util::fail("GET " + c.server + full + " failed: " + why);
  }
  Response r;
  r.status = res->status;
  r.body = std::move(res->body);
  r.content_type = res->get_header_value("Content-Type");
  return r;
}

}  // namespace portcullis::kube
