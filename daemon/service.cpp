#include "daemon/service.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "daemon/alerts.hpp"
#include "daemon/clusters.hpp"
#include "daemon/desk.hpp"
#include "daemon/followup.hpp"
#include "daemon/leader.hpp"
#include "daemon/log.hpp"
#include "daemon/images.hpp"
#include "daemon/mirror.hpp"
#include "daemon/monitor.hpp"
#include "daemon/shards.hpp"
#include "shared/kube/client.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

using Clock = std::chrono::steady_clock;

std::string status_json(const std::vector<TargetStatus>& targets) {

  util::Json list = util::Json::array();
  for (const auto& t : targets)
    list.push_back({{"name", std::string(t.name)},
                    {"path", std::string(t.path)},
                    {"desiredRevision", t.desired_revision},
                    {"appliedRevision", t.applied_revision},
                    {"state", state_name(t.state)},
                    {"lastError", std::string(t.last_error)},
                    {"pruneBlocked", std::string(t.prune_blocked)},
                    {"objects", t.objects},
                    {"lastSyncTime", t.last_sync_time},
                    {"lastSyncMs", t.last_sync_ms},
                    {"health", std::string(t.health)},
                    {"healthReason", std::string(t.health_reason)},
                    {"driftMode", t.drift_mode},
                    {"drifted", t.drifted},
                    {"drift", t.drift},
                    {"healed", t.healed},
                    {"selfHealLoop", std::string(t.self_heal_loop)},
                    {"breakGlass", std::string(t.break_glass)},
                    {"lastFetchTime", t.last_fetch_time},
                    {"cluster", std::string(t.cluster)},
                    {"clusterUp", t.cluster_up}});
  for (std::size_t k = 0; k < targets.size(); ++k)
    if (targets[k].shard >= 0) {
      list[k]["shard"] = targets[k].shard;
      list[k]["shardHeld"] = targets[k].shard_held;
    }
  return util::dump(util::Json{{"targets", list}}) + "\n";
}

struct Service::Impl {
  Config config;
  Metrics metrics;
  std::vector<std::unique_ptr<TargetSyncer>> syncers;
  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  bool pending = true;  // sync at start
  bool is_ready = false;
  std::vector<TargetStatus> statuses;
  std::vector<Clock::time_point> pending_event_times;  // receipt times, for notify latency
  // The repository as last fetched: when it last succeeded (wall clock, for people), and while
  // fetches fail, since when (steady) and why. Every target shows SourceUnavailable meanwhile.
  std::string last_fetch_time;
  std::string fetch_error;
  Clock::time_point fetch_failing_since{};

  // Leader election: only the leader syncs, heals and alerts; a replica that loses the lease
  // stops (exit code 3) rather than carry on with what it knew as leader.
  std::unique_ptr<LeaderElector> elector;
  std::thread elector_thread;
  bool leading = false;     // under `mutex`
  bool lost_lease = false;  // under `mutex`
  bool election_failed = false;  // under `mutex`
  // Singleton duties (image automation, expiring break-glass windows, source alerts): the
  // leader with leader election, else the holder of shard 0 with sharding, else this replica.
  bool may_act() const { return elector ? elector->may_write() : !sharder || sharder->may_write(0); }
  // Whether target `i` may be synced or healed now (asked under its target mutex): its shard is
  // held (sharding), else this replica leads or no election runs.
  bool may_sync(std::size_t i) const;
  void campaign();
  // Sharding (daemon/shards.hpp): the targets of the shards this replica holds are its own.
  std::unique_ptr<ShardManager> sharder;
  std::thread sharder_thread;
  std::vector<std::size_t> shard_of_target;  // by target index
  void share();
  int loop(Mirror& mirror);

  // One worker per cluster (daemon/clusters.hpp): it syncs and heals the cluster's targets one
  // after another on its own thread, over the cluster's own connections, with its own retry
  // backoff; the fetch loop hands it each new head without waiting for it. A cluster that is
  // down or hangs holds up only its own worker.
  struct EventBatch {  // push events a fetch answered; observed when every worker has synced
    std::vector<Clock::time_point> times;
    std::atomic<std::size_t> left{0};
  };
  struct ClusterWorker {
    ClusterGroup group;
    std::shared_ptr<ClientPool> pool;
    std::thread thread;
    // Under `mutex`:
    std::optional<git::Oid> head;  // the commit to sync to: the last fetched
    bool sync_due = false;         // sync every target of the cluster (at retry_at)
    bool heal_due = false;         // the watches saw drift, or a break-glass hold changed
    bool first_round_done = false;
    bool up = true;  // the API server answered after the last failed round
    Clock::time_point retry_at{};
    std::chrono::milliseconds retry_delay{500};
    std::vector<std::shared_ptr<EventBatch>> batches;
  };
  std::vector<std::unique_ptr<ClusterWorker>> workers;
  std::vector<std::size_t> worker_of;  // by target index
  std::condition_variable work_cv;     // wakes workers (with `mutex`)
  std::filesystem::path repository_path;  // the mirror: each worker reads it with its own handle
  void start_workers(const std::filesystem::path& mirror_path);
  void join_workers();
  void work(ClusterWorker& w);
  void sync_round(ClusterWorker& w, const git::Oid& head, std::vector<std::shared_ptr<EventBatch>> batches);
  std::string probe_cluster(const ClusterWorker& w);
  void mark_cluster(ClusterWorker& w, const std::string& down);
  void hand_over(const git::Oid& head, std::vector<Clock::time_point> events);
  void wake_workers_to_heal() {
    {
      std::lock_guard lock(mutex);
      for (auto& w : workers) w->heal_due = true;
    }
    work_cv.notify_all();
  }

