#include "shared/registry/registry.hpp"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "shared/util/fs.hpp"
#include "shared/util/hash.hpp"
#include "shared/util/strings.hpp"
#include "shared/util/tls.hpp"
#include "shared/util/url.hpp"

namespace portcullis::registry {

namespace {

using steady = std::chrono::steady_clock;

constexpr std::string_view k_manifest_types =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

bool is_alnum_lower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool valid_component(std::string_view c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  for (std::size_t i = 0; i < c.size();) {
    if (is_alnum_lower(c[i])) {
      ++i;
      continue;
    }
    // separators: '.', '_', '__', or one or more '-'
    std::size_t j = i;
    if (c[i] == '.')
      j = i + 1;
    else if (c[i] == '_')
      j = (i + 1 < c.size() && c[i + 1] == '_') ? i + 2 : i + 1;
    else if (c[i] == '-') {
      while (j < c.size() && c[j] == '-') ++j;
    } else
      return false;
    if (j >= c.size() || !is_alnum_lower(c[j])) return false;
    i = j;
  }
  return true;
}

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// A name from an answer or a file, safe to put in a message: escaped, at most 80 bytes.
std::string shown(std::string_view s) {
  std::string out = util::json_escape(s.substr(0, 80));
  return "\"" + out + (s.size() > 80 ? "...\"" : "\"");
}

std::optional<long long> parse_seconds(std::string_view s) {
  long long v = 0;
  s = util::trim(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A plain answer with the headers the protocol needs.
struct Answer {
  int status = 0;
  std::string body;
  std::string link, authenticate, digest, retry_after;
};

struct Token {
  std::string value;
  steady::time_point expires;
};

}  // namespace

struct Client::Impl {
  Options opts;
  util::Url url;
  std::string base;  // url.path
  std::string ca_pem;
  Clock clock;
  std::unique_ptr<httplib::ClientImpl> http;
  bool basic = false;                   // the registry asked for basic auth
  std::map<std::string, Token> tokens;  // bearer tokens by scope
  std::optional<Challenge> bearer;      // the registry's last bearer challenge
  steady::time_point next_request{};    // rate limit (real time)
  int failures = 0;
  std::optional<steady::time_point> backoff_until;
  std::size_t sent = 0;

  util::Result<std::unique_ptr<httplib::ClientImpl>> make_http(const util::Url& u) const;
  util::Result<Answer> raw(const std::string& method, const std::string& path,
                           const httplib::Headers& headers, steady::time_point deadline,
                           httplib::ClientImpl& client);
  util::Result<Answer> send(const std::string& method, const std::string& path, std::string_view accept,
                            std::string_view repository, steady::time_point deadline);
  util::Result<void> fetch_token(const Challenge& challenge, const std::string& scope,
                                 steady::time_point deadline);
  void throttle();
  void record(bool failed, std::string_view retry_after);
  util::Result<void> check_backoff() const;
};

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

util::Result<std::pair<std::string, std::string>> read_credentials(const std::filesystem::path& path) {
  auto text = util::read_file(path, 64 << 10);
  if (!text)
    return util::fail("cannot read the registry credentials file " + path.string() + ": " +
                      text.error().message);
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  auto colon = t.find(':');
  if (colon == std::string_view::npos || colon == 0 || t.find('\n') != std::string_view::npos)
    return util::fail("the registry credentials file " + path.string() +
                      " must hold one line `username:password`");
  return std::pair{std::string(t.substr(0, colon)), std::string(t.substr(colon + 1))};
}

util::Result<Client> Client::connect(Options options, Clock clock) {
  auto url = util::parse_url(options.url);
  if (!url) return util::fail("registry URL " + options.url + ": " + url.error().message);
  if (url->scheme == "http" && !is_loopback(url->host))
    return util::fail("registry URL " + options.url +
                      ": plain http is only allowed to a loopback host; use https");
  auto impl = std::make_unique<Impl>();
  if (!options.ca_file.empty()) {
    auto pem = util::read_file(options.ca_file, 1 << 20);
    if (!pem)
      return util::fail("cannot read the registry CA file " + options.ca_file.string() + ": " +
                        pem.error().message);
    impl->ca_pem = std::move(*pem);
  }
  impl->opts = std::move(options);
  impl->url = *url;
  impl->base = url->path;
  impl->clock = clock ? std::move(clock) : Clock([] { return steady::now(); });
  auto http = impl->make_http(*url);
  if (!http) return util::fail(http.error());
  impl->http = std::move(*http);
  return Client(std::move(impl));
}

util::Result<std::unique_ptr<httplib::ClientImpl>> Client::Impl::make_http(const util::Url& u) const {
  std::unique_ptr<httplib::ClientImpl> client;
  if (u.scheme == "http") {
    client = std::make_unique<httplib::ClientImpl>(u.host, u.port);
  } else {
    auto ssl = std::make_unique<httplib::SSLClient>(u.host, u.port);
    if (!ca_pem.empty()) {
      X509_STORE* store = util::make_ca_store(ca_pem);
      if (!store)
        return util::fail("the registry CA file " + opts.ca_file.string() + " holds no PEM certificate");
      ssl->enable_server_certificate_verification(false);  // OpenSSL verifies: util::trust_only
      util::trust_only(ssl->ssl_context(), store, u.host);
    } else {
      ssl->enable_server_certificate_verification(true);
    }
    client = std::move(ssl);
  }
  auto ms = opts.timeout.count();
  client->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  client->set_keep_alive(true);
  client->set_follow_location(false);
  return client;
}

void Client::Impl::throttle() {
  if (opts.requests_per_second <= 0) return;
  auto now = steady::now();
  if (next_request > now) std::this_thread::sleep_until(next_request);
  auto spacing = std::chrono::duration_cast<steady::duration>(
      std::chrono::duration<double>(1.0 / opts.requests_per_second));
  next_request = std::max(now, next_request) + spacing;
}

void Client::Impl::record(bool failed, std::string_view retry_after) {
  if (!failed) {
    failures = 0;
    backoff_until.reset();
    return;
  }
  ++failures;
  std::chrono::milliseconds wait = opts.backoff_base * (1LL << std::min(failures - 1, 20));
  if (auto secs = parse_seconds(retry_after); secs && *secs > 0)
    wait = std::max(wait, std::chrono::milliseconds(std::min(*secs, 86'400LL) * 1000));
  wait = std::min(wait, opts.backoff_max);
  backoff_until = clock() + wait;
}

util::Result<void> Client::Impl::check_backoff() const {
  if (!backoff_until || clock() >= *backoff_until) return {};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*backoff_until - clock()).count();
  return util::fail("registry " + opts.url + " is backing off after " + std::to_string(failures) +
                    " failure(s); next attempt in " + std::to_string(left) + " ms");
}

util::Result<Answer> Client::Impl::raw(const std::string& method, const std::string& path,
                                       const httplib::Headers& headers, steady::time_point deadline,
                                       httplib::ClientImpl& client) {
  throttle();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  if (left.count() <= 0) return util::fail("deadline passed");
  auto read = std::min(left, opts.timeout);
  client.set_read_timeout(read.count() / 1000, (read.count() % 1000) * 1000);
  ++sent;
  Answer a;
  bool too_large = false, too_slow = false;
  auto receiver = [&](const char* data, std::size_t n) {
    if (a.body.size() + n > opts.max_body) return !(too_large = true);
    if (steady::now() > deadline) return !(too_slow = true);
    a.body.append(data, n);
    return true;
  };
  httplib::Result res = method == "HEAD" ? client.Head(path, headers) : client.Get(path, headers, receiver);
  if (!res) {
    if (too_large)
      return util::fail("the answer to " + method + " " + path + " is larger than " +
                        std::to_string(opts.max_body) + " bytes");
    if (too_slow) return util::fail("the answer to " + method + " " + path + " did not arrive in time");
    return util::fail(method + " " + opts.url + path + " failed: " + httplib::to_string(res.error()));
  }
  a.status = res->status;
  a.link = res->get_header_value("Link");
  a.authenticate = res->get_header_value("WWW-Authenticate");
  a.digest = res->get_header_value("Docker-Content-Digest");
  a.retry_after = res->get_header_value("Retry-After");
  return a;
}

util::Result<void> Client::Impl::fetch_token(const Challenge& ch, const std::string& scope,
                                             steady::time_point deadline) {
  auto realm = util::parse_url(ch.realm);
  if (!realm) return util::fail("the registry's token realm " + ch.realm + " is not a URL");
  if (realm->scheme == "http" && !(url.scheme == "http" && is_loopback(realm->host)))
    return util::fail("the registry's token realm " + ch.realm + " is not https");
  auto client = make_http(*realm);
  if (!client) return util::fail(client.error());
  httplib::Params params;
  if (!ch.service.empty()) params.emplace("service", ch.service);
  params.emplace("scope", scope);
  std::string path =
      (realm->path.empty() ? "/" : realm->path) + "?" + httplib::detail::params_to_query_str(params);
  httplib::Headers headers{{"User-Agent", "portcullis"}};
  if (!opts.username.empty())
    headers.insert(httplib::make_basic_authentication_header(opts.username, opts.password));
  auto a = raw("GET", path, headers, deadline, **client);
  if (!a) return util::fail("token request: " + a.error().message);
  if (a->status != 200)
    return util::fail("the token service answered " + std::to_string(a->status) + " (credentials refused?)");
  auto doc = nlohmann::json::parse(a->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return util::fail("the token service's answer is not a JSON object");
  std::string token;
  for (const char* key : {"token", "access_token"})
    if (doc.contains(key) && doc[key].is_string()) token = doc[key].get<std::string>();
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos)
    return util::fail("the token service's answer holds no usable token");
  int expires =
      doc.contains("expires_in") && doc["expires_in"].is_number_integer() ? doc["expires_in"].get<int>() : 60;
  tokens[scope] =
      Token{std::move(token), steady::now() + std::chrono::seconds(std::clamp(expires, 10, 3600) - 5)};
  return {};
}

util::Result<Answer> Client::Impl::send(const std::string& method, const std::string& path,
                                        std::string_view accept, std::string_view repository,
                                        steady::time_point deadline) {
  if (auto b = check_backoff(); !b) return util::fail(b.error());
  std::string scope = "repository:" + std::string(repository) + ":pull";
  auto headers = [&] {
    httplib::Headers h{{"User-Agent", "portcullis"}};
    if (!accept.empty()) h.emplace("Accept", std::string(accept));
    if (auto t = tokens.find(scope); t != tokens.end() && t->second.expires > steady::now())
      h.emplace("Authorization", "Bearer " + t->second.value);
    else if (basic && !opts.username.empty())
      h.insert(httplib::make_basic_authentication_header(opts.username, opts.password));
    return h;
  };
  auto a = raw(method, base + path, headers(), deadline, *http);
  if (a && a->status == 401) {
    auto ch = parse_challenge(a->authenticate);
    if (!ch)
      return util::fail("registry " + opts.url + " answered 401 without a usable WWW-Authenticate challenge");
    if (ch->scheme == "basic") {
      if (opts.username.empty())
        return util::fail("registry " + opts.url + " needs credentials (basic auth) and none are configured");
      if (basic) return util::fail("registry " + opts.url + " refused the configured credentials (401)");
      basic = true;
    } else if (ch->scheme == "bearer") {
      if (auto t = fetch_token(*ch, ch->scope.empty() ? scope : ch->scope, deadline); !t) {
        record(true, {});
        return util::fail("registry " + opts.url + ": " + t.error().message);
      }
      if (!ch->scope.empty() && ch->scope != scope) tokens[scope] = tokens[ch->scope];
    } else {
      return util::fail("registry " + opts.url + " asks for an unsupported auth scheme " + ch->scheme);
    }
    a = raw(method, base + path, headers(), deadline, *http);
    if (a && a->status == 401)
      return util::fail("registry " + opts.url + " refused the configured credentials (401)");
  }
  bool failed = !a || a->status == 429 || a->status >= 500;
  record(failed, a ? std::string_view(a->retry_after) : std::string_view{});
  return a;
}

util::Result<TagList> Client::tags(std::string_view repository) {
  if (!valid_repository(repository)) return util::fail("not a valid repository name: " + shown(repository));
  auto deadline = steady::now() + m_impl->opts.list_deadline;
  TagList list;
  std::set<std::string> seen;
  std::string path = "/v2/" + std::string(repository) + "/tags/list";
  while (true) {
    if (!seen.insert(path).second)
      return util::fail("the tag list of " + std::string(repository) + " loops (a page links back)");
    if (list.pages >= m_impl->opts.max_pages)
      return util::fail("the tag list of " + std::string(repository) + " has more than " +
                        std::to_string(m_impl->opts.max_pages) + " pages");
    auto a = m_impl->send("GET", path, "application/json", repository, deadline);
    if (!a) return util::fail("tag list of " + std::string(repository) + ": " + a.error().message);
    if (a->status != 200)
      return util::fail("tag list of " + std::string(repository) + ": registry " + m_impl->opts.url +
                        " answered " + std::to_string(a->status));
    ++list.pages;
    auto doc = nlohmann::json::parse(a->body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("tags") ||
        !(doc["tags"].is_array() || doc["tags"].is_null()))
      return util::fail("tag list of " + std::string(repository) +
                        ": the registry's answer is not a tag list");
    for (const auto& t : doc["tags"]) {
      if (t.is_string() && valid_tag(t.get_ref<const std::string&>()))
        list.tags.push_back(t.get<std::string>());
      else
        ++list.rejected;
    }
    if (list.tags.size() > m_impl->opts.max_tags)
      return util::fail("the tag list of " + std::string(repository) + " has more than " +
                        std::to_string(m_impl->opts.max_tags) + " tags");
    auto next = next_link(a->link);
    if (!next) break;
    std::string target = *next;
    if (!target.starts_with("/")) {
      auto u = util::parse_url(target);
      if (!u || u->scheme != m_impl->url.scheme || u->host != m_impl->url.host || u->port != m_impl->url.port)
        return util::fail("the tag list of " + std::string(repository) + " links to another host");
      target = target.substr(target.find('/', target.find("//") + 2));
    }
    if (!m_impl->base.empty() && target.starts_with(m_impl->base))
      target = target.substr(m_impl->base.size());
    if (!target.starts_with("/v2/" + std::string(repository) + "/tags/list") ||
        target.find_first_of("\r\n ") != std::string::npos)
      return util::fail("the tag list of " + std::string(repository) +
                        " links to a page that is not its own");
    path = target;
  }
  return list;
}

util::Result<std::string> Client::digest(std::string_view repository, std::string_view tag) {
  if (!valid_repository(repository)) return util::fail("not a valid repository name: " + shown(repository));
  if (!valid_tag(tag)) return util::fail("not a valid tag: " + shown(tag));
  auto deadline = steady::now() + m_impl->opts.timeout * 2;
  std::string path = "/v2/" + std::string(repository) + "/manifests/" + std::string(tag);
  std::string what = std::string(repository) + ":" + std::string(tag);
  auto a = m_impl->send("HEAD", path, k_manifest_types, repository, deadline);
  if (!a) return util::fail("manifest of " + what + ": " + a.error().message);
  if (a->status == 404) return util::fail("manifest of " + what + ": not found");
  if (a->status != 200)
    return util::fail("manifest of " + what + ": registry answered " + std::to_string(a->status));
  if (!a->digest.empty()) {
    if (!valid_digest(a->digest))
      return util::fail("manifest of " + what + ": the registry's Docker-Content-Digest is not a digest");
    return a->digest;
  }
  auto g = m_impl->send("GET", path, k_manifest_types, repository, deadline);
  if (!g) return util::fail("manifest of " + what + ": " + g.error().message);
  if (g->status != 200)
    return util::fail("manifest of " + what + ": registry answered " + std::to_string(g->status));
  return "sha256:" + util::sha256_hex(g->body);
}

std::optional<steady::time_point> Client::backing_off_until() const {
  if (m_impl->backoff_until && m_impl->clock() < *m_impl->backoff_until) return m_impl->backoff_until;
  return std::nullopt;
}

std::size_t Client::requests_sent() const {
  return m_impl->sent;
}

bool valid_repository(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (auto part : util::split(name, '/'))
    if (!valid_component(part)) return false;
  return true;
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag.front())) return false;
  return std::ranges::all_of(tag, [&](char c) { return word(c) || c == '.' || c == '-'; });
}

bool valid_digest(std::string_view d) {
  std::size_t hex = 0;
  if (d.starts_with("sha256:"))
    hex = 64;
  else if (d.starts_with("sha512:"))
    hex = 128;
  else
    return false;
  auto h = d.substr(7);
  return h.size() == hex &&
         std::ranges::all_of(h, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> next_link(std::string_view header) {
  // <target>; rel="next"[, <other>; rel="prev"]
  while (!header.empty()) {
    auto open = header.find('<');
    auto close = header.find('>', open);
    if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
    std::string_view target = header.substr(open + 1, close - open - 1);
    auto end = header.find(",", close);
    std::string params = lower(
        header.substr(close + 1, end == std::string_view::npos ? std::string_view::npos : end - close - 1));
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos)
      return std::string(target);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return std::nullopt;
}

std::optional<Challenge> parse_challenge(std::string_view header) {
  header = util::trim(header);
  auto space = header.find(' ');
  Challenge c;
  c.scheme = lower(header.substr(0, space));
  if (c.scheme != "basic" && c.scheme != "bearer") return c.scheme.empty() ? std::nullopt : std::optional(c);
  std::string_view rest = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
  while (!rest.empty()) {
    rest = util::trim(rest);
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string key = lower(util::trim(rest.substr(0, eq)));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      auto q = rest.find('"', 1);
      if (q == std::string_view::npos) return std::nullopt;
      value = rest.substr(1, q - 1);
      rest.remove_prefix(q + 1);
    } else {
      auto comma = rest.find(',');
      value = util::trim(rest.substr(0, comma));
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma);
    }
    if (!rest.empty() && rest.front() == ',') rest.remove_prefix(1);
    if (key == "realm")
      c.realm = value;
    else if (key == "service")
      c.service = value;
    else if (key == "scope")
      c.scope = value;
  }
  if (c.scheme == "bearer" && c.realm.empty()) return std::nullopt;
  return c;
}

util::Result<std::pair<std::string, std::string>> split_image(std::string_view image) {
  auto slash = image.find('/');
  if (slash == std::string_view::npos) return util::fail("image " + shown(image) + " names no registry host");
  std::string_view host = image.substr(0, slash);
  if (host.find_first_of(".:") == std::string_view::npos && host != "localhost")
    return util::fail("image " + shown(image) +
                      " names no registry host (write it in full, e.g. registry.example/team/app)");
  std::string_view repo = image.substr(slash + 1);
  if (!valid_repository(repo)) return util::fail("image " + shown(image) + ": not a valid repository name");
  return std::pair{std::string(host), std::string(repo)};
}

}  // namespace portcullis::registry
