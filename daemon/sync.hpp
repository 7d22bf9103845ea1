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
#include "shared/git/repository.hpp"
#include "shared/kube/discovery.hpp"
#include "shared/kube/kubeconfig.hpp"

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
  // Where the time went: reading and rendering Git, applying, pruning, reading and storing the
  // inventory (the rest is discovery, CRDs becoming Established and bookkeeping).
  std::chrono::milliseconds render_time{0}, apply_time{0}, prune_time{0}, inventory_time{0};
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

// What a target declares, object by object, as it applies it: the drift monitor compares live
// objects with `body()`, and self-heal applies it again. The daemon keeps one per managed
// object for its whole life, so the JSON is kept deflated (a fifth of its size, or less).
class DesiredState {
 public:
  DesiredState(std::string api_version, std::string kind, std::string group, std::string ns, std::string name,
               std::string path, kube::Resource resource, std::string_view body);

  std::string api_version, kind, group, ns, name;
  std::string path;  // the file that declares it, relative to the target's directory
  kube::Resource resource;

  // JSON as applied: ownership marks added, ignored fields removed.
  std::string body() const;
  bool same_body(const DesiredState& other) const { return m_size == other.m_size && m_packed == other.m_packed; }
  // Bytes held for the body (deflated, or as is when deflating failed).
  std::size_t stored_size() const { return m_packed.size(); }
  std::string what() const { return api_version + " " + kind + " " + (ns.empty() ? "" : ns + "/") + name; }

 private:
  std::string m_packed;  // zlib
  std::size_t m_size = 0;
};
// By key: "group/kind/namespace/name". States are shared: a sync that changes a few files
// builds its set from the previous one without copying every object's body.
using DesiredSet = std::unordered_map<std::string, std::shared_ptr<const DesiredState>>;
std::string object_key(std::string_view group, std::string_view kind, std::string_view ns, std::string_view name);

// Whether `rule` selects the object (empty selectors match anything; globs otherwise).
bool ignore_matches(const IgnoreRule& rule, std::string_view group, std::string_view kind, std::string_view ns,
                    std::string_view name);

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
