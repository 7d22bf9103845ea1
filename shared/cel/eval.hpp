#pragma once
// Compiling and evaluating CEL expressions with a runtime cost, as the Kubernetes apiserver
// runs x-kubernetes-validations: every step is charged, string and list functions by the size
// they touch, and evaluation stops once a limit is reached. `matches` runs PCRE2's DFA matcher
// on patterns refused unless they mean the same in RE2 (no backreferences, lookaround, atomic
// groups, possessive quantifiers, recursion), charged by the steps it takes.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/cel/ast.hpp"
#include "shared/cel/value.hpp"
#include "shared/util/error.hpp"

namespace portcullis::cel {

class Regex;

// A compiled expression: its tree and the regular expressions of its literal patterns.
class Program {
 public:
  Program(std::unique_ptr<Expr> expr,
          std::vector<std::pair<std::string, std::shared_ptr<const Regex>>> regexes);
  ~Program();
  const Expr& expr() const { return *m_expr; }
  // The compiled literal pattern `pattern`, or nullptr.
  const Regex* regex(std::string_view pattern) const;
  // Whether the expression names the variable `name` anywhere.
  bool uses(std::string_view name) const;

 private:
  std::unique_ptr<Expr> m_expr;
  std::vector<std::pair<std::string, std::shared_ptr<const Regex>>> m_regexes;
};

// Parses `text` and checks what can be known before evaluation: function names and their
// arity, literal regular expressions, variables other than `variables` and macro variables.
// Fails with "<column>: <what>".
util::Result<std::unique_ptr<Program>> compile(std::string_view text,
                                               const std::vector<std::string>& variables);

struct Binding {
  std::string_view name;
  Value value;
};

struct Outcome {
  Value value;             // the result, or an error value
  std::uint64_t cost = 0;  // cost units charged
  bool exceeded = false;   // stopped at `limit`
};

// Evaluates `program` with `bindings` (e.g. `self`), charging at most `limit` cost units.
Outcome evaluate(const Program& program, const std::vector<Binding>& bindings, std::uint64_t limit);

}  // namespace portcullis::cel
