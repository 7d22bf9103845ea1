#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "shared/yaml/parse.hpp"

using namespace portcullis;
using yaml::Type;

namespace {

const yaml::Node* first_root(const yaml::Stream& s) {
  REQUIRE(!s.documents.empty());
  return s.documents.front().root;
}

}  // namespace

TEST_CASE("plain scalars resolve as go-yaml v2 does", "[yaml]") {
  struct Case {
    const char* text;
    Type type;
    double value;  // bool as 0/1, numbers as double
  };
  const Case cases[] = {
      {"~", Type::null, 0},        {"null", Type::null, 0},       {"", Type::null, 0},
      {"yes", Type::boolean, 1},   {"No", Type::boolean, 0},      {"on", Type::boolean, 1},
      {"OFF", Type::boolean, 0},   {"y", Type::boolean, 1},       {"true", Type::boolean, 1},
      {"42", Type::integer, 42},   {"-7", Type::integer, -7},     {"+3", Type::integer, 3},
      {"0x1F", Type::integer, 31}, {"0755", Type::integer, 493},  {"0b101", Type::integer, 5},
      {"1_000", Type::integer, 1000},
      {"08", Type::number, 8},     {"1.5", Type::number, 1.5},    {"1e3", Type::number, 1000},
      {".5", Type::number, 0.5},   {"1.", Type::number, 1},
      {"abc", Type::string, 0},    {"1.2.3", Type::string, 0},    {"2001-12-14", Type::string, 0},
      {"yesno", Type::string, 0},  {"0x", Type::string, 0},       {"-", Type::string, 0},
      {"nginx:1.25", Type::string, 0},
  };
  for (const auto& c : cases) {
    INFO("scalar: '" << c.text << "'");
    yaml::Node n;
    yaml::resolve_plain_scalar(c.text, n);
    CHECK(n.type == c.type);
    if (n.type == Type::boolean) CHECK(n.value.boolean == (c.value != 0));
    if (n.type == Type::integer) CHECK(n.value.integer == static_cast<std::int64_t>(c.value));
    if (n.type == Type::number) CHECK(n.value.number == Approx(c.value));
  }
  yaml::Node inf;
  yaml::resolve_plain_scalar(".inf", inf);
  CHECK((inf.type == Type::number && std::isinf(inf.value.number)));
  yaml::Node big;
  yaml::resolve_plain_scalar("18446744073709551615", big);
  CHECK(big.type == Type::number);
}

TEST_CASE("a multi-document stream keeps documents, marks and types", "[yaml]") {
  auto s = yaml::parse_yaml(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: 'no'\n  n: no\n---\n---\n"
      "kind: List\nitems: [1, two]\n");
  REQUIRE(s);
  REQUIRE(s->documents.size() == 3);
  const auto* d0 = s->documents[0].root;
  CHECK(d0->get_string("kind") == "ConfigMap");
  CHECK(d0->at({"metadata", "name"})->text == "a");
  CHECK(d0->at({"data", "k"})->type == Type::string);
  CHECK(d0->at({"data", "n"})->type == Type::boolean);
  CHECK(d0->at({"data", "n"})->mark.line == 7);
  CHECK(d0->at({"data", "n"})->mark.column == 6);
  CHECK(s->documents[1].root == nullptr);
  const auto* items = s->documents[2].root->get("items");
  REQUIRE(items->items.size() == 2);
  CHECK(items->items[0]->type == Type::integer);
  CHECK(items->items[1]->type == Type::string);
  CHECK(s->documents[2].start.line == 10 - 1);
}

TEST_CASE("malformed YAML is an error with a location and a rule", "[yaml]") {
  struct Case {
    const char* name;
    std::string text;
    const char* rule;
    std::uint32_t line;
  };
  const Case cases[] = {
      {"bad indentation", "a:\n  b: 1\n c: 2\n", "yaml.syntax", 3},
      {"unclosed flow", "a: [1, 2\n", "yaml.syntax", 2},
      {"tab indentation", "a:\n\tb: 1\n", "yaml.syntax", 2},
      {"duplicate key", "a: 1\nb: 2\na: 3\n", "yaml.duplicate-key", 3},
      {"duplicate nested key", "spec:\n  env: []\n  env: [x]\n", "yaml.duplicate-key", 3},
      {"unknown alias", "a: *nothing\n", "yaml.syntax", 1},
      {"complex key", "? [a]\n: 1\n", "yaml.syntax", 1},
      {"invalid utf-8", "a: \"caf\xC3\"\n", "yaml.encoding", 1},
      {"unknown tag", "a: !Ref x\n", "yaml.syntax", 1},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto s = yaml::parse_yaml(c.text);
    REQUIRE_FALSE(s);
    CHECK(s.error().rule == c.rule);
    CHECK(s.error().line == c.line);
    CHECK(!s.error().message.empty());
  }
}

