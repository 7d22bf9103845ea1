#pragma once
// A client of OCI distribution registries (the v2 HTTP API): tag lists and manifest digests,
// with basic and bearer-token auth, TLS verified against a CA file (default: the system's),
// timeouts, response-size limits, a request rate limit and backoff. Everything a registry
// answers is untrusted: tags that are not valid tag names are set aside, never returned.
// One Client talks to one registry and is not for concurrent use.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::registry {

struct Options {
  std::string url;                                  // https://host[:port] (http:// only for a loopback host)
  std::filesystem::path ca_file;                    // trusted CA (PEM); empty: the system's
  std::string username, password;                   // empty username: anonymous
  std::chrono::milliseconds timeout{10'000};        // connect, and each read
  std::chrono::milliseconds list_deadline{60'000};  // a whole tag list, every page
  std::size_t max_pages = 200;                      // of one tag list
  std::size_t max_tags = 100'000;                   // of one tag list
  std::size_t max_body = 8u << 20;                  // bytes of one answer
  double requests_per_second = 20;                  // at most, to this registry
  std::chrono::milliseconds backoff_base{1'000};    // after a failure: 1 s, 2 s, 4 s ...
  std::chrono::milliseconds backoff_max{300'000};
};

// Reads `username:password` (one line; a trailing newline is ignored) from `path`.
util::Result<std::pair<std::string, std::string>> read_credentials(const std::filesystem::path& path);

struct TagList {
  std::vector<std::string> tags;  // valid tag names, as listed
  std::size_t rejected = 0;       // names that are not valid tags (set aside)
  std::size_t pages = 0;
};

class Client {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Fails when the URL or the CA file cannot be used. `clock` (default steady_clock::now)
  // drives the rate limit and backoff.
  static util::Result<Client> connect(Options options, Clock clock = {});

  // Every tag of `repository` ("team/app"), following `Link: <...>; rel="next"` pages on the
  // same registry. Fails on transport errors, statuses other than 200, bodies that are not a
  // tag list, more than max_pages pages or max_tags tags, a page seen twice, or when the
  // list_deadline passes.
  util::Result<TagList> tags(std::string_view repository);

  // The manifest digest ("sha256:<64 hex>") `tag` of `repository` points at: HEAD with the
  // OCI index/manifest and Docker v2 list/manifest types accepted, Docker-Content-Digest read
  // (a GET hashed when the header is missing).
  util::Result<std::string> digest(std::string_view repository, std::string_view tag);

  // While backing off after failures: when the next request may go; nullopt otherwise.
  std::optional<std::chrono::steady_clock::time_point> backing_off_until() const;
  std::size_t requests_sent() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// The distribution grammar: a repository name (path components of [a-z0-9] joined by
// '.', '_', '__' or '-'s, at most 255 characters) and a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
bool valid_repository(std::string_view name);
bool valid_tag(std::string_view tag);
bool valid_digest(std::string_view digest);

// The target of a `Link` header's rel="next" entry; nullopt when there is none.
std::optional<std::string> next_link(std::string_view header);

// A `WWW-Authenticate` challenge: scheme ("Basic", "Bearer") and its parameters.
struct Challenge {
  std::string scheme, realm, service, scope;
};
std::optional<Challenge> parse_challenge(std::string_view header);

// Splits "registry.example:5000/team/app" into host ("registry.example:5000") and repository
// ("team/app"); a reference without a registry host is refused (no implicit Docker Hub).
util::Result<std::pair<std::string, std::string>> split_image(std::string_view image);

}  // namespace portcullis::registry
