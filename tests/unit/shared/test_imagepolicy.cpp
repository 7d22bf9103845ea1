#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shared/imagepolicy/policy.hpp"
#include "shared/imagepolicy/semver.hpp"

using namespace portcullis;
using namespace portcullis::imagepolicy;

namespace {

const std::string k_digest_a = "sha256:" + std::string(64, 'a');
const std::string k_digest_b = "sha256:" + std::string(64, 'b');

Policy semver(std::string range, bool pre = false) {
  Policy p;
  p.name = "app";
  p.image = "reg/app";
  p.strategy = Strategy::semver;
  p.range = std::move(range);
  p.prereleases = pre;
  return p;
}

Policy regex(std::string pattern, Order order) {
  Policy p;
  p.name = "app";
  p.image = "reg/app";
  p.strategy = Strategy::regex;
  p.pattern = std::move(pattern);
  p.order = order;
  return p;
}

std::vector<Candidate> tags(std::initializer_list<const char*> names) {
  std::vector<Candidate> out;
  for (const char* n : names) out.push_back({n, ""});
  return out;
}

}  // namespace

TEST_CASE("semantic versions parse and order", "[imagepolicy]") {
  struct Case {
    const char* a;
    const char* b;
    int order;  // sign of a <=> b
  };
  const Case cases[] = {
      {"1.2.3", "1.2.4", -1},        {"1.10.0", "1.9.9", 1},           {"v1.2.3", "1.2.3", 0},
      {"1.0.0-rc.1", "1.0.0", -1},   {"1.0.0-alpha", "1.0.0-alpha.1", -1}, {"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
      {"1.0.0-beta.2", "1.0.0-beta.11", -1}, {"1.0.0+build.1", "1.0.0+build.2", 0},
  };
  for (const auto& c : cases) {
    INFO(c.a << " vs " << c.b);
    auto a = parse_version(c.a), b = parse_version(c.b);
    REQUIRE(a);
    REQUIRE(b);
    auto r = *a <=> *b;
    CHECK((r < 0 ? -1 : r > 0 ? 1 : 0) == c.order);
  }
  for (const char* bad : {"1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3.4", "a.b.c", "1.2.3-a..b", "", "v",
                          "99999999999999999999.0.0", "1.2.3\n", "../1.2.3"}) {
    INFO(bad);
    CHECK_FALSE(parse_version(bad));
  }
}

TEST_CASE("version ranges", "[imagepolicy]") {
  struct Case {
    const char* range;
    const char* version;
    bool pre;
    bool in;
  };
  const Case cases[] = {
      {">=1.2.0 <2", "1.2.0", false, true},   {">=1.2.0 <2", "1.9.9", false, true},
      {">=1.2.0 <2", "2.0.0", false, false},  {">=1.2.0 <2", "1.1.9", false, false},
      {">=1.2.0 <2", "1.5.0-rc.1", false, false}, {">=1.2.0 <2", "1.5.0-rc.1", true, true},
      {"^1.2", "1.9.0", false, true},         {"^1.2", "2.0.0", false, false},   {"^1.2", "1.1.0", false, false},
      {"^0.2.3", "0.2.9", false, true},       {"^0.2.3", "0.3.0", false, false}, {"^0.0.3", "0.0.4", false, false},
      {"~1.2.3", "1.2.9", false, true},       {"~1.2.3", "1.3.0", false, false}, {"~1.2.3", "1.2.2", false, false},
      {"1.x", "1.99.0", false, true},         {"1.x", "2.0.0", false, false},    {"*", "7.0.0", false, true},
      {"1.2 - 1.4", "1.4.9", false, true},    {"1.2 - 1.4", "1.5.0", false, false},
      {"1.2.3 - 1.4.0", "1.4.0", false, true}, {"<1.0.0 || >=3", "3.1.0", false, true},
      {"<1.0.0 || >=3", "2.0.0", false, false}, {">= 1.2.0", "1.2.0", false, true},
      {"!=1.2.3", "1.2.3", false, false},     {"=1.2.3", "1.2.3", false, true},  {">1.2", "1.2.9", false, false},
      {">1.2", "1.3.0", false, true},         {"<=1.2", "1.2.9", false, true},   {"<=1.2", "1.3.0", false, false},
  };
  for (const auto& c : cases) {
    INFO(c.range << " contains " << c.version);
    auto r = Range::parse(c.range);
    REQUIRE(r);
    auto v = parse_version(c.version);
    REQUIRE(v);
    CHECK(r->contains(*v, c.pre) == c.in);
  }
  for (const std::string& bad : {std::string(">="), std::string("^"), std::string("1.2.3.4"), std::string(">=abc"),
                                 std::string("1.2 - "), std::string("<*"), std::string(300, '1')}) {
    INFO(bad);
    CHECK_FALSE(Range::parse(bad));
  }
}

TEST_CASE("choose picks what the policy allows and never a hostile tag", "[imagepolicy]") {
  const std::string long_tag(300, '9');
  struct Case {
    const char* name;
    Policy policy;
    std::vector<Candidate> candidates;
    std::optional<std::string> chosen;
  };
  const Case cases[] = {
      {"semver: highest in range", semver(">=1.2.0 <2"), tags({"1.2.0", "1.10.0", "1.9.0", "2.0.0", "latest"}), "1.10.0"},
      {"semver: v prefix", semver("^1"), tags({"v1.2.0", "v1.3.0"}), "v1.3.0"},
      {"semver: pre-releases skipped", semver("^1"), tags({"1.2.0", "1.3.0-rc.1"}), "1.2.0"},
      {"semver: pre-releases when asked", semver("^1", true), tags({"1.2.0", "1.3.0-rc.1"}), "1.3.0-rc.1"},
      {"semver: nothing in range", semver("^3"), tags({"1.2.0", "2.0.0"}), std::nullopt},
      {"semver: ties go to the first", semver("*"), tags({"v1.0.0", "1.0.0"}), "v1.0.0"},
      {"semver: hostile tags", semver("*"),
       tags({"../1.0.0", "1.0.0\n", "9.9.9/..", "\xE2\x80\x8B" "9.0.0", "1.0.0"}), "1.0.0"},
      {"semver: 300 characters", semver("*"), {{long_tag + ".0.0", ""}, {"0.1.0", ""}}, "0.1.0"},
      {"regex numerical", regex("^main-(\\d+)$", Order::numerical), tags({"main-9", "main-10", "main-2", "dev-99"}),
       "main-10"},
      {"regex alphabetical (timestamps)", regex("^build-(\\d{8}T\\d{6})$", Order::alphabetical),
       tags({"build-20240101T000000", "build-20250101T000000", "build-2023"}), "build-20250101T000000"},
      {"regex named group", regex("^(?<branch>[a-z]+)-(?<version>\\d+)$", Order::numerical), tags({"z-1", "a-5"}), "a-5"},
      {"regex numerical skips non-digits", regex("^v(.*)$", Order::numerical), tags({"vabc", "v7"}), "v7"},
      {"regex: hostile tags", regex("^(.*)$", Order::alphabetical), tags({"zz/../x", "zz\nx", "a", "\xC3\xA9"}), "a"},
      {"regex: catastrophic pattern hits the limit, no hang",
       regex("^(a+)+$", Order::alphabetical), tags({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}), std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto got = choose(c.policy, c.candidates);
    CHECK(got.has_value() == c.chosen.has_value());
    if (got && c.chosen) CHECK(got->tag == *c.chosen);
  }
}

TEST_CASE("digest policies follow a tag's digest", "[imagepolicy]") {
  Policy p;
  p.name = "app";
  p.image = "reg/app";
  p.strategy = Strategy::digest;
  p.tag = "stable";
  std::vector<Candidate> cs{{"latest", k_digest_a}, {"stable", k_digest_b}};
  auto got = choose(p, cs);
  REQUIRE(got);
  CHECK(got->digest == k_digest_b);
  CHECK(got->reference(p) == "reg/app:stable@" + k_digest_b);
  std::vector<Candidate> bad{{"stable", "sha256:xyz"}, {"stable", ""}, {"stable", "md5:" + std::string(32, 'a')}};
  CHECK_FALSE(choose(p, bad));
}

TEST_CASE("tags and digests are checked", "[imagepolicy]") {
  CHECK(is_valid_tag("1.2.3"));
  CHECK(is_valid_tag("_x-Y.z"));
  CHECK(is_valid_tag(std::string(128, 'a')));
  for (std::string bad : {std::string(""), std::string(129, 'a'), std::string(".hidden"), std::string("-x"),
                          std::string("../x"), std::string("a/b"), std::string("a\nb"), std::string("a b"),
                          std::string("\xC3\xA9"), std::string("a\0b", 3)}) {
    INFO(bad);
    CHECK_FALSE(is_valid_tag(bad));
  }
  CHECK(is_valid_digest(k_digest_a));
  CHECK_FALSE(is_valid_digest("sha256:" + std::string(64, 'A')));
  CHECK_FALSE(is_valid_digest("sha256:" + std::string(63, 'a')));
}

TEST_CASE("policies parse from .portcullis.yaml and bad ones are refused", "[imagepolicy]") {
  const char* good =
      "version: 1\n"
      "images:\n"
      "  policies:\n"
      "  - name: app\n"
      "    image: reg:5000/team/app\n"
      "    environments: [dev, staging]\n"
      "    semver: {range: '>=1.2.0 <2', prereleases: true}\n"
      "  - name: nightly\n"
      "    image: reg/nightly\n"
      "    environments: [dev]\n"
      "    regex: {pattern: '^main-(\\d+)$', order: numerical}\n"
      "    pin: digest\n"
      "  - name: edge\n"
      "    namespace: flux-system\n"
      "    image: reg/edge\n"
      "    environments: [dev]\n"
      "    digest: {tag: latest}\n";
  auto ps = parse_policies(std::string_view(good), ".portcullis.yaml");
  REQUIRE(ps);
  REQUIRE(ps->size() == 3);
  CHECK((*ps)[0].image == "reg:5000/team/app");
  CHECK((*ps)[0].prereleases);
  CHECK((*ps)[0].environments == std::vector<std::string>{"dev", "staging"});
  CHECK((*ps)[1].strategy == Strategy::regex);
  CHECK((*ps)[1].pin == Pin::digest);
  CHECK((*ps)[2].strategy == Strategy::digest);
  CHECK((*ps)[2].pin == Pin::digest);
  CHECK((*ps)[2].namespace_ == "flux-system");
  CHECK(find_policy(*ps, "nightly") == &(*ps)[1]);

  auto none = parse_policies(std::string_view("version: 1\n"), ".portcullis.yaml");
  REQUIRE(none);
  CHECK(none->empty());

  const char* head = "images:\n  policies:\n  - name: a\n    image: reg/a\n    environments: [dev]\n";
  struct Bad {
    const char* name;
    std::string text;
  };
  const Bad bad[] = {
      {"no strategy", head},
      {"two strategies", std::string(head) + "    semver: {range: '*'}\n    digest: {tag: x}\n"},
      {"bad range", std::string(head) + "    semver: {range: '>=abc'}\n"},
      {"pattern without group", std::string(head) + "    regex: {pattern: '^v\\d+$'}\n"},
      {"pattern that does not compile", std::string(head) + "    regex: {pattern: '^(v'}\n"},
      {"image with a tag", "images:\n  policies:\n  - name: a\n    image: reg/a:1\n    environments: [dev]\n    semver: {range: '*'}\n"},
      {"no environment", "images:\n  policies:\n  - name: a\n    image: reg/a\n    environments: []\n    semver: {range: '*'}\n"},
      {"duplicate names", std::string(head) + "    semver: {range: '*'}\n" +
                              "  - name: a\n    image: reg/b\n    environments: [dev]\n    semver: {range: '*'}\n"},
      {"bad name", "images:\n  policies:\n  - name: A/../b\n    image: reg/a\n    environments: [dev]\n    semver: {range: '*'}\n"},
  };
  for (const auto& b : bad) {
    INFO(b.name);
    auto r = parse_policies(std::string_view(b.text), ".portcullis.yaml");
    REQUIRE_FALSE(r);
    CHECK(r.error().rule == "imagepolicy.invalid");
    CHECK(r.error().file == ".portcullis.yaml");
  }
}
