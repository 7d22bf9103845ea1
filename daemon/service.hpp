#pragma once
// The daemon's core: fetches the repository when notified or when the poll interval passes,
// hands the new commit to one worker thread per cluster, which syncs and heals that cluster's
// targets (a cluster that is down delays only its own); keeps their status, metrics and audit
// log. Thread-safe: the HTTP server calls in from its own threads.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/metrics.hpp"
#include "daemon/monitor.hpp"
#include "daemon/sync.hpp"
#include "shared/notify/event.hpp"

namespace portcullis::daemon {

// One sync as the status page lists it (the last few per target are kept in memory).
struct SyncRecord {
  std::string time;  // RFC 3339, when it ended
  std::string revision;
  SyncState state = SyncState::unknown;
  std::int64_t duration_ms = 0;
  std::size_t applied = 0, pruned = 0;
  std::vector<std::string> applied_objects, pruned_objects;  // at most 20 each
  std::string error;
};

struct TargetStatus {
  std::string name, path;
  // The cluster it syncs to (daemon/clusters.hpp: its API server), and whether that server
  // answered after the cluster's last failed round.
  std::string cluster;
  bool cluster_up = true;
  std::string desired_revision;  // the branch's commit as last fetched
  std::string applied_revision;  // the commit last synced successfully
  SyncState state = SyncState::unknown;
  std::string last_error;
  std::string prune_blocked;
  std::size_t objects = 0;
  std::string last_sync_time;  // RFC 3339
  std::string last_fetch_time;  // RFC 3339: the repository's last successful fetch ("" none yet)
  std::int64_t last_sync_ms = 0;
  // Drift, from the watches: objects that differ from Git now ("what: /pointer, ..."; at most
  // 10 listed), how many were corrected, and a self-heal loop when one is being damped.
  std::size_t drifted = 0;
  std::vector<std::string> drift;
  std::size_t healed = 0;
  std::string self_heal_loop;
  std::string drift_mode;  // "selfHeal", "detectOnly" or "off"; "detectOnly" while break-glass holds it
  std::string break_glass;  // the break-glass window holding it ("" none): open, or its follow-up pending
  // Health: the worst object's status and reason.
  std::string health = "Unknown";
  std::string health_reason;
  std::vector<SyncRecord> recent_syncs;  // newest first, at most k_recent_syncs
  int shard = -1;  // with sharding, the target's shard (daemon/shards.hpp); else -1
  bool shard_held = false;  // this replica holds that shard now (it syncs the target)
};

inline constexpr std::size_t k_recent_syncs = 10;

// Who leads (daemon/leader.hpp); an empty role: no leader election configured.
struct LeaderView {
  std::string role;  // "leader", "standby" or ""
  std::string identity, holder;
};

struct Authorized;

class Service {
 public:
  explicit Service(Config config);
  ~Service();

  // Runs the fetch-and-sync loop until stop(). Returns a process exit code: 0 stopped, 1
  // cannot run, 3 this replica lost the leadership (it exits; its restart is a standby).
  int run();
  void stop();

  // A verified push event: queue a fetch (bursts coalesce into one).
  void on_event(const notify::Event& event);
  // Allows the next sync of `target` to prune past maxPruneShare; false for an unknown target.
  bool allow_prune(const std::string& target);
  bool knows_target(const std::string& target) const;
  // An authorized break-glass request (daemon/breakglass.hpp), its nonce used once: opens,
  // closes or lists windows (daemon/desk.hpp). Returns the HTTP status and JSON body.
  std::pair<int, std::string> break_glass(const Authorized& request);

  std::vector<TargetStatus> status() const;
  // The objects `target` declares with their health (the worst first, at most `limit`), and
  // those that differ from Git now.
  std::vector<ObjectHealth> objects(const std::string& target, std::size_t limit) const;
  std::vector<DriftItem> drifted(const std::string& target) const;
  // A counter that grows whenever what status() shows may have changed; wait_change() returns
  // when it passes `seen`, when `timeout` ends, or when wake_all() is called.
  std::uint64_t changes() const;
  void wait_change(std::uint64_t seen, std::chrono::milliseconds timeout) const;
  void wake_all();
  bool ready() const;  // the first sync round has completed, or this replica is a standby
  LeaderView leader_view() const;
  Metrics& metrics();
  const Config& config() const;
  // GET /v1/images: the image watcher's status (daemon/images.hpp); empty lists when off.
  std::string images_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// /v1/targets as JSON, and the table `portcullis status` prints from it.
std::string status_json(const std::vector<TargetStatus>& targets);

}  // namespace portcullis::daemon
