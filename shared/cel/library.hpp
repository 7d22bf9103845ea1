#pragma once
// Internal to cel: the operators and functions (CEL's standard definitions and Kubernetes'
// extension libraries for strings and lists), each charging its cost to the evaluator.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/cel/eval.hpp"
#include "shared/cel/value.hpp"

namespace portcullis::cel::library {

class Runtime {
 public:
  virtual ~Runtime() = default;
  // Adds `units` to the cost; false once the limit is passed (the caller stops).
  virtual bool charge(std::uint64_t units) = 0;
  // Units left before the limit.
  virtual std::uint64_t remaining() const = 0;
  // The pattern compiled with the program when it was a literal, else nullptr.
  virtual const Regex* literal_regex(std::string_view pattern) const = 0;
};

// The start of the message of an error that means "not judged here" (a function of
// `unsupported`, a time zone by name, a regular expression PCRE2 cannot run within its
// limits): the rule is skipped, never reported.
inline constexpr std::string_view k_unsupported_prefix = "not evaluated here: ";
// Whether `name` is a Kubernetes library function that compiles but is not evaluated here.
bool unsupported(std::string_view name);

// Empty when `name` with `arity` arguments (besides a receiver when `receiver`) is a known
// function; else the apiserver's compile error.
std::string check_call(std::string_view name, bool receiver, std::size_t arity);

// Calls `name` (args[0] is the receiver when `receiver`); errors as error values.
Value call(Runtime& rt, std::string_view name, bool receiver, const std::vector<Value>& args);

// `a op b` for + - * / % == != < <= > >= in.
Value binary(Runtime& rt, std::string_view op, const Value& a, const Value& b);

// Cost units of work over `bytes` bytes of string (cel-go: 0.1 per byte, rounded up).
inline std::uint64_t string_cost(std::size_t bytes) {
  return (bytes + 9) / 10;
}

// Cost units of reading a value out of the object or a variable: strings are copied (1 per KiB,
// so a rule touching a large string many times is bounded too; cel-go charges nothing).
inline std::uint64_t fetch_cost(const Value& v) {
  return v.kind() == Kind::string || v.kind() == Kind::bytes ? v.str().size() / 1024 : 0;
}

// The elements and entries under `v` (1 for a scalar), counted up to `cap`: what comparing it
// walks.
std::uint64_t deep_size(const Value& v, std::uint64_t cap);

}  // namespace portcullis::cel::library