  // Drift: the monitor's watches wake the heal thread.
  std::unique_ptr<Alerter> alerter;
  std::unique_ptr<BreakGlassDesk> desk;  // break-glass windows (they hold targets in detect-only)
  std::string desk_error;                // the windows could not be loaded: run() refuses to start
  std::unique_ptr<std::atomic<bool>[]> settled;  // by target index: a sync completed since the start
  std::unique_ptr<ImageWatcher> images;  // image automation (images.enabled), its own thread
  std::unique_ptr<DriftMonitor> monitor;
  std::thread heal_thread;
  // Follow-up commits (clone, edit, push) run on a thread of their own, not on the heal thread.
  struct FollowUpJob {
    std::size_t target;
    Window window;
    std::vector<DriftItem> items;
  };
  std::thread follow_up_thread;
  std::deque<FollowUpJob> follow_up_jobs;  // guarded by mutex; the thread waits on heal_cv
  std::condition_variable heal_cv;
  bool heal_pending = false;
  struct HealState {
    std::unordered_map<std::string, Clock::time_point> last_heal;              // key -> when applied again
    std::unordered_map<std::string, std::deque<Clock::time_point>> history;   // recent corrections per key
    std::unordered_map<std::string, Clock::time_point> hold_until;            // damped keys
    std::unordered_map<std::string, int> held_times;                          // consecutive dampings
  };
  std::vector<HealState> heal_states;  // by target index, used by the heal thread only
  // By target index: held by a sync until the monitor knows what it declared, and by a
  // correction from reading the drift to applying it. Without it a correction could apply,
  // once more, what a sync is applying: the sync's own changes reach the watch before the
  // monitor learns the new desired state, and look like drift until then.
  std::vector<std::unique_ptr<std::mutex>> target_mutexes;
  // A key corrected this often within the window is fought over: damped with backoff.
  static constexpr std::size_t k_loop_corrections = 5;
  static constexpr auto k_loop_window = std::chrono::minutes(10);

  // What the status page waits on (its own lock: the page never waits for a sync).
  mutable std::mutex change_mutex;
  mutable std::condition_variable change_cv;
  std::uint64_t change_count = 0;
  void changed() {
    {
      std::lock_guard lock(change_mutex);
      ++change_count;
    }
    change_cv.notify_all();
  }

  static SyncRecord record_of(const SyncResult& r, const std::string& time) {
    SyncRecord rec{time, r.revision, r.state, r.duration.count(), r.applied, r.pruned, {}, {}, {}};
    for (std::size_t k = 0; k < r.applied_objects.size() && k < 20; ++k) rec.applied_objects.push_back(r.applied_objects[k]);
    for (std::size_t k = 0; k < r.pruned_objects.size() && k < 20; ++k) rec.pruned_objects.push_back(r.pruned_objects[k]);
    if (!r.errors.empty()) rec.error = r.errors.front();
    return rec;
  }

  void audit(const util::Json& entry) {
    if (auto r = util::append_line(config.audit_path(), util::dump(entry) + "\n"); !r)
      log(LogLevel::error, "cannot write the audit log", {{"error", r.error().message}});
  }

  void record(std::size_t i, const SyncResult& r, const std::string& head) {
    const auto& name = syncers[i]->config().name;
    std::string labels = "target=\"" + label_value(name) + "\"";
    std::string result(state_name(r.state));
    metrics.add("portcullis_syncs_total", labels + ",result=\"" + result + "\"");
    metrics.observe("portcullis_sync_duration_seconds", labels, r.duration.count() / 1000.0);
    metrics.add("portcullis_objects_applied_total", labels, static_cast<double>(r.applied));
    metrics.add("portcullis_objects_pruned_total", labels, static_cast<double>(r.pruned));
    metrics.add("portcullis_objects_adopted_total", labels, static_cast<double>(r.adopted_objects.size()));
    metrics.add("portcullis_objects_refused_total", labels, static_cast<double>(r.refused));
    metrics.set("portcullis_managed_objects", labels, static_cast<double>(r.objects));
    if (!r.prune_blocked.empty()) metrics.add("portcullis_prune_blocked_total", labels);
    {
      std::lock_guard lock(mutex);
      auto& s = statuses[i];
      s.desired_revision = head;
      s.state = r.state;
      s.last_error = r.errors.empty() ? "" : r.errors.front() + (r.errors.size() > 1 ? " (and " + std::to_string(r.errors.size() - 1) + " more)" : "");
      s.prune_blocked = r.prune_blocked;
      s.objects = r.objects;
      s.last_sync_time = util::rfc3339_utc(std::time(nullptr));
      s.last_sync_ms = r.duration.count();
      s.recent_syncs.insert(s.recent_syncs.begin(), record_of(r, s.last_sync_time));
      if (s.recent_syncs.size() > k_recent_syncs) s.recent_syncs.pop_back();
      if (r.state != SyncState::failed) {
        s.applied_revision = r.revision;
        metrics.set("portcullis_last_applied_revision_info", labels + ",revision=\"" + r.revision + "\"", 1);
      }
    }
    std::string what = "sync of " + name + " at " + r.revision.substr(0, 12) + ": " + result;
    if (r.state == SyncState::failed)
      log(LogLevel::error, what, {{"target", name}, {"revision", r.revision}, {"error", r.errors.front()}});
    else
      log(LogLevel::info, what, {{"target", name}, {"revision", r.revision}, {"applied", std::to_string(r.applied)},
                                 {"pruned", std::to_string(r.pruned)}, {"ms", std::to_string(r.duration.count())},
                                 {"renderMs", std::to_string(r.render_time.count())},
                                 {"applyMs", std::to_string(r.apply_time.count())},
                                 {"pruneMs", std::to_string(r.prune_time.count())},
                                 {"inventoryMs", std::to_string(r.inventory_time.count())}});
    if (!r.prune_blocked.empty())
      log(LogLevel::warn, "prune blocked", {{"target", name}, {"reason", r.prune_blocked}});
    for (const auto& w : r.warnings) log(LogLevel::warn, w, {{"target", name}});
    for (const auto& a : r.adopted_objects) log(LogLevel::warn, "adopted " + a, {{"target", name}});
    if (!r.applied_objects.empty() || !r.pruned_objects.empty() || !r.errors.empty() || !r.prune_blocked.empty()) {
      audit(util::Json{{"time", util::rfc3339_utc(std::time(nullptr))},
                       {"event", "sync"},
                       {"target", std::string(name)},
                       {"revision", r.revision},
                       {"result", result},
                       {"applied", r.applied_objects},
                       {"adopted", r.adopted_objects},
                       {"pruned", r.pruned_objects},
                       {"errors", r.errors},
                       {"pruneBlocked", std::string(r.prune_blocked)}});
    }
    changed();
    // A replica that lost the lease mid-sync (its writes refused) alerts nothing: the leader does.
    if (sharder ? !sharder->may_write(shard_of_target[i]) : !may_act()) return;
    if (r.state == SyncState::failed) {
      alerter->raise(Alert{AlertKind::sync_failed, name, r.revision, "sync of " + name + " failed: " + r.errors.front(),
                           {}, "portcullisd", r.errors.front()});
    } else {
      alerter->resolve(AlertKind::sync_failed, name);
    }
    if (!r.prune_blocked.empty())
      alerter->raise(Alert{AlertKind::prune_blocked, name, r.revision, "prune blocked on " + name + ": " + r.prune_blocked,
                           {}, "portcullisd", r.prune_blocked});
    else if (r.state != SyncState::failed)
      alerter->resolve(AlertKind::prune_blocked, name);
    // The monitor watches what this sync declared.
    if (auto desired = syncers[i]->desired())
      if (auto conn = syncers[i]->connection(); conn && syncers[i]->config().watch)
        monitor->set_target(name, *conn, std::move(desired));
  }