TEST_CASE("duplicate keys are found in large mappings too", "[yaml]") {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "k" + std::to_string(i) + ": v\n";
  text += "k7: again\n";
  auto s = yaml::parse_yaml(text);
  REQUIRE_FALSE(s);
  CHECK(s.error().rule == "yaml.duplicate-key");
  CHECK(s.error().line == 41);
  CHECK(s.error().message.find("first at line 8") != std::string::npos);
}

TEST_CASE("anchors, aliases and merge keys", "[yaml]") {
  auto s = yaml::parse_yaml(
      "base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\nlist: [*b, *b]\nquoted:\n  '<<': x\n");
  REQUIRE(s);
  const auto* root = first_root(*s);
  const auto* derived = root->get("derived");
  CHECK(derived->get("a")->value.integer == 1);
  CHECK(derived->get("b")->value.integer == 3);
  CHECK(derived->get("<<") == nullptr);
  CHECK(root->get("list")->items[0] == root->get("base"));
  CHECK(root->at({"quoted", "<<"})->text == "x");
}

TEST_CASE("hostile YAML hits a limit instead of exhausting memory", "[yaml]") {
  SECTION("billion laughs") {
    std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    char prev = 'a';
    for (char c = 'b'; c <= 'j'; ++c, ++prev)
      bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
              ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
    auto s = yaml::parse_yaml(bomb);
    REQUIRE_FALSE(s);
    CHECK(s.error().rule == "yaml.limit");
    CHECK(s.error().message.find("alias") != std::string::npos);
  }
  SECTION("deep flow nesting") {
    std::string deep(100000, '[');
    auto s = yaml::parse_yaml(deep);
    REQUIRE_FALSE(s);
    CHECK(s.error().rule == "yaml.limit");
  }
  SECTION("deep block nesting") {
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
    auto s = yaml::parse_yaml(deep);
    REQUIRE_FALSE(s);
    CHECK(s.error().rule == "yaml.limit");
  }
  SECTION("too many nodes") {
    yaml::Limits limits;
    limits.max_nodes = 1000;
    std::string many = "[";
    for (int i = 0; i < 2000; ++i) many += "1,";
    many += "1]";
    auto s = yaml::parse_yaml(many, limits);
    REQUIRE_FALSE(s);
    CHECK(s.error().rule == "yaml.limit");
  }
}

