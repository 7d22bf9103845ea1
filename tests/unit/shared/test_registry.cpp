// shared/registry: the distribution protocol against a small in-process httplib server,
// with the edge cases a hostile or broken registry presents.
#include "shared/registry/registry.hpp"

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "shared/util/hash.hpp"

using namespace portcullis;

namespace {

// An httplib server on a free loopback port, running on its own thread while in scope.
struct Server {
  httplib::Server http;
  int port = 0;
  std::thread thread;
  void start() {
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
  }
  ~Server() {
    http.stop();
    if (thread.joinable()) thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

registry::Options options(const Server& s) {
  registry::Options o;
  o.url = s.url();
  o.timeout = std::chrono::milliseconds(2000);
  o.requests_per_second = 0;  // no throttle in tests
  return o;
}

std::string tags_json(const std::vector<std::string>& tags) {
  nlohmann::json j{{"name", "app"}, {"tags", tags}};
  return j.dump();
}

}  // namespace

TEST_CASE("registry: names, tags, digests, links and challenges", "[registry]") {
  struct TagCase {
    std::string tag;
    bool ok;
  };
  for (const auto& c : std::vector<TagCase>{{"1.2.3", true},
                                            {"v1.2.3-rc.1", true},
                                            {"latest", true},
                                            {"_x", true},
                                            {"../etc", false},
                                            {"a/b", false},
                                            {"a\nb", false},
                                            {"-x", false},
                                            {".x", false},
                                            {std::string(128, 'a'), true},
                                            {std::string(300, 'a'), false},
                                            {"", false},
                                            {"a b", false},
                                            {"é", false}}) {
    INFO(c.tag);
    CHECK(registry::valid_tag(c.tag) == c.ok);
  }
  for (const auto& [name, ok] : std::vector<std::pair<std::string, bool>>{{"app", true},
                                                                          {"team/app", true},
                                                                          {"a.b_c__d--e/f", true},
                                                                          {"App", false},
                                                                          {"../app", false},
                                                                          {"team//app", false},
                                                                          {"app-", false},
                                                                          {"a___b", false},
                                                                          {std::string(256, 'a'), false},
                                                                          {"", false}}) {
    INFO(name);
    CHECK(registry::valid_repository(name) == ok);
  }
  CHECK(registry::valid_digest("sha256:" + std::string(64, 'a')));
  CHECK_FALSE(registry::valid_digest("sha256:" + std::string(63, 'a')));
  CHECK_FALSE(registry::valid_digest("md5:abc"));
  CHECK(registry::next_link("</v2/app/tags/list?last=b&n=2>; rel=\"next\"") ==
        "/v2/app/tags/list?last=b&n=2");
  CHECK(registry::next_link("<https://x/a>; rel=\"prev\", </v2/app/tags/list?last=c>; rel=\"next\"") ==
        "/v2/app/tags/list?last=c");
  CHECK_FALSE(registry::next_link(""));
  CHECK_FALSE(registry::next_link("</x>; rel=\"prev\""));
  auto ch = registry::parse_challenge(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull")");
  REQUIRE(ch);
  CHECK(ch->scheme == "bearer");
  CHECK(ch->realm == "https://auth.example/token");
  CHECK(ch->service == "registry.example");
  CHECK(ch->scope == "repository:app:pull");
  CHECK(registry::parse_challenge("Basic realm=\"Registry Realm\"")->scheme == "basic");
  CHECK_FALSE(registry::parse_challenge("Bearer service=\"x\""));  // no realm
  CHECK_FALSE(registry::parse_challenge(""));
  auto split = registry::split_image("registry.example:5000/team/app");
  REQUIRE(split);
  CHECK(split->first == "registry.example:5000");
  CHECK(split->second == "team/app");
  CHECK_FALSE(registry::split_image("team/app"));  // no registry host
  CHECK_FALSE(registry::split_image("localhost/../app"));
}

TEST_CASE("registry: plain http only to loopback; credentials files", "[registry]") {
  registry::Options o;
  o.url = "http://registry.example";
  CHECK_FALSE(registry::Client::connect(o));
  o.url = "http://127.0.0.1:1";
  CHECK(registry::Client::connect(o));
  o.url = "https://127.0.0.1:1";
  o.ca_file = "/nonexistent/ca.pem";
  CHECK_FALSE(registry::Client::connect(o));
}

TEST_CASE("registry: tag lists, pages, hostile names and broken answers", "[registry]") {
  Server s;
  std::atomic<int> loop_pages{0};
  s.http.Get("/v2/paged/tags/list", [](const httplib::Request& req, httplib::Response& res) {
    std::string last = req.get_param_value("last");
    if (last.empty()) {
      res.set_header("Link", "</v2/paged/tags/list?last=b&n=2>; rel=\"next\"");
      res.set_content(tags_json({"a", "b"}), "application/json");
    } else if (last == "b") {
      res.set_header("Link", "</v2/paged/tags/list?last=d&n=2>; rel=\"next\"");
      res.set_content(tags_json({"c", "d"}), "application/json");
    } else {
      res.set_content(tags_json({"e"}), "application/json");
    }
  });
  s.http.Get("/v2/hostile/tags/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(tags_json({"1.0.0", "../../etc", "a\nb", std::string(300, 'x'), "2.0.0"}),
                    "application/json");
  });
  s.http.Get("/v2/garbage/tags/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>not json</html>", "text/html");
  });
  s.http.Get("/v2/wrongshape/tags/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"tags": "1.0.0"})", "application/json");
  });
  s.http.Get("/v2/huge/tags/list", [](const httplib::Request&, httplib::Response& res) {
    std::vector<std::string> tags;
    for (int i = 0; i < 10'000; ++i) tags.push_back("1.0." + std::to_string(i));
    res.set_content(tags_json(tags), "application/json");
  });
  s.http.Get("/v2/endless/tags/list", [&](const httplib::Request&, httplib::Response& res) {
    int n = ++loop_pages;
    res.set_header("Link", "</v2/endless/tags/list?last=t" + std::to_string(n) + ">; rel=\"next\"");
    res.set_content(tags_json({"t" + std::to_string(n)}), "application/json");
  });
  s.http.Get("/v2/cycle/tags/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Link", "</v2/cycle/tags/list>; rel=\"next\"");
    res.set_content(tags_json({"a"}), "application/json");
  });
  s.http.Get("/v2/elsewhere/tags/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Link", "<http://attacker.example/v2/elsewhere/tags/list?last=a>; rel=\"next\"");
    res.set_content(tags_json({"a"}), "application/json");
  });
  s.http.Get("/v2/empty/tags/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"name":"empty","tags":null})", "application/json");
  });
  s.start();
  auto client = registry::Client::connect(options(s));
  REQUIRE(client);

  auto paged = client->tags("paged");
  REQUIRE(paged);
  CHECK(paged->tags == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(paged->pages == 3);

  auto hostile = client->tags("hostile");
  REQUIRE(hostile);
  CHECK(hostile->tags == std::vector<std::string>{"1.0.0", "2.0.0"});
  CHECK(hostile->rejected == 3);

  auto huge = client->tags("huge");
  REQUIRE(huge);
  CHECK(huge->tags.size() == 10'000);

  auto empty = client->tags("empty");
  REQUIRE(empty);
  CHECK(empty->tags.empty());

  struct Bad {
    std::string repo, message;
  };
  for (const auto& b : std::vector<Bad>{{"garbage", "not a tag list"},
                                        {"wrongshape", "not a tag list"},
                                        {"endless", "more than 200 pages"},
                                        {"cycle", "loops"},
                                        {"elsewhere", "another host"},
                                        {"missing", "answered 404"},
                                        {"../x", "not a valid repository"}}) {
    INFO(b.repo);
    auto fresh = registry::Client::connect(options(s));  // no backoff carried between cases
    auto r = fresh->tags(b.repo);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find(b.message) != std::string::npos);
  }
  CHECK(loop_pages.load() == 200);

  auto capped = options(s);
  capped.max_tags = 5'000;
  auto r = registry::Client::connect(capped)->tags("huge");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("more than 5000 tags") != std::string::npos);
  auto small = options(s);
  small.max_body = 64 << 10;
  r = registry::Client::connect(small)->tags("huge");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("larger than") != std::string::npos);
}

