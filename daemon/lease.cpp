#include "daemon/lease.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <mutex>

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
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(us));
  return buf;
}

}  // namespace

std::string lease_body(std::string_view ns, std::string_view name, const LeaseRecord& r,
                       std::string_view resource_version) {
  util::Json meta{{"name", std::string(name)}, {"namespace", std::string(ns)}};
  if (!resource_version.empty()) meta["resourceVersion"] = std::string(resource_version);
  util::Json spec{{"holderIdentity", r.holder},
                  {"leaseDurationSeconds", r.duration_seconds},
                  {"leaseTransitions", r.transitions}};
  if (!r.acquire_time.empty()) spec["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty()) spec["renewTime"] = r.renew_time;
  return util::dump(util::Json{
      {"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", meta}, {"spec", spec}});
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

std::string default_lease_identity() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(*host ? host : "portcullisd") + "_" + std::to_string(::getpid());
}

util::Result<kube::Client> lease_client(const LeaderElectionConfig& config, std::string_view what) {
  auto conn = config.kubeconfig.empty() ? kube::in_cluster()
                                        : kube::load_kubeconfig(config.kubeconfig, config.context);
  if (!conn) return util::fail(std::string(what) + ": " + conn.error().message);
  auto client = kube::Client::connect(*conn);
  if (!client) return util::fail(std::string(what) + ": " + client.error().message);
  client->set_timeout(config.renew_deadline / 2);
  return client;
}

struct LeaseLock::Impl {
  std::string ns, name, identity;
  std::chrono::milliseconds lease_duration, renew_deadline;
  std::string base;  // the Leases of the namespace

  mutable std::mutex mutex;
  Clock::time_point last_renew{};
  // What was last seen in the cluster, and when (the local clock) it last changed.
  LeaseRecord observed;
  std::string observed_rv;
  Clock::time_point observed_time{};

  void observe(const LeaseRecord& r, const std::string& rv) {
    std::lock_guard lock(mutex);
    if (r != observed || observed_rv.empty()) observed_time = Clock::now();
    observed = r;
    observed_rv = rv;
  }

  util::Result<void> ensure_namespace(kube::Client& client) {
    util::Json ns_body{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto res = client.request(kube::Client::Method::post, "/api/v1/namespaces", util::dump(ns_body));
    if (!res) return util::fail(res.error());
    if (res->status != 201 && res->status != 409)
      return util::fail("cannot create namespace " + ns + ": HTTP " + std::to_string(res->status));
    return {};
  }

  Attempt create(kube::Client& client, const LeaseRecord& mine) {
    auto created = client.request(kube::Client::Method::post, base, lease_body(ns, name, mine, {}));
    if (created && created->status == 404 && ensure_namespace(client))
      created = client.request(kube::Client::Method::post, base, lease_body(ns, name, mine, {}));
    if (!created || created->status != 201)
      return created && created->status == 409 ? Attempt::held : Attempt::failed;
    return stored(created->body);
  }

  // The Lease as the apiserver stored it after our write: this identity now holds it.
  Attempt stored(const std::string& body) {
    auto parsed = parse_lease(body);
    if (!parsed) return Attempt::failed;
    observe(parsed->first, parsed->second);
    std::lock_guard lock(mutex);
    last_renew = Clock::now();
    return Attempt::acquired;
  }
};

LeaseLock::LeaseLock(std::string ns, std::string name, std::string identity,
                     const LeaderElectionConfig& timing)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->ns = std::move(ns);
  m_impl->name = std::move(name);
  m_impl->identity = std::move(identity);
  m_impl->lease_duration = timing.lease_duration;
  m_impl->renew_deadline = timing.renew_deadline;
  m_impl->base = "/apis/coordination.k8s.io/v1/namespaces/" + m_impl->ns + "/leases";
}

LeaseLock::~LeaseLock() = default;

LeaseLock::Attempt LeaseLock::try_acquire_or_renew(kube::Client& client) {
  Impl& d = *m_impl;
  const std::string now = micro_time_now();
  LeaseRecord mine{d.identity, std::max<std::int64_t>(1, d.lease_duration.count() / 1000), now, now, 0};
  auto got = client.get(d.base + "/" + d.name);
  if (!got) return Attempt::failed;
  if (got->status == 404) return d.create(client, mine);
  if (got->status != 200) return Attempt::failed;
  auto parsed = parse_lease(got->body);
  if (!parsed) return Attempt::failed;
  const LeaseRecord& old = parsed->first;
  d.observe(old, parsed->second);
  if (!old.holder.empty() && old.holder != d.identity) {
    std::lock_guard lock(d.mutex);
    if (d.observed_time + d.lease_duration > Clock::now()) return Attempt::held;
  }
  if (old.holder == d.identity) {
    mine.acquire_time = old.acquire_time;
    mine.transitions = old.transitions;
  } else {
    mine.transitions = old.transitions + 1;
  }
  auto put = client.request(kube::Client::Method::put, d.base + "/" + d.name,
                            lease_body(d.ns, d.name, mine, parsed->second));
  if (!put || put->status != 200) return put && put->status == 409 ? Attempt::held : Attempt::failed;
  return d.stored(put->body);
}

void LeaseLock::observe(const LeaseRecord& record, const std::string& resource_version) {
  m_impl->observe(record, resource_version);
}

void LeaseLock::release(kube::Client& client) {
  Impl& d = *m_impl;
  std::string rv;
  LeaseRecord r;
  {
    std::lock_guard lock(d.mutex);
    if (d.observed.holder != d.identity) return;
    r = d.observed;
    rv = d.observed_rv;
    d.last_renew = {};
  }
  r.holder.clear();
  r.duration_seconds = 1;
  r.renew_time = micro_time_now();
  auto put =
      client.request(kube::Client::Method::put, d.base + "/" + d.name, lease_body(d.ns, d.name, r, rv));
  if (put && put->status == 200)
    if (auto parsed = parse_lease(put->body)) d.observe(parsed->first, parsed->second);
}

bool LeaseLock::renewed_in_time() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->observed.holder == m_impl->identity && m_impl->last_renew != Clock::time_point{} &&
         Clock::now() - m_impl->last_renew < m_impl->renew_deadline;
}

util::Result<void> LeaseLock::confirm(const kube::Connection& connection) const {
  const Impl& d = *m_impl;
  auto client = kube::Client::connect(connection);
  if (!client) return util::fail(client.error());
  client->set_timeout(d.renew_deadline / 2);
  auto got = client->get(d.base + "/" + d.name);
  if (!got) return util::fail("cannot read the lease: " + got.error().message);
  if (got->status != 200) return util::fail("cannot read the lease: HTTP " + std::to_string(got->status));
  auto parsed = parse_lease(got->body);
  if (!parsed) return util::fail(parsed.error());
  std::lock_guard lock(d.mutex);
  if (parsed->first.holder != d.identity || parsed->first.transitions != d.observed.transitions)
    return util::fail("the lease " + d.ns + "/" + d.name + " is held by \"" + parsed->first.holder +
                      "\" (transition " + std::to_string(parsed->first.transitions) +
                      "), not by this replica");
  return {};
}

const std::string& LeaseLock::name() const {
  return m_impl->name;
}
const std::string& LeaseLock::identity() const {
  return m_impl->identity;
}
std::string LeaseLock::holder() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->observed.holder;
}
std::int64_t LeaseLock::transitions() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->observed.transitions;
}

}  // namespace portcullis::daemon
