#pragma once
// The health of live objects: rollouts of Deployments, StatefulSets and DaemonSets, Jobs,
// CRDs, Namespaces, PVCs, and generic Ready/Available conditions; a target is as healthy as
// its worst object.
#include <string>
#include <string_view>

#include "shared/yaml/node.hpp"

namespace portcullis::daemon {

// Ordered from best to worst.
enum class HealthStatus { healthy, unknown, progressing, missing, degraded };
std::string_view health_name(HealthStatus h);

struct Health {
  HealthStatus status = HealthStatus::unknown;
  std::string reason;  // empty when healthy
};

// The health of one live object (its JSON as the apiserver returns it).
Health health_of(const yaml::Node& live);
// The same for an object whose apiVersion and kind are known otherwise (list items omit them).
Health health_of(const yaml::Node& live, std::string_view api_version, std::string_view kind);

// The worse of two.
inline const Health& worse(const Health& a, const Health& b) { return b.status > a.status ? b : a; }

}  // namespace portcullis::daemon