TEST_CASE("registry: slow registries fail within their deadline", "[registry]") {
  Server s;
  std::atomic<bool> stop{false};
  s.http.Get("/v2/silent/tags/list", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 50 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    res.set_content(tags_json({"a"}), "application/json");
  });
  s.http.Get("/v2/trickle/tags/list", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](std::size_t, httplib::DataSink& sink) {
      if (stop) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      sink.write(" ", 1);  // whitespace forever: a body that never completes
      return true;
    });
  });
  s.start();
  for (std::string repo : {"silent", "trickle"}) {
    INFO(repo);
    auto o = options(s);
    o.timeout = std::chrono::milliseconds(400);
    o.list_deadline = std::chrono::milliseconds(800);
    auto client = registry::Client::connect(o);
    auto started = std::chrono::steady_clock::now();
    auto r = client->tags(repo);
    auto took = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(r);
    CHECK(took < std::chrono::seconds(3));
  }
  stop = true;
}

TEST_CASE("registry: basic and bearer auth", "[registry]") {
  Server s;
  std::atomic<int> token_requests{0};
  s.http.Get("/v2/basic/tags/list", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Basic " + std::string("Ym90OnMzY3JldA==")) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"Registry Realm\"");
      return;
    }
    res.set_content(tags_json({"1.0.0"}), "application/json");
  });
  s.http.Get("/token", [&](const httplib::Request& req, httplib::Response& res) {
    ++token_requests;
    if (req.get_header_value("Authorization") != "Basic " + std::string("Ym90OnMzY3JldA==") ||
        req.get_param_value("scope") != "repository:bearer:pull" ||
        req.get_param_value("service") != "test") {
      res.status = 401;
      return;
    }
    res.set_content(R"({"token":"t0k3n","expires_in":300})", "application/json");
  });
  s.http.Get("/v2/bearer/tags/list", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer t0k3n") {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer realm=\"" + s.url() +
                                             "/token\",service=\"test\",scope=\"repository:bearer:pull\"");
      return;
    }
    res.set_content(tags_json({"2.0.0"}), "application/json");
  });
  s.start();
  auto o = options(s);
  o.username = "bot";
  o.password = "s3cret";
  auto client = registry::Client::connect(o);
  auto basic = client->tags("basic");
  REQUIRE(basic);
  CHECK(basic->tags == std::vector<std::string>{"1.0.0"});
  for (int i = 0; i < 3; ++i) {
    auto bearer = client->tags("bearer");
    REQUIRE(bearer);
    CHECK(bearer->tags == std::vector<std::string>{"2.0.0"});
  }
  CHECK(token_requests.load() == 1);  // the token is kept until it expires

  auto anonymous = registry::Client::connect(options(s));
  auto r = anonymous->tags("basic");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("needs credentials") != std::string::npos);
  auto wrong = o;
  wrong.password = "nope";
  for (std::string repo : {"basic", "bearer"}) {
    auto w = registry::Client::connect(wrong)->tags(repo);
    REQUIRE_FALSE(w);
    CHECK(w.error().message.find("nope") == std::string::npos);  // secrets never in messages
    CHECK((w.error().message.find("refused") != std::string::npos ||
           w.error().message.find("401") != std::string::npos));
  }
}

