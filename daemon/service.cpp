#include "daemon/service.hpp"

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <mutex>

#include "daemon/log.hpp"
#include "daemon/mirror.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

using Clock = std::chrono::steady_clock;

namespace {

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ",\"" : "\"") + util::json_escape(items[i]) + "\"";
  return out + "]";
}

}  // namespace

std::string status_json(const std::vector<TargetStatus>& targets) {
  using util::json_escape;
  std::string out = "{\"targets\":[";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    if (i) out += ',';
    out += "{\"name\":\"" + json_escape(t.name) + "\",\"path\":\"" + json_escape(t.path) + "\",\"desiredRevision\":\"" +
           t.desired_revision + "\",\"appliedRevision\":\"" + t.applied_revision + "\",\"state\":\"" +
           std::string(state_name(t.state)) + "\",\"lastError\":\"" + json_escape(t.last_error) +
           "\",\"pruneBlocked\":\"" + json_escape(t.prune_blocked) + "\",\"objects\":" + std::to_string(t.objects) +
           ",\"lastSyncTime\":\"" + t.last_sync_time + "\",\"lastSyncMs\":" + std::to_string(t.last_sync_ms) + "}";
  }
  return out + "]}\n";
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

  void audit(const std::string& line) {
    if (auto r = util::append_line(config.audit_path(), line); !r)
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
      s.last_sync_time = now_rfc3339();
      s.last_sync_ms = r.duration.count();
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
                                 {"pruned", std::to_string(r.pruned)}, {"ms", std::to_string(r.duration.count())}});
    if (!r.prune_blocked.empty())
      log(LogLevel::warn, "prune blocked", {{"target", name}, {"reason", r.prune_blocked}});
    for (const auto& w : r.warnings) log(LogLevel::warn, w, {{"target", name}});
    if (!r.applied_objects.empty() || !r.pruned_objects.empty() || !r.errors.empty() || !r.prune_blocked.empty()) {
      audit("{\"time\":\"" + now_rfc3339() + "\",\"event\":\"sync\",\"target\":\"" + util::json_escape(name) +
            "\",\"revision\":\"" + r.revision + "\",\"result\":\"" + result + "\",\"applied\":" +
            json_list(r.applied_objects) + ",\"pruned\":" + json_list(r.pruned_objects) + ",\"errors\":" +
            json_list(r.errors) + ",\"pruneBlocked\":\"" + util::json_escape(r.prune_blocked) + "\"}\n");
    }
  }
};

Service::Service(Config config) : m_impl(std::make_unique<Impl>()) {
  m_impl->config = std::move(config);
  for (const auto& t : m_impl->config.targets) {
    m_impl->syncers.push_back(std::make_unique<TargetSyncer>(t, m_impl->config.inventory_namespace));
    TargetStatus s;
    s.name = t.name;
    s.path = t.path;
    m_impl->statuses.push_back(s);
  }
  auto& m = m_impl->metrics;
  m.describe("portcullis_syncs_total", "counter", "Syncs by target and result.");
  m.describe("portcullis_sync_duration_seconds", "histogram", "Duration of syncs.");
  m.describe("portcullis_objects_applied_total", "counter", "Objects server-side-applied.");
  m.describe("portcullis_objects_pruned_total", "counter", "Objects deleted because Git no longer declares them.");
  m.describe("portcullis_managed_objects", "gauge", "Objects a target declares.");
  m.describe("portcullis_prune_blocked_total", "counter", "Prunes refused by a guard.");
  m.describe("portcullis_last_applied_revision_info", "gauge", "The commit last applied, as a label.");
  m.describe("portcullis_notify_latency_seconds", "histogram", "From receiving a push event to the end of the sync it caused.");
  m.describe("portcullis_events_total", "counter", "Push events received, by result.");
  m.describe("portcullis_fetch_errors_total", "counter", "Failed fetches of the repository.");
}

Service::~Service() = default;

int Service::run() {
  Impl& m = *m_impl;
  auto mirror = Mirror::open(m.config.repository, m.config.state_dir);
  if (!mirror) {
    log(LogLevel::error, "cannot open the repository mirror", {{"error", mirror.error().message}});
    return 1;
  }
  auto retry_delay = std::chrono::milliseconds(500);
  auto next_poll = Clock::now();
  while (true) {
    {
      std::unique_lock lock(m.mutex);
      m.cv.wait_until(lock, next_poll, [&] { return m.stopping || m.pending; });
      if (m.stopping) return 0;
      m.pending = false;
    }
    auto head = mirror->fetch();
    bool failed = false;
    if (!head) {
      m.metrics.add("portcullis_fetch_errors_total", "");
      log(LogLevel::error, "fetch failed; keeping the last applied state, pruning nothing", {{"error", head.error().message}});
      std::lock_guard lock(m.mutex);
      for (auto& s : m.statuses) s.last_error = head.error().message;
      failed = true;
    } else {
      std::vector<Clock::time_point> events;
      {
        std::lock_guard lock(m.mutex);
        events.swap(m.pending_event_times);
      }
      for (std::size_t i = 0; i < m.syncers.size(); ++i) {
        SyncResult r = m.syncers[i]->sync(mirror->repository(), *head);
        m.record(i, r, head->hex());
        failed = failed || r.state == SyncState::failed;
      }
      auto now = Clock::now();
      for (auto t : events)
        m.metrics.observe("portcullis_notify_latency_seconds", "", std::chrono::duration<double>(now - t).count());
      std::lock_guard lock(m.mutex);
      m.is_ready = true;
    }
    // A failed round is retried with backoff (0.5 s doubling up to the poll interval).
    if (failed) {
      next_poll = Clock::now() + retry_delay;
      retry_delay = std::min(retry_delay * 2, m.config.poll_interval);
    } else {
      retry_delay = std::chrono::milliseconds(500);
      next_poll = Clock::now() + m.config.poll_interval;
    }
  }
}

void Service::stop() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->cv.notify_all();
}

void Service::on_event(const notify::Event& event) {
  bool relevant = event.refs.empty();
  for (const auto& r : event.refs)
    if (r.ref == "refs/heads/" + m_impl->config.repository.branch) relevant = true;
  m_impl->metrics.add("portcullis_events_total", relevant ? "result=\"queued\"" : "result=\"ignored\"");
  if (!relevant) return;
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->pending = true;
    m_impl->pending_event_times.push_back(Clock::now());
  }
  m_impl->cv.notify_all();
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
  std::lock_guard lock(m_impl->mutex);
  return m_impl->statuses;
}

bool Service::ready() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->is_ready;
}

Metrics& Service::metrics() { return m_impl->metrics; }
const Config& Service::config() const { return m_impl->config; }

}  // namespace portcullis::daemon
