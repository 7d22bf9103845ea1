#pragma once
// The gate: judges a push (or a range, for `portcullis check`) against the repository's policy
// as it was before the push, within a deadline. Each ref update is described once (update.hpp),
// then judged by rule families, each its own module: refs (ref.*), content (file.*, yaml.*,
// k8s.*, schema.*, content.*), promotion (promotion.*), ownership (owners.*); break-glass turns
// some of their findings into audited notices.
#include <atomic>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hooks/report.hpp"
#include "hooks/update.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"
#include "shared/schema/program.hpp"

namespace portcullis::hooks {

enum class GateMode {
  hook,   // a real push: ref rules apply
  check,  // `portcullis check`: content only
};

// Whether failMode open may accept this push if it cannot be judged in time. The gate sets it
// once it has described every update and none is protected (a protected ref, or a change to
// what a protected environment applies); it never is for such a push, whatever failMode says.
struct FailOpenGate {
  std::atomic<bool> allowed{false};
};

struct GateInput {
  git::Repository& repo;
  const policy::ServerConfig& config;
  const schema::Program* store;  // nullptr: schema validation is off
  std::span<const RefUpdate> updates;
  const Deadline& deadline;
  GateMode mode = GateMode::hook;
  std::filesystem::path index_dir;  // where identity indexes and soak ledgers live
  std::string pusher;               // from the hosting layer; "" when unknown
  // -o break-glass=<reason>: nullopt when not asked for (an empty reason is asked for, and refused).
  std::optional<std::string> break_glass;
  std::int64_t now = 0;               // the server's clock, unix seconds; 0: read it
  FailOpenGate* fail_open = nullptr;  // set when the push may fail open
};

// Whether `update` reaches something protected: a protected ref, a change to what a protected
// environment applies, or an update that cannot be read (fail closed).
bool reaches_protected(const Update& update);

// Judges every update. Never throws for bad input: every problem is a finding. When the
// deadline passes, stops with a gate.budget finding. Every update is described (and the push
// classified for `fail_open`) before the deadline is first looked at: that is cheap, and bounded
// by the hook's hard stop.
Report run_gate(const GateInput& input);

// After a push landed (post-receive): brings the identity indexes up to date for the new tips
// of checked refs (cheap when the index of the old tip exists, a full build otherwise) and writes
// the soak ledgers of promotion sources at `input.now`, the server's clock. pre-receive, once it
// has accepted a push, asks for the identity indexes only (`with_ledgers` false): the trees it
// has just diffed are still in memory, and post-receive then finds the indexes made. Ledgers wait
// for the push to land: they start soak clocks.
void update_indexes(const GateInput& input, bool with_ledgers = true);

// Parses pre-receive input lines "<old> <new> <ref>"; the ref is the rest of the line, kept
// verbatim (ref_name_problem judges it). Fails on a malformed line or more than `max_refs` refs.
util::Result<std::vector<RefUpdate>> parse_updates(std::string_view input, std::size_t max_refs);

// The break-glass request of a push: the value of its `break-glass` push option (nullopt when
// none was given). Both hooks read it through this one function.
std::optional<std::string> break_glass_request(std::span<const std::string> push_options);

// Why `request` (by `pusher`) is refused: "breakglass.reason-required" when the reason has no
// visible character (spaces, no-break and zero-width spaces, BOMs and other format characters
// are not a reason), "breakglass.denied" when the pusher is not in identity.breakGlass; nullopt
// when it is granted. Pre-receive refuses the push then (and never lets it fail open);
// post-receive tells the reconciler only of a granted one.
std::optional<std::string> break_glass_refusal(const policy::ServerConfig& config, std::string_view pusher,
                                               std::string_view request);

}  // namespace portcullis::hooks
