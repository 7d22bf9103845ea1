#pragma once
// A fake apiserver of coordination.k8s.io/v1 Leases: a real httplib::Server on loopback that
// keeps Leases in memory with resourceVersions (updates and deletes on a stale one answer 409,
// as the apiserver does), lists them, and can be made to fail every request (`set_down`). The
// real apiserver is covered by tests/e2e/leader.sh and tests/e2e/shards.sh.
#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/unit/support/tempdir.hpp"

namespace portcullis::test {

class FakeLeases {
 public:
  FakeLeases() {
    auto handler = [this](const httplib::Request& q, httplib::Response& a) { handle(q, a); };
    m_server.Get(".*", handler);
    m_server.Post(".*", handler);
    m_server.Put(".*", handler);
    m_server.Delete(".*", handler);
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~FakeLeases() {
    m_server.stop();
    m_thread.join();
  }
  FakeLeases(const FakeLeases&) = delete;
  FakeLeases& operator=(const FakeLeases&) = delete;

  std::filesystem::path kubeconfig(const TempDir& tmp) const {
    return tmp.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {server: 'http://127.0.0.1:" +
            std::to_string(m_port) +
            "'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n"
            "- name: fake\n  context: {cluster: fake, user: u}\ncurrent-context: fake\n");
  }
  // Every request answers 503 while down.
  void set_down(bool down) { m_down = down; }
  // The holder of Lease `name` ("" none or no such Lease), and its leaseTransitions.
  std::string holder(const std::string& name) const {
    std::lock_guard lock(m_mutex);
    auto it = m_leases.find(name);
    return it == m_leases.end() ? "" : it->second["spec"].value("holderIdentity", "");
  }
  long transitions(const std::string& name) const {
    std::lock_guard lock(m_mutex);
    auto it = m_leases.find(name);
    return it == m_leases.end() ? -1 : it->second["spec"].value("leaseTransitions", 0L);
  }
  bool exists(const std::string& name) const {
    std::lock_guard lock(m_mutex);
    return m_leases.contains(name);
  }

 private:
  void handle(const httplib::Request& q, httplib::Response& a) {
    if (m_down) return answer(a, 503, {{"kind", "Status"}});
    std::lock_guard lock(m_mutex);
    if (q.method == "POST" && q.path == "/api/v1/namespaces") return answer(a, 201, {{"kind", "Namespace"}});
    const std::string base = "/apis/coordination.k8s.io/v1/namespaces/";
    if (!q.path.starts_with(base)) return answer(a, 404, {});
    auto rest = q.path.substr(base.size());  // NS/leases[/NAME]
    auto slash = rest.find("/leases");
    if (slash == std::string::npos) return answer(a, 404, {});
    std::string name = rest.size() > slash + 7 ? rest.substr(slash + 8) : "";
    auto body = nlohmann::json::parse(q.body.empty() ? "{}" : q.body, nullptr, false);
    if (name.empty() && q.method == "GET") {
      nlohmann::json items = nlohmann::json::array();
      for (const auto& [n, l] : m_leases) items.push_back(l);
      return answer(a, 200, {{"kind", "LeaseList"}, {"items", items}});
    }
    if (name.empty() && q.method == "POST") {
      name = body["metadata"].value("name", "");
      if (m_leases.contains(name)) return answer(a, 409, {{"kind", "Status"}});
      return store(a, name, body, 201);
    }
    auto it = m_leases.find(name);
    if (it == m_leases.end()) return answer(a, 404, {{"kind", "Status"}});
    const std::string rv = it->second["metadata"]["resourceVersion"];
    if (q.method == "GET") return answer(a, 200, it->second);
    if (q.method == "PUT") {
      if (body["metadata"].value("resourceVersion", "") != rv) return answer(a, 409, {{"kind", "Status"}});
      return store(a, name, body, 200);
    }
    if (q.method == "DELETE") {
      auto pre = body.value("preconditions", nlohmann::json::object()).value("resourceVersion", rv);
      if (pre != rv) return answer(a, 409, {{"kind", "Status"}});
      m_leases.erase(it);
      return answer(a, 200, {{"kind", "Status"}});
    }
    answer(a, 405, {});
  }
  void store(httplib::Response& a, const std::string& name, nlohmann::json body, int status) {
    body["metadata"]["name"] = name;
    body["metadata"]["resourceVersion"] = std::to_string(++m_rv);
    m_leases[name] = body;
    answer(a, status, body);
  }
  static void answer(httplib::Response& a, int status, const nlohmann::json& body) {
    a.status = status;
    a.set_content(body.dump(), "application/json");
  }

  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::atomic<bool> m_down{false};
  mutable std::mutex m_mutex;
  std::map<std::string, nlohmann::json> m_leases;
  long m_rv = 100;
};

}  // namespace portcullis::test
