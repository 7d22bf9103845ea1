#pragma once
// The gate: judges a push (or a range, for `portcullis check`) against the repository's
// policy as it was before the push, within a deadline.
#include <chrono>
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

// Parses pre-receive input lines "<old> <new> <ref>". Fails on a malformed line.
util::Result<std::vector<RefUpdate>> parse_updates(std::string_view input, std::size_t max_refs);

}  // namespace portcullis::hooks
