// shared/cel evaluator and function library. Cases lifted from cel-spec's conformance suite
// (tests/simple/testdata: basic, comparisons, conversions, integer_math, fp_math, lists, logic,
// macros, string, timestamps .textproto) and from Kubernetes'
// staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/validation_test.go
// (TestValidationExpressions: "integers", "numbers", "unicode strings", "bytes", "duration
// format", "date format", "date-time format", "conversions", "lists", "maps", "object
// access", "map access"), rewritten as tables of expressions that must be true or fail.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "shared/cel/eval.hpp"
#include "shared/cel/schema.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::cel;

namespace {

// "true", "false", "error: <message>", or the value's debug form.
std::string eval_text(std::string_view text, const std::vector<Binding>& bindings = {}) {
  std::vector<std::string> names;
  for (const auto& b : bindings) names.emplace_back(b.name);
  auto program = compile(text, names);
  if (!program) return "compile error: " + program.error().message;
  Outcome o = evaluate(**program, bindings, 1'000'000);
  if (o.exceeded) return "exceeded";
  return o.value.debug();
}

struct Typed {
  std::optional<yaml::Stream> schema_doc;
  std::optional<yaml::Stream> object_doc;
  std::unique_ptr<Schema> schema;
  const yaml::Node* object = nullptr;
};

// `object` (YAML) typed by `properties` (the YAML of an object schema's properties).
Typed typed(const std::string& properties, const std::string& object) {
  Typed t;
  std::string schema = "type: object\nx-kubernetes-validations: [{rule: 'true'}]\nproperties:\n" + properties;
  t.schema_doc = *yaml::parse_yaml(schema);
  std::vector<SchemaProblem> problems;
  t.schema = compile_schema(*t.schema_doc->documents[0].root, "", RuleFeatures{}, problems);
  REQUIRE(problems.empty());
  REQUIRE(t.schema);
  t.object_doc = *yaml::parse_yaml(object);
  t.object = t.object_doc->documents[0].root;
  return t;
}

}  // namespace

