#include "daemon/leader.hpp"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>

#include "daemon/log.hpp"
#include "shared/kube/client.hpp"
#include "shared/kube/kubeconfig.hpp"
#include "shared/util/json.hpp"

namespace portcullis::daemon {

using Clock = std::chrono::steady_clock;

namespace {

// RFC 3339 with microseconds, UTC (metav1.MicroTime).
std::string micro_time_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1'000'000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(us));
  return buf;
}

std::string default_identity() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(*host ? host : "portcullisd") + "_" + std::to_string(::getpid());
}

enum class Attempt { acquired, held, failed };

}  // namespace

std::string lease_body(std::string_view ns, std::string_view name, const LeaseRecord& r, std::string_view resource_version) {
  util::Json meta{{"name", std::string(name)}, {"namespace", std::string(ns)}};
  if (!resource_version.empty()) meta["resourceVersion"] = std::string(resource_version);
  util::Json spec{{"holderIdentity", r.holder}, {"leaseDurationSeconds", r.duration_seconds}, {"leaseTransitions", r.transitions}};
  if (!r.acquire_time.empty()) spec["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty()) spec["renewTime"] = r.renew_time;
  return util::dump(util::Json{{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", meta}, {"spec", spec}});
}

util::Result<std::pair<LeaseRecord, std::string>> parse_lease(std::string_view json) {
  auto doc = util::Json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return util::fail("the Lease is not JSON");
  auto meta = doc.value("metadata", util::Json::object());
  auto spec = doc.value("spec", util::Json::object());
  if (!meta.is_object() || !spec.is_object()) return util::fail("the Lease has no metadata or spec");
  auto str = [](const util::Json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [](const util::Json& o, const char* k) -> std::int64_t {
    auto it = o.find(k);
    return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  LeaseRecord r{str(spec, "holderIdentity"), num(spec, "leaseDurationSeconds"), str(spec, "acquireTime"),
                str(spec, "renewTime"), num(spec, "leaseTransitions")};
  std::string rv = str(meta, "resourceVersion");
  if (rv.empty()) return util::fail("the Lease has no resourceVersion");
  return std::pair{std::move(r), std::move(rv)};
}

struct LeaderElector::Impl {
  LeaderElectionConfig config;
  std::string ns;
  Metrics& metrics;
  std::optional<kube::Client> client;
  std::string path;  // of the Lease

  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::atomic<bool> is_leader{false};
  Clock::time_point last_renew{};
  // What was last seen in the cluster, and when (the local clock) it last changed.
  LeaseRecord observed;
  std::string observed_rv;
  Clock::time_point observed_time{};

  Impl(LeaderElectionConfig c, std::string inventory_ns, Metrics& m)
      : config(std::move(c)), ns(config.namespace_.empty() ? std::move(inventory_ns) : config.namespace_), metrics(m) {
    if (config.identity.empty()) config.identity = default_identity();
    path = "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases/" + config.lease_name;
  }

  // Waits `d` or until stop(); false when stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, d, [&] { return stopping; });
  }
  bool stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void observe(const LeaseRecord& r, const std::string& rv) {
    std::lock_guard lock(mutex);
    if (r != observed || observed_rv.empty()) observed_time = Clock::now();
    observed = r;
    observed_rv = rv;
  }

  util::Result<void> ensure_namespace() {
    util::Json ns_body{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto res = client->request(kube::Client::Method::post, "/api/v1/namespaces", util::dump(ns_body));
    if (!res) return util::fail(res.error());
    if (res->status != 201 && res->status != 409) return util::fail("cannot create namespace " + ns + ": HTTP " + std::to_string(res->status));
    return {};
  }

  // client-go's tryAcquireOrRenew.
  Attempt try_acquire_or_renew() {
    const std::string now = micro_time_now();
    LeaseRecord mine{config.identity, std::max<std::int64_t>(1, config.lease_duration.count() / 1000), now, now, 0};
    auto got = client->get(path);
    if (!got) return Attempt::failed;
    if (got->status == 404) {
      auto created = client->request(kube::Client::Method::post,
                                     "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases",
                                     lease_body(ns, config.lease_name, mine, {}));
      if (created && created->status == 404 && ensure_namespace())
        created = client->request(kube::Client::Method::post, "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases",
                                  lease_body(ns, config.lease_name, mine, {}));
      if (!created || created->status != 201) return Attempt::failed;
      auto parsed = parse_lease(created->body);
      if (!parsed) return Attempt::failed;
      observe(parsed->first, parsed->second);
      return Attempt::acquired;
    }
    if (got->status != 200) return Attempt::failed;
    auto parsed = parse_lease(got->body);
    if (!parsed) return Attempt::failed;
    const LeaseRecord& old = parsed->first;
    observe(old, parsed->second);
    if (!old.holder.empty() && old.holder != config.identity) {
      std::lock_guard lock(mutex);
      if (observed_time + config.lease_duration > Clock::now()) return Attempt::held;
    }
    if (old.holder == config.identity) {
      mine.acquire_time = old.acquire_time;
      mine.transitions = old.transitions;
    } else {
      mine.transitions = old.transitions + 1;
    }
    auto put = client->request(kube::Client::Method::put, path, lease_body(ns, config.lease_name, mine, parsed->second));
    if (!put || put->status != 200) return put && put->status == 409 ? Attempt::held : Attempt::failed;
    auto stored = parse_lease(put->body);
    if (!stored) return Attempt::failed;
    observe(stored->first, stored->second);
    return Attempt::acquired;
  }

  // Jittered retry period (client-go's JitterFactor 1.2 while acquiring).
  std::chrono::milliseconds jittered() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> d(1.0, 2.2);
    return std::chrono::milliseconds(static_cast<std::int64_t>(config.retry_period.count() * d(rng)));
  }

  bool acquire() {
    while (!stopped()) {
      if (try_acquire_or_renew() == Attempt::acquired) return true;
      if (!pause(jittered())) return false;
    }
    return false;
  }

  // Renews every retryPeriod until a renewal has not succeeded for renewDeadline, another
  // holder shows, or stop().
  void renew() {
    while (pause(config.retry_period)) {
      auto a = try_acquire_or_renew();
      std::lock_guard lock(mutex);
      if (a == Attempt::acquired) {
        last_renew = Clock::now();
        metrics.set("portcullis_leader_last_renew_timestamp_seconds", "",
                    static_cast<double>(std::time(nullptr)));
        continue;
      }
      if (a == Attempt::held && observed.holder != config.identity) return;  // taken: we lost it
      if (Clock::now() - last_renew >= config.renew_deadline) return;
    }
  }

  // Gives the lease up on stop (client-go's ReleaseOnCancel): the next candidate need not wait.
  void release() {
    std::string rv;
    LeaseRecord r;
    {
      std::lock_guard lock(mutex);
      if (observed.holder != config.identity) return;
      r = observed;
      rv = observed_rv;
    }
    r.holder.clear();
    r.duration_seconds = 1;
    r.renew_time = micro_time_now();
    (void)client->request(kube::Client::Method::put, path, lease_body(ns, config.lease_name, r, rv));
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
  auto conn = d.config.kubeconfig.empty() ? kube::in_cluster() : kube::load_kubeconfig(d.config.kubeconfig, d.config.context);
  if (!conn) return util::fail("leaderElection: " + conn.error().message);
  auto client = kube::Client::connect(*conn);
  if (!client) return util::fail("leaderElection: " + client.error().message);
  client->set_timeout(d.config.renew_deadline / 2);
  d.client.emplace(std::move(*client));
  log(LogLevel::info, "campaigning for leadership", {{"identity", d.config.identity}, {"lease", d.ns + "/" + d.config.lease_name}});
  while (d.acquire()) {
    {
      std::lock_guard lock(d.mutex);
      d.last_renew = Clock::now();
    }
    d.is_leader = true;
    d.metrics.set("portcullis_leader", "", 1);
    d.metrics.add("portcullis_leader_transitions_total", "");
    log(LogLevel::info, "became leader", {{"identity", d.config.identity}, {"transitions", std::to_string(transitions())}});
    on_started();
    d.renew();
    d.is_leader = false;
    d.metrics.set("portcullis_leader", "", 0);
    d.metrics.add("portcullis_leader_transitions_total", "");
    if (d.stopped()) d.release();
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

bool LeaderElector::may_write() const {
  if (!m_impl->is_leader) return false;
  std::lock_guard lock(m_impl->mutex);
  return Clock::now() - m_impl->last_renew < m_impl->config.renew_deadline;
}

util::Result<void> LeaderElector::confirm() {
  if (!may_write()) return util::fail("not the leader (lease " + m_impl->ns + "/" + m_impl->config.lease_name + " not renewed)");
  // A client of its own: the elector's is used by its thread.
  auto conn = m_impl->client->connection();
  auto client = kube::Client::connect(conn);
  if (!client) return util::fail(client.error());
  client->set_timeout(m_impl->config.renew_deadline / 2);
  auto got = client->get(m_impl->path);
  if (!got) return util::fail("cannot read the lease: " + got.error().message);
  if (got->status != 200) return util::fail("cannot read the lease: HTTP " + std::to_string(got->status));
  auto parsed = parse_lease(got->body);
  if (!parsed) return util::fail(parsed.error());
  std::lock_guard lock(m_impl->mutex);
  if (parsed->first.holder != m_impl->config.identity || parsed->first.transitions != m_impl->observed.transitions)
    return util::fail("the lease is held by \"" + parsed->first.holder + "\" (transition " +
                      std::to_string(parsed->first.transitions) + "): this replica is no longer the leader");
  return {};
}

bool LeaderElector::leading() const { return m_impl->is_leader; }
const std::string& LeaderElector::identity() const { return m_impl->config.identity; }
std::string LeaderElector::holder() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->observed.holder;
}
std::int64_t LeaderElector::transitions() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->observed.transitions;
}

}  // namespace portcullis::daemon
