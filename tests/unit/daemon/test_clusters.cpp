#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon/clusters.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

namespace {

// Kubeconfigs by path: "missing" cannot be read; the context picks the identity.
util::Result<kube::Connection> fake_resolve(const TargetConfig& t) {
  if (t.kubeconfig == "missing") return util::fail("cannot read missing");
  kube::Connection c;
  c.server = t.kubeconfig == "b" ? "https://b.example:6443" : "https://a.example:6443";
  c.context = t.context;
  if (t.context == "admin") c.token = "admin-token";
  else if (t.context == "cert") c.client_cert_pem = "CERT", c.client_key_pem = "KEY";
  else c.token = "reconciler-token";
  return c;
}

TargetConfig target(std::string name, std::string kubeconfig, std::string context = {}) {
  TargetConfig t;
  t.name = std::move(name);
  t.kubeconfig = std::move(kubeconfig);
  t.context = std::move(context);
  return t;
}

std::vector<std::vector<std::size_t>> members(const std::vector<ClusterGroup>& groups) {
  std::vector<std::vector<std::size_t>> out;
  for (const auto& g : groups) out.push_back(g.targets);
  return out;
}

}  // namespace

TEST_CASE("targets group by API server and credentials, in order of first appearance", "[clusters]") {
  struct Case {
    const char* what;
    std::vector<TargetConfig> targets;
    std::vector<std::vector<std::size_t>> groups;
    std::vector<std::string> names;
  };
  const std::vector<Case> cases{
      {"one cluster", {target("t1", "a"), target("t2", "a")}, {{0, 1}}, {"https://a.example:6443"}},
      {"two servers interleaved",
       {target("t1", "a"), target("t2", "b"), target("t3", "a")},
       {{0, 2}, {1}},
       {"https://a.example:6443", "https://b.example:6443"}},
      {"one server, two identities: two clusters named by context",
       {target("t1", "a", "admin"), target("t2", "a"), target("t3", "a", "admin")},
       {{0, 2}, {1}},
       {"https://a.example:6443 (context admin)", "https://a.example:6443 (context default)"}},
      {"a token and a client certificate differ",
       {target("t1", "a", "cert"), target("t2", "a", "admin")},
       {{0}, {1}},
       {"https://a.example:6443 (context cert)", "https://a.example:6443 (context admin)"}},
      {"an unreadable kubeconfig is a cluster of its own",
       {target("t1", "missing"), target("t2", "a"), target("t3", "missing")},
       {{0, 2}, {1}},
       {"missing", "https://a.example:6443"}},
      {"no targets", {}, {}, {}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto groups = group_by_cluster(c.targets, fake_resolve);
    CHECK(members(groups) == c.groups);
    std::vector<std::string> names;
    for (const auto& g : groups) names.push_back(g.name);
    CHECK(names == c.names);
  }
}

TEST_CASE("a cluster's key carries no credential in clear", "[clusters]") {
  kube::Connection c;
  c.server = "https://a.example:6443";
  c.token = "s3cr3t-token";
  c.client_key_pem = "-----BEGIN PRIVATE KEY-----";
  std::string key = cluster_key(c);
  CHECK(key.starts_with("https://a.example:6443|"));
  CHECK(key.find("s3cr3t") == std::string::npos);
  CHECK(key.find("PRIVATE") == std::string::npos);
  kube::Connection d = c;
  d.token = "other";
  CHECK(cluster_key(d) != key);
  d = c;
  d.insecure_skip_verify = true;
  CHECK(cluster_key(d) != key);
}
