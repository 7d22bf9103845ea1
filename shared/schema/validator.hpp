#pragma once
// Validates Node trees against a compiled `Program`, reporting every violation with its
// location, a rule id and a message a person can act on.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/schema/program.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::schema {

struct Violation {
  std::string path;  // "spec.template.spec.containers[0].image"; empty for the document root
  yaml::Mark mark;   // where in the file
  std::string rule;  // schema.type, schema.unknown-field, schema.required, schema.enum, ...
  std::string message;
};

enum class Strictness { lenient, strict };

struct ValidateOptions {
  // strict: fields a schema does not declare are errors (unless the schema keeps unknown fields).
  Strictness strictness = Strictness::strict;
  // Stop after this many violations per document.
  std::size_t max_violations = 25;
  // Keys at the top level that are never unknown (e.g. "sops" in SOPS-encrypted files).
  std::span<const std::string_view> ignored_root_keys;
};

// Appends the violations of `value` against schema `node` of `program` to `out`.
void validate(const Program& program, NodeId node, const yaml::Node& value, const ValidateOptions& options,
              std::vector<Violation>& out);

// Renders a path segment list the way kubectl does: a.b[0]["x.y"].
std::string join_path(std::string_view parent, std::string_view key);

}  // namespace portcullis::schema
