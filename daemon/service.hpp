#pragma once
// The daemon's core: fetches the repository when notified or when the poll interval passes,
// syncs every target, keeps their status, metrics and audit log. Thread-safe: the HTTP server
// calls in from its own threads.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sync.hpp"
#include "shared/notify/event.hpp"

namespace portcullis::daemon {

struct TargetStatus {
  std::string name, path;
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
  std::string drift_mode;  // "selfHeal", "detectOnly" or "off"
  // Health: the worst object's status and reason.
  std::string health = "Unknown";
  std::string health_reason;
};

class Service {
 public:
  explicit Service(Config config);
  ~Service();

  // Runs the fetch-and-sync loop until stop(). Returns a process exit code.
  int run();
  void stop();

  // A verified push event: queue a fetch (bursts coalesce into one).
  void on_event(const notify::Event& event);
  // Allows the next sync of `target` to prune past maxPruneShare; false for an unknown target.
  bool allow_prune(const std::string& target);
  bool knows_target(const std::string& target) const;

  std::vector<TargetStatus> status() const;
  bool ready() const;  // the first sync round has completed
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
