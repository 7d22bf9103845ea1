#include "daemon/leader.hpp"

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>

#include "daemon/log.hpp"
#include "shared/kube/client.hpp"

namespace portcullis::daemon {

using Attempt = LeaseLock::Attempt;

struct LeaderElector::Impl {
  LeaderElectionConfig config;
  std::string ns;
  Metrics& metrics;
  std::optional<kube::Client> client;
  std::optional<LeaseLock> lock;

  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::atomic<bool> is_leader{false};

  Impl(LeaderElectionConfig c, std::string inventory_ns, Metrics& m)
      : config(std::move(c)), ns(config.namespace_.empty() ? std::move(inventory_ns) : config.namespace_), metrics(m) {
    if (config.identity.empty()) config.identity = default_lease_identity();
    lock.emplace(ns, config.lease_name, config.identity, config);
  }

  // Waits `d` or until stop(); false when stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock l(mutex);
    return !cv.wait_for(l, d, [&] { return stopping; });
  }
  bool stopped() {
    std::lock_guard l(mutex);
    return stopping;
  }

  // Jittered retry period (client-go's JitterFactor 1.2 while acquiring).
  std::chrono::milliseconds jittered() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> d(1.0, 2.2);
    return std::chrono::milliseconds(static_cast<std::int64_t>(config.retry_period.count() * d(rng)));
  }

  bool acquire() {
    while (!stopped()) {
      if (lock->try_acquire_or_renew(*client) == Attempt::acquired) return true;
      if (!pause(jittered())) return false;
    }
    return false;
  }

  // Renews every retryPeriod until a renewal has not succeeded for renewDeadline, another
  // holder shows, or stop().
  void renew() {
    while (pause(config.retry_period)) {
      auto a = lock->try_acquire_or_renew(*client);
      if (a == Attempt::acquired) {
        metrics.set("portcullis_leader_last_renew_timestamp_seconds", "", static_cast<double>(std::time(nullptr)));
        continue;
      }
      if (a == Attempt::held && lock->holder() != config.identity) return;  // taken: we lost it
      if (!lock->renewed_in_time()) return;
    }
  }
};

LeaderElector::LeaderElector(LeaderElectionConfig config, std::string inventory_namespace, Metrics& metrics)
    : m_impl(std::make_unique<Impl>(std::move(config), std::move(inventory_namespace), metrics)) {
  metrics.describe("portcullis_leader", "gauge", "1 while this replica leads (leaderElection), else 0.");
  metrics.describe("portcullis_leader_transitions_total", "counter", "Times this replica became or stopped being leader.");
  metrics.describe("portcullis_leader_last_renew_timestamp_seconds", "gauge", "Unix time of the leader's last renewal of its Lease.");
  metrics.set("portcullis_leader", "", 0);
}

LeaderElector::~LeaderElector() { stop(); }

util::Result<void> LeaderElector::run(const std::function<void()>& on_started, const std::function<void()>& on_stopped) {
  Impl& d = *m_impl;
  auto client = lease_client(d.config, "leaderElection");
  if (!client) return util::fail(client.error());
  d.client.emplace(std::move(*client));
  log(LogLevel::info, "campaigning for leadership", {{"identity", d.config.identity}, {"lease", d.ns + "/" + d.config.lease_name}});
  while (d.acquire()) {
    d.is_leader = true;
    d.metrics.set("portcullis_leader", "", 1);
    d.metrics.add("portcullis_leader_transitions_total", "");
    log(LogLevel::info, "became leader", {{"identity", d.config.identity}, {"transitions", std::to_string(transitions())}});
    on_started();
    d.renew();
    d.is_leader = false;
    d.metrics.set("portcullis_leader", "", 0);
    d.metrics.add("portcullis_leader_transitions_total", "");
    // Gives the lease up on stop (client-go's ReleaseOnCancel): the next candidate need not wait.
    if (d.stopped()) d.lock->release(*d.client);
    log(d.stopped() ? LogLevel::info : LogLevel::error, "stopped leading",
        {{"identity", d.config.identity}, {"holder", holder()}});
    on_stopped();
  }
  return {};
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->cv.notify_all();
}

bool LeaderElector::may_write() const { return m_impl->is_leader && m_impl->lock->renewed_in_time(); }

util::Result<void> LeaderElector::confirm() {
  if (!may_write()) return util::fail("not the leader (lease " + m_impl->ns + "/" + m_impl->config.lease_name + " not renewed)");
  auto r = m_impl->lock->confirm(m_impl->client->connection());
  if (!r) return util::fail(r.error().message + ": this replica is no longer the leader");
  return {};
}

bool LeaderElector::leading() const { return m_impl->is_leader; }
const std::string& LeaderElector::identity() const { return m_impl->config.identity; }
std::string LeaderElector::holder() const { return m_impl->lock->holder(); }
std::int64_t LeaderElector::transitions() const { return m_impl->lock->transitions(); }

}  // namespace portcullis::daemon