  // A fetch ended: the source state, its metrics, and the sourceUnavailable alert of every
  // target once fetches have failed for sourceUnavailableAfter.
  void fetched(const util::Result<git::Oid>& head) {
    {
      std::lock_guard lock(mutex);
      if (head) {
        fetch_error.clear();
        last_fetch_time = util::rfc3339_utc(std::time(nullptr));
      } else {
        if (fetch_error.empty()) fetch_failing_since = Clock::now();
        fetch_error = head.error().message;
      }
    }
    changed();
    metrics.set("portcullis_source_up", "", head ? 1 : 0);
    if (head) {
      metrics.set("portcullis_last_fetch_timestamp_seconds", "",
                  static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count()));
      for (const auto& s : syncers) alerter->resolve(AlertKind::source_unavailable, s->config().name);
    }
    if (!head) check_source(Clock::now());
  }

  // Raises sourceUnavailable for every target when fetches have failed long enough.
  void check_source(Clock::time_point now) {
    std::string error, last;
    Clock::time_point since;
    {
      std::lock_guard lock(mutex);
      if (fetch_error.empty()) return;
      error = fetch_error;
      last = last_fetch_time;
      since = fetch_failing_since;
    }
    auto failing = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
    if (failing < config.alerts.source_unavailable_after) return;
    for (const auto& s : syncers) {
      const std::string& name = s->config().name;
      alerter->raise(Alert{AlertKind::source_unavailable, name, {},
                           "the repository of " + name + " cannot be fetched for " + util::duration_text(failing.count()) +
                               (last.empty() ? " (never fetched)" : " (last fetched " + last + ")") + ": " + error,
                           {}, "portcullisd", error});
    }
  }

  void wake_healer() {
    changed();
    {
      std::lock_guard lock(mutex);
      heal_pending = true;
    }
    heal_cv.notify_all();
  }

  void heal_loop();
  void follow_up_loop() {
    while (true) {
      FollowUpJob job;
      {
        std::unique_lock lock(mutex);
        heal_cv.wait(lock, [&] { return stopping || !follow_up_jobs.empty(); });
        if (stopping) return;
        job = std::move(follow_up_jobs.front());
        follow_up_jobs.pop_front();
      }
      write_follow_up_of(job.target, job.window, job.items);
    }
  }
  void write_follow_up_of(std::size_t i, const Window& w, const std::vector<DriftItem>& items);
  void heal_target(std::size_t i, Clock::time_point now, Clock::time_point& next_check);
};

void Service::Impl::heal_target(std::size_t i, Clock::time_point now, Clock::time_point& next_check) {
  const TargetConfig& tc = syncers[i]->config();
  const std::string& name = tc.name;
  HealState& hs = heal_states[i];
  std::lock_guard busy(*target_mutexes[i]);
  // Not this replica's now; with sharding, not before a sync since it took the shard (what the
  // monitor knows of the target may be older than the last owner's sync).
  if (!may_sync(i) || (sharder && !settled[i])) return;
  std::vector<DriftItem> items = monitor->drifted(name);
  const bool held = desk->held(name);
  const bool correcting = tc.self_heal && !tc.detect_only && !held;
  if (held) {
    bool settled_now = settled[i] && monitor->health(name).counts[static_cast<int>(HealthStatus::unknown)] == 0;
    desk->observe(tc, items, settled_now, static_cast<std::int64_t>(std::time(nullptr)));
    if (settled_now)
      if (auto due = desk->follow_up_due(name)) {
        {
          std::lock_guard lock(mutex);
          follow_up_jobs.push_back(FollowUpJob{i, std::move(*due), items});
        }
        heal_cv.notify_all();
      }
  }

  // Forget old corrections; release dampings that ran out.
  for (auto it = hs.history.begin(); it != hs.history.end();) {
    while (!it->second.empty() && now - it->second.front() > k_loop_window) it->second.pop_front();
    it = it->second.empty() ? hs.history.erase(it) : std::next(it);
  }
  std::vector<std::string> keys;
  std::vector<const DriftItem*> healing;
  for (const auto& item : items) {
    if (!correcting) break;
    if (auto h = hs.hold_until.find(item.key); h != hs.hold_until.end() && h->second > now) {
      next_check = std::min(next_check, h->second);
      continue;
    }
    auto last = hs.last_heal.find(item.key);
    if (last != hs.last_heal.end() && item.observed <= last->second) continue;  // applied; the watch has not caught up
    keys.push_back(item.key);
    healing.push_back(&item);
  }

  if (!keys.empty()) {
    SyncResult r = syncers[i]->heal(keys);
    auto done = Clock::now();
    std::string labels = "target=\"" + label_value(name) + "\"";
    metrics.add("portcullis_drift_corrected_total", labels, static_cast<double>(r.applied));
    std::vector<std::string> what;
    for (const DriftItem* item : healing) {
      hs.last_heal[item->key] = done;
      auto& h = hs.history[item->key];
      h.push_back(done);
      metrics.observe("portcullis_drift_correction_seconds", labels, std::chrono::duration<double>(done - item->observed).count());
      what.push_back(item->what + (item->deleted ? " (deleted)" : ": " + item->pointer_list()) +
                     (item->manager.empty() ? "" : " by " + item->manager));
      if (h.size() >= k_loop_corrections) {
        int n = ++hs.held_times[item->key];
        auto hold = std::min<std::chrono::milliseconds>(std::chrono::seconds(10) * (1 << std::min(n - 1, 6)),
                                                        std::chrono::minutes(10));
        hs.hold_until[item->key] = done + hold;
        next_check = std::min(next_check, done + hold);
        std::string loop = item->what + " was corrected " + std::to_string(h.size()) + " times in 10m" +
                           (item->manager.empty() ? "" : "; " + item->manager + " changes it back") +
                           "; next correction in " + std::to_string(hold.count() / 1000) + "s";
        log(LogLevel::warn, "self-heal loop: damped", {{"target", name}, {"object", item->what}, {"detail", loop}});
        metrics.add("portcullis_self_heal_loops_total", labels);
        alerter->raise(Alert{AlertKind::self_heal_loop, name, r.revision, "self-heal loop on " + name + ": " + loop,
                             {item->what}, "portcullisd", item->manager});
        std::lock_guard lock(mutex);
        statuses[i].self_heal_loop = loop;
      }
    }
    std::string result = r.errors.empty() ? "corrected" : "failed";
    log(r.errors.empty() ? LogLevel::info : LogLevel::error, "drift " + result,
        {{"target", name}, {"revision", r.revision}, {"objects", std::to_string(keys.size())},
         {"error", r.errors.empty() ? "" : r.errors.front()}});
    audit(util::Json{{"time", util::rfc3339_utc(std::time(nullptr))},
                     {"event", "self-heal"},
                     {"target", std::string(name)},
                     {"revision", r.revision},
                     {"actor", "portcullisd"},
                     {"result", result},
                     {"drift", what},
                     {"applied", r.applied_objects},
                     {"errors", r.errors}});
    if (r.applied > 0) {
      Alert a{AlertKind::drift_corrected, name, r.revision,
              "drift corrected on " + name + ": " + what.front() +
                  (what.size() > 1 ? " (and " + std::to_string(what.size() - 1) + " more)" : ""),
              {}, "portcullisd", {}};
      for (std::size_t k = 0; k < what.size() && k < 20; ++k) a.objects.push_back(what[k]);
      alerter->raise(std::move(a));
    }
    changed();
    std::lock_guard lock(mutex);
    statuses[i].healed += r.applied;
  }

  // Loops end when no key is damped any more.
  bool damped = false;
  for (const auto& [key, until] : hs.hold_until) damped = damped || until > now;
  if (!damped && !hs.hold_until.empty()) {
    hs.hold_until.clear();
    hs.held_times.clear();
    alerter->resolve(AlertKind::self_heal_loop, name);
    std::lock_guard lock(mutex);
    statuses[i].self_heal_loop.clear();
  }

  // Drift not corrected (detectOnly, damped, failing) for longer than outOfSyncAfter alerts.
  auto stale = config.alerts.out_of_sync_after;
  std::vector<std::string> lasting;
  for (const auto& item : items)
    if (now - item.since >= stale) lasting.push_back(item.what);
    else next_check = std::min(next_check, item.since + stale);
  bool blocked;
  {
    std::lock_guard lock(mutex);
    blocked = statuses[i].state == SyncState::out_of_sync;
  }
  if (!lasting.empty())
    alerter->raise(Alert{AlertKind::out_of_sync, name, {},
                         name + " has differed from Git for more than " +
                             util::duration_text(std::chrono::duration_cast<std::chrono::milliseconds>(stale).count()) + ": " +
                             lasting.front() + (lasting.size() > 1 ? " (and " + std::to_string(lasting.size() - 1) + " more)" : ""),
                         lasting, "portcullisd", tc.detect_only ? "detectOnly" : ""});
  else if (items.empty() && !blocked)
    alerter->resolve(AlertKind::out_of_sync, name);

  (void)monitor->health(name);  // refreshes the health gauges
}

