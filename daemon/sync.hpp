#pragma once
// Syncing one target: render its directory at a commit, server-side-apply what changed (in
// order: Namespaces and CRDs, then cluster-scoped objects, then namespaced ones, in parallel
// over keep-alive connections), prune what Git no longer declares and the target owns, and
// record the result in the cluster's inventory.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "shared/git/repository.hpp"

namespace portcullis::daemon {

enum class SyncState { unknown, synced, out_of_sync, failed };
std::string_view state_name(SyncState s);

struct SyncResult {
  SyncState state = SyncState::unknown;
  std::string revision;       // the commit synced (or attempted)
  std::size_t objects = 0;    // objects the target declares
  std::size_t applied = 0;    // objects sent to the apiserver
  std::size_t pruned = 0;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::string prune_blocked;  // why a prune was refused ("" when none was)
  std::vector<std::string> applied_objects, pruned_objects;  // "apps/v1 Deployment ns/name", for the audit log
  std::chrono::milliseconds duration{0};
};

// The label and annotation that mark what a target applied. The annotation names the object
// itself, so one copied onto another object (operators copy labels and annotations onto PVCs
// and Pods) never makes that object prunable.
inline constexpr std::string_view k_target_label = "portcullis.io/target";
inline constexpr std::string_view k_owner_annotation = "portcullis.io/owned-by";
inline constexpr std::string_view k_prune_annotation = "portcullis.io/prune";
std::string owner_value(std::string_view target, std::string_view group, std::string_view kind, std::string_view ns,
                        std::string_view name);

// The object JSON as applied: `body` with the ownership label and annotation added and, for
// namespaced kinds, the namespace set. Fails when `body` is not a JSON object.
util::Result<std::string> owned_body(std::string_view body, std::string_view target, std::string_view group,
                                     std::string_view kind, std::string_view ns, std::string_view name, bool set_namespace);

class TargetSyncer {
 public:
  TargetSyncer(TargetConfig target, std::string inventory_namespace);
  ~TargetSyncer();
  TargetSyncer(const TargetSyncer&) = delete;
  TargetSyncer& operator=(const TargetSyncer&) = delete;

  // Syncs the target to `commit` of `repo`. Never throws; failures are in the result.
  SyncResult sync(const git::Repository& repo, const git::Oid& commit);
  // Lets the next sync prune past the maxPruneShare guard (once).
  void allow_next_prune();
  const TargetConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