TEST_CASE("JSON parses strictly with locations", "[yaml]") {
  auto ok = yaml::parse_json("{\"a\": [1, 2.5, \"x\\u00e9\\ud83d\\ude00\", true, null], \"b\": {}}");
  REQUIRE(ok);
  const auto* root = first_root(*ok);
  const auto* a = root->get("a");
  CHECK(a->items[0]->type == Type::integer);
  CHECK(a->items[1]->type == Type::number);
  CHECK(a->items[2]->text == "x\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(a->items[3]->type == Type::boolean);
  CHECK(a->items[4]->type == Type::null);
  CHECK(root->get("b")->is_mapping());

  struct Case {
    const char* name;
    const char* text;
    const char* rule;
    std::uint32_t line, column;
  };
  const Case cases[] = {
      {"trailing comma", "{\"a\": 1,\n}", "yaml.syntax", 2, 1},
      {"duplicate key", "{\"a\": 1,\n \"a\": 2}", "yaml.duplicate-key", 2, 2},
      {"leading zero", "[01]", "yaml.syntax", 1, 4},
      {"bad escape", "[\"\\x\"]", "yaml.syntax", 1, 5},
      {"lone surrogate", "[\"\\ud800\"]", "yaml.syntax", 1, 9},
      {"garbage after", "{} {}", "yaml.syntax", 1, 4},
      {"unterminated", "{\"a\": \"b", "yaml.syntax", 1, 9},
      {"single quotes", "{'a': 1}", "yaml.syntax", 1, 2},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto s = yaml::parse_json(c.text);
    REQUIRE_FALSE(s);
    CHECK(s.error().rule == c.rule);
    CHECK(s.error().line == c.line);
    CHECK(s.error().column == c.column);
  }
  std::string deep(5000, '[');
  auto d = yaml::parse_json(deep);
  REQUIRE_FALSE(d);
  CHECK(d.error().rule == "yaml.limit");
}

TEST_CASE("one string is scanned out of a JSON answer without a tree", "[yaml]") {
  // An apply's answer as the apiserver writes it: the uid comes before labels, owner
  // references (which have uids of their own) and managedFields.
  const std::string answer =
      R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web",)"
      R"("namespace":"shop","uid":"0b1c-uid","resourceVersion":"42","labels":{"uid":"label"},)"
      R"("ownerReferences":[{"kind":"X","name":"x","uid":"owner-uid"}],)"
      R"("managedFields":[{"manager":"portcullis","fieldsV1":{"f:metadata":{"f:labels":{".":{}}}}}]}})";
  struct Case {
    const char* name;
    std::string text;
    std::vector<std::string_view> path;
    std::optional<std::string> want;
  };
  const std::vector<Case> cases = {
      {"the object's uid", answer, {"metadata", "uid"}, "0b1c-uid"},
      {"a top-level string", answer, {"kind"}, "PartialObjectMetadata"},
      {"members after nested values", R"({"a":{"b":[1,{"c":"}"}],"d":true},"e":"f"})", {"e"}, "f"},
      {"uid after owner references", R"({"metadata":{"ownerReferences":[{"uid":"o"}],"uid":"u"}})", {"metadata", "uid"}, "u"},
      {"escapes decoded", R"({"k":"a\"b\u00e9"})", {"k"}, "a\"b\xC3\xA9"},
      {"escaped key", R"({"\u0075id":"x"})", {"uid"}, "x"},
      {"whitespace", "{ \"m\" :\n { \"u\" : \"v\" } }", {"m", "u"}, "v"},
      {"absent", answer, {"metadata", "generation"}, std::nullopt},
      {"not a string", R"({"metadata":{"uid":7}})", {"metadata", "uid"}, std::nullopt},
      {"not an object on the way", R"({"metadata":"x"})", {"metadata", "uid"}, std::nullopt},
      {"cut short", answer.substr(0, 90), {"metadata", "uid"}, std::nullopt},
      {"cut in a skipped value", R"({"a":{"b":"c)", {"z"}, std::nullopt},
      {"empty", "", {"a"}, std::nullopt},
      {"an array at the root", R"(["uid"])", {"uid"}, std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::optional<std::string> got;
    switch (c.path.size()) {
      case 1: got = yaml::json_string_at(c.text, {c.path[0]}); break;
      case 2: got = yaml::json_string_at(c.text, {c.path[0], c.path[1]}); break;
      default: FAIL("paths of 1 or 2 keys");
    }
    CHECK(got == c.want);
  }
}

TEST_CASE("the elements of a JSON array are visited one at a time", "[yaml]") {
  struct Case {
    const char* name;
    std::string text;
    bool ok;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"a list answer", R"({"kind":"List","metadata":{"resourceVersion":"7"},"items":[{"a":1},{"b":[2,"]"]} , "s", 3]})", true,
       {R"({"a":1})", R"({"b":[2,"]"]})", R"("s")", "3"}},
      {"empty", R"({"items":[ ]})", true, {}},
      {"null, as Go writes an empty slice", R"({"items":null})", true, {}},
      {"absent", R"({"metadata":{}})", false, {}},
      {"not an array", R"({"items":{"a":1}})", false, {}},
      {"cut short", R"({"items":[{"a":1},{"b":)", false, {R"({"a":1})"}},
      {"missing comma", R"({"items":[1 2]})", false, {"1"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::vector<std::string> got;
    bool ok = yaml::json_array_elements(c.text, {"items"}, [&](std::string_view e) {
      got.emplace_back(e);
      return true;
    });
    CHECK(ok == c.ok);
    CHECK(got == c.want);
  }
  // The visitor stops the walk.
  int seen = 0;
  CHECK_FALSE(yaml::json_array_elements("[1,2,3]", {}, [&](std::string_view) { return ++seen < 2; }));
  CHECK(seen == 2);
}