// The follow-up commit of window `w` of target `i`: what drifted, read live, written into Git on
// branch break-glass/<id> (daemon/followup.hpp).
void Service::Impl::write_follow_up_of(std::size_t i, const Window& w, const std::vector<DriftItem>& items) {
  const std::string branch = "break-glass/" + w.id;
  auto desired = syncers[i]->desired();
  auto conn = syncers[i]->connection();
  std::string revision;
  {
    std::lock_guard lock(mutex);
    revision = statuses[i].applied_revision;
  }
  auto client = conn ? kube::Client::connect(*conn) : util::Result<kube::Client>(util::fail("not connected yet"));
  if (!desired || revision.empty() || !client)
    return desk->follow_up_written(w.id, branch, "", {}, client ? "the target has not been synced yet" : client.error().message);
  std::vector<FollowUpObject> objects;
  std::vector<std::string> notes;
  std::string changed;
  for (const auto& item : items) {
    auto it = desired->find(item.key);
    if (it == desired->end()) continue;
    const DesiredState& d = *it->second;
    FollowUpObject o{item.what, d.path, d.api_version, d.kind, d.name, item.pointers, {}};
    auto live = client->get(d.resource.object_path(d.ns, d.name));
    if (live && live->status == 200) o.live = live->body;
    else if (!live || live->status != 404) {
      notes.push_back(item.what + ": cannot read it live (" + (live ? "HTTP " + std::to_string(live->status) : live.error().message) + ")");
      continue;
    }
    objects.push_back(std::move(o));
    changed += "- " + item.what + ": " + (item.deleted ? "deleted" : item.pointer_list()) +
               (item.manager.empty() ? "" : " (by " + item.manager + ")") + "\n";
  }
  std::string message = "break-glass " + w.id + " on " + w.target + ": " + w.reason +
                        "\n\nWritten by portcullisd when the break-glass window opened by " + w.actor +
                        " closed: makes Git match the live objects.\n\n" + changed;
  auto r = write_follow_up(config.repository, syncers[i]->config(), revision, branch, message, objects,
                           config.state_dir / "follow-up");
  if (!r) return desk->follow_up_written(w.id, branch, "", notes, r.error().message);
  notes.insert(notes.end(), r->notes.begin(), r->notes.end());
  desk->follow_up_written(w.id, r->branch, r->commit, notes, "");
}

void Service::Impl::heal_loop() {
  auto next_check = Clock::now();
  while (true) {
    {
      std::unique_lock lock(mutex);
      heal_cv.wait_until(lock, next_check, [&] { return stopping || heal_pending; });
      if (stopping) return;
      heal_pending = false;
    }
    auto now = Clock::now();
    // Health and lasting drift are re-read every few seconds even without news.
    next_check = now + std::chrono::seconds(5);
    // A standby observes nothing, expires nothing and corrects nothing (the workers ask may_sync).
    if (may_act())
      if (auto left = desk->expire(static_cast<std::int64_t>(std::time(nullptr))))
        next_check = std::min(next_check, now + std::chrono::seconds(std::max<std::int64_t>(*left, 0) + 1));
    // Each cluster's worker heals its own targets: a cluster that hangs delays no other's.
    wake_workers_to_heal();
    if (may_act()) check_source(now);
  }
}

