#pragma once
// The `x-kubernetes-validations` of a CRD's structural schema: the schema tree CEL needs to
// type values (int vs double, int-or-string, formats, maps vs objects), the rules compiled at
// each node, and the validation of a custom resource against them with the apiserver's
// messages and cost limits.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/cel/eval.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::cel {

enum class SchemaType : std::uint8_t { any, object, array, string, integer, number, boolean, int_or_string };

// One rule of `x-kubernetes-validations`, compiled.
struct CompiledRule {
  std::string rule;
  std::string message;
  std::string reason;      // "FieldValueInvalid" (default), "FieldValueForbidden", ...
  std::string field_path;  // relative JSON path the finding is reported at
  std::unique_ptr<Program> program;
  std::unique_ptr<Program> message_expression;
  bool transition = false;  // refers to oldSelf: judged only on updates
};

struct Schema {
  SchemaType type = SchemaType::any;
  // x-kubernetes-list-type: sets and maps compare regardless of order, `+` merges them.
  enum class ListType : std::uint8_t { atomic, set, map } list_type = ListType::atomic;
  std::vector<std::string> map_keys;  // x-kubernetes-list-map-keys
  std::string format;
  bool preserve_unknown = false;
  // `default:`, which the apiserver fills in before it runs the rules (an owned copy).
  std::optional<Value> default_value;
  std::vector<std::pair<std::string, std::unique_ptr<Schema>>> properties;  // sorted by name
  std::unique_ptr<Schema> items;
  std::unique_ptr<Schema> additional;  // additionalProperties: a map
  std::vector<CompiledRule> rules;
  bool rules_below = false;  // some node under this one (or this one) has rules

  const Schema* property(std::string_view name) const;
  // "object", "array", "string", "integer", "number", "boolean": what the apiserver shows as
  // the invalid value of a failed rule.
  std::string_view type_name() const;
};

// What the target apiserver's version supports of x-kubernetes-validations.
struct RuleFeatures {
  bool message_expression = true;     // 1.27+
  bool reason_and_field_path = true;  // 1.28+
  bool optional_old_self = true;      // 1.29+
};

// The features of x-kubernetes-validations a cluster of `major.minor` supports.
RuleFeatures rule_features(int major, int minor);

struct SchemaProblem {
  std::string
      path;  // "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
  std::string message;  // "Invalid value: \"self <\": compilation failed: ..."
  const yaml::Node* at = nullptr;
};

// The schema tree of an openAPIV3Schema node with its rules compiled; `path` is where the
// schema sits in its CRD (for problems). Rules that do not compile are left out and reported
// in `problems`. Returns nullptr when no node of the schema carries rules.
std::unique_ptr<Schema> compile_schema(const yaml::Node& schema, std::string_view path,
                                       const RuleFeatures& features, std::vector<SchemaProblem>& problems);

struct Violation {
  std::string path;     // "spec.replicas"
  std::string message;  // "Invalid value: \"integer\": failed rule: self < 10"
  const yaml::Node* at = nullptr;
};

// The apiserver's limits for the rules of one object.
struct Budget {
  std::uint64_t per_call = 1'000'000;  // PerCallLimit
  std::uint64_t total = 10'000'000;    // RuntimeCELCostBudget
};

// Evaluates every rule of `root` on `object` (a custom resource), appending what fails.
// Transition rules are skipped (there is no old object). Never throws; stops with a finding
// when `budget` runs out.
void validate(const Schema& root, const yaml::Node& object, const Budget& budget,
              std::vector<Violation>& out);

}  // namespace portcullis::cel