TEST_CASE("registry: manifest digests", "[registry]") {
  Server s;
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  const std::string digest = "sha256:" + std::string(64, 'b');
  s.http.Get("/v2/app/manifests/(.*)", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Accept").find("application/vnd.oci.image.index.v1+json") == std::string::npos) {
      res.status = 406;
      return;
    }
    std::string tag = req.matches[1];
    if (tag == "1.0.0")
      res.set_header("Docker-Content-Digest", digest);
    else if (tag == "bad")
      res.set_header("Docker-Content-Digest", "sha256:../../x");
    else if (tag != "noheader") {
      res.status = 404;
      return;
    }
    res.set_content(manifest, "application/vnd.oci.image.manifest.v1+json");
  });
  s.start();
  auto client = registry::Client::connect(options(s));
  auto d = client->digest("app", "1.0.0");
  REQUIRE(d);
  CHECK(*d == digest);
  auto hashed = client->digest("app", "noheader");
  REQUIRE(hashed);
  CHECK(*hashed == "sha256:" + util::sha256_hex(manifest));
  CHECK_FALSE(client->digest("app", "bad"));
  auto missing = client->digest("app", "9.9.9");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("not found") != std::string::npos);
  CHECK_FALSE(client->digest("app", "../x"));
}

TEST_CASE("registry: backoff after 429 and 5xx, honouring Retry-After", "[registry]") {
  Server s;
  std::atomic<int> hits{0};
  std::atomic<bool> healthy{false};
  s.http.Get("/v2/app/tags/list", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    if (!healthy) {
      res.status = 503;
      res.set_header("Retry-After", "30");
      return;
    }
    res.set_content(tags_json({"1.0.0"}), "application/json");
  });
  s.start();
  auto now = std::chrono::steady_clock::now();
  auto client = registry::Client::connect(options(s), [&] { return now; });
  REQUIRE_FALSE(client->tags("app"));
  CHECK(hits.load() == 1);
  CHECK(client->backing_off_until());
  healthy = true;
  auto held = client->tags("app");
  REQUIRE_FALSE(held);  // no request while backing off
  CHECK(held.error().message.find("backing off") != std::string::npos);
  CHECK(hits.load() == 1);
  now += std::chrono::seconds(29);
  CHECK_FALSE(client->tags("app"));
  now += std::chrono::seconds(2);
  CHECK(client->tags("app"));
  CHECK(hits.load() == 2);
  CHECK_FALSE(client->backing_off_until());
}