Service::Service(Config config) : m_impl(std::make_unique<Impl>()) {
  m_impl->config = std::move(config);
  for (const auto& t : m_impl->config.targets) {
    m_impl->syncers.push_back(std::make_unique<TargetSyncer>(t, m_impl->config.inventory_namespace));
    TargetStatus s;
    s.name = t.name;
    s.path = t.path;
    m_impl->statuses.push_back(s);
  }
  if (m_impl->config.leader_election.enabled) {
    m_impl->elector = std::make_unique<LeaderElector>(m_impl->config.leader_election, m_impl->config.inventory_namespace,
                                                      m_impl->metrics);
    // Writes to a cluster are fenced: none once the lease is not renewed in time, and an
    // inventory write only after the Lease shows this replica still holding it.
    for (auto& syncer : m_impl->syncers)
      syncer->set_fence([e = m_impl->elector.get()](bool confirm) -> util::Result<void> {
        if (confirm) return e->confirm();
        if (!e->may_write()) return util::fail("not the leader any more (lease not renewed within renewDeadline)");
        return {};
      });
  }
  if (m_impl->config.sharding.enabled) {
    m_impl->sharder = std::make_unique<ShardManager>(m_impl->config.sharding, m_impl->config.inventory_namespace, m_impl->metrics);
    // The same fence, per shard: the target's shard instead of the leader's lease.
    for (std::size_t i = 0; i < m_impl->syncers.size(); ++i) {
      std::size_t shard = shard_of(m_impl->syncers[i]->config().name, m_impl->sharder->shards());
      m_impl->shard_of_target.push_back(shard);
      m_impl->statuses[i].shard = static_cast<int>(shard);
      m_impl->syncers[i]->set_fence([sh = m_impl->sharder.get(), shard](bool confirm) -> util::Result<void> {
        if (confirm) return sh->confirm(shard);
        if (!sh->may_write(shard))
          return util::fail("shard " + std::to_string(shard) + " is not held any more (lease not renewed within renewDeadline)");
        return {};
      });
    }
  }
  m_impl->worker_of.resize(m_impl->syncers.size());
  for (auto& group : group_by_cluster(m_impl->config.targets, resolve_connection)) {
    auto w = std::make_unique<Impl::ClusterWorker>();
    w->pool = make_client_pool();
    for (std::size_t i : group.targets) {
      m_impl->syncers[i]->share_pool(w->pool, m_impl->config.cluster_request_timeout);
      m_impl->worker_of[i] = m_impl->workers.size();
      m_impl->statuses[i].cluster = group.name;
    }
    w->group = std::move(group);
    m_impl->workers.push_back(std::move(w));
  }
  m_impl->heal_states.resize(m_impl->syncers.size());
  for (std::size_t i = 0; i < m_impl->syncers.size(); ++i) m_impl->target_mutexes.push_back(std::make_unique<std::mutex>());
  for (std::size_t i = 0; i < m_impl->syncers.size(); ++i) {
    const auto& t = m_impl->syncers[i]->config();
    m_impl->statuses[i].drift_mode = !t.watch ? "off" : t.detect_only || !t.self_heal ? "detectOnly" : "selfHeal";
  }
  auto& m = m_impl->metrics;
  m_impl->alerter = std::make_unique<Alerter>(m_impl->config.alerts, m);
  std::vector<std::string> names;
  for (const auto& t : m_impl->config.targets) names.push_back(t.name);
  m_impl->monitor = std::make_unique<DriftMonitor>(m, [impl = m_impl.get()](const std::string&) { impl->wake_healer(); },
                                                   std::move(names));
  m_impl->settled = std::make_unique<std::atomic<bool>[]>(m_impl->syncers.size());
  m_impl->desk = std::make_unique<BreakGlassDesk>(
      m_impl->config, *m_impl->alerter,
      [impl = m_impl.get()](const std::string& line) {
        if (auto r = util::append_line(impl->config.audit_path(), line); !r)
          log(LogLevel::error, "cannot write the audit log", {{"error", r.error().message}});
      },
      [impl = m_impl.get()] {
        // A hold began or ended: the healer decides again, and a sync held by the window runs.
        impl->wake_healer();
        {
          std::lock_guard lock(impl->mutex);
          impl->pending = true;
        }
        impl->cv.notify_all();
      });
  if (auto r = m_impl->desk->load(); !r) m_impl->desk_error = r.error().message;
  m_impl->heal_thread = std::thread([impl = m_impl.get()] { impl->heal_loop(); });
  m_impl->follow_up_thread = std::thread([impl = m_impl.get()] { impl->follow_up_loop(); });
  if (m_impl->config.images.enabled)
    m_impl->images = std::make_unique<ImageWatcher>(m_impl->config, m, *m_impl->alerter);
  m.describe("portcullis_drift_corrected_total", "counter", "Drifted objects applied again (self-heal).");
  m.describe("portcullis_drift_correction_seconds", "histogram", "From the watch reporting drift to its correction applied.");
  m.describe("portcullis_self_heal_loops_total", "counter", "Corrections damped because something keeps changing the object back.");
  m.describe("portcullis_objects_by_health", "gauge", "Objects of a target by health.");
  m.describe("portcullis_syncs_total", "counter", "Syncs by target and result.");
  m.describe("portcullis_sync_duration_seconds", "histogram", "Duration of syncs.");
  m.describe("portcullis_objects_applied_total", "counter", "Objects server-side-applied.");
  m.describe("portcullis_objects_pruned_total", "counter", "Objects deleted because Git no longer declares them.");
  m.describe("portcullis_managed_objects", "gauge", "Objects a target declares.");
  m.describe("portcullis_prune_blocked_total", "counter", "Prunes refused by a guard.");
  m.describe("portcullis_objects_adopted_total", "counter", "Existing objects no target owned, taken over (adopt: true).");
  m.describe("portcullis_objects_refused_total", "counter",
             "Objects not applied: outside the target's confinement, owned by another target, or existing and not adoptable.");
  m.describe("portcullis_last_applied_revision_info", "gauge", "The commit last applied, as a label.");
  m.describe("portcullis_notify_latency_seconds", "histogram", "From receiving a push event to the end of the sync it caused.");
  m.describe("portcullis_events_total", "counter", "Push events received, by result.");
  m.describe("portcullis_break_glass_requests_total", "counter",
             "Signed break-glass requests, by action and result (ok, failed, or the refusal: bad-signature, unknown-key, stale, replay, ...).");
  m.describe("portcullis_allow_prune_total", "counter", "Signed allow-prune requests, by result (replay: refused, already used).");
  m.describe("portcullis_api_connections_dropped_total", "counter",
             "API connections dropped: over a cap (too-many, too-many-per-client), past the request deadline (timeout), failed TLS.");
  m.describe("portcullis_api_unauthorized_total", "counter", "Reads of /v1/targets, /v1/status, /v1/events or /metrics without the read token (or a wrong token at sign-in).");
  m.describe("portcullis_fetch_errors_total", "counter", "Failed fetches of the repository.");
  m.describe("portcullis_source_up", "gauge", "1 when the last fetch of the repository succeeded, 0 while fetches fail (targets are SourceUnavailable).");
  m.describe("portcullis_last_fetch_timestamp_seconds", "gauge", "Unix time of the last successful fetch of the repository.");
  m.describe("portcullis_cluster_up", "gauge",
             "1 while a cluster's API server answers, 0 after a round of syncs failed and it did not answer (by cluster).");
  m.describe("portcullis_cluster_targets", "gauge", "Targets that sync to a cluster (one worker thread per cluster).");
  for (const auto& w : m_impl->workers) {
    std::string labels = "cluster=\"" + label_value(w->group.name) + "\"";
    m.set("portcullis_cluster_up", labels, 1);
    m.set("portcullis_cluster_targets", labels, static_cast<double>(w->group.targets.size()));
  }
}

