#pragma once
// One coordination.k8s.io/v1 Lease held as client-go's leaderelection holds it (its
// tryAcquireOrRenew and ReleaseOnCancel): leader election (daemon/leader.hpp) holds one, sharding
// (daemon/shards.hpp) one per shard and one per replica. A candidate reads the Lease; it takes it
// when nobody holds it or when the record has not changed for leaseDuration by the local clock
// (the time it last saw it change, not the holder's renewTime: clocks of replicas need not
// agree); every write is an update on the resourceVersion read (optimistic concurrency), so two
// candidates never both win. leaseTransitions counts changes of holder; acquireTime and
// renewTime are RFC 3339 micro.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "daemon/config.hpp"
#include "shared/util/error.hpp"

namespace portcullis::kube {
class Client;
struct Connection;
}  // namespace portcullis::kube

namespace portcullis::daemon {

// A Lease's spec as stored.
struct LeaseRecord {
  std::string holder;
  std::int64_t duration_seconds = 0;
  std::string acquire_time, renew_time;  // RFC 3339 with microseconds
  std::int64_t transitions = 0;
  bool operator==(const LeaseRecord&) const = default;
};

// The Lease object's JSON for `record` (with `resource_version` when updating).
std::string lease_body(std::string_view ns, std::string_view name, const LeaseRecord& record,
                       std::string_view resource_version);
// The record and resourceVersion of a Lease's JSON; fails when it is not one.
util::Result<std::pair<LeaseRecord, std::string>> parse_lease(std::string_view json);

// The host name and process id: a replica's identity when none is configured.
std::string default_lease_identity();
// A client of the cluster that keeps the Leases of `config` (its kubeconfig, or in-cluster),
// with requests timing out after half the renew deadline. `what` names the config block.
util::Result<kube::Client> lease_client(const LeaderElectionConfig& config, std::string_view what);

class LeaseLock {
 public:
  enum class Attempt { acquired, held, failed };
  // The Lease `ns`/`name`, held as `identity` (non-empty) with the timing of `timing`.
  LeaseLock(std::string ns, std::string name, std::string identity, const LeaderElectionConfig& timing);
  ~LeaseLock();
  LeaseLock(const LeaseLock&) = delete;
  LeaseLock& operator=(const LeaseLock&) = delete;

  // client-go's tryAcquireOrRenew over `client`: acquired (created, taken when free or expired,
  // or renewed: the renewal time is then now), held (by another, or lost a race), failed (the
  // apiserver did not answer as expected). Creates the namespace when it is missing.
  Attempt try_acquire_or_renew(kube::Client& client);
  // Records a read of the Lease made elsewhere (a list): keeps the expiry clock running.
  void observe(const LeaseRecord& record, const std::string& resource_version);
  // Gives the lease up when this identity holds it (empty holder, 1 s): the next candidate
  // need not wait for it to expire.
  void release(kube::Client& client);
  // Whether this identity holds the lease (as last observed) and renewed it within renewDeadline.
  bool renewed_in_time() const;
  // Reads the Lease with a client of its own over `connection`: succeeds only while it names this
  // identity in the transition last observed (the fence of inventory writes).
  util::Result<void> confirm(const kube::Connection& connection) const;

  const std::string& name() const;
  const std::string& identity() const;
  std::string holder() const;        // as last observed ("" none)
  std::int64_t transitions() const;  // as last observed

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
