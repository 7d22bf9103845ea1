#pragma once
// The parsed form of a CEL expression (cel-spec's grammar, without message construction),
// produced by `parse` and walked by the evaluator. Macros (`has`, `all`, `exists`,
// `exists_one`, `map`, `filter`) are expanded by the parser into their own node kinds.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/cel/value.hpp"
#include "shared/util/error.hpp"

namespace portcullis::cel {

enum class Op : std::uint8_t {
  literal,  // `value`
  ident,    // `name`
  select,   // args[0].name
  has,      // has(args[0].name)
  index,    // args[0][args[1]]
  call,     // name(args...) or, with `receiver`, args[0].name(args[1...])
  list,     // [args...]
  map,      // {args[0]: args[1], ...}
  logical_and,
  logical_or,
  logical_not,
  negate,
  conditional,  // args[0] ? args[1] : args[2]
  binary,       // args[0] `name` args[1]: + - * / % == != < <= > >= in
  all,          // args[0].all(var, args[1])
  exists,
  exists_one,
  map_macro,  // args[0].map(var, args[1]) or args[0].map(var, args[1] /*filter*/, args[2])
  filter,
};

struct Expr {
  Op op = Op::literal;
  Value value;            // literal
  std::string name;       // identifier, field, function or operator
  std::string var;        // comprehension variable
  bool receiver = false;  // call: args[0] is the receiver
  std::vector<std::unique_ptr<Expr>> args;
  std::uint32_t column = 0;  // 1-based column of the node in the expression
  int depth = 1;             // of the tree under this node
};

// Parse errors for syntax the apiserver may accept but this parser does not evaluate (optional
// field selection `a.?b`, `a[?k]`) start with this: the rule is skipped, not refused.
inline constexpr std::string_view k_unsupported_syntax = "unsupported syntax: ";

struct Limits {
  std::size_t max_length = 100'000;  // code points of the expression (cel-go's default limit)
  // Nesting of sub-expressions, counted by the parser's recursive productions (about three per
  // level of parentheses): at least cel-go's maxRecursionDepth of 250 levels is accepted.
  int max_depth = 750;
  int max_tree_depth = 500;  // depth of the parsed tree (left-associative chains)
};

// Parses `text` into an expression tree. Fails with "<column>: <what>" for syntax errors,
// reserved identifiers, message construction, too long or too deeply nested input; never
// recurses deeper than `limits.max_depth`.
util::Result<std::unique_ptr<Expr>> parse(std::string_view text, const Limits& limits = {});

}  // namespace portcullis::cel
