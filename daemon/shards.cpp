#include "daemon/shards.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "daemon/lease.hpp"
#include "daemon/log.hpp"
#include "shared/kube/client.hpp"
#include "shared/util/json.hpp"

namespace portcullis::daemon {

using Clock = std::chrono::steady_clock;
using Attempt = LeaseLock::Attempt;

namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// splitmix64's finalizer: FNV-1a's low bits are poor on short, similar inputs.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string hex16(std::uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 15];
  return out;
}

}  // namespace

std::size_t shard_of(std::string_view name, std::size_t shards) {
  return static_cast<std::size_t>(fnv1a(name) % std::max<std::size_t>(shards, 1));
}

std::string owner_of(std::size_t shard, const std::vector<std::string>& members) {
  const std::string* best = nullptr;
  std::uint64_t best_weight = 0;
  for (const auto& m : members) {
    std::uint64_t w = mix(fnv1a(m) ^ mix(shard + 0x9e3779b97f4a7c15ull));
    if (!best || w > best_weight || (w == best_weight && m < *best)) {
      best = &m;
      best_weight = w;
    }
  }
  return best ? *best : std::string();
}

std::string member_lease_name(std::string_view prefix, std::size_t shards, std::string_view identity) {
  return std::string(prefix) + "-member-" + std::to_string(shards) + "-" + hex16(fnv1a(identity));
}

struct ShardManager::Impl {
  ShardingConfig config;
  std::string ns;
  Metrics& metrics;
  std::optional<kube::Client> client;
  std::unique_ptr<LeaseLock> member;
  std::vector<std::unique_ptr<LeaseLock>> locks;  // by shard

  struct Shard {
    bool held = false;
    bool draining = false;          // not wanted any more: no new sync; released once idle
    std::int64_t transitions = -1;  // of the Lease when acquired
  };
  struct Seen {
    LeaseRecord record;
    Clock::time_point changed;
  };
  mutable std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::vector<Shard> state;          // under `mutex`
  std::vector<std::string> live;     // under `mutex`
  std::string other_count;           // a live member counting other shards ("" none); under `mutex`
  std::map<std::string, Seen> seen;  // member Leases by name; the manager's thread only

  Impl(ShardingConfig c, std::string inventory_ns, Metrics& m)
      : config(std::move(c)),
        ns(config.lease.namespace_.empty() ? std::move(inventory_ns) : config.lease.namespace_),
        metrics(m) {
    if (config.lease.identity.empty()) config.lease.identity = default_lease_identity();
    const std::string& prefix = config.lease.lease_name;
    member = std::make_unique<LeaseLock>(ns, member_lease_name(prefix, config.shards, config.lease.identity),
                                         config.lease.identity, config.lease);
    for (std::size_t s = 0; s < config.shards; ++s)
      locks.push_back(std::make_unique<LeaseLock>(ns, prefix + "-shard-" + std::to_string(s),
                                                  config.lease.identity, config.lease));
    state.resize(config.shards);
  }

  const std::string& me() const { return config.lease.identity; }

  // A member Lease unchanged for this many lease durations is deleted.
  static constexpr int k_gone_after = 10;

  // Deletes the member Lease `name` if it is still at `resource_version` (a replica that came
  // back in between keeps it).
  void remove_member(const std::string& name, const std::string& resource_version,
                     const std::string& holder) {
    util::Json options{{"apiVersion", "v1"},
                       {"kind", "DeleteOptions"},
                       {"preconditions", {{"resourceVersion", resource_version}}}};
    auto res = client->request(kube::Client::Method::del,
                               "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases/" + name,
                               util::dump(options));
    if (res && (res->status == 200 || res->status == 404)) {
      seen.erase(name);
      log(LogLevel::info, "deleted the member Lease of a replica gone",
          {{"lease", name}, {"holder", holder}});
    }
  }

  bool pause(std::chrono::milliseconds d) {
    std::unique_lock l(mutex);
    return !cv.wait_for(l, d, [&] { return stopping; });
  }