TEST_CASE("cel eval: expressions that are true", "[cel][eval]") {
  const char* cases[] = {
      // integer_math, fp_math
      "1 + 2 == 3",
      "7 / 2 == 3",
      "-7 / 2 == -3",
      "-7 % 3 == -1",
      "7 % -3 == 1",
      "3u + 4u == 7u",
      "10u / 3u == 3u",
      "2.5 * 2.0 == 5.0",
      "1.0 / 0.0 > 1e308",
      "-(3) == -3",
      "-(-9223372036854775807) == 9223372036854775807",
      // comparisons: heterogeneous numbers compare by value
      "1 == 1.0",
      "1u == 1",
      "1 < 1.5",
      "2u > 1",
      "-1 < 0u",
      "!(0.0/0.0 == 0.0/0.0)",
      "'abc' < 'abd'",
      "b'a' < b'b'",
      "false < true",
      "[1, 2] == [1, 2]",
      "[1, 2] != [2, 1]",
      "{'a': 1} == {'a': 1}",
      "{'a': 1, 'b': 2} == {'b': 2, 'a': 1}",
      "{1: 'x'} == {1u: 'x'}",
      "[1, 'a'] != [1, 2]",
      "null == null",
      // lists, maps, `in`
      "2 in [1, 2, 3]",
      "!(4 in [1, 2, 3])",
      "'a' in {'a': 1}",
      "!('b' in {'a': 1})",
      "[1, 2] + [3] == [1, 2, 3]",
      "size([1, 2, 3]) == 3",
      "[1, 2, 3][1] == 2",
      "{'a': {'b': 5}}['a']['b'] == 5",
      "{'a': {'b': 5}}.a.b == 5",
      "has({'a': 1}.a)",
      "!has({'a': 1}.b)",
      "size({'a': 1, 'b': 2}) == 2",
      // logic: commutative && and || absorb errors the other side decides
      "true || 1 / 0 != 0",
      "1 / 0 != 0 || true",
      "!(false && 1 / 0 != 0)",
      "!(1 / 0 != 0 && false)",
      "true ? true : 1 / 0 == 0",
      "false ? 1 / 0 == 0 : true",
      "!false",
      // macros
      "[1, 2, 3].all(x, x > 0)",
      "![1, 2, 3].all(x, x > 1)",
      "[1, 2, 3].exists(x, x == 2)",
      "![1, 2, 3].exists(x, x > 5)",
      "[1, 2, 3].exists_one(x, x > 2)",
      "![1, 2, 3].exists_one(x, x > 1)",
      "[1, 2, 3].map(x, x * 2) == [2, 4, 6]",
      "[1, 2, 3].filter(x, x > 1) == [2, 3]",
      "[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]",
      "{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])",
      "{'a': 1}.map(k, k) == ['a']",
      "[].all(x, false)",
      "![].exists(x, true)",
      "[1, 0].exists(x, 1 / x == 1)",
      "![0, 1].all(x, 1 / x == 5)",
      "[[1, 2], [3]].all(l, l.all(x, x > 0))",
      // strings (string.textproto and Kubernetes' strings library)
      "size('h\u00e9llo') == 5",
      "'hello'.size() == 5",
      "'abc'.startsWith('ab')",
      "'abc'.endsWith('bc')",
      "'abc'.contains('b')",
      "'abc'.matches('^a.c$')",
      "matches('abc', 'b')",
      "'abc'.matches('B') == false",
      "'ABC'.lowerAscii() == 'abc'",
      "'abc\u00e9'.upperAscii() == 'ABC\u00e9'",
      "' \\ta \\n'.trim() == 'a'",
      "'a,b,c'.split(',') == ['a', 'b', 'c']",
      "'a,b,c'.split(',', 2) == ['a', 'b,c']",
      "'abc'.split('') == ['a', 'b', 'c']",
      "['a', 'b'].join('-') == 'a-b'",
      "['a', 'b'].join() == 'ab'",
      "'hello'.indexOf('l') == 2",
      "'hello'.indexOf('l', 3) == 3",
      "'hello'.lastIndexOf('l') == 3",
      "'hello'.indexOf('z') == -1",
      "'hello'.substring(1, 3) == 'el'",
      "'hello'.substring(2) == 'llo'",
      "'hello'.charAt(1) == 'e'",
      "'hello'.charAt(5) == ''",
      "'aaa'.replace('a', 'b', 2) == 'bba'",
      "'aaa'.replace('a', 'bc') == 'bcbcbc'",
      "'a' + 'b' == 'ab'",
      "'x'.matches('^[^0-9]*$')",
      "'\u00e9'.matches('^.$')",
      // lists library
      "[1, 2, 3].isSorted()",
      "![3, 1].isSorted()",
      "[3, 1, 2].min() == 1",
      "[3, 1, 2].max() == 3",
      "[1, 2, 3].sum() == 6",
      "[1.5, 2.5].sum() == 4.0",
      "[1, 2].indexOf(2) == 1",
      "[1, 2, 1].lastIndexOf(1) == 2",
      // conversions
      "int('42') == 42",
      "int(3.9) == 3",
      "int(-3.9) == -3",
      "int(7u) == 7",
      "uint(3) == 3u",
      "double('2.5') == 2.5",
      "double(2) == 2.0",
      "string(42) == '42'",
      "string(-7) == '-7'",
      "string(7u) == '7'",
      "string(true) == 'true'",
      "string(2.5) == '2.5'",
      "string(10.49) == '10.49'",
      "string(b'ab') == 'ab'",
      "bytes('ab') == b'ab'",
      "bool('true')",
      "!bool('false')",
      "dyn(1) == 1",
      // types
      "type(1) == int",
      "type(1u) == uint",
      "type(1.0) == double",
      "type('a') == string",
      "type(true) == bool",
      "type([]) == list",
      "type({}) == map",
      "type(null) == null_type",
      "type(b'') == bytes",
      "type(duration('1s')) == google.protobuf.Duration",
      "type(timestamp('2024-01-01T00:00:00Z')) == google.protobuf.Timestamp",
      // durations and timestamps (timestamps.textproto)
      "duration('1h30m') == duration('90m')",
      "string(duration('1m')) == '60s'",
      "string(duration('1.5s')) == '1.5s'",
      "duration('1h2m3s4ms').getMilliseconds() == 3723004 % 1000 || duration('1h2m3s4ms').getMilliseconds() "
      "== 3723004",
      "duration('-1.5h') < duration('0')",
      "duration('1h') + duration('1m') == duration('61m')",
      "timestamp('2024-01-02T03:04:05Z').getFullYear() == 2024",
      "timestamp('2024-01-02T03:04:05Z').getMonth() == 0",
      "timestamp('2024-01-02T03:04:05Z').getDate() == 2",
      "timestamp('2024-01-02T03:04:05Z').getDayOfMonth() == 1",
      "timestamp('2024-01-02T03:04:05Z').getHours() == 3",
      "timestamp('2024-01-02T03:04:05Z').getHours('+01:00') == 4",
      "timestamp('2024-01-02T03:04:05Z').getHours('-05:30') == 21",
      "timestamp('2024-01-02T03:04:05Z') + duration('1h') == timestamp('2024-01-02T04:04:05Z')",
      "timestamp('2024-01-02T04:04:05+01:00') == timestamp('2024-01-02T03:04:05Z')",
      "timestamp('2024-01-02T03:04:05Z') - timestamp('2024-01-02T03:04:00Z') == duration('5s')",
      "string(timestamp('2024-01-02T03:04:05.5Z')) == '2024-01-02T03:04:05.5Z'",
      "int(timestamp('1970-01-01T00:01:00Z')) == 60",
      "timestamp(60) == timestamp('1970-01-01T00:01:00Z')",
  };
  for (const char* c : cases) {
    INFO(c);
    CHECK(eval_text(c) == "true");
  }
}

