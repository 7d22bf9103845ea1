#pragma once
// Which targets share a cluster. A cluster is what a target's kubeconfig and context resolve
// to: the API server and the credentials used on it. Targets of one cluster share one pool of
// connections, one set of watches and one worker thread (daemon/service.cpp), so a cluster
// that is down or hangs delays only its own targets.
#include <cstddef>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "shared/kube/kubeconfig.hpp"

namespace portcullis::daemon {

struct ClusterGroup {
  std::string key;   // server and a digest of the credentials (never the credentials themselves)
  std::string name;  // for people, logs and the `cluster` metric label: the server URL, or
                     // "URL (context C)" when several identities use one server
  std::vector<std::size_t> targets;  // indexes into the targets, in config order
};

// The key of the cluster `connection` points at: its server and a SHA-256 of its credentials
// (client certificate and key, token or token file, user name and password, CA, TLS check).
std::string cluster_key(const kube::Connection& connection);

// Groups `targets` by cluster, in order of first appearance. A target whose kubeconfig cannot be
// read now forms a group of its own per (kubeconfig, context) named after them: its syncs then
// fail with the reason, without affecting the others. `resolve` reads a target's connection
// (tests pass their own; the daemon reads kubeconfigs and the in-cluster service account).
using ResolveConnection = util::Result<kube::Connection> (*)(const TargetConfig&);
std::vector<ClusterGroup> group_by_cluster(const std::vector<TargetConfig>& targets, ResolveConnection resolve);
util::Result<kube::Connection> resolve_connection(const TargetConfig& target);

}  // namespace portcullis::daemon