Service::~Service() {
  stop();
  if (m_impl->elector_thread.joinable()) m_impl->elector_thread.join();
  if (m_impl->sharder_thread.joinable()) m_impl->sharder_thread.join();
  if (m_impl->heal_thread.joinable()) m_impl->heal_thread.join();
  if (m_impl->follow_up_thread.joinable()) m_impl->follow_up_thread.join();
  m_impl->join_workers();
  m_impl->images.reset();
  m_impl->monitor.reset();  // stops the watches before what their callbacks use goes
  m_impl->alerter.reset();
}

int Service::run() {
  Impl& m = *m_impl;
  if (!m.desk_error.empty()) {
    log(LogLevel::error, "cannot load the break-glass windows; not starting", {{"error", m.desk_error}});
    return 1;
  }
  auto mirror = Mirror::open(m.config.repository, m.config.state_dir);
  if (!mirror) {
    log(LogLevel::error, "cannot open the repository mirror", {{"error", mirror.error().message}});
    return 1;
  }
  // Image automation runs where syncs run: at once without leader election, else once leading.
  // With sharding (and no leader election), on the holder of shard 0.
  if (m.images && !m.elector) m.images->start(m.sharder ? std::function<bool()>([&m] { return m.may_act(); }) : nullptr);
  if (m.elector) m.elector_thread = std::thread([&m] { m.campaign(); });
  if (m.sharder) m.sharder_thread = std::thread([&m] { m.share(); });
  m.start_workers(mirror->repository().git_dir());
  int rc = m.loop(*mirror);
  m.join_workers();
  if (m.elector) {
    m.elector->stop();
    if (m.elector_thread.joinable()) m.elector_thread.join();
  }
  if (m.sharder) {
    m.sharder->stop();
    if (m.sharder_thread.joinable()) m.sharder_thread.join();
  }
  return rc;
}

void Service::Impl::campaign() {
  auto on_started = [this] {
    {
      std::lock_guard lock(mutex);
      leading = true;
      pending = true;  // a new leader syncs every target at once
    }
    if (images) images->start();  // once: a replica that loses the lease exits
    cv.notify_all();
    heal_cv.notify_all();
    changed();
  };
  auto on_stopped = [this] {
    {
      std::lock_guard lock(mutex);
      leading = false;
      if (!stopping) lost_lease = stopping = true;
    }
    elector->stop();  // campaign no more: this process exits
    cv.notify_all();
    heal_cv.notify_all();
    changed();
  };
  if (auto r = elector->run(on_started, on_stopped); !r) {
    log(LogLevel::error, "cannot take part in the leader election", {{"error", r.error().message}});
    {
      std::lock_guard lock(mutex);
      election_failed = stopping = true;
    }
    cv.notify_all();
    heal_cv.notify_all();
  }
}

bool Service::Impl::may_sync(std::size_t i) const {
  if (sharder) return sharder->may_sync(shard_of_target[i]);
  return !elector || elector->may_write();
}

void Service::Impl::share() {
  ShardManager::Hooks hooks;
  hooks.acquired = [this](std::size_t shard) {
    for (std::size_t i = 0; i < syncers.size(); ++i)
      if (shard_of_target[i] == shard) {
        settled[i] = false;      // no heal before a sync
        syncers[i]->forget();    // which renders in full: another replica may have synced it since
      }
  };
  // Syncs and heals hold the target's mutex and ask may_sync under it.
  hooks.idle = [this](std::size_t shard) {
    for (std::size_t i = 0; i < syncers.size(); ++i) {
      if (shard_of_target[i] != shard) continue;
      if (!target_mutexes[i]->try_lock()) return false;
      target_mutexes[i]->unlock();
    }
    return true;
  };
  hooks.changed = [this] {
    {
      std::lock_guard lock(mutex);
      pending = true;  // the targets of a shard acquired are synced at once
    }
    cv.notify_all();
    heal_cv.notify_all();
    changed();
  };
  if (auto r = sharder->run(hooks); !r) {
    log(LogLevel::error, "cannot share the targets (sharding)", {{"error", r.error().message}});
    {
      std::lock_guard lock(mutex);
      election_failed = stopping = true;
    }
    cv.notify_all();
    heal_cv.notify_all();
  }
}

int Service::Impl::loop(Mirror& mirror_ref) {
  Impl& m = *this;
  Mirror* mirror = &mirror_ref;
  auto retry_delay = std::chrono::milliseconds(500);
  auto next_poll = Clock::now();
  while (true) {
    {
      std::unique_lock lock(m.mutex);
      m.cv.wait_until(lock, next_poll, [&] { return m.stopping || (m.pending && (!m.elector || m.leading || m.sharder)); });
      if (m.stopping) return m.election_failed ? 1 : m.lost_lease ? 3 : 0;
      if (m.elector && !m.leading && !m.sharder) {  // a standby waits for the lease
        next_poll = Clock::now() + m.config.poll_interval;
        continue;
      }
      m.pending = false;
    }
    auto head = mirror->fetch();
    m.fetched(head);
    bool failed = false;
    if (!head) {
      m.metrics.add("portcullis_fetch_errors_total", "");
      log(LogLevel::error, "fetch failed; keeping the last applied state, pruning nothing", {{"error", head.error().message}});
      failed = true;
    } else {
      std::vector<Clock::time_point> events;
      {
        std::lock_guard lock(m.mutex);
        events.swap(m.pending_event_times);
      }
      m.hand_over(*head, std::move(events));
    }
    // A failed fetch is retried with backoff (0.5 s doubling up to the poll interval); failed
    // syncs are retried by their cluster's worker.
    if (failed) {
      next_poll = Clock::now() + retry_delay;
      retry_delay = std::min(retry_delay * 2, m.config.poll_interval);
    } else {
      retry_delay = std::chrono::milliseconds(500);
      next_poll = Clock::now() + m.config.poll_interval;
    }
  }
}

