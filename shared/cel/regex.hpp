#pragma once
// The regular expressions of CEL's `matches`: RE2's syntax (Go's regexp, as the apiserver's
// cel-go reads it) checked, then matched by PCRE2's DFA matcher, which does not backtrack.
#include <cstdint>
#include <memory>
#include <string_view>

#include "shared/util/error.hpp"

namespace portcullis::cel {

// The regular expression behind `matches`: RE2 syntax checked, then PCRE2 with limits.
class Regex {
 public:
  // Fails with "error parsing regexp: ..." for what RE2 refuses (the apiserver refuses it too),
  // or with a message starting with k_unsupported_syntax (ast.hpp) for what is not judged here:
  // octal escapes, patterns over 256 items once repetitions are expanded.
  static util::Result<std::shared_ptr<const Regex>> compile(std::string_view pattern);
  ~Regex();
  // Whether the pattern matches somewhere in `subject` (RE2's partial match). `steps` counts
  // the matcher's steps (one per pattern item tried at a position); the match stops, failing
  // with "steps exceeded", beyond `max_steps`. Other failures of the matcher (its workspace)
  // fail with a message starting with library::k_unsupported_prefix: not judged.
  util::Result<bool> search(std::string_view subject, std::uint64_t max_steps, std::uint64_t& steps) const;
  // The pattern's items with counted repetitions expanded: the matcher's work per character.
  std::uint64_t size() const;

 private:
  struct Impl;
  explicit Regex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::cel
