#pragma once
// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it
// (the Lease itself: daemon/lease.hpp): the holder renews every retryPeriod; a leader that has
// not renewed for renewDeadline (< leaseDuration) stops leading: it stops before anyone can
// take its lease.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/config.hpp"
#include "daemon/lease.hpp"
#include "daemon/metrics.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

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
