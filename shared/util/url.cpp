#include "shared/util/url.hpp"

#include <charconv>

namespace portcullis::util {

Result<Url> parse_url(std::string_view server) {
  Url u;
  auto scheme_end = server.find("://");
  if (scheme_end == std::string_view::npos) return fail("URL " + std::string(server) + " has no scheme");
  u.scheme = std::string(server.substr(0, scheme_end));
  if (u.scheme != "https" && u.scheme != "http") return fail("unsupported scheme in " + std::string(server));
  std::string_view rest = server.substr(scheme_end + 3);
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  std::string_view host = hostport, port;
  if (hostport.starts_with("[")) {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return fail("bad IPv6 address in " + std::string(server));
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') port = hostport.substr(close + 2);
  } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) return fail("URL " + std::string(server) + " has no host");
  u.host = std::string(host);
  u.port = u.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc{} || p != port.data() + port.size() || u.port <= 0 || u.port > 65535)
      return fail("bad port in " + std::string(server));
  }
  return u;
}

}  // namespace portcullis::util
