#include "daemon/clusters.hpp"

#include <map>

#include "shared/util/hash.hpp"

namespace portcullis::daemon {

util::Result<kube::Connection> resolve_connection(const TargetConfig& target) {
  return target.kubeconfig.empty() ? kube::in_cluster() : kube::load_kubeconfig(target.kubeconfig, target.context);
}

std::string cluster_key(const kube::Connection& c) {
  std::string credentials;
  for (const std::string* part : {&c.ca_pem, &c.client_cert_pem, &c.client_key_pem, &c.token, &c.username, &c.password})
    credentials += std::to_string(part->size()) + ":" + *part + "|";
  credentials += c.token_file.string() + "|" + (c.insecure_skip_verify ? "insecure" : "verified");
  return c.server + "|" + util::sha256_hex(credentials);
}

std::vector<ClusterGroup> group_by_cluster(const std::vector<TargetConfig>& targets, ResolveConnection resolve) {
  std::vector<ClusterGroup> groups;
  std::map<std::string, std::size_t> by_key;
  std::map<std::string, std::size_t> per_server;  // groups per server: their names then tell the context
  std::vector<std::string> servers, contexts;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const TargetConfig& t = targets[i];
    auto conn = resolve(t);
    std::string key, server, context;
    if (conn) {
      key = cluster_key(*conn);
      server = conn->server;
      context = conn->context.empty() ? t.context : conn->context;
    } else {
      server = t.kubeconfig.empty() ? "in-cluster" : t.kubeconfig.string();
      context = t.context;
      key = "unresolved|" + server + "|" + context;
    }
    auto [it, added] = by_key.try_emplace(key, groups.size());
    if (added) {
      groups.push_back(ClusterGroup{key, server, {}});
      servers.push_back(server);
      contexts.push_back(context);
      ++per_server[server];
    }
    groups[it->second].targets.push_back(i);
  }
  for (std::size_t g = 0; g < groups.size(); ++g)
    if (per_server[servers[g]] > 1)
      groups[g].name = servers[g] + " (context " + (contexts[g].empty() ? "default" : contexts[g]) + ")";
  return groups;
}

}  // namespace portcullis::daemon
