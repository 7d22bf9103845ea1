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

#include <optional>
#include <unordered_map>

#include "daemon/config.hpp"
#include "daemon/desired.hpp"
#include "shared/git/repository.hpp"
#include "shared/kube/discovery.hpp"
#include "shared/kube/kubeconfig.hpp"

namespace portcullis::daemon {

// source_unavailable: the repository cannot be fetched, so whether the cluster matches Git
// is not known (what was applied last stays, nothing is pruned).
enum class SyncState { unknown, synced, out_of_sync, failed, source_unavailable };
std::string_view state_name(SyncState s);

struct SyncResult {
  SyncState state = SyncState::unknown;
  std::string revision;       // the commit synced (or attempted)
  std::size_t objects = 0;    // objects the target declares
  std::size_t applied = 0;    // objects sent to the apiserver
  std::size_t pruned = 0;
  std::size_t refused = 0;    // objects refused by confinement or ownership (each also an error)
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::string prune_blocked;  // why a prune was refused ("" when none was)
  std::vector<std::string> applied_objects, pruned_objects;  // "apps/v1 Deployment ns/name", for the audit log
  std::vector<std::string> adopted_objects;  // applied objects that existed unowned and were taken over (adopt)
  std::chrono::milliseconds duration{0};
  // Where the time went: reading and rendering Git, applying, pruning, reading and storing the
  // inventory (the rest is discovery, CRDs becoming Established and bookkeeping).
  std::chrono::milliseconds render_time{0}, apply_time{0}, prune_time{0}, inventory_time{0};
};

// Connections to one cluster (kept-alive clients), shared by the targets that sync to it
// (daemon/clusters.hpp). Not for concurrent use: the cluster's worker runs its targets' syncs
// and heals one at a time.
struct ClientPool;
std::shared_ptr<ClientPool> make_client_pool();

class TargetSyncer {
 public:
  TargetSyncer(TargetConfig target, std::string inventory_namespace);
  ~TargetSyncer();
  TargetSyncer(const TargetSyncer&) = delete;
  TargetSyncer& operator=(const TargetSyncer&) = delete;

  // Syncs the target to `commit` of `repo`. Never throws; failures are in the result.
  SyncResult sync(const git::Repository& repo, const git::Oid& commit);
  // Applies the desired state of `keys` again (drift correction), nothing else; records new
  // UIDs (an object deleted out of band comes back as a new one) in the inventory.
  SyncResult heal(const std::vector<std::string>& keys);
  // Called before each write to the cluster (`confirm` false: applies and deletes, cheap) and
  // before each inventory write (`confirm` true): a write it fails is not made, and the sync
  // fails with its error. Leader election's fence (daemon/leader.hpp); none by default.
  void set_fence(std::function<util::Result<void>(bool confirm)> fence);
  // Drops, at the start of the next sync or heal, what syncs of this process kept (the desired
  // set, the inventory, kustomize's inputs): that sync reads and renders everything, as after a
  // restart. For a replica that takes a target back after another synced it (sharding): what it
  // kept is older than the cluster's inventory. Does not wait for a sync in progress.
  void forget();
  // Uses `pool` (shared with the other targets of its cluster) instead of connections of its
  // own, with `request_timeout` for each request (default 30 s). Call before the first sync.
  void share_pool(std::shared_ptr<ClientPool> pool, std::chrono::milliseconds request_timeout);
  // Lets the next sync prune past the maxPruneShare guard (once).
  void allow_next_prune();
  // Bytes of inventory entries per ConfigMap (k_inventory_shard_bytes; tests use small shards).
  void set_inventory_shard_bytes(std::size_t bytes);
  // What the last sync declared (null until a sync has rendered the target), and the
  // cluster it goes to (nullopt until connected).
  std::shared_ptr<const DesiredSet> desired() const;
  std::optional<kube::Connection> connection() const;
  const TargetConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
