#pragma once
// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// a candidate reads the Lease; it takes it when nobody holds it or when the record has not
// changed for leaseDuration by the local clock (the time it last saw it change, not the
// holder's renewTime: clocks of replicas need not agree); the holder renews every
// retryPeriod; every write is an update on the resourceVersion read (optimistic
// concurrency), so two candidates never both win. A leader that has not renewed for
// renewDeadline (< leaseDuration) stops leading: it stops before anyone can take its lease.
// leaseTransitions counts changes of holder; acquireTime and renewTime are RFC 3339 micro.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/config.hpp"
#include "daemon/metrics.hpp"
#include "shared/util/error.hpp"

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

class LeaderElector {
 public:
  // `inventory_namespace` is the default namespace of the Lease.
  LeaderElector(LeaderElectionConfig config, std::string inventory_namespace, Metrics& metrics);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Campaigns until stop(): calls `on_started` when this replica becomes leader and
  // `on_stopped` when it stops being one (lost renewal or stop()). Releases the lease on stop.
  // Fails when the cluster configuration cannot be used.
  util::Result<void> run(const std::function<void()>& on_started, const std::function<void()>& on_stopped);
  void stop();

  // Whether this replica may write now: it leads and renewed within renewDeadline.
  bool may_write() const;
  // Reads the Lease and tells whether this replica still holds it in the transition it
  // acquired (holder and leaseTransitions): the fence of inventory writes. Fails otherwise.
  util::Result<void> confirm();

  bool leading() const;
  const std::string& identity() const;
  std::string holder() const;       // the holder last observed ("" none)
  std::int64_t transitions() const;  // of the lease this replica holds or last saw

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
