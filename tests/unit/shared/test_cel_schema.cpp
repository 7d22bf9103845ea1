// shared/cel schema: x-kubernetes-validations compiled from a CRD's structural schema and run
// over custom resources with the apiserver's paths and messages
// (apiextensions-apiserver pkg/apiserver/schema/cel/validation.go; messages as
// validation_test.go and the apiserver's field.Error print them).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shared/cel/schema.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::cel;

namespace {

struct Compiled {
  yaml::Stream doc;
  std::unique_ptr<Schema> schema;
  std::vector<SchemaProblem> problems;
};

Compiled compile_yaml(const std::string& schema, const RuleFeatures& features = {}) {
  auto doc = yaml::parse_yaml(schema);
  INFO(schema);
  REQUIRE(doc);
  Compiled c{std::move(*doc), nullptr, {}};
  c.schema = compile_schema(*c.doc.documents[0].root, "spec.versions[0].schema.openAPIV3Schema", features,
                            c.problems);
  return c;
}

std::vector<std::string> violations(const Schema& schema, const std::string& object,
                                    const Budget& budget = {}) {
  auto doc = yaml::parse_yaml(object);
  REQUIRE(doc);
  std::vector<Violation> out;
  validate(schema, *doc->documents[0].root, budget, out);
  std::vector<std::string> text;
  for (const auto& v : out) text.push_back(v.path + ": " + v.message);
  return text;
}

const std::string k_schema = R"Y(type: object
properties:
  spec:
    type: object
    x-kubernetes-validations:
    - rule: self.minReplicas <= self.maxReplicas
      message: minReplicas must not exceed maxReplicas
    - rule: "!has(self.name) || self.name.startsWith('app-')"
      messageExpression: "'name ' + self.name + ' must start with app-'"
    - rule: "!has(self.mode) || self.mode != 'off'"
      reason: FieldValueForbidden
      fieldPath: .mode
    - rule: self.replicas == oldSelf.replicas
      message: replicas are immutable
    properties:
      replicas:
        type: integer
        x-kubernetes-validations:
        - rule: self < 10
      minReplicas: {type: integer}
      maxReplicas: {type: integer}
      name: {type: string}
      mode: {type: string}
      ports:
        type: array
        items:
          type: object
          properties:
            port: {type: integer, x-kubernetes-validations: [{rule: self >= 1 && self <= 65535, message: bad port}]}
      labels:
        type: object
        additionalProperties:
          type: string
          x-kubernetes-validations: [{rule: size(self) <= 5}]
)Y";

}  // namespace

TEST_CASE("cel schema: findings with the apiserver's paths and messages", "[cel][schema]") {
  Compiled c = compile_yaml(k_schema);
  REQUIRE(c.problems.empty());
  REQUIRE(c.schema);
  struct Case {
    const char* object;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"spec: {replicas: 3, minReplicas: 1, maxReplicas: 2, name: app-x, mode: on}", {}},
      {"spec: {replicas: 12, minReplicas: 1, maxReplicas: 2}",
       {"spec.replicas: Invalid value: \"integer\": failed rule: self < 10"}},
      {"spec: {minReplicas: 3, maxReplicas: 2}",
       {"spec: Invalid value: \"object\": minReplicas must not exceed maxReplicas"}},
      {"spec: {minReplicas: 1, maxReplicas: 2, name: web}",
       {"spec: Invalid value: \"object\": name web must start with app-"}},
      {"spec: {minReplicas: 1, maxReplicas: 2, mode: 'off'}",
       {"spec.mode: Forbidden: failed rule: !has(self.mode) || self.mode != 'off'"}},
      {"spec: {minReplicas: 1, maxReplicas: 2, ports: [{port: 80}, {port: 70000}]}",
       {"spec.ports[1].port: Invalid value: \"integer\": bad port"}},
      {"spec: {minReplicas: 1, maxReplicas: 2, labels: {a: ok, b: toolong}}",
       {"spec.labels[b]: Invalid value: \"string\": failed rule: size(self) <= 5"}},
      // A rule that fails to evaluate is a finding too (the apiserver refuses the object).
      {"spec: {maxReplicas: 2}",
       {"spec: Invalid value: \"object\": no such key: minReplicas evaluating rule: self.minReplicas <= "
        "self.maxReplicas"}},
      // The transition rule (oldSelf) is not judged: there is no old object at push time.
      {"spec: {replicas: 1, minReplicas: 1, maxReplicas: 1}", {}},
      // Values of the wrong type are the schema's to report; the rule's error is reported too.
      {"spec: {replicas: many, minReplicas: 1, maxReplicas: 1}",
       {"spec.replicas: Invalid value: \"integer\": found no matching overload for '<' applied to '(string, "
        "int)' evaluating rule: self < 10"}},
  };
  for (const auto& cs : cases) {
    INFO(cs.object);
    CHECK(violations(*c.schema, cs.object) == cs.want);
  }
}

