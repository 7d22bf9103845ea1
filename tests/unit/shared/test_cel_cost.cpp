// shared/cel runtime cost: every step is charged and evaluation stops at the limit, so a rule a
// pusher writes cannot make the gate loop, allocate without bound, or run a regular expression
// for ever. Figures follow cel-go's cost model (apiextensions-apiserver's PerCallLimit of
// 1,000,000 and RuntimeCELCostBudget of 10,000,000 per object), not exactly: a rule near a limit
// may be judged otherwise than by the apiserver.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shared/cel/eval.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::cel;

namespace {

Outcome run(std::string_view text, std::uint64_t limit, const std::vector<Binding>& bindings = {}) {
  std::vector<std::string> names;
  for (const auto& b : bindings) names.emplace_back(b.name);
  auto program = compile(text, names);
  INFO(text);
  REQUIRE(program);
  return evaluate(**program, bindings, limit);
}

std::string range(int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + std::to_string(i);
  return out + "]";
}

}  // namespace

TEST_CASE("cel cost: charged as the evaluator runs", "[cel][cost]") {
  struct Case {
    std::string text;
    std::uint64_t at_least;
    std::uint64_t at_most;
  };
  const Case cases[] = {
      {"true", 0, 1},
      {"1 + 2 == 3", 2, 10},
      {range(100) + ".all(x, x >= 0)", 300, 1'000},
      {range(100) + ".map(x, x * 2).size() == 100", 300, 1'500},
      // string work by length / 10
      {"'" + std::string(10'000, 'a') + "'.contains('b')", 1'000, 1'100},
      {"'" + std::string(10'000, 'a') + "'.matches('b')", 10'000, 16'000},
  };
  for (const auto& c : cases) {
    INFO(c.text.substr(0, 60));
    Outcome o = run(c.text, 1'000'000);
    CHECK_FALSE(o.exceeded);
    CHECK(o.value.kind() == Kind::boolean);
    CHECK(o.cost >= c.at_least);
    CHECK(o.cost <= c.at_most);
  }
  // The same rule costs the same every time.
  CHECK(run(range(50) + ".all(x, x < 100)", 1'000'000).cost ==
        run(range(50) + ".all(x, x < 100)", 1'000'000).cost);
}

TEST_CASE("cel cost: hostile rules stop at the limit", "[cel][cost][attack]") {
  const std::string r100 = range(100);
  const std::string cases[] = {
      // 10^8 iterations of nested comprehensions
      r100 + ".all(a, " + r100 + ".all(b, " + r100 + ".all(c, " + r100 + ".all(d, true))))",
      r100 + ".exists(a, " + r100 + ".exists(b, " + r100 + ".exists(c, " + r100 + ".exists(d, false))))",
      // exponential string growth: each replace multiplies the length by ten
      "'a'" +
          [] {
            std::string s;
            for (int i = 0; i < 12; ++i) s += ".replace('a', 'aaaaaaaaaa')";
            return s;
          }() +
          " == ''",
      // exponential list growth through map
      r100 + ".map(a, " + r100 + ".map(b, " + r100 + ".map(c, " + r100 + "))).size() == 0",
      // quadratic joins and splits
      r100 + ".all(a, " + r100 + ".all(b, " + r100 +
          ".map(c, 'xxxxxxxxxxxxxxxxxxxxxxxx').join(',').split(',').size() == 100))",
  };
  for (const auto& text : cases) {
    INFO(text.substr(0, 80));
    Outcome o = run(text, 1'000'000);
    CHECK(o.exceeded);
    CHECK(o.value.is_error());
    CHECK_THAT(o.value.str(), Catch::Contains("cost limit exceeded"));
    CHECK(o.cost <= 1'000'000 + 200'000);  // stopped close to the limit, not after the work
  }
}

TEST_CASE("cel cost: work hidden in cheap-looking steps is charged", "[cel][cost][attack]") {
  // A 1 MB string read again on every iteration, a 20,000-entry map looked up on every
  // iteration, deep lists compared whole: each stops at the limit instead of running for minutes.
  auto doc_of = [](const std::string& text) { return *yaml::parse_yaml(text); };
  std::string big_map = "{";
  for (int i = 0; i < 20'000; ++i) big_map += (i ? ",k" : "k") + std::to_string(i) + ": " + std::to_string(i);
  big_map += "}";
  std::string nested = "[";
  for (int i = 0; i < 100; ++i) {
    nested += i ? ",[" : "[";
    for (int j = 0; j < 100; ++j) nested += std::string(j ? "," : "") + "[1,2,3,4,5,6,7,8,9,10]";
    nested += "]";
  }
  nested += "]";
  struct Case {
    std::string self;  // YAML
    std::string rule;
  };
  const Case cases[] = {
      {"{s: '" + std::string(1'000'000, 'a') + "', l: " + range(1000) + "}",
       "self.l.all(x, self.l.all(y, self.s != ''))"},
      {"{m: " + big_map + "}", "self.m.all(k, self.m[k] >= 0)"},
      {"{m: " + big_map + "}", "self.m.all(k, has(self.m.k1))"},
      {"{m: " + big_map + "}", "self.m.all(k, 'k5' in self.m)"},
      {"{l: " + nested + "}", "self.l.all(x, self.l == self.l)"},
      {"{l: " + nested + "}", "self.l.all(x, self.l[0] in self.l)"},
  };
  for (const auto& c : cases) {
    INFO(c.rule);
    auto doc = doc_of(c.self);
    std::vector<Binding> self{{"self", Value::from_node(doc.documents[0].root, nullptr)}};
    Outcome o = run(c.rule, 1'000'000, self);
    CHECK(o.exceeded);
  }
  // Map literals: the check for repeated keys is charged.
  std::string literal = "{";
  for (int i = 0; i < 12'000; ++i) literal += (i ? "," : "") + std::to_string(i) + ":1";
  CHECK(run(literal + "}.size() > 0", 100'000).exceeded);
}

TEST_CASE("cel cost: a long subject does not make matches hang", "[cel][cost][attack]") {
  // Patterns that take exponential time in a backtracking matcher run in linear time here
  // (PCRE2's DFA matcher) and are charged by length times pattern size.
  const std::string subject(5'000, 'a');
  struct Case {
    std::string pattern;
  };
  const Case cases[] = {{"^(a+)+$"},  {"^(a|a)*$"},  {"^(a|aa)+$"}, {"(x+x+)+y"},
                        {"^(a*)*b$"}, {"(.*a){20}"}, {"a{0,100}b"}, {"[a-z]{0,200}!"}};
  for (const auto& c : cases) {
    INFO(c.pattern);
    std::vector<Binding> self{{"self", Value::string(subject + "!")}};
    Outcome o = run("self.matches('" + c.pattern + "')", 1'000'000, self);
    CHECK((o.value.kind() == Kind::boolean || o.value.is_error()));  // a verdict, skipped, or stopped
    CHECK(o.cost <= 2'000'000);  // at most the last charge beyond the limit
  }
  // A pattern that is not a literal is compiled (and checked against RE2's syntax) at run time.
  std::vector<Binding> bad{{"self", Value::string("(a)\\1")}};
  Outcome o = run("'aa'.matches(self)", 1'000'000, bad);
  REQUIRE(o.value.is_error());
  CHECK_THAT(o.value.str(), Catch::Contains("backreferences"));
  // Patterns the DFA matcher would follow too many states of at once are not judged (the rule
  // is skipped): at compile time for a literal, at run time otherwise.
  auto large = compile("self.matches('a{0,1000}b')", {"self"});
  REQUIRE_FALSE(large);
  CHECK_THAT(large.error().message, Catch::Contains("unsupported syntax: a pattern of 1001 items"));
  std::vector<Binding> pattern{{"self", Value::string("(ab){200}")}};
  Outcome skipped = run("'ab'.matches(self)", 1'000'000, pattern);
  REQUIRE(skipped.value.is_error());
  CHECK_THAT(skipped.value.str(), Catch::StartsWith("not evaluated here: "));
  // The cost grows with the pattern's expanded size: 50,000 characters against a{0,100}b
  // exceed the per-call limit before the matcher runs.
  std::vector<Binding> long_subject{{"self", Value::string(std::string(50'000, 'a'))}};
  CHECK(run("self.matches('a{0,100}b')", 1'000'000, long_subject).exceeded);
  CHECK_FALSE(run("self.matches('^[a-z]+$')", 1'000'000, long_subject).exceeded);
  std::vector<Binding> dns{{"self", Value::string("my-service.my-namespace.svc.cluster.local")}};
  Outcome name =
      run("self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$')",
          1'000'000, dns);
  CHECK(name.value.as_bool());
  CHECK(name.cost < 20'000);
  // Huge subjects cost accordingly: a 1 MB string against a long pattern exceeds the budget.
  std::vector<Binding> big{{"self", Value::string(std::string(1'000'000, 'a'))}};
  CHECK(run("self.matches('" + std::string(200, 'b') + "')", 1'000'000, big).exceeded);
}

TEST_CASE("cel cost: the limit is the caller's", "[cel][cost]") {
  std::string rule = range(100) + ".all(a, " + range(100) + ".all(b, true))";
  CHECK(run(rule, 1'000'000).value.as_bool());
  CHECK(run(rule, 1'000).exceeded);
  CHECK(run(rule, 0).exceeded);
}
