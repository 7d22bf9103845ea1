#pragma once
// Image policies: which image repository an automation follows, in which environments, and
// how a version is chosen among the tags a registry lists. Policies live in the repository's
// .portcullis.yaml under `images.policies` (schema: schemas/policy.schema.json; docs/images.md).
// Choosing is pure: the registry watcher hands `choose` the (tag, digest) pairs it saw.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::imagepolicy {

enum class Strategy : std::uint8_t {
  semver,  // the highest tag that is a semantic version within `range`
  regex,   // the tag whose capture group (the first, or the one named "version") sorts last
  digest,  // the digest the registry reports for one `tag` (follows a moving tag)
};
enum class Order : std::uint8_t { numerical, alphabetical };  // regex: how captures compare
// What a marker or kustomization entry is given: the tag, or the tag pinned by its digest
// ("tag@sha256:..."), or the digest alone where the target holds one.
enum class Pin : std::uint8_t { tag, digest };

struct Policy {
  std::string name;       // unique in the file: [a-z0-9]([a-z0-9._-]{0,62})
  std::string namespace_; // optional: Flux markers "ns:name" must name it when set
  std::string image;      // repository without tag or digest: "registry:5000/team/app"
  std::vector<std::string> environments;  // names of the environments whose files it edits
  Strategy strategy = Strategy::semver;
  std::string range;      // semver: ">=1.2.0 <2", "^1.2", "~1.2.3", "1.x", "*"
  bool prereleases = false;  // semver: pre-release versions may be chosen
  std::string pattern;    // regex: PCRE2, anchored by the author; must have a capture group
  Order order = Order::numerical;
  std::string tag;        // digest: the tag followed
  Pin pin = Pin::tag;     // Strategy::digest always pins
  std::uint32_t line = 0; // where it is declared, for messages
};

// A tag the registry lists, and the digest of its manifest ("" when not known).
struct Candidate {
  std::string tag;
  std::string digest;
};

struct Choice {
  std::string tag;
  std::string digest;  // "" when unknown
  // The reference a target is given: "image:tag", or "image:tag@digest" when `pin` is digest
  // (and the digest is known).
  std::string reference(const Policy& policy) const;
  bool operator==(const Choice&) const = default;
};

// True for a tag OCI distribution allows: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. Any other
// candidate (../, newlines, 300 characters, unicode) is never chosen.
bool is_valid_tag(std::string_view tag);
// True for "sha256:" followed by 64 lowercase hex digits (or "sha512:" and 128).
bool is_valid_digest(std::string_view digest);

// The candidate the policy chooses; nullopt when none qualifies. Never throws; candidates with
// invalid tags or digests are skipped; for semver and regex, ties go to the first listed. A
// digest policy needs the candidate for its tag with a valid digest.
std::optional<Choice> choose(const Policy& policy, std::span<const Candidate> candidates);

// Parses `images.policies` of a parsed .portcullis.yaml (its root). No `images` key: no
// policies. Errors (rule "imagepolicy.invalid", file/line/column set): a duplicate name, an
// unknown strategy, a range or pattern that does not compile, a pattern without a capture
// group, an image with a tag or digest, no environment.
util::Result<std::vector<Policy>> parse_policies(const yaml::Node& root, std::string_view file);
// The same from the text of .portcullis.yaml.
util::Result<std::vector<Policy>> parse_policies(std::string_view text, std::string_view file);

// The policy named `name`; nullptr when none.
const Policy* find_policy(std::span<const Policy> policies, std::string_view name);

}  // namespace portcullis::imagepolicy
