#pragma once
// The drift monitor: watches what targets declare (one list+watch per cluster, resource and
// namespace, since a target's identity may list only in its namespaces; narrowed by the
// ownership label and shared by every target in that cluster), compares each
// live object the watch reports with its desired state, and keeps per target the objects that
// drifted and the health of every object. It only observes: correcting drift is the
// service's decision (selfHeal, detectOnly).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sync.hpp"
#include "shared/kube/kubeconfig.hpp"

namespace portcullis::daemon {

struct DriftItem {
  std::string key;                    // object_key()
  std::string what;                   // "apps/v1 Deployment ns/name"
  std::vector<std::string> pointers;  // where live differs from desired; empty when deleted
  bool deleted = false;
  std::string manager;  // the field manager that changed it last, when the live object tells
  std::chrono::steady_clock::time_point since;     // when the drift was seen first
  std::chrono::steady_clock::time_point observed;  // when the watch last reported it

  // "/spec/replicas,/data/key"
  std::string pointer_list() const {
    std::string out;
    for (const auto& p : pointers) out += (out.empty() ? "" : ",") + p;
    return out;
  }
};

struct TargetHealth {
  Health health;         // the worst object's, with "what: reason"
  std::size_t counts[5] = {};  // objects per HealthStatus
};

// One object a target declares, with its health as the watches report it.
struct ObjectHealth {
  std::string key;   // object_key()
  std::string what;  // "apps/v1 Deployment ns/name"
  Health health;
};

class DriftMonitor {
 public:
  // `on_drift` is called (on a watch thread, without locks held) when a target gains drift.
  // Watches select the objects labelled with one of `targets` (every target this daemon
  // syncs): objects of other daemons sharing the cluster are neither listed nor kept.
  DriftMonitor(Metrics& metrics, std::function<void(const std::string& target)> on_drift,
               std::vector<std::string> targets);
  ~DriftMonitor();
  DriftMonitor(const DriftMonitor&) = delete;
  DriftMonitor& operator=(const DriftMonitor&) = delete;

  // What `target` declares now in the cluster `connection` points at (after each sync);
  // starts the watches it needs. Drift of objects whose desired state changed is forgotten
  // (the sync applied them); drift of the others stays.
  void set_target(const std::string& target, const kube::Connection& connection,
                  std::shared_ptr<const DesiredSet> desired);

  // The objects of `target` that differ from Git now. An object applied again stays here until
  // the watch reports its new state; `observed` tells a newer drift from the one corrected.
  std::vector<DriftItem> drifted(const std::string& target) const;
  // Objects not reported by a watch that has listed are Missing; before that, Unknown.
  TargetHealth health(const std::string& target) const;

  // The objects `target` declares with their health, the worst first, at most `limit`.
  std::vector<ObjectHealth> objects(const std::string& target, std::size_t limit) const;

  std::size_t watches() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
