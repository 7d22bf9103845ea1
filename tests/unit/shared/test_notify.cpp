#include <catch2/catch.hpp>

#include "shared/notify/event.hpp"
#include "shared/util/url.hpp"

using namespace portcullis;

TEST_CASE("events round-trip through JSON, hostile strings included", "[notify]") {
  notify::Event e;
  e.id = notify::new_event_id();
  e.repository = "/srv/git/conf\"ig.git";
  e.refs = {{"refs/heads/main", std::string(40, 'a'), std::string(40, 'b')}, {"refs/heads/x\ny", "", ""}};
  e.pusher = "alice";
  e.break_glass = true;
  e.reason = "incident 42: \\ rollback";
  e.time = 1764000000;
  auto back = notify::parse_event(notify::to_json(e));
  REQUIRE(back);
  CHECK(back->id == e.id);
  CHECK(back->repository == e.repository);
  REQUIRE(back->refs.size() == 2);
  CHECK(back->refs[1].ref == "refs/heads/x\ny");
  CHECK(back->pusher == "alice");
  CHECK(back->break_glass);
  CHECK(back->reason == e.reason);
  CHECK(back->time == e.time);
  CHECK(e.id.size() == 32);
  CHECK(notify::new_event_id() != e.id);
}

TEST_CASE("malformed events are refused", "[notify]") {
  for (const char* bad : {"", "[]", "{}", "{\"id\": \"x\"}", "{\"id\": \"x\", \"refs\": {}}", "{\"id\": 1, \"refs\": []}",
                          "{\"id\": \"x\", \"refs\": [1]}", "not json"}) {
    INFO(bad);
    CHECK_FALSE(notify::parse_event(bad));
  }
  std::string deep(100, '[');
  CHECK_FALSE(notify::parse_event(deep));
}

TEST_CASE("signatures verify only with the right secret, request and time", "[notify]") {
  const std::string body = "{\"id\":\"e1\",\"refs\":[]}";
  const std::int64_t t = 1764000000;
  const notify::SignedRequest event{"POST", "/v1/events", "e1", body};
  std::string sig = notify::sign("s3cret", t, event);
  CHECK(sig.starts_with("sha256="));
  CHECK(sig.size() == 7 + 64);
  struct Case {
    const char* name;
    std::string secret, signature, timestamp;
    notify::SignedRequest request;
    std::int64_t now;
    notify::Rejection expected;
  };
  const std::string longer = body + " ";
  const Case cases[] = {
      {"valid", "s3cret", sig, std::to_string(t), event, t, notify::Rejection::none},
      {"valid within the window", "s3cret", sig, std::to_string(t), event, t + 299, notify::Rejection::none},
      {"stale", "s3cret", sig, std::to_string(t), event, t + 301, notify::Rejection::stale},
      {"from the future", "s3cret", sig, std::to_string(t), event, t - 301, notify::Rejection::stale},
      {"wrong secret", "other", sig, std::to_string(t), event, t, notify::Rejection::bad_signature},
      {"changed body", "s3cret", sig, std::to_string(t), {"POST", "/v1/events", "e1", longer}, t,
       notify::Rejection::bad_signature},
      {"changed timestamp", "s3cret", sig, std::to_string(t + 1), event, t, notify::Rejection::bad_signature},
      {"another path (a replay to allow-prune)", "s3cret", sig, std::to_string(t),
       {"POST", "/v1/targets/prod/allow-prune", "e1", body}, t, notify::Rejection::bad_signature},
      {"another method", "s3cret", sig, std::to_string(t), {"PUT", "/v1/events", "e1", body}, t,
       notify::Rejection::bad_signature},
      {"another id (a replay under a fresh id)", "s3cret", sig, std::to_string(t), {"POST", "/v1/events", "e2", body},
       t, notify::Rejection::bad_signature},
      {"parts moved across the separator", "s3cret", sig, std::to_string(t),
       {"POST", "/v1/events\ne1", "", body}, t, notify::Rejection::malformed},
      {"a newline in the id", "s3cret", sig, std::to_string(t), {"POST", "/v1/events", "e1\n", body}, t,
       notify::Rejection::malformed},
      {"no id", "s3cret", sig, std::to_string(t), {"POST", "/v1/events", "", body}, t, notify::Rejection::malformed},
      {"truncated signature", "s3cret", sig.substr(0, 20), std::to_string(t), event, t, notify::Rejection::bad_signature},
      {"no algorithm", "s3cret", sig.substr(7), std::to_string(t), event, t, notify::Rejection::malformed},
      {"timestamp not a number", "s3cret", sig, "soon", event, t, notify::Rejection::malformed},
      {"empty headers", "s3cret", "", "", event, t, notify::Rejection::malformed},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(notify::verify(c.secret, c.signature, c.timestamp, c.request, c.now) == c.expected);
  }
  // The message signed, spelled out for other senders: HMAC-SHA256 of "5\nPOST\n/p\ni\nb"
  // (from `printf '5\nPOST\n/p\ni\nb' | openssl dgst -sha256 -hmac k`).
  CHECK(notify::sign("k", 5, {"POST", "/p", "i", "b"}) == "sha256=81179869efe87daff5642b52b60ff39349554b5bdfa25f2bc641dfcaf6fd67d2");
}

TEST_CASE("URLs split into scheme, host, port and path", "[notify]") {
  struct Case {
    const char* url;
    bool ok;
    const char* scheme;
    const char* host;
    int port;
    const char* path;
  };
  const Case cases[] = {
      {"https://d.example:8443/v1/events", true, "https", "d.example", 8443, "/v1/events"},
      {"http://127.0.0.1/", true, "http", "127.0.0.1", 80, ""},
      {"https://[::1]:9/x/", true, "https", "::1", 9, "/x"},
      {"https://host", true, "https", "host", 443, ""},
      {"ftp://host", false, "", "", 0, ""},
      {"host:80", false, "", "", 0, ""},
      {"http://:80/", false, "", "", 0, ""},
      {"http://h:99999/", false, "", "", 0, ""},
      {"http://h:8x/", false, "", "", 0, ""},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    auto u = util::parse_url(c.url);
    REQUIRE(u.has_value() == c.ok);
    if (!u) continue;
    CHECK(u->scheme == c.scheme);
    CHECK(u->host == c.host);
    CHECK(u->port == c.port);
    CHECK(u->path == c.path);
  }
}