  // Reads every Lease of the namespace: the member Leases give the live members (sorted); the
  // shard Leases keep each shard's expiry clock running, so that a shard whose holder died is
  // taken leaseDuration after its last renewal, not after this replica first looked at it.
  struct Members {
    std::vector<std::string> live;
    std::string other_count;  // "identity (N shards)" of a live member that counts otherwise
  };
  std::optional<Members> list_members() {
    auto got = client->get("/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases");
    if (!got || got->status != 200) return std::nullopt;
    auto doc = util::Json::parse(got->body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("items") || !doc["items"].is_array())
      return std::nullopt;
    const std::string member_prefix = config.lease.lease_name + "-member-";
    const std::string shard_prefix = config.lease.lease_name + "-shard-";
    const std::string same_count = member_prefix + std::to_string(config.shards) + "-";
    const auto now = Clock::now();
    Members out;
    for (const auto& item : doc["items"]) {
      auto parsed = parse_lease(util::dump(item));
      if (!parsed) continue;
      std::string name = item["metadata"].value("name", "");
      if (name.starts_with(shard_prefix)) {
        auto digits = name.substr(shard_prefix.size());
        if (!digits.empty() && digits.size() < 5 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
          if (std::size_t s = std::stoul(digits); s < locks.size())
            locks[s]->observe(parsed->first, parsed->second);
        continue;
      }
      if (!name.starts_with(member_prefix)) continue;
      auto [it, fresh] = seen.try_emplace(name, Seen{parsed->first, now});
      if (!fresh && it->second.record != parsed->first) it->second = Seen{parsed->first, now};
      const LeaseRecord& r = it->second.record;
      if (r.holder == me() && !r.holder.empty()) continue;
      if (now - it->second.changed >= k_gone_after * config.lease.lease_duration) {
        remove_member(name, parsed->second, r.holder);  // a replica long gone (pods come and go)
        continue;
      }
      if (r.holder.empty() || now - it->second.changed >= config.lease.lease_duration) continue;
      if (name.starts_with(same_count))
        out.live.push_back(r.holder);
      else
        out.other_count = r.holder + " (" +
                          name.substr(member_prefix.size(), name.rfind('-') - member_prefix.size()) +
                          " shards)";
    }
    if (member->renewed_in_time()) out.live.push_back(me());
    std::sort(out.live.begin(), out.live.end());
    out.live.erase(std::unique(out.live.begin(), out.live.end()), out.live.end());
    return out;
  }

  void set(std::size_t s, Shard v) {
    std::lock_guard l(mutex);
    state[s] = v;
  }
  Shard get(std::size_t s) const {
    std::lock_guard l(mutex);
    return state[s];
  }

  // One shard this round: acquire or renew it when wanted; else stop syncing it, keep renewing
  // it until no sync of it runs, then release it. Returns whether what is held changed.
  bool step(std::size_t s, bool wanted, bool may_acquire, const Hooks& hooks) {
    Shard st = get(s);
    LeaseLock& lock = *locks[s];
    if (!st.held && (!wanted || !may_acquire)) return false;
    if (st.held && !wanted && !st.draining) {
      set(s, Shard{true, true, st.transitions});  // no new sync from now on
      st.draining = true;
    }
    Attempt a = lock.try_acquire_or_renew(*client);
    if (a == Attempt::acquired && (!st.held || lock.transitions() != st.transitions)) {
      hooks.acquired(s);  // before may_sync() can answer true
      set(s, Shard{true, !wanted, lock.transitions()});
      metrics.add("portcullis_shard_changes_total", "change=\"acquired\"");
      log(LogLevel::info, "acquired shard " + std::to_string(s),
          {{"shard", std::to_string(s)},
           {"identity", me()},
           {"transitions", std::to_string(lock.transitions())}});
      return true;
    }
    if (!st.held) return false;
    if (a == Attempt::held && lock.holder() != me()) {
      set(s, Shard{});
      metrics.add("portcullis_shard_changes_total", "change=\"lost\"");
      log(LogLevel::error, "lost shard " + std::to_string(s),
          {{"shard", std::to_string(s)}, {"holder", lock.holder()}});
      return true;
    }
    if (wanted) {
      if (st.draining) set(s, Shard{true, false, st.transitions});
      return false;
    }
    if (!hooks.idle(s)) return false;  // a sync of it still runs: renewed, released next round
    lock.release(*client);
    set(s, Shard{});
    metrics.add("portcullis_shard_changes_total", "change=\"released\"");
    log(LogLevel::info, "released shard " + std::to_string(s),
        {{"shard", std::to_string(s)}, {"identity", me()}});
    return true;
  }

  void round(const Hooks& hooks) {
    member->try_acquire_or_renew(*client);
    auto members = list_members();
    std::vector<std::string> view;
    bool frozen;
    {
      std::lock_guard l(mutex);
      if (members && members->other_count != other_count) {
        other_count = members->other_count;
        if (!other_count.empty())
          log(LogLevel::error,
              "a live replica counts other shards: acquiring nothing until it is gone "
              "(change sharding.shards with every replica stopped)",
              {{"replica", other_count}, {"shards", std::to_string(config.shards)}, {"identity", me()}});
      }
      frozen = !other_count.empty();
      if (members && members->live != live) {
        live = members->live;
        std::string names;
        for (const auto& m : live) names += (names.empty() ? "" : ",") + m;
        log(LogLevel::info, "shard members changed", {{"members", names}, {"identity", me()}});
      }
      view = live;
    }
    bool changed = false;
    std::size_t wanted = 0, held = 0;
    for (std::size_t s = 0; s < locks.size(); ++s) {
      // While another count of shards is live, what is held stays and nothing more is taken.
      bool want = frozen ? get(s).held : owner_of(s, view) == me();
      wanted += want ? 1 : 0;
      changed = step(s, want, !frozen, hooks) || changed;
      held += get(s).held ? 1 : 0;
    }
    metrics.set("portcullis_shard_members", "", static_cast<double>(view.size()));
    metrics.set("portcullis_shards_wanted", "", static_cast<double>(wanted));
    metrics.set("portcullis_shards_held", "", static_cast<double>(held));
    if (changed) hooks.changed();
  }

  // On the way out: every shard held is given up once idle (a sync still running after
  // renewDeadline is fenced anyway), then the member Lease.
  void release_all(const Hooks& hooks) {
    for (std::size_t s = 0; s < locks.size(); ++s) {
      Shard st = get(s);
      if (!st.held) continue;
      set(s, Shard{true, true, st.transitions});
      auto until = Clock::now() + config.lease.renew_deadline;
      while (!hooks.idle(s) && Clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (hooks.idle(s)) locks[s]->release(*client);
      set(s, Shard{});
    }
    member->release(*client);
    hooks.changed();
  }
};

ShardManager::ShardManager(ShardingConfig config, std::string inventory_namespace, Metrics& metrics)
    : m_impl(std::make_unique<Impl>(std::move(config), std::move(inventory_namespace), metrics)) {
  metrics.describe("portcullis_shard_members", "gauge",
                   "Live replicas sharing the targets, as this replica sees them (sharding).");
  metrics.describe("portcullis_shards_wanted", "gauge", "Shards rendezvous hashing assigns to this replica.");
  metrics.describe("portcullis_shards_held", "gauge", "Shards whose Lease this replica holds.");
  metrics.describe("portcullis_shard_changes_total", "counter",
                   "Shards acquired, released or lost by this replica.");
}

ShardManager::~ShardManager() {
  stop();
}

util::Result<void> ShardManager::run(const Hooks& hooks) {
  Impl& d = *m_impl;
  auto client = lease_client(d.config.lease, "sharding");
  if (!client) return util::fail(client.error());
  d.client.emplace(std::move(*client));
  log(LogLevel::info, "sharing targets",
      {{"identity", d.me()},
       {"shards", std::to_string(d.config.shards)},
       {"leases", d.ns + "/" + d.config.lease.lease_name + "-*"}});
  do d.round(hooks);
  while (d.pause(d.config.lease.retry_period));
  d.release_all(hooks);
  return {};
}

void ShardManager::stop() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->cv.notify_all();
}

bool ShardManager::may_sync(std::size_t shard) const {
  if (shard >= m_impl->locks.size()) return false;
  auto st = m_impl->get(shard);
  return st.held && !st.draining && m_impl->locks[shard]->renewed_in_time();
}

bool ShardManager::may_write(std::size_t shard) const {
  if (shard >= m_impl->locks.size()) return false;
  return m_impl->get(shard).held && m_impl->locks[shard]->renewed_in_time();
}

util::Result<void> ShardManager::confirm(std::size_t shard) const {
  if (!may_write(shard))
    return util::fail("shard " + std::to_string(shard) +
                      " is not held by this replica (its lease is not renewed)");
  return m_impl->locks[shard]->confirm(m_impl->client->connection());
}

std::size_t ShardManager::shards() const {
  return m_impl->locks.size();
}
const std::string& ShardManager::identity() const {
  return m_impl->me();
}
std::vector<std::string> ShardManager::members() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->live;
}

}  // namespace portcullis::daemon
