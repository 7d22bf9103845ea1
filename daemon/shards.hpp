#pragma once
// Sharding targets across replicas with coordination.k8s.io/v1 Leases (docs/sharding.md), as
// Argo CD shards its application controller, with Kubernetes as the only coordination engine.
// Targets map to shards by a hash of their name. Each replica announces itself with a member
// Lease of its own, renewed every retryPeriod; the live members are those whose member Lease
// changed within leaseDuration (by the local clock). The wanted owner of a shard is the live
// member of highest rendezvous weight, so a new replica takes only the shards it now wins and
// a lost one's shards spread over the others. A replica acquires the Lease of each shard it is
// wanted for (created, free, or expired: daemon/lease.hpp), renews it, and releases a shard it
// is no longer wanted for once no sync or heal of it runs. It syncs a target only while it holds
// the target's shard and renewed its Lease within renewDeadline (the fence of leader election,
// per shard).
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/metrics.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

// The shard of the target `name` among `shards` (> 0): FNV-1a (64 bits) of the name, modulo.
// Every replica and every version must agree: changing it moves targets between replicas.
std::size_t shard_of(std::string_view name, std::size_t shards);
// Rendezvous (highest random weight) hashing: the member of `members` that `shard` goes to, ""
// when there is none. Adding a member moves to it only the shards it wins; removing one moves
// only the shards it had.
std::string owner_of(std::size_t shard, const std::vector<std::string>& members);
// The name of the Lease by which the replica `identity` announces itself, with the number of
// `shards` it counts: a replica that sees a live member counting otherwise acquires nothing
// until that member is gone (the same shard number would hold other targets).
std::string member_lease_name(std::string_view prefix, std::size_t shards, std::string_view identity);

class ShardManager {
 public:
  // `inventory_namespace` is the default namespace of the Leases.
  ShardManager(ShardingConfig config, std::string inventory_namespace, Metrics& metrics);
  ~ShardManager();
  ShardManager(const ShardManager&) = delete;
  ShardManager& operator=(const ShardManager&) = delete;

  struct Hooks {
    // A shard was acquired: called before may_sync() of it turns true.
    std::function<void(std::size_t shard)> acquired;
    // Whether no sync or heal of `shard` runs now; asked once may_sync() of it is false.
    std::function<bool(std::size_t shard)> idle;
    // The shards held changed.
    std::function<void()> changed;
  };
  // Announces this replica, and acquires, renews and releases shards every retryPeriod until
  // stop(); then releases every shard held (once idle) and its member Lease. Fails when the
  // cluster configuration cannot be used.
  util::Result<void> run(const Hooks& hooks);
  void stop();

  // Whether this replica may start a sync or heal of `shard`: it holds it, renewed its Lease
  // within renewDeadline, and is not giving it up.
  bool may_sync(std::size_t shard) const;
  // Whether a write of a sync already running may go ahead: held and renewed in time.
  bool may_write(std::size_t shard) const;
  // Reads the shard's Lease: succeeds only while it names this replica in the transition it
  // acquired (the fence of inventory writes).
  util::Result<void> confirm(std::size_t shard) const;

  std::size_t shards() const;
  const std::string& identity() const;
  std::vector<std::string> members() const;  // the live members last seen, sorted

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
