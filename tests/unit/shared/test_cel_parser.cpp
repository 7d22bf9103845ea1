// shared/cel parser: cel-spec's grammar (doc/langdef.md), its limits, and input a pusher
// controls (a CRD's x-kubernetes-validations) that must never crash or hang it.
// Cases lifted from cel-spec's conformance suite tests/simple/testdata/{basic,parse,
// integer_math,string}.textproto (literals, escapes, nesting limits) where noted.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "shared/cel/ast.hpp"
#include "shared/cel/eval.hpp"

using namespace portcullis;
using namespace portcullis::cel;

namespace {

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The literal an expression parses to, shown with Value::debug (kind-tagged).
std::string literal_of(std::string_view text) {
  auto e = parse(text);
  if (!e) return "error: " + e.error().message;
  if ((*e)->op != Op::literal) return "not a literal";
  return std::string(kind_name((*e)->value.kind())) + " " + (*e)->value.debug();
}

}  // namespace

TEST_CASE("cel parser: literals", "[cel][parser]") {
  struct Case {
    const char* text;
    const char* want;
  };
  // basic.textproto self_eval_*, string.textproto / parse.textproto escapes.
  const Case cases[] = {
      {"0", "int 0"},
      {"0u", "uint 0u"},
      {"0U", "uint 0u"},
      {"0x1F", "int 31"},
      {"0xffu", "uint 255u"},
      {"-9223372036854775808", "int -9223372036854775808"},
      {"9223372036854775807", "int 9223372036854775807"},
      {"18446744073709551615u", "uint 18446744073709551615u"},
      {"0.0", "double 0"},
      {"0e+0", "double 0"},
      {"1e3", "double 1000"},
      {".5", "double 0.5"},
      {"-2.5", "double -2.5"},
      {"''", "string "},
      {"\"\"", "string "},
      {"r\"\"", "string "},
      {"'a\\nb'", "string a\nb"},
      {"r'a\\nb'", "string a\\nb"},
      {"'\\u00e9'", "string \xc3\xa9"},
      {"'\\U0001F451'", "string \xf0\x9f\x91\x91"},
      {"'\\x41\\101'", "string AA"},
      {"'''l1\nl2'''", "string l1\nl2"},
      {"\"\"\"x\"y\"\"\"", "string x\"y"},
      {"b'\\x41\\x42'", "bytes b\"AB\""},
      {"b'\\xff'", "bytes b\"\xff\""},
      {"true", "bool true"},
      {"null", "null_type null"},
      {"// a comment\n 7", "int 7"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(literal_of(c.text) == c.want);
  }
}

TEST_CASE("cel parser: structure and precedence", "[cel][parser]") {
  auto e = parse("1 + 2 * 3 == 7 && !false || a.b.c[0] in [x] ? 'y' : 'n'");
  REQUIRE(e);
  CHECK((*e)->op == Op::conditional);
  const Expr& cond = *(*e)->args[0];
  REQUIRE(cond.op == Op::logical_or);
  const Expr& conj = *cond.args[0];
  REQUIRE(conj.op == Op::logical_and);
  const Expr& eq = *conj.args[0];
  REQUIRE(eq.op == Op::binary);
  CHECK(eq.name == "==");
  CHECK(eq.args[0]->name == "+");
  CHECK(eq.args[0]->args[1]->name == "*");
  const Expr& in = *cond.args[1];
  CHECK(in.name == "in");
  CHECK(in.args[0]->op == Op::index);
  CHECK(in.args[0]->args[0]->op == Op::select);
  CHECK(in.args[0]->args[0]->name == "c");

  struct Case {
    const char* text;
    Op op;
  };
  const Case macros[] = {
      {"has(a.b)", Op::has},
      {"l.all(x, x > 0)", Op::all},
      {"l.exists(x, x > 0)", Op::exists},
      {"l.exists_one(x, x > 0)", Op::exists_one},
      {"l.map(x, x * 2)", Op::map_macro},
      {"l.map(x, x > 0, x * 2)", Op::map_macro},
      {"l.filter(x, x > 0)", Op::filter},
      {"size(l)", Op::call},
      {"l.size()", Op::call},
      {"{'a': 1, 'b': 2,}", Op::map},
      {"[1, 2,]", Op::list},
      {"-x", Op::negate},
      {"!!x", Op::logical_not},
  };
  for (const auto& c : macros) {
    INFO(c.text);
    auto p = parse(c.text);
    REQUIRE(p);
    CHECK((*p)->op == c.op);
  }
}

TEST_CASE("cel parser: syntax errors", "[cel][parser]") {
  struct Case {
    std::string text;
    const char* want;  // in the message
  };
  const Case cases[] = {
      {"1 +", "unexpected end"},
      {"(1", "expected ')'"},
      {"a.", "expected a field or method name"},
      {"has(a)", "invalid argument to has() macro"},
      {"l.all(1, true)", "argument must be a simple name"},
      {"9223372036854775808", "overflows int"},
      {"18446744073709551616u", "out of range"},
      {"'unterminated", "unterminated string"},
      {"'a\nb'", "newline in string"},
      {"'\\q'", "invalid escape"},
      {"'\\ud800'", "invalid escape"},
      {"b'\\u0041'", "invalid escape"},
      {"for", "reserved identifier"},
      {"a.b{c: 1}", "message construction"},
      {".a", "qualified names"},
      {"[1, 2", "expected ','"},
      {"{1: 2", "expected ','"},
      {"1 2", "unexpected '2'"},
      {"a # b", "unexpected character"},
      {"a.?b", "unsupported syntax"},
      {"a[?0]", "unsupported syntax"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto e = parse(c.text);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::Contains(c.want));
  }
}

TEST_CASE("cel parser: limits against hostile rules", "[cel][parser][attack]") {
  struct Case {
    std::string text;
    const char* want;
  };
  const Case cases[] = {
      // parse.textproto: deeply nested expressions beyond the recursion limit are refused.
      {repeat("(", 40'000) + "1" + repeat(")", 40'000), "nested more than"},
      {repeat("[", 50'000) + repeat("]", 50'000), "nested more than"},
      {repeat("!", 90'000) + "true", "nested more than"},
      {repeat("-", 90'000) + "x", "nested more than"},
      {"a" + repeat(".b", 20'000), "nested more than"},
      {"1" + repeat(" + 1", 20'000), "nested more than"},
      {"a" + repeat("[0]", 20'000), "nested more than"},
      {"x" + repeat(".size()", 10'000), "nested more than"},
      {repeat("true ? 1 : ", 8'000) + "0", "nested more than"},
      {repeat("f(", 30'000) + repeat(")", 30'000), "nested more than"},
      {"'" + repeat("a", 200'000) + "'", "code point size exceeds limit"},
      {repeat("1,", 60'000), "code point size exceeds limit"},
  };
  for (const auto& c : cases) {
    INFO(c.text.substr(0, 40));
    auto e = parse(c.text);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::Contains(c.want));
  }
  // Nesting within the limits parses (cel-go accepts 250 levels).
  CHECK(parse(repeat("(", 240) + "1" + repeat(")", 240)));
  CHECK(parse(repeat("[", 240) + repeat("]", 240)));
  CHECK(parse("1" + repeat(" + 1", 400)));
  // A wide but shallow expression of the maximal size is fine.
  CHECK(parse("[" + repeat("1,", 40'000) + "1]"));
}

TEST_CASE("cel parser: random input never crashes", "[cel][parser][attack]") {
  // Random strings over CEL's alphabet and arbitrary bytes: every one parses or fails cleanly.
  std::mt19937 rng(17);
  const std::string alphabet = "()[]{}.,:?!<>=&|+-*/%'\"\\ abx01u_rRbB\n\t";
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    std::size_t n = rng() % 64;
    for (std::size_t i = 0; i < n; ++i)
      text += round % 3 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    auto e = parse(text);
    if (e) CHECK((*e) != nullptr);
    auto p = compile(text, {"self"});
    (void)p;
  }
}

TEST_CASE("cel compile: names, functions and patterns are checked", "[cel][parser]") {
  struct Case {
    const char* text;
    const char* want;  // empty: compiles
  };
  const Case cases[] = {
      {"self.a < 10", ""},
      {"self.all(x, x.startsWith('a'))", ""},
      {"type(self) == google.protobuf.Duration", ""},
      {"strings.quote(self) == self", ""},  // a namespaced extension function: compiles
      {"math.greatest(1, 2) == 2", ""},
      {"self.url().getHost() == 'a'", ""},
      {"isURL(self)", ""},
      {"self.getHours('+01:00') == 1", ""},
      {"other < 10", "undeclared reference to 'other'"},
      {"x > 1", "undeclared reference to 'x'"},
      {"self.all(x, y > 0)", "undeclared reference to 'y'"},
      {"nosuch(self)", "undeclared reference to 'nosuch'"},
      {"self.startsWith()", "found no matching overload for 'startsWith'"},
      {"size(self, 1)", "found no matching overload for 'size'"},
      // validation_test.go "unicode strings": an invalid literal pattern is a compile error.
      {"self.matches(')')", "error parsing regexp"},
      {"self.matches('(a)\\\\1')", "backreferences are not supported"},
      {"self.matches('(?=a)')", "lookaround"},
      {"self.matches('a{1001}')", "bad repetition operator"},
      {"self.matches('a++')", "bad repetition operator"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto p = compile(c.text, {"self", "oldSelf"});
    if (std::string_view(c.want).empty()) {
      CHECK(p);
      if (!p) FAIL_CHECK(p.error().message);
    } else {
      REQUIRE_FALSE(p);
      CHECK_THAT(p.error().message, Catch::Contains(c.want));
    }
  }
}
