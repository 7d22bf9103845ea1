#include "daemon/access.hpp"

#include "shared/kube/client.hpp"
#include "shared/signing/wire.hpp"
#include "shared/util/json.hpp"

namespace portcullis::daemon {

namespace {

bool is_glob(std::string_view s) { return s.find_first_of("*?[]!") != std::string_view::npos; }

util::Result<kube::Client> client_of(const BreakGlassAccess& access) {
  auto conn = kube::load_kubeconfig(access.kubeconfig, access.context);
  if (!conn) return util::fail("breakGlass.access.kubeconfig: " + conn.error().message);
  return kube::Client::connect(*conn);
}

// POST `body` to `path`; an object that exists already (409) is taken as made.
util::Result<std::string> create(kube::Client& client, const std::string& path, const util::Json& body) {
  auto r = client.request(kube::Client::Method::post, path, util::dump(body));
  if (!r) return util::fail(r.error());
  if (r->status == 201 || r->status == 200 || r->status == 409) return r->body;
  return util::fail("POST " + path + ": HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300));
}

util::Result<void> remove(kube::Client& client, const std::string& path) {
  auto r = client.request(kube::Client::Method::del, path);
  if (!r) return util::fail(r.error());
  if (r->status == 200 || r->status == 202 || r->status == 404) return {};
  return util::fail("DELETE " + path + ": HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300));
}

std::string kubeconfig_text(const kube::Connection& conn, const Grant& g, const std::string& token) {
  std::string ctx = g.service_account;
  std::string out = "apiVersion: v1\nkind: Config\nclusters:\n- name: " + ctx + "\n  cluster:\n    server: " + conn.server + "\n";
  if (!conn.ca_pem.empty()) out += "    certificate-authority-data: " + signing::wire::base64_encode(conn.ca_pem) + "\n";
  out += "users:\n- name: " + ctx + "\n  user:\n    token: " + token + "\n";
  out += "contexts:\n- name: " + ctx + "\n  context:\n    cluster: " + ctx + "\n    user: " + ctx + "\n    namespace: " +
         g.namespace_ + "\ncurrent-context: " + ctx + "\n";
  return out;
}

}  // namespace

std::vector<std::string> access_namespaces(const TargetConfig& target) {
  std::vector<std::string> out;
  if (target.namespaces)
    for (const auto& ns : *target.namespaces)
      if (!is_glob(ns)) out.push_back(ns);
  if (out.empty() && !target.namespace_.empty()) out.push_back(target.namespace_);
  return out;
}

util::Result<Grant> grant_access(const BreakGlassAccess& access, const TargetConfig& target, const std::string& window_id,
                                 std::int64_t seconds) {
  auto client = client_of(access);
  if (!client) return util::fail(client.error());
  Grant g;
  g.service_account = "break-glass-" + window_id;
  g.bindings = access_namespaces(target);
  if (g.bindings.empty()) return util::fail("target " + target.name + " names no namespace to grant access in");
  g.namespace_ = g.bindings.front();
  util::Json labels{{"portcullis.io/break-glass", window_id}, {"portcullis.io/break-glass-target", target.name}};
  auto undo = [&](util::Error e) -> util::Result<Grant> {
    (void)revoke_access(access, g.service_account, g.namespace_, g.bindings);
    return util::fail(std::move(e));
  };
  std::string sa_path = "/api/v1/namespaces/" + g.namespace_ + "/serviceaccounts";
  if (auto r = create(*client, sa_path, {{"apiVersion", "v1"}, {"kind", "ServiceAccount"},
                                         {"metadata", {{"name", g.service_account}, {"labels", labels}}}});
      !r)
    return undo(r.error());
  for (const auto& ns : g.bindings) {
    util::Json rb{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                  {"kind", "RoleBinding"},
                  {"metadata", {{"name", g.service_account}, {"namespace", ns}, {"labels", labels}}},
                  {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", access.cluster_role}}},
                  {"subjects", util::Json::array({{{"kind", "ServiceAccount"}, {"name", g.service_account}, {"namespace", g.namespace_}}})}};
    if (auto r = create(*client, "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings", rb); !r)
      return undo(r.error());
  }
  util::Json tr{{"apiVersion", "authentication.k8s.io/v1"},
                {"kind", "TokenRequest"},
                {"spec", {{"expirationSeconds", std::max<std::int64_t>(seconds, 600)}}}};
  auto answer = create(*client, sa_path + "/" + g.service_account + "/token", tr);
  if (!answer) return undo(answer.error());
  auto j = util::Json::parse(*answer, nullptr, false);
  std::string token;
  if (!j.is_discarded() && j.contains("status") && j["status"].contains("token") && j["status"]["token"].is_string())
    token = j["status"]["token"].get<std::string>();
  if (token.empty()) return undo(util::fail("the TokenRequest answer holds no token").error());
  g.kubeconfig = kubeconfig_text(client->connection(), g, token);
  return g;
}

util::Result<void> revoke_access(const BreakGlassAccess& access, const std::string& service_account,
                                 const std::string& namespace_, const std::vector<std::string>& bindings) {
  auto client = client_of(access);
  if (!client) return util::fail(client.error());
  util::Result<void> result;
  for (const auto& ns : bindings)
    if (auto r = remove(*client, "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings/" + service_account);
        !r && result)
      result = util::fail(r.error());
  if (!namespace_.empty())
    if (auto r = remove(*client, "/api/v1/namespaces/" + namespace_ + "/serviceaccounts/" + service_account); !r && result)
      result = util::fail(r.error());
  return result;
}

}  // namespace portcullis::daemon
