#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hooks/audit.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/env.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using test::ScopedEnv;

namespace {

git::Oid oid(const char* hex) {
  auto o = git::Oid::from_hex(hex);
  REQUIRE(o);
  return *o;
}

const char* k_a = "0123456789abcdef0123456789abcdef01234567";
const char* k_b = "89abcdef0123456789abcdef0123456789abcdef";

Finding finding(Level level, const char* rule) {
  Finding f;
  f.level = level;
  f.rule = rule;
  f.message = "m";
  return f;
}

// Parses one audit line as strict JSON; requires that it is exactly one line.
yaml::Stream parse_line(const std::string& line) {
  INFO(line);
  REQUIRE_FALSE(line.empty());
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(line.find('\r') == std::string::npos);
  auto parsed = yaml::parse_json(line);
  INFO((parsed ? std::string() : parsed.error().describe()));
  REQUIRE(parsed);
  REQUIRE(parsed->documents.size() == 1);
  REQUIRE(parsed->documents[0].root);
  REQUIRE(parsed->documents[0].root->is_mapping());
  return std::move(*parsed);
}

std::vector<std::string> strings_of(const yaml::Node* list) {
  REQUIRE(list);
  REQUIRE(list->is_sequence());
  std::vector<std::string> out;
  for (const auto* n : list->items) out.emplace_back(n->text);
  return out;
}

// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ"; nullopt when it is not that shape.
std::optional<std::time_t> parse_time(std::string_view s) {
  if (s.size() != 24) return std::nullopt;
  for (std::size_t i : {4u, 7u}) if (s[i] != '-') return std::nullopt;
  if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z') return std::nullopt;
  for (std::size_t i = 0; i < 23; ++i) {
    if (i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19) continue;
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = std::stoi(std::string(s.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(s.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(s.substr(8, 2)));
  tm.tm_hour = std::stoi(std::string(s.substr(11, 2)));
  tm.tm_min = std::stoi(std::string(s.substr(14, 2)));
  tm.tm_sec = std::stoi(std::string(s.substr(17, 2)));
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  return timegm(&tm);
}

}  // namespace

TEST_CASE("an audit line is one line of JSON carrying every field", "[audit]") {
  std::vector<RefUpdate> updates = {{git::Oid{}, oid(k_a), "refs/heads/feature"}, {oid(k_a), oid(k_b), "refs/heads/main"}};
  Report report;
  report.add(finding(Level::error, "schema.type"));
  report.add(finding(Level::warning, "content.image-latest"));
  report.add(finding(Level::error, "k8s.duplicate"));
  report.add(finding(Level::error, "schema.type"));
  report.add(finding(Level::notice, "note.only"));
  report.stats = Stats{2, 7, 11, 345};
  AuditContext ctx{"0123456789abcdef", "/srv/git/app.git", "alice", updates};

  auto before = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::string line = audit_line(ctx, report, "rejected");
  auto after = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  auto parsed = parse_line(line);
  const yaml::Node* root = parsed.documents[0].root;

  auto time = parse_time(root->get_string("time"));
  INFO("time: " << root->get_string("time"));
  REQUIRE(time);
  CHECK(*time >= before);
  CHECK(*time <= after);
  CHECK(root->get_string("event") == "push");
  CHECK(root->get_string("pushId") == "0123456789abcdef");
  CHECK(root->get_string("repository") == "/srv/git/app.git");
  CHECK(root->get_string("pusher") == "alice");
  CHECK(root->get_string("decision") == "rejected");
  REQUIRE(root->get("failOpen"));
  CHECK(root->get("failOpen")->type == yaml::Type::boolean);
  CHECK_FALSE(root->get("failOpen")->value.boolean);

  const yaml::Node* refs = root->get("refs");
  REQUIRE(refs);
  REQUIRE(refs->items.size() == 2);
  CHECK(refs->items[0]->get_string("ref") == "refs/heads/feature");
  CHECK(refs->items[0]->get_string("old") == std::string(40, '0'));
  CHECK(refs->items[0]->get_string("new") == k_a);
  CHECK(refs->items[1]->get_string("ref") == "refs/heads/main");
  CHECK(refs->items[1]->get_string("old") == k_a);
  CHECK(refs->items[1]->get_string("new") == k_b);

  // Sorted, unique, without notices.
  CHECK(strings_of(root->get("rules")) ==
        std::vector<std::string>{"content.image-latest", "k8s.duplicate", "schema.type"});
  struct Count {
    const char* key;
    std::int64_t value;
  };
  for (const auto& c : {Count{"errors", 3}, Count{"warnings", 1}, Count{"files", 7}, Count{"objects", 11},
                        Count{"durationMs", 345}}) {
    INFO(c.key);
    REQUIRE(root->get(c.key));
    CHECK(root->get(c.key)->type == yaml::Type::integer);
    CHECK(root->get(c.key)->value.integer == c.value);
  }
}

TEST_CASE("an audit line names nobody as null and records fail-open acceptance", "[audit]") {
  Report report;
  report.fail_open = true;
  report.add(finding(Level::warning, "gate.budget"));
  AuditContext ctx{"ffffffffffffffff", "/srv/git/app.git", "", {}};
  auto parsed = parse_line(audit_line(ctx, report, "accepted"));
  const yaml::Node* root = parsed.documents[0].root;
  REQUIRE(root->get("pusher"));
  CHECK(root->get("pusher")->type == yaml::Type::null);
  CHECK(root->get_string("decision") == "accepted");
  CHECK(root->get("failOpen")->value.boolean);
  CHECK(root->get("refs")->items.empty());
  CHECK(strings_of(root->get("rules")) == std::vector<std::string>{"gate.budget"});
  CHECK(root->get("errors")->value.integer == 0);
  CHECK(root->get("warnings")->value.integer == 1);
}

TEST_CASE("hostile ref, pusher and repository names stay inside their JSON strings", "[audit]") {
  struct Case {
    std::string name;
    std::string decoded;  // what a JSON parser reads back: bytes that are not UTF-8 as U+00XX
  };
  const Case cases[] = {
      {"refs/heads/\"quoted\"", ""},
      {"refs/heads/back\\slash\\", ""},
      {"refs/heads/new\nline\r\n{\"decision\":\"accepted\"}", ""},
      {"refs/heads/tab\there", ""},
      {"refs/heads/control\x01\x02\x1b[31m\x7f\b\f", ""},
      {"refs/heads/\",\"decision\":\"accepted", ""},
      {"refs/heads/caf\xc3\xa9-\xe2\x9c\x93-\xf0\x9f\x9a\x80", ""},
      {"refs/heads/latin1-caf\xe9", "refs/heads/latin1-caf\xc3\xa9"},
      {"refs/heads/truncated-\xe2\x9c", "refs/heads/truncated-\xc3\xa2\xc2\x9c"},
      {"refs/heads/overlong-\xc0\xaf", "refs/heads/overlong-\xc3\x80\xc2\xaf"},
      {"refs/heads/surrogate-\xed\xa0\x80", "refs/heads/surrogate-\xc3\xad\xc2\xa0\xc2\x80"},
      {"refs/heads/lone-continuation-\x80", "refs/heads/lone-continuation-\xc2\x80"},
  };
  for (const auto& c : cases) {
    const std::string& name = c.name;
    INFO(Catch::Detail::stringify(name));
    std::vector<RefUpdate> updates = {{git::Oid{}, oid(k_a), name}};
    Report report;
    report.add(finding(Level::error, name.c_str()));
    AuditContext ctx{"0123456789abcdef", "/srv/" + name, name, updates};
    auto parsed = parse_line(audit_line(ctx, report, "rejected"));
    const yaml::Node* root = parsed.documents[0].root;
    CHECK(root->get_string("decision") == "rejected");
    CHECK(root->entries.size() == 14);
    const std::string decoded = c.decoded.empty() ? name : c.decoded;
    CHECK(root->get("refs")->items[0]->get_string("ref") == decoded);
    CHECK(root->get_string("pusher") == decoded);
    CHECK(root->get_string("repository") == "/srv/" + decoded);
    CHECK(strings_of(root->get("rules")) == std::vector<std::string>{decoded});
  }
}

TEST_CASE("push ids are 16 random lower-case hex digits", "[audit]") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = new_push_id();
    INFO(id);
    REQUIRE(id.size() == 16);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(id);
  }
  CHECK(seen.size() == 200);
}

TEST_CASE("the pusher is the first identity variable that is set and not empty", "[audit]") {
  const std::vector<std::string> vars = {"PORTCULLIS_TEST_USER_A", "PORTCULLIS_TEST_USER_B", "PORTCULLIS_TEST_USER_C"};
  using Value = std::optional<std::string>;
  struct Case {
    const char* name;
    Value a, b, c;
    const char* pusher;
  };
  const Case cases[] = {
      {"none set", std::nullopt, std::nullopt, std::nullopt, ""},
      {"only the last", std::nullopt, std::nullopt, "carol", "carol"},
      {"the first wins", "alice", "bob", "carol", "alice"},
      {"an empty value is skipped", "", "bob", "carol", "bob"},
      {"all empty", "", "", "", ""},
      {"values are taken as they are", " spaced name\n", std::nullopt, std::nullopt, " spaced name\n"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    ScopedEnv env({{vars[0], c.a}, {vars[1], c.b}, {vars[2], c.c}});
    CHECK(pusher_from_env(vars) == c.pusher);
    CHECK(pusher_from_env({}) == "");
    // The order of the list decides, not the names.
    const char* reversed = c.c && !c.c->empty() ? c.c->c_str() : c.b && !c.b->empty() ? c.b->c_str() : c.pusher;
    CHECK(pusher_from_env(std::vector<std::string>{vars[2], vars[1], vars[0]}) == reversed);
  }
  for (const auto& v : vars) CHECK(std::getenv(v.c_str()) == nullptr);
}