TEST_CASE("cel schema: defaults are filled in before the rules run", "[cel][schema]") {
  // The apiserver defaults a custom resource (structural schema `default:`) before validating.
  Compiled c = compile_yaml(R"Y(type: object
properties:
  spec:
    type: object
    x-kubernetes-validations:
    - rule: self.min <= self.max
    - rule: self.mode in ['a', 'b']
    - rule: self.opts.retries < 5 && self.opts.tags == ['x']
    properties:
      min: {type: integer, default: 1}
      max: {type: integer, default: 3}
      mode: {type: string, default: a}
      opts:
        type: object
        default: {retries: 2, tags: [x]}
        properties:
          retries: {type: integer}
          tags: {type: array, items: {type: string}}
)Y");
  REQUIRE(c.problems.empty());
  CHECK(violations(*c.schema, "spec: {}").empty());
  CHECK(violations(*c.schema, "spec: {max: 2}").empty());
  CHECK(violations(*c.schema, "spec: {min: 5}") ==
        std::vector<std::string>{"spec: Invalid value: \"object\": failed rule: self.min <= self.max"});
  CHECK(violations(*c.schema, "spec: {mode: c, opts: {retries: 9, tags: [x]}}").size() == 2);
}

TEST_CASE("cel schema: fields newer than the cluster are ignored", "[cel][schema]") {
  // 1.25/1.26 know no messageExpression, 1.27 no reason or fieldPath: the apiserver drops them.
  Compiled old = compile_yaml(k_schema, rule_features(1, 25));
  REQUIRE(old.problems.empty());
  CHECK(violations(*old.schema, "spec: {minReplicas: 1, maxReplicas: 2, name: web}") ==
        std::vector<std::string>{
            "spec: Invalid value: \"object\": failed rule: !has(self.name) || self.name.startsWith('app-')"});
  CHECK(violations(*old.schema, "spec: {minReplicas: 1, maxReplicas: 2, mode: 'off'}") ==
        std::vector<std::string>{
            "spec: Invalid value: \"object\": failed rule: !has(self.mode) || self.mode != 'off'"});
  Compiled v127 = compile_yaml(k_schema, rule_features(1, 27));
  CHECK(violations(*v127.schema, "spec: {minReplicas: 1, maxReplicas: 2, name: web}") ==
        std::vector<std::string>{"spec: Invalid value: \"object\": name web must start with app-"});
  CHECK(rule_features(1, 29).optional_old_self);
  CHECK_FALSE(rule_features(1, 28).optional_old_self);
}

TEST_CASE("cel schema: rules that do not compile are problems", "[cel][schema]") {
  struct Case {
    std::string rules;  // the x-kubernetes-validations of `spec`
    std::string want;   // in the problem, empty: none
  };
  const Case cases[] = {
      {"[{rule: 'self.a <'}]",
       "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: "
       "Invalid value: \"self.a <\": compilation failed: "},
      {"[{rule: 'true'}, {rule: 'nope > 1'}]",
       "x-kubernetes-validations[1].rule: Invalid value: \"nope > 1\": compilation failed: "
       "ERROR: <input>:1:1: undeclared reference to 'nope'"},
      {"[{message: m}]", "x-kubernetes-validations[0].rule: Required value"},
      {"[{rule: 'true', messageExpression: '1 +'}]", "messageExpression compilation failed"},
      {"[{rule: 'true', reason: Nope}]", "x-kubernetes-validations[0].reason: Unsupported value: \"Nope\""},
      {"[{rule: \"self.matches('(?<=a)b')\"}]", "lookbehind"},
      // Syntax the apiserver may accept and this parser does not evaluate: skipped, no problem.
      {"[{rule: 'self.?a.orValue(1) == 1'}]", ""},
      {"[{rule: \"self.a.split('').all(i, c, i >= 0)\"}]", ""},
      {"[{rule: \"self.a.split('').existsOne(c, c == 'x')\"}]", ""},
      {"[{rule: \"semver(self.a).major() == 1\"}]", ""},
      {"[{rule: \"self.a.matches('\\\\\\\\12')\"}]", ""},
  };
  for (const auto& cs : cases) {
    INFO(cs.rules);
    Compiled c = compile_yaml(
        "type: object\nproperties:\n  spec:\n    type: object\n    x-kubernetes-validations: " + cs.rules +
        "\n    properties: {a: {type: string}}\n");
    if (cs.want.empty()) {
      CHECK(c.problems.empty());
      continue;
    }
    REQUIRE(c.problems.size() == 1);
    CHECK_THAT(c.problems[0].path + ": " + c.problems[0].message, Catch::Contains(cs.want));
  }
}

