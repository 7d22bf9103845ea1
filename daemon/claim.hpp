#pragma once
// Who owns a live object, and whether a target may write it. Read before a target applies an
// object its inventory does not hold with a UID, so that it never takes over an object another
// target owns, nor one that exists and that it did not create unless it may adopt.
#include <optional>
#include <string>
#include <string_view>

#include "shared/kube/client.hpp"
#include "shared/kube/discovery.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

enum class Claim {
  absent,        // no such object: the apply creates it
  ours,          // it carries this target's ownership annotation for exactly this object
  other_target,  // another target's label or annotation is on it
  unowned,       // it exists without this target's marks: made by hand, by another tool, or copied marks
};

struct LiveClaim {
  Claim claim = Claim::absent;
  std::string owner;             // the other target (Claim::other_target)
  std::string resource_version;  // of the live object, "" when absent
};

// Judges the ownership marks of an object that exists: `label` (portcullis.io/target) and
// `annotation` (portcullis.io/owned-by), for `target` whose annotation of this object would be
// `expected`. Another target named by either mark wins over this target's (fail closed); this
// target's label alone, or its annotation of another object, does not make the object ours.
LiveClaim judge_claim(std::string_view target, std::string_view expected, std::string_view label,
                      std::string_view annotation);

// Reads the live object's metadata (a metadata-only GET, the whole object when the server
// cannot) and judges it. Fails on transport errors and any answer but 200 and 404.
util::Result<LiveClaim> read_claim(kube::Client& client, const kube::Resource& resource, std::string_view target,
                                   std::string_view group, std::string_view kind, std::string_view ns,
                                   std::string_view name);

// Why `target` may not apply the object `what` as `claim` found it; nullopt when it may (an
// unowned object with `adopt` is an adoption, which the caller records).
std::optional<std::string> claim_problem(const LiveClaim& claim, std::string_view target, std::string_view what,
                                         bool adopt);

}  // namespace portcullis::daemon
