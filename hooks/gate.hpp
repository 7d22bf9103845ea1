#pragma once
// The gate: judges a push (or a range, for `portcullis check`) against the repository's
// policy as it was before the push, within a deadline.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hooks/report.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"
#include "shared/schema/program.hpp"

namespace portcullis::hooks {

struct RefUpdate {
  git::Oid old_oid;  // zero: the ref is created
  git::Oid new_oid;  // zero: the ref is deleted
  std::string ref;
};

class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget) : m_end(std::chrono::steady_clock::now() + budget) {}
  bool expired() const { return std::chrono::steady_clock::now() >= m_end; }
  std::chrono::steady_clock::time_point end() const { return m_end; }

 private:
  std::chrono::steady_clock::time_point m_end;
};

enum class GateMode {
  hook,   // a real push: ref rules apply
  check,  // `portcullis check`: content only
};

struct GateInput {
  git::Repository& repo;
  const policy::ServerConfig& config;
  const schema::Program* store;  // nullptr: schema validation is off
  std::span<const RefUpdate> updates;
  const Deadline& deadline;
  GateMode mode = GateMode::hook;
  std::filesystem::path index_dir;  // where identity indexes live
  std::string pusher;               // from the hosting layer; "" when unknown
  std::string break_glass;          // reason given with -o break-glass=..., "" for a normal push
  std::int64_t now = 0;             // unix seconds (soak rules); 0: the clock
};

// Judges every update. Never throws for bad input: every problem is a finding. When the
// deadline passes, stops with a gate.budget finding.
Report run_gate(const GateInput& input);

// Brings the identity index up to date for the new tips of accepted updates (post-receive):
// cheap when the index of the old tip exists, a full build otherwise.
void update_indexes(const GateInput& input);

// Parses pre-receive input lines "<old> <new> <ref>"; the ref is the rest of the line, kept
// verbatim (ref_name_problem judges it). Fails on a malformed line or more than `max_refs` refs.
util::Result<std::vector<RefUpdate>> parse_updates(std::string_view input, std::size_t max_refs);

// The longest ref name the gate accepts (git's own limit is the file system's: PATH_MAX).
inline constexpr std::size_t k_max_ref_name = 4096;

// Why git would refuse `ref` as the name of a ref it stores ("refs/" and
// `git check-ref-format` rules, at most k_max_ref_name bytes); nullopt when it is valid.
std::optional<std::string> ref_name_problem(std::string_view ref);

}  // namespace portcullis::hooks