TEST_CASE("cel schema: cost limits per rule and per object", "[cel][schema][cost][attack]") {
  std::string schema = R"Y(type: object
properties:
  items:
    type: array
    items:
      type: object
      x-kubernetes-validations:
      - rule: "self.xs.all(a, self.xs.all(b, self.xs.all(c, a + b + c >= 0)))"
      properties:
        xs: {type: array, items: {type: integer}}
)Y";
  Compiled c = compile_yaml(schema);
  REQUIRE(c.schema);
  auto xs = [](int n) {
    std::string out = "[";
    for (int i = 0; i < n; ++i) out += (i ? "," : "") + std::to_string(i);
    return out + "]";
  };
  // 120^3 iterations: more than one call may cost.
  auto one = violations(*c.schema, "items: [{xs: " + xs(120) + "}]");
  REQUIRE(one.size() == 1);
  CHECK_THAT(one[0],
             Catch::StartsWith("items[0]: Invalid value: \"object\": call cost exceeds limit for rule: "));
  // 40^3 per item is within the per-call limit; 40 items exceed the per-object budget: one
  // finding says so and no further rule runs.
  std::string many = "items: [";
  for (int i = 0; i < 40; ++i) many += std::string(i ? "," : "") + "{xs: " + xs(40) + "}";
  auto out = violations(*c.schema, many + "]");
  REQUIRE_FALSE(out.empty());
  CHECK_THAT(
      out.back(),
      Catch::Contains(
          "validation failed due to running out of cost budget, no further validation rules will be run"));
  CHECK(out.size() == 1);
  // A smaller budget (the caller's) is honoured.
  auto small = violations(*c.schema, "items: [{xs: " + xs(10) + "}]", Budget{100, 100});
  REQUIRE(small.size() == 1);
}

TEST_CASE("cel schema: hostile schemas and objects", "[cel][schema][attack]") {
  // A schema nested deeper than the walk goes, an object nested deeper still: no crash.
  std::string deep = "type: object\nx-kubernetes-validations: [{rule: 'true'}]\n";
  std::string indent;
  for (int i = 0; i < 45; ++i) {
    deep += indent + "properties:\n" + indent + "  a:\n" + indent + "    type: object\n" + indent +
            "    x-kubernetes-validations: [{rule: 'has(self.a) || true'}]\n";
    indent += "    ";
  }
  Compiled c = compile_yaml(deep);
  REQUIRE(c.schema);
  std::string object = "a: ";
  for (int i = 0; i < 90; ++i) object += "{a: ";
  object += "{}" + std::string(90, '}');
  CHECK(violations(*c.schema, object).empty());
  // A message expression that fails or returns a non-string falls back to the static message.
  Compiled m = compile_yaml(
      "type: object\nx-kubernetes-validations: [{rule: 'false', message: fixed, messageExpression: '1 / "
      "0'}]\n");
  CHECK(violations(*m.schema, "a: 1") == std::vector<std::string>{": Invalid value: \"object\": fixed"});
  Compiled m2 = compile_yaml(
      "type: object\nx-kubernetes-validations: [{rule: 'false', messageExpression: \"'a\\\\nb'\"}]\n");
  CHECK(violations(*m2.schema, "a: 1") ==
        std::vector<std::string>{": Invalid value: \"object\": failed rule: false"});
}