void Service::Impl::start_workers(const std::filesystem::path& mirror_path) {
  repository_path = mirror_path;
  for (auto& w : workers) {
    log(LogLevel::info, "cluster worker started",
        {{"cluster", w->group.name}, {"targets", std::to_string(w->group.targets.size())}});
    w->thread = std::thread([this, worker = w.get()] { work(*worker); });
  }
}

void Service::Impl::join_workers() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  work_cv.notify_all();
  for (auto& w : workers)
    if (w->thread.joinable()) w->thread.join();
}

// The fetch loop's side: every worker syncs to `head` as soon as it is free (a retry waiting
// in backoff starts at once); the loop does not wait for any of them.
void Service::Impl::hand_over(const git::Oid& head, std::vector<Clock::time_point> events) {
  auto batch = std::make_shared<EventBatch>();
  batch->times = std::move(events);
  batch->left = workers.size();
  {
    std::lock_guard lock(mutex);
    for (auto& w : workers) {
      w->head = head;
      w->sync_due = true;
      w->retry_at = Clock::now();
      w->retry_delay = std::chrono::milliseconds(500);
      if (!batch->times.empty()) w->batches.push_back(batch);
    }
    if (workers.empty()) is_ready = true;
  }
  work_cv.notify_all();
}

void Service::Impl::work(ClusterWorker& w) {
  auto next_heal = Clock::now() + std::chrono::seconds(5);
  while (true) {
    bool do_sync = false, do_heal = false;
    git::Oid head;
    std::vector<std::shared_ptr<EventBatch>> batches;
    {
      std::unique_lock lock(mutex);
      auto due = [&] { return w.sync_due && w.head && Clock::now() >= w.retry_at; };
      work_cv.wait_until(lock, w.sync_due ? std::min(w.retry_at, next_heal) : next_heal,
                         [&] { return stopping || due() || w.heal_due; });
      if (stopping) return;
      do_sync = due();
      do_heal = w.heal_due || Clock::now() >= next_heal;
      w.heal_due = false;
      if (do_sync) {
        w.sync_due = false;
        head = *w.head;
        batches.swap(w.batches);
      }
    }
    if (do_sync) sync_round(w, head, std::move(batches));
    if (!do_heal) continue;
    // Health and lasting drift are re-read every few seconds even without news.
    auto now = Clock::now();
    next_heal = now + std::chrono::seconds(5);
    for (std::size_t i : w.group.targets)
      if (may_sync(i)) heal_target(i, now, next_heal);
  }
}

// Syncs every target of `w`'s cluster to `head`, one after another; a failed round is retried
// with backoff (0.5 s doubling up to the poll interval) unless a new head comes first.
void Service::Impl::sync_round(ClusterWorker& w, const git::Oid& head, std::vector<std::shared_ptr<EventBatch>> batches) {
  bool failed = false;
  // libgit2 handles are not shared between threads: each round reads the mirror with its own.
  auto repo = git::Repository::open(repository_path);
  if (!repo) {
    log(LogLevel::error, "cannot open the repository mirror", {{"cluster", w.group.name}, {"error", repo.error().message}});
    failed = true;
  }
  // Once a sync failed and the API server does not answer either, the round's other targets
  // fail at once with that reason instead of each waiting out the request timeout.
  std::string down;
  for (std::size_t i : w.group.targets) {
    {
      std::lock_guard lock(mutex);
      if (stopping) break;  // the daemon stops (or lost the lease): the rest of the round waits
    }
    if (!repo) continue;
    std::lock_guard busy(*target_mutexes[i]);
    if (!may_sync(i)) continue;  // another replica's shard, or not leading (asked under the mutex)
    if (desk->holds_syncs(syncers[i]->config().name)) {
      log(LogLevel::info, "sync held: a break-glass window is open (breakGlass.syncs: hold)",
          {{"target", syncers[i]->config().name}, {"revision", head.hex()}});
      continue;
    }
    if (!down.empty()) {
      SyncResult skipped;
      skipped.revision = head.hex();
      skipped.state = SyncState::failed;
      skipped.errors.push_back("cluster " + w.group.name + " does not answer: " + down);
      record(i, skipped, head.hex());
      continue;
    }
    SyncResult r = syncers[i]->sync(*repo, head);
    if (r.state != SyncState::failed) settled[i] = true;
    failed = failed || r.state == SyncState::failed;
    record(i, r, head.hex());
    if (r.state == SyncState::failed) down = probe_cluster(w);
  }
  mark_cluster(w, down);
  auto now = Clock::now();
  for (const auto& b : batches)
    if (--b->left == 0)
      for (auto t : b->times)
        metrics.observe("portcullis_notify_latency_seconds", "", std::chrono::duration<double>(now - t).count());
  // A sync of thousands of objects frees tens of MB that glibc keeps mapped (free chunks
  // below live ones); return them between syncs so the daemon's RSS is what it holds.
  malloc_trim(0);
  {
    std::lock_guard lock(mutex);
    w.first_round_done = true;
    is_ready = std::all_of(workers.begin(), workers.end(), [](const auto& x) { return x->first_round_done; });
    if (failed && !w.sync_due) {
      w.sync_due = true;
      w.retry_at = Clock::now() + w.retry_delay;
      w.retry_delay = std::min(w.retry_delay * 2, config.poll_interval);
    } else if (!failed) {
      w.retry_delay = std::chrono::milliseconds(500);
    }
  }
  changed();
}

// Whether the cluster's API server answers ("") or why not: GET /version on a fresh connection,
// with a short wait (the sync that failed before it already waited out the request timeout).
std::string Service::Impl::probe_cluster(const ClusterWorker& w) {
  std::optional<kube::Connection> conn;
  for (std::size_t i : w.group.targets)
    if (!conn) conn = syncers[i]->connection();
  if (!conn) {  // never connected: the kubeconfig cannot be read
    auto resolved = resolve_connection(syncers[w.group.targets.front()]->config());
    if (!resolved) return resolved.error().message;
    conn = std::move(*resolved);
  }
  auto client = kube::Client::connect(*conn);
  if (!client) return client.error().message;
  client->set_timeout(std::min<std::chrono::milliseconds>(config.cluster_request_timeout, std::chrono::seconds(5)));
  auto version = client->get("/version");
  return version ? "" : version.error().message;
}

