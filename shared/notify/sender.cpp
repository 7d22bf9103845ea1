#include "shared/notify/sender.hpp"

#include <httplib.h>

#include "shared/notify/event.hpp"
#include "shared/util/tls.hpp"
#include "shared/util/url.hpp"

namespace portcullis::notify {

util::Result<int> send(const Destination& d, std::string_view body, std::string_view event_id, std::int64_t now,
                       std::chrono::milliseconds timeout) {
  auto url = util::parse_url(d.url);
  if (!url) return util::fail(url.error());
  std::unique_ptr<httplib::ClientImpl> http;
  if (url->scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(url->host, url->port);
    if (!d.ca_pem.empty()) {
      X509_STORE* store = util::make_ca_store(d.ca_pem);
      if (!store) return util::fail("the CA for " + d.url + " is not valid PEM");
      ssl->enable_server_certificate_verification(false);  // OpenSSL verifies: see util::trust_only
      util::trust_only(ssl->ssl_context(), store, url->host);
    } else {
      ssl->enable_server_certificate_verification(true);
    }
    http = std::move(ssl);
  } else {
    http = std::make_unique<httplib::ClientImpl>(url->host, url->port);
  }
  auto ms = timeout.count();
  http->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  http->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  http->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
  const std::string path = url->path.empty() ? "/" : url->path;
  const std::string_view signed_path = std::string_view(path).substr(0, path.find('?'));
  httplib::Headers headers{{std::string(k_signature_header), sign(d.secret, now, {"POST", signed_path, event_id, body})},
                           {std::string(k_timestamp_header), std::to_string(now)},
                           {std::string(k_event_id_header), std::string(event_id)},
                           {"User-Agent", "portcullis"}};
  auto res = http->Post(path, headers, std::string(body), "application/json");
  if (!res) return util::fail("POST " + d.url + " failed: " + httplib::to_string(res.error()));
  return res->status;
}

}  // namespace portcullis::notify