TEST_CASE("cel eval: errors", "[cel][eval]") {
  struct Case {
    const char* text;
    const char* want;  // in the error
  };
  const Case cases[] = {
      {"1 / 0 == 0", "division by zero"},
      {"1 % 0 == 0", "modulus by zero"},
      {"1u / 0u == 0u", "division by zero"},
      {"9223372036854775807 + 1 == 0", "integer overflow"},
      {"-9223372036854775808 - 1 == 0", "integer overflow"},
      {"-9223372036854775808 / -1 == 0", "integer overflow"},
      {"9223372036854775807 * 2 == 0", "integer overflow"},
      {"-(-9223372036854775808) == 0", "integer overflow"},
      {"0u - 1u == 0u", "unsigned integer overflow"},
      {"uint(-1) == 1u", "unsigned integer overflow"},
      {"int(1e19) == 1", "integer overflow"},
      {"int(9223372036854775807u + 1u) == 0", "integer overflow"},
      {"{'a': 1}['b'] == 1", "no such key"},
      {"{'a': 1}.b == 1", "no such key: b"},
      {"[1][5] == 1", "index out of range"},
      {"[1][-1] == 1", "index out of range"},
      {"1 / 0 != 0 && true", "division by zero"},
      {"false || 1 / 0 != 0", "division by zero"},
      {"(1 / 0 == 0) ? true : false", "division by zero"},
      {"int('x') == 1", "cannot convert"},
      {"double('') == 1.0", "cannot convert"},
      {"'a' + 1 == 'a1'", "no matching overload"},
      {"1 < 'a'", "no matching overload"},
      {"!1", "no such overload"},
      {"1 && true", "no such overload"},
      {"[1, 2].exists_one(x, x / 0 == 1)", "division by zero"},
      {"[0].all(x, 1 / x == 1)", "division by zero"},
      {"{'a': 1, 'a': 2}.size() == 1", "repeated key"},
      {"'abc'.substring(2, 1) == ''", "index out of range"},
      {"'abc'.charAt(9) == ''", "index out of range"},
      {"[].min() == 1", "empty list"},
      {"duration('1x') == duration('1s')", "invalid duration"},
      {"timestamp('2024-13-01T00:00:00Z') == timestamp(0)", "invalid timestamp"},
      {"1.matches('a')", "no matching overload"},
      {"bool('yes')", "type conversion error"},
      {"'a'.matches('(' + 'a')", "error parsing regexp"},
      {"'a'.matches('(?=' + 'a)')", "lookaround"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string got = eval_text(c.text);
    CHECK_THAT(got, Catch::StartsWith("error: ") && Catch::Contains(c.want));
  }
}

TEST_CASE("cel eval: values typed by the structural schema", "[cel][eval][schema]") {
  struct Case {
    const char* properties;
    const char* object;
    std::vector<const char*> valid;                           // rules that hold
    std::vector<std::pair<const char*, const char*>> errors;  // rule -> in the error
  };
  const Case cases[] = {
      {"  val1: {type: integer}\n  val2: {type: integer, format: int32}\n",
       "val1: 9223372036854775807\nval2: 2147483647\n",
       {"self.val1 == 9223372036854775807", "type(self.val1) == int", "self.val2 + 1 == 2147483648",
        "type(self.val2) == int"},
       {{"self.val1 + 1 == 0", "integer overflow"}, {"1 / 0 == 1 / 0", "division by zero"}}},
      // "numbers": a whole number in a `number` field is a double; 3.0 in an integer field an int
      {"  n: {type: number}\n  i: {type: integer}\n  f: {type: number}\n",
       "n: 1\ni: 3.0\nf: 10.5\n",
       {"type(self.n) == double", "self.n == 1.0", "type(self.i) == int", "self.i == 3",
        "double(10) < self.f", "int(self.f) == 10"},
       {}},
      // "unicode strings"
      {"  s: {type: string}\n",
       "s: 'Rook takes \xf0\x9f\x91\x91'\n",
       {"self.s.startsWith('Rook')", "self.s.contains('takes')", "self.s.endsWith('\xf0\x9f\x91\x91')",
        "size(self.s) == 12", "self.s.charAt(3) == 'k'", "self.s.indexOf('o', 2) == 2",
        "self.s.replace(' ', 'x', 1) == 'Rookxtakes \xf0\x9f\x91\x91'",
        "self.s.split(' ', 2) == ['Rook', 'takes \xf0\x9f\x91\x91']",
        "self.s.substring(4, 10).trim() == 'takes'", "self.s.upperAscii() == 'ROOK TAKES \xf0\x9f\x91\x91'",
        "self.s.matches('^[^0-9]*$')"},
       {}},
      // "bytes", "duration format", "date format", "date-time format"
      {"  b: {type: string, format: byte}\n  d: {type: string, format: duration}\n  day: {type: string, "
       "format: date}\n"
       "  t: {type: string, format: date-time}\n",
       "b: QUI=\nd: 1h2m3s4ms\nday: '1997-07-16'\nt: '2011-08-18T19:03:37.010000000+01:00'\n",
       {"self.b == b'AB'", "type(self.b) == bytes", "size(self.b) == 2",
        "self.d == duration('1h2m') + duration('3s4ms')", "self.d.getHours() == 1",
        "self.d.getMinutes() == 62", "self.d.getSeconds() == 3723",
        "type(self.d) == google.protobuf.Duration", "self.day.getDate() == 16", "self.day.getMonth() == 6",
        "self.day.getFullYear() == 1997",
        "self.t == timestamp('2011-08-18T00:00:00.000+01:00') + duration('19h3m37s10ms')",
        "self.t.getHours('UTC') == 18", "self.t.getHours('01:00') == 19",
        "self.t.getMilliseconds('01:00') == 10"},
       {}},
      // "lists", "maps", "map access"
      {"  l: {type: array, items: {type: integer}}\n  m: {type: object, additionalProperties: {type: "
       "integer}}\n",
       "l: [1, 2, 3]\nm: {b: 1, d: 2}\n",
       {"1 in self.l", "!(0 in self.l)", "self.l + [4, 5] == [1, 2, 3, 4, 5]", "self.l == [1, 2, 3]",
        "'b' in self.m", "!('a' in self.m)", "has(self.m.b)", "!has(self.m.c)",
        "self.m.all(k, self.m[k] > 0)", "self.m.exists_one(k, self.m[k] == 2)", "size(self.m) == 2",
        "self.m == {'d': 2, 'b': 1}", "self.l.map(x, x * 2) == [2, 4, 6]"},
       {{"self.m['z'] == 1", "no such key"}}},
      // "listSets", "listMaps": equality regardless of order, `+` merges
      {"  s1: {type: array, x-kubernetes-list-type: set, items: {type: string}}\n"
       "  s2: {type: array, x-kubernetes-list-type: set, items: {type: string}}\n"
       "  objs: {type: array, items: {type: array, x-kubernetes-list-type: map, x-kubernetes-list-map-keys: "
       "[k], "
       "items: {type: object, properties: {k: {type: string}, v: {type: string}}}}}\n",
       "s1: [a, b, c]\ns2: [a, c, b]\nobjs: [[{k: a, v: '1'}, {k: b, v: '2'}], [{k: b, v: '2'}, {k: a, v: "
       "'1'}], "
       "[{k: b, v: '3'}, {k: a, v: '1'}], [{k: c, v: '4'}]]\n",
       {"self.s1 == ['c', 'b', 'a']", "self.s1 == self.s2", "'a' in self.s1",
        "self.s1 + self.s2 == ['a', 'b', 'c']", "self.s1 + ['c', 'd'] == ['a', 'b', 'c', 'd']",
        "self.objs[0] == self.objs[1]", "self.objs[0] + self.objs[2] == self.objs[2]",
        "self.objs[2] + self.objs[0] == self.objs[0]", "self.objs[0] == [self.objs[0][1], self.objs[0][0]]",
        "size(self.objs[0] + [self.objs[3][0]]) == 3", "self.objs[0] != self.objs[2]"},
       {}},
      // "object access": null reads as absent; has() needs the intermediate field
      {"  a: {type: object, properties: {b: {type: integer}, c: {type: integer}, d: {type: integer, "
       "nullable: true}}}\n"
       "  a1: {type: object, properties: {b1: {type: object, properties: {c1: {type: integer}}}, d2: {type: "
       "object, "
       "properties: {e2: {type: integer}}}}}\n",
       "a: {b: 1, d: null}\na1: {b1: {c1: 4}}\n",
       {"has(self.a.b)", "!has(self.a.c)", "!has(self.a.d)", "has(self.a1.b1.c1)",
        "!(has(self.a1.d2) && has(self.a1.d2.e2))"},
       {{"has(self.a1.d2.e2)", "no such key: d2"}}},
      // "listMap access": all() and exists() absorb errors the condition does not need
      {"  listMap: {type: array, x-kubernetes-list-type: map, x-kubernetes-list-map-keys: [k], items: {type: "
       "object, "
       "properties: {k: {type: string}, v: {type: string}, v2: {type: string}}}}\n",
       "listMap: [{k: a1, v: b1}, {k: a2, v: b2}, {k: a3, v: b3, v2: z}]\n",
       {"has(self.listMap[0].v)", "self.listMap.all(m, m.k.startsWith('a'))",
        "self.listMap.all(m, !has(m.v2) || m.v2 == 'z')", "self.listMap.exists_one(m, m.k == 'a3')",
        "!self.listMap.exists_one(m, m.k.startsWith('a'))", "self.listMap.map(m, m.v).exists(v, v == 'b1')",
        "self.listMap.map(m, has(m.v2) && m.v2 == 'z', m.v2).size() == 1",
        "self.listMap.exists(m, m.v2 == 'z')", "!self.listMap.all(m, m.v2 != 'z')"},
       {{"self.listMap.all(m, m.v2 == 'z')", "no such key: v2"},
        {"self.listMap.exists_one(m, m.v2 == 'z')", "no such key: v2"},
        {"self.listMap.filter(m, m.v2 == 'z').size() == 1", "no such key: v2"},
        {"self.listMap.map(m, m.v2).size() == 1", "no such key: v2"}}},
      // "string in intOrString", "percent comparison using intOrString"
      {"  something: {x-kubernetes-int-or-string: true}\n  min: {x-kubernetes-int-or-string: true}\n"
       "  current: {type: integer}\n  available: {type: integer}\n",
       "something: 25%\nmin: 50%\ncurrent: 5\navailable: 10\n",
       {"self.something == '25%'", "self.something != 1", "self.something == 1 || self.something == '25%'",
        "type(self.something) == int ? self.something == 1 : self.something == '25%'",
        "self.something != ['anything']",
        "type(self.min) == string && self.min.matches(r'(\\d+(\\.\\d+)?%)')",
        "type(self.min) == int ? self.current <= self.min : double(self.current) / double(self.available) >= "
        "double(self.min.replace('%', '')) / 100.0"},
       {}},
      // int-or-string, preserve-unknown-fields, escaped property names
      {"  port: {x-kubernetes-int-or-string: true}\n  name: {x-kubernetes-int-or-string: true}\n"
       "  extra: {type: object, x-kubernetes-preserve-unknown-fields: true}\n  foo-bar: {type: integer}\n"
       "  namespace: {type: string}\n  x.y: {type: string}\n",
       "port: 80\nname: http\nextra: {any: [1, {k: v}]}\nfoo-bar: 7\nnamespace: ns\nx.y: z\n",
       {"type(self.port) == int", "type(self.name) == string", "self.extra.any[1].k == 'v'",
        "self.foo__dash__bar == 7", "self.__namespace__ == 'ns'", "self.x__dot__y == 'z'"},
       {}},
  };
  for (const auto& c : cases) {
    Typed t = typed(c.properties, c.object);
    std::vector<Binding> self{{"self", Value::from_node(t.object, t.schema.get())}};
    for (const char* rule : c.valid) {
      INFO(rule);
      CHECK(eval_text(rule, self) == "true");
    }
    for (const auto& [rule, want] : c.errors) {
      INFO(rule);
      CHECK_THAT(eval_text(rule, self), Catch::Contains(want));
    }
  }
}

TEST_CASE("cel eval: random programs evaluate or fail cleanly", "[cel][eval][attack]") {
  // Random token sequences: those that compile are evaluated against an object of every kind
  // of value; none may crash, hang or exceed the limit unnoticed.
  const char* tokens[] = {"self",
                          "self.a",
                          "self.s",
                          "self.m",
                          "x",
                          "1",
                          "-1",
                          "2.5",
                          "0u",
                          "'a'",
                          "b'z'",
                          "null",
                          "true",
                          "[1, 'b']",
                          "{'k': 1}",
                          "+",
                          "-",
                          "*",
                          "/",
                          "%",
                          "==",
                          "!=",
                          "<",
                          ">=",
                          "&&",
                          "||",
                          "!",
                          "?",
                          ":",
                          "(",
                          ")",
                          ",",
                          ".size()",
                          ".all(x, x)",
                          ".exists(x, x == 1)",
                          ".map(x, x + x)",
                          ".filter(x, x)",
                          " in ",
                          "[0]",
                          "['k']",
                          "int(",
                          "string(",
                          "double(",
                          "size(",
                          "type(",
                          "duration('1s')",
                          "timestamp(0)",
                          ".matches('a+')",
                          ".split('a')",
                          ".join('-')",
                          "has(self.a)"};
  auto doc = yaml::parse_yaml("a: [1, 'b', {c: null}, [2.5]]\ns: hello\nm: {k: 1, j: [x]}\n");
  REQUIRE(doc);
  std::vector<Binding> self{{"self", Value::from_node(doc->documents[0].root, nullptr)}};
  std::mt19937 rng(25);
  int compiled = 0;
  for (int round = 0; round < 20'000; ++round) {
    std::string text;
    std::size_t n = 1 + rng() % 10;
    for (std::size_t i = 0; i < n; ++i) text += tokens[rng() % std::size(tokens)];
    auto program = compile(text, {"self"});
    if (!program) continue;
    ++compiled;
    Outcome o = evaluate(**program, self, 10'000);
    if (o.exceeded) CHECK(o.value.is_error());
    CHECK(o.cost <= 10'000 + 20'000);
  }
  CHECK(compiled > 1'000);
}