// After a round: the cluster is down (`down` says why) or up. While down, its targets' errors
// say so and portcullis_cluster_up is 0.
void Service::Impl::mark_cluster(ClusterWorker& w, const std::string& down) {
  bool was_up;
  {
    std::lock_guard lock(mutex);
    was_up = w.up;
    w.up = down.empty();
    for (std::size_t i : w.group.targets) {
      statuses[i].cluster_up = w.up;
      if (!w.up && statuses[i].state == SyncState::failed && !statuses[i].last_error.starts_with("cluster "))
        statuses[i].last_error = "cluster " + w.group.name + " does not answer: " + statuses[i].last_error;
    }
  }
  metrics.set("portcullis_cluster_up", "cluster=\"" + label_value(w.group.name) + "\"", down.empty() ? 1 : 0);
  if (was_up && !down.empty())
    log(LogLevel::error, "cluster does not answer; its targets wait, the other clusters go on",
        {{"cluster", w.group.name}, {"error", down}});
  else if (!was_up && down.empty())
    log(LogLevel::info, "cluster answers again", {{"cluster", w.group.name}});
}

void Service::stop() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  if (m_impl->elector) m_impl->elector->stop();
  if (m_impl->sharder) m_impl->sharder->stop();
  m_impl->cv.notify_all();
  m_impl->heal_cv.notify_all();
  m_impl->work_cv.notify_all();
  if (m_impl->images) m_impl->images->signal_stop();
}

std::string Service::images_json() const {
  if (!m_impl->images) return daemon::images_json({}, {});
  return daemon::images_json(m_impl->images->status(), m_impl->images->registries());
}

void Service::on_event(const notify::Event& event) {
  bool relevant = event.refs.empty();
  for (const auto& r : event.refs)
    if (r.ref == "refs/heads/" + m_impl->config.repository.branch) relevant = true;
  m_impl->metrics.add("portcullis_events_total", relevant ? "result=\"queued\"" : "result=\"ignored\"");
  if (event.break_glass) {
    std::vector<std::string> refs;
    std::string revision;
    for (const auto& r : event.refs) {
      refs.push_back(r.ref);
      revision = r.new_id;
    }
    std::string who = event.pusher.empty() ? "an unknown pusher" : event.pusher;
    log(LogLevel::warn, "break-glass push received", {{"pusher", event.pusher}, {"reason", event.reason}, {"event", event.id}});
    m_impl->audit(util::Json{{"time", util::rfc3339_utc(std::time(nullptr))},
                            {"event", "break-glass"},
                            {"actor", std::string(event.pusher)},
                            {"reason", std::string(event.reason)},
                            {"revision", std::string(revision)},
                            {"refs", refs},
                            {"eventId", std::string(event.id)}});
    m_impl->alerter->raise(Alert{AlertKind::break_glass, event.repository, revision,
                                 "break-glass push by " + who + " to " + event.repository + ": " + event.reason, refs,
                                 event.pusher, event.reason});
  }
  if (!relevant) return;
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->pending = true;
    m_impl->pending_event_times.push_back(Clock::now());
  }
  m_impl->cv.notify_all();
}

bool Service::knows_target(const std::string& target) const {
  return std::any_of(m_impl->syncers.begin(), m_impl->syncers.end(),
                     [&](const auto& s) { return s->config().name == target; });
}

std::pair<int, std::string> Service::break_glass(const Authorized& request) {
  auto a = m_impl->desk->handle(request, static_cast<std::int64_t>(std::time(nullptr)));
  return {a.status, std::move(a.body)};
}

bool Service::allow_prune(const std::string& target) {
  for (auto& s : m_impl->syncers)
    if (s->config().name == target) {
      s->allow_next_prune();
      {
        std::lock_guard lock(m_impl->mutex);
        m_impl->pending = true;
      }
      m_impl->cv.notify_all();
      return true;
    }
  return false;
}

std::vector<TargetStatus> Service::status() const {
  std::vector<TargetStatus> out;
  std::string fetch_error;
  Clock::duration failing{};
  {
    std::lock_guard lock(m_impl->mutex);
    out = m_impl->statuses;
    fetch_error = m_impl->fetch_error;
    failing = Clock::now() - m_impl->fetch_failing_since;
    for (auto& st : out) st.last_fetch_time = m_impl->last_fetch_time;
  }
  if (m_impl->sharder)
    for (auto& st : out) st.shard_held = m_impl->sharder->may_write(static_cast<std::size_t>(st.shard));
  // Drift and health as the watches see them now.
  for (auto& st : out) {
    auto items = m_impl->monitor->drifted(st.name);
    st.drifted = items.size();
    st.drift.clear();
    for (std::size_t k = 0; k < items.size() && k < 10; ++k)
      st.drift.push_back(items[k].what + ": " + (items[k].deleted ? "deleted" : items[k].pointer_list()));
    if (st.state == SyncState::synced && st.drifted > 0) st.state = SyncState::out_of_sync;
    // Without the source, whether the cluster matches Git is not known.
    if (!fetch_error.empty()) {
      st.state = SyncState::source_unavailable;
      st.last_error = "cannot fetch the repository for " +
                      util::duration_text(std::chrono::duration_cast<std::chrono::milliseconds>(failing).count()) +
                      (st.last_fetch_time.empty() ? " (never fetched)" : " (last fetched " + st.last_fetch_time + ")") +
                      ": " + fetch_error;
    }
    st.break_glass = m_impl->desk->summary(st.name);
    if (!st.break_glass.empty() && st.drift_mode != "off") st.drift_mode = "detectOnly";
    TargetHealth th = m_impl->monitor->health(st.name);
    st.health = std::string(health_name(th.health.status));
    st.health_reason = st.drift_mode == "off" ? "not watched (watch: false)" : th.health.reason;
  }
  return out;
}

std::vector<ObjectHealth> Service::objects(const std::string& target, std::size_t limit) const {
  return m_impl->monitor->objects(target, limit);
}

std::vector<DriftItem> Service::drifted(const std::string& target) const { return m_impl->monitor->drifted(target); }

std::uint64_t Service::changes() const {
  std::lock_guard lock(m_impl->change_mutex);
  return m_impl->change_count;
}

void Service::wait_change(std::uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_impl->change_mutex);
  m_impl->change_cv.wait_for(lock, timeout, [&] { return m_impl->change_count != seen; });
}

void Service::wake_all() { m_impl->changed(); }

bool Service::ready() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->is_ready || (m_impl->elector && !m_impl->leading);  // is_ready: every worker's first round
}

LeaderView Service::leader_view() const {
  if (!m_impl->elector) return {};
  return LeaderView{m_impl->elector->leading() ? "leader" : "standby", m_impl->elector->identity(), m_impl->elector->holder()};
}

Metrics& Service::metrics() { return m_impl->metrics; }
const Config& Service::config() const { return m_impl->config; }

}  // namespace portcullis::daemon
