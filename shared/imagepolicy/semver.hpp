#pragma once
// Semantic versions (semver.org 2.0.0, with an optional leading "v") and the ranges image
// policies write: comparators (>=1.2.0 <2, =1.2.3, !=1.3.0), caret (^1.2), tilde (~1.2.3),
// wildcards (1.x, 1.2.*, *), hyphen ranges (1.2 - 1.4) and alternatives (a || b).
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::imagepolicy {

struct Version {
  std::uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> prerelease;  // dot-separated identifiers; empty for a release
  // Build metadata is ignored by comparisons and not kept.
  std::strong_ordering operator<=>(const Version& other) const;
  bool operator==(const Version& other) const { return (*this <=> other) == 0; }
  bool is_prerelease() const { return !prerelease.empty(); }
  std::string str() const;
};

// Parses "1.2.3", "v1.2.3-rc.1+build.5". nullopt for anything else (leading zeros, missing
// parts, numbers above 2^63, characters outside [0-9A-Za-z-.+]).
std::optional<Version> parse_version(std::string_view text);

class Range {
 public:
  // Fails (rule "imagepolicy.invalid") on a range that does not parse.
  static util::Result<Range> parse(std::string_view text);
  // Whether `version` is in the range. A pre-release matches only with `prereleases`.
  bool contains(const Version& version, bool prereleases) const;

  struct Comparator {
    enum class Op : std::uint8_t { lt, le, gt, ge, eq, ne };
    Op op;
    Version version;
  };

 private:
  std::vector<std::vector<Comparator>> m_alternatives;  // OR of ANDs
};

}  // namespace portcullis::imagepolicy
