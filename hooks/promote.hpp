#pragma once
// `portcullis promote`: copy the images one environment runs into another's manifests, as the
// in-place edits of shared/yamledit (only the image scalars change). What the source runs is
// what the one render yields (kustomize environments built, plain ones read as the gate reads
// them); the target's image fields (and kustomization `images:` entries) under its directory are
// the places written. References are copied exactly (the gate's promotion rule compares them as
// written), so an environment that requires digests can only take a reference the source pins.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hooks/soak.hpp"
#include "shared/git/repository.hpp"
#include "shared/imagepolicy/markers.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/error.hpp"

namespace portcullis::hooks {

struct PromoteRequest {
  std::string from, to;              // environment names (or paths)
  std::optional<std::string> image;  // only this image name (full, or its last path component)
};

// An image the target cannot take as the source runs it, and why.
struct Blocked {
  std::string image;  // the image name
  std::string reason;
};

struct PromotePlan {
  policy::Environment from, to;
  std::map<std::string, std::string> source;  // image name -> the reference the source runs
  std::vector<imagepolicy::FileEdit> files;   // edits of the target's files (policy: "promote")
  std::vector<Blocked> blocked;               // not copied (digest required, ambiguous source)
  std::vector<std::string> problems;          // edits refused by yamledit, unreadable files
  // The distinct new references the edits write.
  std::vector<std::string> references() const;
};

// The plan at `commit` of `repo`. Fails (usage-level errors) when an environment is unknown or
// the source environment does not render.
util::Result<PromotePlan> plan_promotion(const git::Repository& repo, const git::Oid& commit,
                                         const PromoteRequest& request);

// Whether each reference has soaked in the source environment long enough for the target, by the
// ledger the Git server keeps (nullptr: not available here). `now` is unix seconds.
struct SoakVerdict {
  std::string reference;
  bool met = false;
  bool known = false;            // the ledger has the reference
  std::int64_t since = 0;        // arrival, unix seconds (when known)
  std::int64_t ready_at = 0;     // when it will be met (when known)
  std::string arrival_commit;    // short id of the push it arrived with
};
std::vector<SoakVerdict> soak_verdicts(const PromotePlan& plan, const SoakLedger* ledger, std::int64_t now);

// The commit message: a subject naming the environments and images, a line per image
// "name: old -> new (file:line)", and why (the source runs it; soak and digest status).
std::string promote_message(const PromotePlan& plan, const std::vector<SoakVerdict>& soak);

}  // namespace portcullis::hooks
