#include <catch2/catch.hpp>

#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "daemon/inventory.hpp"
#include "daemon/render.hpp"
#include "daemon/sync.hpp"
#include "shared/kube/client.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using nlohmann::json;
using test::GitItem;

// ---------------------------------------------------------------------------------------------
// The pure parts: ownership marks and state names.

namespace {

const yaml::Node& root_of(const yaml::Stream& s) {
  REQUIRE(s.documents.size() == 1);
  REQUIRE(s.documents[0].root);
  return *s.documents[0].root;
}

// Parses `text` as strict JSON (duplicate keys are errors); REQUIREs an object.
yaml::Stream parse_object(const std::string& text) {
  auto s = yaml::parse_json(text);
  INFO(text << "\n" << (s ? std::string() : s.error().describe()));
  REQUIRE(s);
  REQUIRE(root_of(*s).is_mapping());
  return std::move(*s);
}

std::map<std::string, std::string> string_map(const yaml::Node* n) {
  std::map<std::string, std::string> out;
  if (!n) return out;
  REQUIRE(n->is_mapping());
  for (const auto& e : n->entries) out[std::string(e.key->text)] = yaml::to_json(*e.value);
  return out;
}

std::vector<std::string> keys_of(const yaml::Node& n) {
  std::vector<std::string> out;
  for (const auto& e : n.entries) out.emplace_back(e.key->text);
  return out;
}

std::string owned_ok(const std::string& body, std::string_view ns, bool set_namespace,
                     std::string_view group = "apps", std::string_view kind = "Deployment",
                     std::string_view name = "web") {
  auto r = owned_body(body, "prod", group, kind, ns, name, set_namespace);
  INFO(body << "\n" << (r ? std::string() : r.error().describe()));
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("owner_value names the target and the object", "[sync]") {
  CHECK(owner_value("prod", "apps", "Deployment", "shop", "web") == "prod/apps/Deployment/shop/web");
  CHECK(owner_value("prod", "", "ConfigMap", "shop", "web") == "prod//ConfigMap/shop/web");
  CHECK(owner_value("prod", "rbac.authorization.k8s.io", "ClusterRole", "", "admin") ==
        "prod/rbac.authorization.k8s.io/ClusterRole//admin");
  // Each part tells objects apart.
  std::set<std::string> all{owner_value("prod", "apps", "Deployment", "shop", "web"),
                            owner_value("dev", "apps", "Deployment", "shop", "web"),
                            owner_value("prod", "extensions", "Deployment", "shop", "web"),
                            owner_value("prod", "apps", "StatefulSet", "shop", "web"),
                            owner_value("prod", "apps", "Deployment", "shop2", "web"),
                            owner_value("prod", "apps", "Deployment", "shop", "web2")};
  CHECK(all.size() == 6);
}

TEST_CASE("owned_body adds the target label and the owner annotation", "[sync]") {
  const std::string body =
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}})";
  auto out = parse_object(owned_ok(body, "shop", true));
  const yaml::Node& root = root_of(out);
  CHECK(keys_of(root) == std::vector<std::string>{"apiVersion", "kind", "metadata", "spec"});
  const yaml::Node* meta = root.get("metadata");
  REQUIRE(meta);
  CHECK(meta->get_string("name") == "web");
  CHECK(meta->get_string("namespace") == "shop");
  CHECK(string_map(meta->get("labels")) ==
        std::map<std::string, std::string>{{"portcullis.io/target", "\"prod\""}});
  CHECK(string_map(meta->get("annotations")) ==
        std::map<std::string, std::string>{{"portcullis.io/owned-by", "\"prod/apps/Deployment/shop/web\""}});
  CHECK(k_target_label == "portcullis.io/target");
  CHECK(k_owner_annotation == "portcullis.io/owned-by");
}

TEST_CASE("owned_body merges with existing labels and annotations and replaces forged marks", "[sync]") {
  const std::string body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","labels":)"
                           R"({"app":"web","portcullis.io/target":"staging","tier":"front"},"annotations":)"
                           R"({"portcullis.io/owned-by":"staging//ConfigMap/shop/web","note":"keep me",)"
                           R"("portcullis.io/prune":"disabled"}},"data":{"k":"v"}})";
  auto out = parse_object(owned_ok(body, "shop", true, "", "ConfigMap"));  // duplicate keys would not parse
  const yaml::Node* meta = root_of(out).get("metadata");
  REQUIRE(meta);
  CHECK(string_map(meta->get("labels")) ==
        std::map<std::string, std::string>{
            {"app", "\"web\""}, {"portcullis.io/target", "\"prod\""}, {"tier", "\"front\""}});
  CHECK(string_map(meta->get("annotations")) ==
        std::map<std::string, std::string>{{"note", "\"keep me\""},
                                           {"portcullis.io/owned-by", "\"prod//ConfigMap/shop/web\""},
                                           {"portcullis.io/prune", "\"disabled\""}});
}

TEST_CASE("owned_body sets the namespace only when asked", "[sync]") {
  struct Case {
    const char* name;
    std::string metadata;
    bool set_namespace;
    std::optional<std::string> expected_namespace;
  };
  const Case cases[] = {
      {"namespaced, none written", R"({"name":"web"})", true, "shop"},
      {"namespaced, another written", R"({"name":"web","namespace":"elsewhere"})", true, "shop"},
      {"namespaced, the same written", R"({"name":"web","namespace":"shop"})", true, "shop"},
      {"cluster-scoped, none written", R"({"name":"web"})", false, std::nullopt},
      {"cluster-scoped, one written", R"({"name":"web","namespace":"stray"})", false, "stray"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::string body = R"({"apiVersion":"v1","kind":"X","metadata":)" + c.metadata + "}";
    auto out = parse_object(owned_ok(body, c.set_namespace ? "shop" : "", c.set_namespace, "", "X"));
    const yaml::Node* meta = root_of(out).get("metadata");
    REQUIRE(meta);
    const yaml::Node* ns = meta->get("namespace");
    if (c.expected_namespace) {
      REQUIRE(ns);
      CHECK(ns->text == *c.expected_namespace);
    } else {
      CHECK_FALSE(ns);
    }
    CHECK(meta->get_string("name") == "web");
  }
}

TEST_CASE("owned_body keeps every other field byte-identical", "[sync]") {
  // A body as render_files writes it (compact JSON in document order).
  const std::string source = R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "generateName": "web-", "finalizers": ["a/b"], "uid": "x",
                 "ownerReferences": [{"kind": "X", "name": "y", "controller": true}],
                 "labels": {"app": "web"}, "resourceVersion": "12", "annotations": {}},
    "spec": {"replicas": 3, "paused": false, "minReadySeconds": 0, "ratio": 0.5, "big": 9007199254740993,
             "negative": -42, "nothing": null, "empty": {}, "none": [], "nested": [[1, [2, {"a": [3]}]]],
             "text": "quote \" backslash \\ newline \n tab \t unicode é ✓ 🚀 control \u0001",
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
    "status": {"observedGeneration": 1},
    "data": "trailing"
  })";
  auto parsed = parse_object(source);
  const std::string body = yaml::to_json(root_of(parsed));
  const std::string out = owned_ok(body, "shop", true);
  auto after = parse_object(out);
  const yaml::Node& before_root = root_of(parsed);
  const yaml::Node& after_root = root_of(after);
  REQUIRE(keys_of(after_root) == keys_of(before_root));
  for (const auto& e : before_root.entries) {
    std::string key(e.key->text);
    INFO(key);
    if (key == "metadata") continue;
    const std::string member = "\"" + key + "\":" + yaml::to_json(*e.value);
    CHECK(out.find(member) != std::string::npos);  // the very bytes of the body
    REQUIRE(after_root.get(key));
    CHECK(yaml::to_json(*after_root.get(key)) == yaml::to_json(*e.value));
  }
  const yaml::Node* meta_before = before_root.get("metadata");
  const yaml::Node* meta_after = after_root.get("metadata");
  REQUIRE(meta_after);
  for (const auto& e : meta_before->entries) {
    std::string key(e.key->text);
    if (key == "labels" || key == "annotations" || key == "namespace") continue;
    INFO("metadata." << key);
    const std::string member = "\"" + key + "\":" + yaml::to_json(*e.value);
    CHECK(out.find(member) != std::string::npos);
  }
  CHECK(string_map(meta_after->get("labels")) ==
        std::map<std::string, std::string>{{"app", "\"web\""}, {"portcullis.io/target", "\"prod\""}});
}

TEST_CASE("owned_body escapes what it writes", "[sync]") {
  const std::string body = R"({"apiVersion":"v1","kind":"X","metadata":{"name":"a"}})";
  auto r = owned_body(body, "prod", "", "X", "n\"s\\", "a\"\n", true);
  REQUIRE(r);
  auto out = parse_object(*r);
  const yaml::Node* meta = root_of(out).get("metadata");
  REQUIRE(meta);
  CHECK(meta->get_string("namespace") == "n\"s\\");
  REQUIRE(meta->get("annotations"));
  CHECK(meta->get("annotations")->get_string(k_owner_annotation) ==
        owner_value("prod", "", "X", "n\"s\\", "a\"\n"));
}

TEST_CASE("owned_body refuses bodies that are not JSON objects", "[sync]") {
  for (const char* body : {"", "[]", "[{\"metadata\":{}}]", "\"text\"", "42", "null", "true", "{", "not json",
                           "apiVersion: v1\nkind: X\n", "{\"a\":1} {\"b\":2}", "{\"a\":1,\"a\":2}"}) {
    INFO("'" << body << "'");
    auto r = owned_body(body, "prod", "", "X", "ns", "n", true);
    CHECK_FALSE(r);
  }
}

TEST_CASE("state_name spells the sync states as the API shows them", "[sync]") {
  CHECK(state_name(SyncState::unknown) == "Unknown");
  CHECK(state_name(SyncState::synced) == "Synced");
  CHECK(state_name(SyncState::out_of_sync) == "OutOfSync");
  CHECK(state_name(SyncState::failed) == "Failed");
}

// ---------------------------------------------------------------------------------------------
// TargetSyncer against a fake apiserver: a real httplib::Server on loopback that serves
// discovery, server-side apply, GET and DELETE (with UID preconditions) from an in-memory
// store, records every request and answers chosen requests with chosen errors. The real
// apiserver is covered by tests/e2e/reconcile.sh; this covers the order and the guards
// request by request.

namespace {

struct Request {
  std::string method;
  std::string path;  // without the query
  std::string query;
  std::string content_type;
  std::string body;
  std::string accept;
};

class FakeApiserver {
 public:
  FakeApiserver() {
    m_server.Get(".*", [this](const httplib::Request& q, httplib::Response& a) { handle(q, a); });
    m_server.Patch(".*", [this](const httplib::Request& q, httplib::Response& a) { handle(q, a); });
    m_server.Delete(".*", [this](const httplib::Request& q, httplib::Response& a) { handle(q, a); });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~FakeApiserver() {
    m_server.stop();
    m_thread.join();
  }
  FakeApiserver(const FakeApiserver&) = delete;
  FakeApiserver& operator=(const FakeApiserver&) = delete;

  // A kubeconfig for this server (context namespace "team") in `tmp`.
  std::filesystem::path kubeconfig(const test::TempDir& tmp) const {
    return tmp.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {server: 'http://127.0.0.1:" +
            std::to_string(m_port) +
            "'}\nusers:\n- name: u\n  user: {token: secret-token}\ncontexts:\n"
            "- name: fake\n  context: {cluster: fake, user: u, namespace: team}\n"
            "current-context: fake\n");
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  void clear_requests() {
    std::lock_guard lock(m_mutex);
    m_requests.clear();
  }
  // Paths of the stored objects that start with `prefix`.
  std::vector<std::string> paths(const std::string& prefix) const {
    std::lock_guard lock(m_mutex);
    std::vector<std::string> out;
    for (const auto& [path, o] : m_objects)
      if (path.starts_with(prefix)) out.push_back(path);
    return out;
  }
  std::optional<json> object(const std::string& path) const {
    std::lock_guard lock(m_mutex);
    auto it = m_objects.find(path);
    return it == m_objects.end() ? std::nullopt : std::optional<json>(it->second);
  }
  // Stores `object` at `path` as a write by someone else would: with a new resourceVersion.
  void put(const std::string& path, json object) {
    std::lock_guard lock(m_mutex);
    if (object.contains("metadata")) object["metadata"]["resourceVersion"] = std::to_string(++m_versions);
    m_objects[path] = std::move(object);
  }
  void erase(const std::string& path) {
    std::lock_guard lock(m_mutex);
    m_objects.erase(path);
  }
  // After the next GET of `path`, the object changes (a new resourceVersion): what a writer
  // racing the syncer between its read and its apply does.
  void change_after_get(const std::string& path) {
    std::lock_guard lock(m_mutex);
    m_change_after_get.insert(path);
  }
  // Answers the next `times` requests `method` `path` with `status` (a Status object).
  void fail(const std::string& method, const std::string& path, int status, int times = 1000) {
    std::lock_guard lock(m_mutex);
    m_failures[method + " " + path] = {status, times};
  }

 private:
  static json status(int code, const std::string& message) {
    return {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"status", "Failure"},
            {"message", message},
            {"code", code}};
  }

  // Resources served per group-version: plural, kind, namespaced.
  std::optional<json> discovery(const std::string& path) const {
    auto list = [](const std::string& gv, std::vector<std::tuple<const char*, const char*, bool>> resources) {
      json out = {{"kind", "APIResourceList"}, {"groupVersion", gv}, {"resources", json::array()}};
      for (const auto& [plural, kind, namespaced] : resources) {
        out["resources"].push_back(
            {{"name", plural}, {"kind", kind}, {"namespaced", namespaced}, {"verbs", {"get"}}});
        out["resources"].push_back({{"name", std::string(plural) + "/status"},
                                    {"kind", kind},
                                    {"namespaced", namespaced},
                                    {"verbs", {"get"}}});
      }
      return out;
    };
    if (path == "/api/v1")
      return list("v1", {{"namespaces", "Namespace", false},
                         {"configmaps", "ConfigMap", true},
                         {"secrets", "Secret", true},
                         {"serviceaccounts", "ServiceAccount", true}});
    if (path == "/apis/apps/v1") return list("apps/v1", {{"deployments", "Deployment", true}});
    if (path == "/apis/rbac.authorization.k8s.io/v1")
      return list("rbac.authorization.k8s.io/v1",
                  {{"clusterroles", "ClusterRole", false}, {"roles", "Role", true}});
    if (path == "/apis/apiextensions.k8s.io/v1")
      return list("apiextensions.k8s.io/v1",
                  {{"customresourcedefinitions", "CustomResourceDefinition", false}});
    if (path == "/apis/example.com/v1" &&
        m_objects.contains("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"))
      return list("example.com/v1", {{"widgets", "Widget", true}});
    return std::nullopt;
  }

  void handle(const httplib::Request& q, httplib::Response& a) {
    std::lock_guard lock(m_mutex);
    Request r{q.method, q.path, {}, q.get_header_value("Content-Type"), q.body, q.get_header_value("Accept")};
    auto qm = q.target.find('?');
    if (qm != std::string::npos) r.query = q.target.substr(qm + 1);
    m_requests.push_back(r);
    auto reply = [&](int code, const json& body) {
      a.status = code;
      a.set_content(body.dump(), "application/json");
    };
    if (q.get_header_value("Authorization") != "Bearer secret-token")
      return reply(401, status(401, "Unauthorized"));
    if (auto f = m_failures.find(q.method + " " + q.path); f != m_failures.end() && f->second.second > 0) {
      --f->second.second;
      return reply(f->second.first,
                   status(f->second.first, "injected failure of " + q.method + " " + q.path));
    }
    if (q.method == "GET") {
      if (auto d = discovery(q.path)) return reply(200, *d);
      if (q.path.ends_with("/configmaps")) {  // a list, by labelSelector "k=v,k=v" when given
        std::vector<std::pair<std::string, std::string>> wanted;
        std::string selector = q.get_param_value("labelSelector");
        for (std::size_t at = 0; at < selector.size();) {
          std::size_t comma = std::min(selector.find(',', at), selector.size());
          std::string term = selector.substr(at, comma - at);
          auto eq = term.find('=');
          REQUIRE(eq != std::string::npos);  // the only selectors the syncer sends
          wanted.emplace_back(term.substr(0, eq), term.substr(eq + 1));
          at = comma + 1;
        }
        json list = {{"kind", "ConfigMapList"}, {"apiVersion", "v1"}, {"items", json::array()}};
        for (const auto& [path, o] : m_objects) {
          if (!path.starts_with(q.path + "/") || path.find('/', q.path.size() + 1) != std::string::npos)
            continue;
          const json labels = o["metadata"].value("labels", json::object());
          bool match = std::all_of(wanted.begin(), wanted.end(), [&](const auto& kv) {
            return labels.contains(kv.first) && labels[kv.first] == kv.second;
          });
          if (match) list["items"].push_back(o);
        }
        return reply(200, list);
      }
      auto it = m_objects.find(q.path);
      if (it == m_objects.end()) return reply(404, status(404, q.path + " not found"));
      json o = it->second;
      if (m_change_after_get.erase(q.path)) it->second["metadata"]["resourceVersion"] = std::to_string(++m_versions);
      if (o.value("kind", "") == "CustomResourceDefinition")
        o["status"] = {{"conditions", {{{"type", "Established"}, {"status", "True"}}}}};
      return reply(200, o);
    }
    if (q.method == "PATCH") {
      if (r.content_type != "application/apply-patch+yaml")
        return reply(415, status(415, "not an apply patch"));
      json o = json::parse(q.body, nullptr, /*allow_exceptions=*/false);
      if (!o.is_object()) return reply(400, status(400, "body is not a JSON object"));
      if (o.contains("metadata") && o["metadata"].contains("labels"))  // as the apiserver validates them
        for (const auto& [k, v] : o["metadata"]["labels"].items())
          if (!v.is_string() || v.get<std::string>().size() > 63)
            return reply(422,
                         status(422, "metadata.labels: Invalid value: must be no more than 63 characters"));
      auto it = m_objects.find(q.path);
      bool created = it == m_objects.end();
      // A resourceVersion in the applied object is a precondition, as on the apiserver.
      if (std::string rv = o["metadata"].value("resourceVersion", ""); !rv.empty() && !created &&
          rv != it->second["metadata"].value("resourceVersion", ""))
        return reply(409, status(409, "Operation cannot be fulfilled: the object has been modified"));
      // Field managers: one Apply entry per manager; an apply of nothing but the identity
      // releases the manager's entry (its fields are not modelled).
      std::string manager = q.get_param_value("fieldManager");
      json managers = created ? json::array() : it->second["metadata"].value("managedFields", json::array());
      json kept = json::array();
      for (const auto& m : managers)
        if (m.value("manager", "") != manager) kept.push_back(m);
      bool nothing = o.size() == 3 && o["metadata"].size() <= 2;
      if (!nothing) kept.push_back({{"manager", manager}, {"operation", "Apply"}});
      if (nothing && !created) {
        json old = it->second;
        old["metadata"]["managedFields"] = kept;
        o = old;
      }
      o["metadata"]["managedFields"] = kept;
      o["metadata"]["uid"] = created ? json("uid-" + std::to_string(++m_uids)) : it->second["metadata"]["uid"];
      o["metadata"]["resourceVersion"] = std::to_string(++m_versions);
      m_objects[q.path] = o;
      return reply(created ? 201 : 200, o);
    }
    if (q.method == "DELETE") {
      auto it = m_objects.find(q.path);
      if (it == m_objects.end()) return reply(404, status(404, q.path + " not found"));
      json options = json::parse(q.body, nullptr, false);
      if (options.is_object() && options.contains("preconditions") &&
          options["preconditions"].value("uid", "") != it->second["metadata"].value("uid", ""))
        return reply(409, status(409, "Precondition failed: UID in precondition does not match"));
      json gone = it->second;
      m_objects.erase(it);
      return reply(200, gone);
    }
    reply(405, status(405, "method not allowed"));
  }

  httplib::Server m_server;
  std::thread m_thread;
  int m_port = 0;
  mutable std::mutex m_mutex;
  std::vector<Request> m_requests;
  std::map<std::string, json> m_objects;
  std::map<std::string, std::pair<int, int>> m_failures;
  std::set<std::string> m_change_after_get;
  int m_uids = 0;
  int m_versions = 100;
};

const std::string k_inventory = "/api/v1/namespaces/portcullis-system/configmaps/portcullis-inventory-prod";

std::string cm_path(const std::string& name, const std::string& ns = "team") {
  return "/api/v1/namespaces/" + ns + "/configmaps/" + name;
}

std::string configmap(const std::string& name, const std::string& value = "1") {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {v: '" + value + "'}\n";
}

// One ConfigMap per file: env/<name>.yaml.
std::vector<GitItem> configmaps(const std::vector<std::string>& names) {
  std::vector<GitItem> items;
  for (const auto& n : names) items.push_back({"env/" + n + ".yaml", configmap(n)});
  return items;
}

// A fake apiserver, a fixture repository and a syncer of target "prod" (directory env/).
struct Harness {
  test::TempDir tmp;
  FakeApiserver api;
  test::GitFixture fx{tmp};
  git::Repository repo = fx.open();
  TargetConfig config;

  Harness() {
    config.name = "prod";
    config.path = "env";
    config.kubeconfig = api.kubeconfig(tmp);
    config.concurrency = 3;
    // Wide confinement: the tests of confinement narrow it.
    config.namespaces = std::vector<std::string>{"*"};
    config.cluster_kinds = {"Namespace", "apiextensions.k8s.io/CustomResourceDefinition",
                            "rbac.authorization.k8s.io/ClusterRole"};
  }

  // Syncs `items` as a commit (on top of nothing: every commit stands alone).
  SyncResult sync(TargetSyncer& syncer, const std::vector<GitItem>& items) {
    api.clear_requests();
    return syncer.sync(repo, fx.commit(items));
  }

  Inventory inventory() const {
    auto cm = api.object(k_inventory);
    REQUIRE(cm);
    Inventory inv;
    inv.revision = (*cm)["data"].value("revision", "");
    inv.tree = (*cm)["data"].value("tree", "");
    auto entries = decode_entries((*cm)["data"].value("objects", ""));
    REQUIRE(entries);
    inv.entries = std::move(*entries);
    return inv;
  }

  std::set<std::string> inventory_names() const {
    std::set<std::string> out;
    for (const auto& e : inventory().entries) out.insert(e.name);
    return out;
  }

  std::vector<Request> requests(const std::string& method) const {
    std::vector<Request> out;
    for (auto& r : api.requests())
      if (r.method == method) out.push_back(r);
    return out;
  }

  // Paths of the PATCHes of objects (the inventory left out), in order.
  std::vector<std::string> applied() const {
    std::vector<std::string> out;
    for (auto& r : requests("PATCH"))
      if (r.path != k_inventory) out.push_back(r.path);
    return out;
  }
  std::vector<std::string> deleted() const {
    std::vector<std::string> out;
    for (auto& r : requests("DELETE")) out.push_back(r.path);
    return out;
  }
};

std::string describe(const SyncResult& r) {
  std::string out = std::string(state_name(r.state)) + " applied=" + std::to_string(r.applied) +
                    " pruned=" + std::to_string(r.pruned) + " objects=" + std::to_string(r.objects);
  for (const auto& e : r.errors) out += "\n error: " + e;
  for (const auto& w : r.warnings) out += "\n warning: " + w;
  if (!r.prune_blocked.empty()) out += "\n prune blocked: " + r.prune_blocked;
  return out;
}

std::size_t index_of(const std::vector<Request>& log, const std::string& method, const std::string& path) {
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i].method == method && log[i].path == path) return i;
  FAIL("no request " << method << " " << path);
  return 0;
}

std::size_t last_index_of(const std::vector<Request>& log, const std::string& method, const std::string& path) {
  for (std::size_t i = log.size(); i-- > 0;)
    if (log[i].method == method && log[i].path == path) return i;
  FAIL("no request " << method << " " << path);
  return 0;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

const char* k_crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
)";

}  // namespace

TEST_CASE("a first sync applies Namespaces and CRDs first, then cluster-scoped, then namespaced objects",
          "[sync][apiserver]") {
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  // File order puts namespaced objects first: the order must come from the kinds.
  const std::vector<GitItem> items{
      {"env/a-app.yaml",
       configmap("settings") +
           "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"},
      {"env/b-widget.yaml",
       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: shop}\n"},
      {"env/c-rbac.yaml",
       "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"},
      {"env/d-crd.yaml", k_crd},
      {"env/e-ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"},
      {"env/README.md", "not a manifest"},
      {"elsewhere/x.yaml", configmap("not-this-target")},
  };
  auto commit = h.fx.commit(items);
  h.api.clear_requests();
  SyncResult r = syncer.sync(h.repo, commit);
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(r.errors.empty());
  CHECK(r.revision == commit.hex());
  CHECK(r.applied == 6);
  CHECK(r.objects == 6);
  CHECK(r.pruned == 0);
  CHECK(r.prune_blocked.empty());

  const std::string ns = "/api/v1/namespaces/shop";
  const std::string crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com";
  const std::string role = "/apis/rbac.authorization.k8s.io/v1/clusterroles/reader";
  const std::string cm = cm_path("settings");
  const std::string deploy = "/apis/apps/v1/namespaces/shop/deployments/web";
  const std::string widget = "/apis/example.com/v1/namespaces/shop/widgets/w1";
  CHECK(sorted(h.applied()) == sorted(std::vector<std::string>{ns, crd, role, cm, deploy, widget}));

  auto log = h.api.requests();
  auto at = [&](const std::string& method, const std::string& path) { return index_of(log, method, path); };
  // Objects new to the target: who owns them is read first (metadata only), before the apply.
  for (const auto& p : {ns, crd, role, cm, deploy, widget}) {
    INFO(p);
    std::size_t read = at("GET", p);
    CHECK(log[read].accept == kube::Client::k_accept_metadata);
    CHECK(read < at("PATCH", p));
  }
  // Reads of whole objects: waiting for the CRD to be Established.
  std::vector<Request> whole;
  for (const auto& q : log)
    if (q.method != "GET" || q.accept != kube::Client::k_accept_metadata) whole.push_back(q);
  log = whole;
  // Phase 0: the Namespace and the CRD, then the CRD is waited for (Established).
  CHECK(at("PATCH", ns) < at("GET", crd));
  CHECK(at("PATCH", crd) < at("GET", crd));
  // The Widget's kind is discovered only after its CRD is in.
  CHECK(at("GET", crd) < at("GET", "/apis/example.com/v1"));
  // Phase 1: cluster-scoped objects, after phase 0.
  CHECK(at("GET", crd) < at("PATCH", role));
  // Phase 2: namespaced objects, after every cluster-scoped one.
  for (const auto& p : {cm, deploy, widget}) {
    INFO(p);
    CHECK(at("PATCH", role) < at("PATCH", p));
  }
  // Write-ahead: the objects are in the inventory before each phase applies them (Namespace
  // and CRD; then the others, once their kinds are known).
  std::vector<std::size_t> inventory_writes;
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i].method == "PATCH" && log[i].path == k_inventory) inventory_writes.push_back(i);
  REQUIRE(inventory_writes.size() == 3);
  CHECK(inventory_writes[0] < at("PATCH", ns));
  CHECK(inventory_writes[0] < at("PATCH", crd));
  CHECK(at("GET", "/apis/example.com/v1") < inventory_writes[1]);
  for (const auto& p : {role, cm, deploy, widget}) {
    INFO(p);
    CHECK(inventory_writes[1] < at("PATCH", p));
  }
  // Stray shards are looked for once after a start (after the first store), and the
  // inventory is written last.
  const Request& strays = log[inventory_writes[0] + 1];
  CHECK(strays.method == "GET");
  CHECK(strays.path == "/api/v1/namespaces/portcullis-system/configmaps");
  CHECK_THAT(strays.query, Catch::Contains("inventory-shard"));
  CHECK(inventory_writes[2] == log.size() - 1);
  CHECK(h.deleted().empty());

  // Every apply is a forced server-side apply by the target's field manager.
  for (const auto& q : h.requests("PATCH")) {
    INFO(q.path);
    CHECK(q.content_type == "application/apply-patch+yaml");
    CHECK(q.query == "fieldManager=portcullis-prod&force=true");
  }

  // Bodies carry the ownership marks; namespaced objects without a namespace get the context's.
  auto live_cm = h.api.object(cm);
  REQUIRE(live_cm);
  CHECK((*live_cm)["metadata"]["namespace"] == "team");
  CHECK((*live_cm)["metadata"]["labels"]["portcullis.io/target"] == "prod");
  CHECK((*live_cm)["metadata"]["annotations"]["portcullis.io/owned-by"] == "prod//ConfigMap/team/settings");
  CHECK((*live_cm)["data"]["v"] == "1");
  auto live_role = h.api.object(role);
  REQUIRE(live_role);
  CHECK_FALSE((*live_role)["metadata"].contains("namespace"));
  CHECK((*live_role)["metadata"]["annotations"]["portcullis.io/owned-by"] ==
        "prod/rbac.authorization.k8s.io/ClusterRole//reader");
  CHECK(h.api.object(cm_path("not-this-target")) == std::nullopt);

  // The inventory records what was applied: identity, the UID the server gave, hash and file.
  Inventory inv = h.inventory();
  CHECK(inv.revision == commit.hex());
  auto tree = h.repo.commit_tree(commit);
  REQUIRE(tree);
  auto dir = h.repo.entry_at(*tree, "env");
  REQUIRE(dir);
  REQUIRE(*dir);
  CHECK(inv.tree == (*dir)->oid.hex());
  REQUIRE(inv.entries.size() == 6);
  auto files = manifest_files(h.repo, (*dir)->oid, "", {});
  REQUIRE(files);
  auto rendered = render_files(h.repo, *files);
  REQUIRE(rendered);
  for (const auto& e : inv.entries) {
    INFO(e.key());
    std::string path = e.kind == "ConfigMap"     ? cm
                       : e.kind == "Deployment"  ? deploy
                       : e.kind == "Widget"      ? widget
                       : e.kind == "ClusterRole" ? role
                       : e.kind == "Namespace"   ? ns
                                                 : crd;
    auto live = h.api.object(path);
    REQUIRE(live);
    CHECK(e.uid == (*live)["metadata"]["uid"]);
    auto d = std::find_if(rendered->objects.begin(), rendered->objects.end(),
                          [&](const DesiredObject& o) { return o.kind == e.kind && o.name == e.name; });
    REQUIRE(d != rendered->objects.end());
    CHECK(e.hash == d->hash);
    CHECK(e.path == d->path);
  }
  // Namespaces as resolved: none for cluster-scoped kinds, the context's when none is written.
  std::vector<std::string> namespaces;
  for (const auto& e : inv.entries) namespaces.push_back(e.namespace_);
  CHECK(sorted(namespaces) == std::vector<std::string>{"", "", "", "shop", "shop", "team"});
}

TEST_CASE("a target's namespace overrides the context's; forceConflicts: false applies without force",
          "[sync][apiserver]") {
  Harness h;
  h.config.namespace_ = "override";
  h.config.force_conflicts = false;
  TargetSyncer syncer(h.config, "portcullis-system");
  SyncResult r = h.sync(syncer, configmaps({"a"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(h.applied() == std::vector<std::string>{cm_path("a", "override")});
  for (const auto& q : h.requests("PATCH"))
    if (q.path != k_inventory) CHECK(q.query == "fieldManager=portcullis-prod");
}

TEST_CASE("unchanged trees and unchanged objects are not applied again", "[sync][apiserver]") {
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  const std::string app =
      configmap("settings") + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";
  std::vector<GitItem> items{{"env/app.yaml", app},
                             {"env/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"},
                             {"env/other.yaml", configmap("other")}};
  SyncResult first = h.sync(syncer, items);
  INFO(describe(first));
  REQUIRE(first.state == SyncState::synced);
  REQUIRE(first.applied == 4);

  SECTION("the same tree again: the inventory is read and nothing else") {
    SyncResult again = h.sync(syncer, items);
    INFO(describe(again));
    CHECK(again.state == SyncState::synced);
    CHECK(again.applied == 0);
    CHECK(again.objects == 4);
    auto log = h.api.requests();
    REQUIRE(log.size() == 1);
    CHECK(log[0].method == "GET");
    CHECK(log[0].path == k_inventory);
  }

  SECTION("another commit with the same target tree: nothing applied") {
    items.push_back({"elsewhere/change.yaml", configmap("z")});
    SyncResult again = h.sync(syncer, items);
    CHECK(again.state == SyncState::synced);
    CHECK(h.applied().empty());
    CHECK(h.api.requests().size() == 1);
  }

  SECTION("only objects whose rendered body changed are applied") {
    items[0].content = "# reformatted\n" + configmap("settings", "2") +
                       "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web  # same object\n";
    items[1].content = "# only a comment\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
    SyncResult second = h.sync(syncer, items);
    INFO(describe(second));
    CHECK(second.state == SyncState::synced);
    CHECK(second.applied == 1);
    CHECK(second.objects == 4);
    CHECK(h.applied() == std::vector<std::string>{cm_path("settings")});
    CHECK((*h.api.object(cm_path("settings")))["data"]["v"] == "2");
    CHECK(h.inventory().entries.size() == 4);
  }

  SECTION("a full render (no tree in the inventory) still skips unchanged objects by hash") {
    auto inv = h.api.object(k_inventory);
    REQUIRE(inv);
    (*inv)["data"]["tree"] = "";
    h.api.put(k_inventory, *inv);
    SyncResult second = h.sync(syncer, items);
    INFO(describe(second));
    CHECK(second.state == SyncState::synced);
    CHECK(second.applied == 0);
    CHECK(second.objects == 4);
    CHECK(h.applied().empty());
    CHECK_FALSE(h.inventory().tree.empty());  // written again, complete
  }
}

TEST_CASE("an object whose file was renamed is pruned once that file is deleted", "[sync][apiserver]") {
  // Incremental renders decide "still desired" by the inventory's file paths, so the inventory
  // must follow an unchanged object into its new file.
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  SyncResult first = h.sync(
      syncer,
      {{"env/a.yaml", configmap("x")}, {"env/p.yaml", configmap("p")}, {"env/q.yaml", configmap("q")}});
  INFO(describe(first));
  REQUIRE(first.state == SyncState::synced);

  SyncResult renamed = h.sync(
      syncer,
      {{"env/b.yaml", configmap("x")}, {"env/p.yaml", configmap("p")}, {"env/q.yaml", configmap("q")}});
  INFO(describe(renamed));
  CHECK(renamed.state == SyncState::synced);
  CHECK(renamed.applied == 0);  // the same body
  for (const auto& e : h.inventory().entries)
    if (e.name == "x") CHECK(e.path == "b.yaml");

  SyncResult removed = h.sync(syncer, {{"env/p.yaml", configmap("p")}, {"env/q.yaml", configmap("q")}});
  INFO(describe(removed));
  CHECK(removed.state == SyncState::synced);
  CHECK(removed.objects == 2);
  CHECK(removed.pruned == 1);
  CHECK(h.deleted() == std::vector<std::string>{cm_path("x")});
  CHECK(h.inventory_names() == std::set<std::string>{"p", "q"});
}

TEST_CASE("a transient apiserver error is retried", "[sync][apiserver]") {
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  h.api.fail("PATCH", cm_path("a"), 503, 1);
  SyncResult r = h.sync(syncer, configmaps({"a"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(r.applied == 1);
  CHECK(h.applied() == std::vector<std::string>{cm_path("a"), cm_path("a")});
  CHECK(h.api.object(cm_path("a")));
}

TEST_CASE("the prune guards: allowEmpty, maxPruneShare and a one-time allow", "[sync][apiserver]") {
  Harness h;
  const std::vector<std::string> four{"a", "b", "c", "d"};

  SECTION("a target is never emptied without allowEmpty") {
    TargetSyncer syncer(h.config, "portcullis-system");
    REQUIRE(h.sync(syncer, configmaps(four)).state == SyncState::synced);
    for (const auto& items : {std::vector<GitItem>{{"env/README.md", "all gone"}}, std::vector<GitItem>{}}) {
      SyncResult r = h.sync(syncer, items);
      INFO(describe(r));
      CHECK(r.state == SyncState::out_of_sync);
      CHECK(r.pruned == 0);
      CHECK_THAT(r.prune_blocked, Catch::Contains("empty") && Catch::Contains("allowEmpty"));
      CHECK(h.deleted().empty());
      CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});
      CHECK(h.inventory().tree.empty());  // retried in full next time
    }
    // With allowEmpty, the same commit empties it.
    h.config.allow_empty = true;
    TargetSyncer allowed(h.config, "portcullis-system");
    SyncResult r = h.sync(allowed, {{"env/README.md", "all gone"}});
    INFO(describe(r));
    CHECK(r.state == SyncState::synced);
    CHECK(r.pruned == 4);
    CHECK(sorted(h.deleted()) ==
          std::vector<std::string>{cm_path("a"), cm_path("b"), cm_path("c"), cm_path("d")});
    CHECK(h.inventory().entries.empty());
  }

  SECTION("more than maxPruneShare waits for allow_next_prune, which lasts one prune") {
    TargetSyncer syncer(h.config, "portcullis-system");
    REQUIRE(h.sync(syncer, configmaps(four)).state == SyncState::synced);
    SyncResult blocked = h.sync(syncer, configmaps({"a"}));  // 3 of 4 > 0.5
    INFO(describe(blocked));
    CHECK(blocked.state == SyncState::out_of_sync);
    CHECK_THAT(blocked.prune_blocked, Catch::Contains("3 of 4") && Catch::Contains("maxPruneShare") &&
                                          Catch::Contains("/v1/targets/prod/allow-prune"));
    CHECK(h.deleted().empty());
    CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});

    SyncResult still = h.sync(syncer, configmaps({"a"}));
    CHECK(still.state == SyncState::out_of_sync);
    CHECK(h.deleted().empty());

    syncer.allow_next_prune();
    SyncResult allowed = h.sync(syncer, configmaps({"a"}));
    INFO(describe(allowed));
    CHECK(allowed.state == SyncState::synced);
    CHECK(allowed.pruned == 3);
    CHECK(allowed.prune_blocked.empty());
    CHECK(sorted(h.deleted()) == std::vector<std::string>{cm_path("b"), cm_path("c"), cm_path("d")});
    CHECK(h.inventory_names() == std::set<std::string>{"a"});

    // Used up: the next large prune is blocked again.
    REQUIRE(h.sync(syncer, configmaps({"a", "e", "f", "g"})).state == SyncState::synced);
    SyncResult again = h.sync(syncer, configmaps({"e"}));
    INFO(describe(again));
    CHECK(again.state == SyncState::out_of_sync);
    CHECK(h.deleted().empty());
  }

  SECTION("exactly maxPruneShare is allowed") {
    TargetSyncer syncer(h.config, "portcullis-system");
    REQUIRE(h.sync(syncer, configmaps(four)).state == SyncState::synced);
    SyncResult r = h.sync(syncer, configmaps({"a", "b"}));  // 2 of 4 = 0.5
    INFO(describe(r));
    CHECK(r.state == SyncState::synced);
    CHECK(r.pruned == 2);
    CHECK(sorted(h.deleted()) == std::vector<std::string>{cm_path("c"), cm_path("d")});
  }

  SECTION("an allow lasts for the next sync only, even when that sync prunes nothing") {
    // "Lets the next sync prune past the maxPruneShare guard (once)": an allow that outlives
    // the sync it was meant for disarms the guard for a mass deletion weeks later.
    TargetSyncer syncer(h.config, "portcullis-system");
    REQUIRE(h.sync(syncer, configmaps(four)).state == SyncState::synced);
    syncer.allow_next_prune();
    REQUIRE(h.sync(syncer, configmaps({"a", "b", "c", "d", "e"})).state == SyncState::synced);
    SyncResult r = h.sync(syncer, configmaps({"a"}));  // 4 of 5
    INFO(describe(r));
    CHECK(r.state == SyncState::out_of_sync);
    CHECK(r.pruned == 0);
    CHECK(h.deleted().empty());
  }

  SECTION("prune: false keeps everything and blocks nothing") {
    h.config.prune = false;
    TargetSyncer syncer(h.config, "portcullis-system");
    REQUIRE(h.sync(syncer, configmaps(four)).state == SyncState::synced);
    SyncResult r = h.sync(syncer, configmaps({"a"}));
    INFO(describe(r));
    CHECK(r.state == SyncState::synced);
    CHECK(r.prune_blocked.empty());
    CHECK(h.deleted().empty());
    CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});
  }
}

TEST_CASE("nothing is pruned after a failed apply, discovery or render", "[sync][apiserver]") {
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  std::vector<GitItem> items = configmaps({"a", "b", "c", "d"});
  REQUIRE(h.sync(syncer, items).state == SyncState::synced);
  std::string hash_a;
  for (const auto& e : h.inventory().entries)
    if (e.name == "a") hash_a = e.hash;
  REQUIRE_FALSE(hash_a.empty());

  SECTION("an apply fails") {
    h.api.fail("PATCH", cm_path("a"), 422);
    std::vector<GitItem> next = configmaps({"b", "c"});
    next.push_back({"env/a.yaml", configmap("a", "changed")});  // d removed, a changed
    SyncResult r = h.sync(syncer, next);
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::Contains("ConfigMap team/a") && Catch::Contains("422") &&
                                Catch::Contains("injected failure"));
    CHECK(r.pruned == 0);
    CHECK(h.deleted().empty());
    Inventory inv = h.inventory();
    CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});  // d still owned
    for (const auto& e : inv.entries)
      if (e.name == "a") CHECK(e.hash == hash_a);  // what was applied before, not what failed
    CHECK(inv.tree.empty());
  }

  SECTION("a kind the server does not serve") {
    std::vector<GitItem> next = configmaps({"a", "b", "c"});
    next.push_back({"env/gadget.yaml", "apiVersion: example.org/v1\nkind: Gadget\nmetadata: {name: g}\n"});
    SyncResult r = h.sync(syncer, next);
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::Contains("gadget.yaml") && Catch::Contains("Gadget"));
    CHECK(h.deleted().empty());
    CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});
  }

  SECTION("a file does not parse: no apply, no prune, the inventory untouched") {
    std::vector<GitItem> next = configmaps({"a", "c"});
    next.push_back(
        {"env/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b\n"});  // d removed, b broken
    SyncResult r = h.sync(syncer, next);
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::Contains("b.yaml"));
    CHECK(h.requests("PATCH").empty());
    CHECK(h.deleted().empty());
    CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});
  }

  SECTION("the inventory is damaged") {
    auto inv = h.api.object(k_inventory);
    REQUIRE(inv);
    (*inv)["data"]["objects"] = "v1\tConfigMap\tteam\n";
    h.api.put(k_inventory, *inv);
    SyncResult r = h.sync(syncer, configmaps({"a"}));
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    CHECK_THAT(r.errors.at(0), Catch::Contains("damaged"));
    CHECK(h.requests("PATCH").empty());
    CHECK(h.deleted().empty());
  }

  SECTION("the inventory cannot be read") {
    h.api.fail("GET", k_inventory, 403);
    SyncResult r = h.sync(syncer, configmaps({"a"}));
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    CHECK(h.requests("PATCH").empty());
    CHECK(h.deleted().empty());
  }

  // After a start the inventory is read while everything is rendered.
  SECTION("after a restart the inventory cannot be read") {
    TargetSyncer restarted(h.config, "portcullis-system");
    h.api.fail("GET", k_inventory, 403);
    SyncResult r = h.sync(restarted, configmaps({"a", "b"}));  // c and d removed
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::Contains("403"));
    CHECK(h.requests("PATCH").empty());
    CHECK(h.deleted().empty());
    CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});
  }

  SECTION("after a restart the commit cannot be read while the inventory is: both errors") {
    TargetSyncer restarted(h.config, "portcullis-system");
    h.api.fail("GET", k_inventory, 403);
    h.api.clear_requests();
    auto absent = git::Oid::from_hex(std::string(40, '7'));
    REQUIRE(absent);
    SyncResult r = restarted.sync(h.repo, *absent);
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE(r.errors.size() == 2);
    CHECK_THAT(r.errors[1], Catch::Contains("403"));
    CHECK(h.requests("PATCH").empty());
    CHECK(h.deleted().empty());
  }
}

TEST_CASE("prune deletes only live objects this target applied, with a UID precondition",
          "[sync][apiserver]") {
  Harness h;
  h.config.max_prune_share = 1;
  TargetSyncer syncer(h.config, "portcullis-system");
  REQUIRE(h.sync(syncer, configmaps({"ours", "copied", "recreated", "gone", "disabled", "raced", "kept"}))
              .state == SyncState::synced);
  std::map<std::string, std::string> uids;
  for (const auto& e : h.inventory().entries) uids[e.name] = e.uid;
  REQUIRE(uids.size() == 7);

  auto edit = [&](const std::string& name, const std::function<void(json&)>& change) {
    auto o = h.api.object(cm_path(name));
    REQUIRE(o);
    change(*o);
    h.api.put(cm_path(name), *o);
  };
  // An annotation copied from another object of the target (as operators copy them).
  edit("copied",
       [](json& o) { o["metadata"]["annotations"]["portcullis.io/owned-by"] = "prod//ConfigMap/team/kept"; });
  // Deleted and created again by someone else: a new UID (the annotation may even survive).
  edit("recreated", [](json& o) { o["metadata"]["uid"] = "someone-elses"; });
  h.api.erase(cm_path("gone"));
  edit("disabled", [](json& o) { o["metadata"]["annotations"]["portcullis.io/prune"] = "disabled"; });
  // Replaced between the GET and the DELETE: the apiserver refuses the precondition.
  h.api.fail("DELETE", cm_path("raced"), 409);

  SyncResult r = h.sync(syncer, configmaps({"kept"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(r.errors.empty());
  CHECK(r.pruned == 1);
  CHECK(r.pruned_objects == std::vector<std::string>{"v1 ConfigMap team/ours"});
  CHECK(sorted(h.deleted()) == std::vector<std::string>{cm_path("ours"), cm_path("raced")});

  // Every DELETE carries the UID the target recorded as a precondition.
  for (const auto& q : h.requests("DELETE")) {
    INFO(q.path << " " << q.body);
    json options = json::parse(q.body, nullptr, false);
    REQUIRE(options.is_object());
    CHECK(options["kind"] == "DeleteOptions");
    CHECK(options["propagationPolicy"] == "Background");
    std::string name = q.path.substr(q.path.rfind('/') + 1);
    CHECK(options["preconditions"]["uid"] == uids[name]);
  }
  // Objects that are not the target's any more are left alone, with a warning each.
  for (const char* name : {"copied", "recreated", "disabled"}) {
    INFO(name);
    CHECK(h.api.object(cm_path(name)));
    CHECK(std::any_of(r.warnings.begin(), r.warnings.end(), [&](const std::string& w) {
      return w.find("team/" + std::string(name)) != std::string::npos;
    }));
  }
  CHECK(std::any_of(r.warnings.begin(), r.warnings.end(), [](const std::string& w) {
    return w.find("team/raced") != std::string::npos && w.find("UID") != std::string::npos;
  }));
  CHECK(h.api.object(cm_path("raced")));
  CHECK(h.api.object(cm_path("kept")));
  // None of them is the target's any more.
  CHECK(h.inventory_names() == std::set<std::string>{"kept"});
}

TEST_CASE("cluster-scoped objects are pruned by their cluster path", "[sync][apiserver]") {
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  std::vector<GitItem> items = configmaps({"a", "b", "c"});
  items.push_back({"env/role.yaml",
                   "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"});
  REQUIRE(h.sync(syncer, items).state == SyncState::synced);
  SyncResult r = h.sync(syncer, configmaps({"a", "b", "c"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(r.pruned_objects == std::vector<std::string>{"rbac.authorization.k8s.io/v1 ClusterRole r"});
  CHECK(h.deleted() == std::vector<std::string>{"/apis/rbac.authorization.k8s.io/v1/clusterroles/r"});
}

TEST_CASE("a prune that fails keeps the object in the inventory for the next sync", "[sync][apiserver]") {
  Harness h;
  TargetSyncer syncer(h.config, "portcullis-system");
  REQUIRE(h.sync(syncer, configmaps({"a", "b", "c", "d"})).state == SyncState::synced);
  h.api.fail("DELETE", cm_path("d"), 403, 1);
  SyncResult r = h.sync(syncer, configmaps({"a", "b", "c"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::failed);
  CHECK(r.pruned == 0);
  CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c", "d"});
  CHECK(h.inventory().tree.empty());

  SyncResult retried = h.sync(syncer, configmaps({"a", "b", "c"}));
  INFO(describe(retried));
  CHECK(retried.state == SyncState::synced);
  CHECK(retried.pruned == 1);
  CHECK(h.deleted() == std::vector<std::string>{cm_path("d")});
  CHECK(h.inventory_names() == std::set<std::string>{"a", "b", "c"});
}

TEST_CASE("DesiredState keeps its body deflated and gives it back whole", "[sync]") {
  std::string big = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":")";
  for (int i = 0; i < 2000; ++i) big += "value-" + std::to_string(i % 17) + ";";
  big += R"("}})";
  // Beyond the deflate window (4 KiB) with little to compress: stored nearly as is.
  std::string noise = R"({"data":{"k":")";
  for (std::uint32_t x = 12345, i = 0; i < 9000; ++i)
    noise += static_cast<char>('!' + ((x = x * 1103515245u + 12345u) >> 16) % 90);
  noise += R"("}})";
  const std::string bodies[] = {"", "{}", R"({"a":"\u00e9\n\t"})", big, noise};
  for (const auto& body : bodies) {
    INFO(body.substr(0, 60));
    DesiredState d("v1", "ConfigMap", "", "ns", "x", "x.yaml", kube::Resource{"/api/v1", "configmaps", true},
                   body);
    CHECK(d.body() == body);
    DesiredState same("v1", "ConfigMap", "", "ns", "x", "other.yaml",
                      kube::Resource{"/api/v1", "configmaps", true}, body);
    CHECK(d.same_body(same));
    DesiredState other("v1", "ConfigMap", "", "ns", "x", "x.yaml",
                       kube::Resource{"/api/v1", "configmaps", true}, body + " ");
    CHECK_FALSE(d.same_body(other));
  }
  DesiredState d("v1", "ConfigMap", "", "ns", "x", "x.yaml", kube::Resource{"/api/v1", "configmaps", true},
                 big);
  CHECK(d.what() == "v1 ConfigMap ns/x");
  // Held deflated: the repetitive body shrinks, noise does not grow much.
  CHECK(d.stored_size() * 10 < big.size());
  DesiredState n("v1", "ConfigMap", "", "ns", "x", "x.yaml", kube::Resource{"/api/v1", "configmaps", true},
                 noise);
  CHECK(n.stored_size() < noise.size() + 64);
}

TEST_CASE("an inventory larger than a ConfigMap continues in shards, read back after a restart",
          "[sync][apiserver]") {
  Harness h;
  const std::string shard_prefix = k_inventory + "-";
  // The head and its shards as stored: every entry's name, and the shards' generation.
  auto stored = [&] {
    std::set<std::string> names;
    auto head = h.api.object(k_inventory);
    REQUIRE(head);
    const json& data = (*head)["data"];
    std::string generation = data.value("generation", "");
    std::size_t shards = std::stoul(data.value("shards", "0"));
    std::vector<std::string> texts{data.value("objects", "")};
    for (std::size_t i = 1; i <= shards; ++i) {
      auto shard = h.api.object(k_inventory + "-" + generation + "-" + std::to_string(i));
      REQUIRE(shard);
      CHECK((*shard)["metadata"]["labels"].value("portcullis.io/inventory-shard", "") == "true");
      CHECK((*shard)["metadata"]["labels"].value("portcullis.io/target", "") == "prod");
      CHECK((*shard)["metadata"]["labels"].value("portcullis.io/inventory-generation", "") == generation);
      CHECK((*shard)["metadata"]["labels"].value("portcullis.io/inventory", "") == "true");
      texts.push_back((*shard)["data"].value("objects", ""));
    }
    for (const auto& t : texts) {
      auto entries = decode_entries(t);
      REQUIRE(entries);
      CHECK(entries->size() <= 2);  // 250 bytes: two entries of ~110 each
      for (const auto& e : *entries) names.insert(e.name);
    }
    return std::tuple{names, generation, shards};
  };
  std::vector<std::string> ten;
  for (int i = 0; i < 10; ++i) ten.push_back("cm-" + std::to_string(10 + i));
  auto without = [](std::vector<std::string> v, std::size_t n) {
    v.resize(v.size() - n);
    return v;
  };

  std::string first_generation;
  {
    TargetSyncer syncer(h.config, "portcullis-system");
    syncer.set_inventory_shard_bytes(250);
    SyncResult r = h.sync(syncer, configmaps(ten));
    INFO(describe(r));
    REQUIRE(r.state == SyncState::synced);
    auto [names, generation, shards] = stored();
    CHECK(names == std::set<std::string>(ten.begin(), ten.end()));
    CHECK(shards == 4);
    CHECK(h.api.paths(shard_prefix).size() == 4);
    // Shards are written before the head that names them.
    auto log = h.api.requests();
    CHECK(index_of(log, "PATCH", k_inventory + "-" + generation + "-4") <
          last_index_of(log, "PATCH", k_inventory));
    CHECK(last_index_of(log, "PATCH", k_inventory) > index_of(log, "PATCH", k_inventory));  // after the write-ahead
    first_generation = generation;
  }

  // A restarted daemon: reads head and shards, prunes the one file removed, and the shards of
  // the old generation go.
  {
    TargetSyncer syncer(h.config, "portcullis-system");
    syncer.set_inventory_shard_bytes(250);
    SyncResult r = h.sync(syncer, configmaps(without(ten, 1)));
    INFO(describe(r));
    CHECK(r.state == SyncState::synced);
    CHECK(r.pruned == 1);
    CHECK_FALSE(h.api.object(cm_path("cm-19")));
    auto [names, generation, shards] = stored();
    CHECK(names == std::set<std::string>(ten.begin(), ten.end() - 1));
    CHECK(generation != first_generation);
    CHECK(shards == 4);  // 9 entries: 2 + 2 + 2 + 2 + 1
    auto left = h.api.paths(shard_prefix);
    CHECK(left.size() == 4);
    for (const auto& p : left) CHECK_THAT(p, Catch::Contains("-" + generation + "-"));
    // What else was deleted: the old generation's shards, nothing the target owns.
    for (const auto& p : h.deleted())
      if (p != cm_path("cm-19")) CHECK_THAT(p, Catch::Contains("-" + first_generation + "-"));
    CHECK(h.deleted().size() == 5);
  }

  // A shard lost: the inventory is incomplete, the sync fails and prunes nothing.
  {
    auto [names, generation, shards] = stored();
    auto saved = h.api.object(k_inventory + "-" + generation + "-2");
    REQUIRE(saved);
    h.api.erase(k_inventory + "-" + generation + "-2");
    TargetSyncer syncer(h.config, "portcullis-system");
    syncer.set_inventory_shard_bytes(250);
    SyncResult r = h.sync(syncer, configmaps(without(ten, 3)));
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE_FALSE(r.errors.empty());
    CHECK_THAT(r.errors.front(),
               Catch::Contains("incomplete") && Catch::Contains(generation + "-2 is missing"));
    CHECK(h.deleted().empty());
    CHECK(h.api.object(cm_path("cm-18")));
    // Restored (from a backup, say), the next sync goes on and prunes what it should.
    h.api.put(k_inventory + "-" + generation + "-2", *saved);
    SyncResult r2 = h.sync(syncer, configmaps(without(ten, 3)));
    INFO(describe(r2));
    CHECK(r2.state == SyncState::synced);
    CHECK(r2.pruned == 2);
    CHECK_FALSE(h.api.object(cm_path("cm-18")));
  }

  // Shrunk to one ConfigMap: no shards left, the head names none.
  {
    TargetSyncer syncer(h.config, "portcullis-system");
    syncer.set_inventory_shard_bytes(250);
    syncer.allow_next_prune();  // 6 of 7: past maxPruneShare
    SyncResult r = h.sync(syncer, configmaps({"cm-10"}));
    INFO(describe(r));
    CHECK(r.state == SyncState::synced);
    auto [names, generation, shards] = stored();
    CHECK(names == std::set<std::string>{"cm-10"});
    CHECK(generation.empty());
    CHECK(shards == 0);
    CHECK(h.api.paths(shard_prefix).empty());
  }
}

TEST_CASE("shards a failed store left are deleted by the next store; long target names shard too",
          "[sync][apiserver]") {
  Harness h;
  const std::string shard_prefix = k_inventory + "-";
  std::vector<std::string> ten;
  for (int i = 0; i < 10; ++i) ten.push_back("cm-" + std::to_string(10 + i));
  TargetSyncer syncer(h.config, "portcullis-system");
  syncer.set_inventory_shard_bytes(250);
  h.api.fail("PATCH", k_inventory, 500, 1);  // the shards are written, the head is not
  SyncResult failed = h.sync(syncer, configmaps(ten));
  INFO(describe(failed));
  CHECK(failed.state == SyncState::failed);
  CHECK_FALSE(h.api.object(k_inventory));
  // That was the write-ahead: with the objects not recorded, none was applied.
  REQUIRE_FALSE(failed.errors.empty());
  CHECK_THAT(failed.errors.front(), Catch::Contains("cannot record the objects about to be applied"));
  for (const auto& p : h.applied()) CHECK_THAT(p, Catch::Contains(shard_prefix));
  auto strays = h.api.paths(shard_prefix);
  CHECK_FALSE(strays.empty());

  SyncResult r = h.sync(syncer, configmaps(ten));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  auto head = h.api.object(k_inventory);
  REQUIRE(head);
  std::string generation = (*head)["data"].value("generation", "");
  CHECK((*head)["data"].value("shards", "") == "4");
  auto now = h.api.paths(shard_prefix);
  CHECK(now.size() == 4);
  for (const auto& p : now) CHECK_THAT(p, Catch::Contains("-" + generation + "-"));
  for (const auto& p : strays) CHECK_FALSE(h.api.object(p));

  // A target name of 63 characters, the most daemon.yaml allows: its shards' labels stay valid.
  TargetConfig long_config = h.config;
  long_config.name = std::string(63, 'x');
  long_config.path = "env";
  long_config.namespace_ = "elsewhere";  // its own objects: prod's are not another target's to take
  TargetSyncer long_syncer(long_config, "portcullis-system");
  long_syncer.set_inventory_shard_bytes(250);
  SyncResult l = h.sync(long_syncer, configmaps(ten));
  INFO(describe(l));
  CHECK(l.state == SyncState::synced);
  auto long_head = h.api.object("/api/v1/namespaces/portcullis-system/configmaps/portcullis-inventory-" +
                                long_config.name);
  REQUIRE(long_head);
  CHECK((*long_head)["data"].value("shards", "") == "4");
}

// ---------------------------------------------------------------------------------------------
// Confinement and ownership: what a target may write, decided before the apply.

namespace {

json live_configmap(const std::string& name, const std::string& ns, json labels = json::object(),
                    json annotations = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"uid", "uid-live-" + name}, {"resourceVersion", "7"},
            {"labels", labels}, {"annotations", annotations}}},
          {"data", {{"made", "by hand"}}}};
}

std::string configmap_in(const std::string& name, const std::string& ns) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: " + ns + "}\ndata: {v: '1'}\n";
}

bool any_contains(const std::vector<std::string>& texts, const std::string& piece) {
  return std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t.find(piece) != std::string::npos; });
}

}  // namespace

TEST_CASE("a target writes only what its confinement and the live object's ownership allow", "[sync][apiserver][confinement]") {
  using Namespaces = std::optional<std::vector<std::string>>;
  const std::vector<std::string> k_default_kinds{"Namespace"};
  struct Case {
    const char* name;
    Namespaces namespaces;
    std::vector<std::string> cluster_kinds;
    bool adopt;
    std::string manifest;
    std::optional<json> live;  // at `path` before the sync
    std::string path;
    const char* refusal;  // a piece of the error; nullptr: applied
  };
  const std::string k_role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: pwn}\n";
  const std::string k_role_path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/pwn";
  const json ours_label = {{"portcullis.io/target", "prod"}};
  const Case cases[] = {
      // Namespaces: by default only the target's own (here the context's, "team").
      {"no namespace written: the context's", std::nullopt, k_default_kinds, false, configmap("a"), std::nullopt,
       cm_path("a"), nullptr},
      {"another namespace", std::nullopt, k_default_kinds, false, configmap_in("a", "prod"), std::nullopt,
       cm_path("a", "prod"), "namespace \"prod\" is not among the allowed namespaces (team)"},
      {"a namespace its globs allow", Namespaces{{"dev", "dev-*"}}, k_default_kinds, false, configmap_in("a", "dev-x"),
       std::nullopt, cm_path("a", "dev-x"), nullptr},
      {"a namespace its globs do not allow", Namespaces{{"dev", "dev-*"}}, k_default_kinds, false,
       configmap_in("a", "team"), std::nullopt, cm_path("a", "team"), "add it to `namespaces`"},
      {"kube-system through a glob", Namespaces{{"*"}}, k_default_kinds, false, configmap_in("a", "kube-system"),
       std::nullopt, cm_path("a", "kube-system"), "is reserved"},
      {"kube-public through a glob", Namespaces{{"kube-*"}}, k_default_kinds, false, configmap_in("a", "kube-public"),
       std::nullopt, cm_path("a", "kube-public"), "is reserved"},
      {"kube-system listed by name", Namespaces{{"kube-system"}}, k_default_kinds, false,
       configmap_in("a", "kube-system"), std::nullopt, cm_path("a", "kube-system"), nullptr},
      {"the inventory namespace", Namespaces{{"*"}}, k_default_kinds, false,
       configmap_in("portcullis-inventory-dev", "portcullis-system"), std::nullopt,
       cm_path("portcullis-inventory-dev", "portcullis-system"), "holds the inventories"},
      // Cluster-scoped kinds: by default Namespaces only, named like an allowed namespace.
      {"a cluster kind not listed", Namespaces{{"*"}}, k_default_kinds, false, k_role, std::nullopt, k_role_path,
       "rbac.authorization.k8s.io/ClusterRole is not among the allowed cluster kinds (Namespace)"},
      {"a cluster kind listed", Namespaces{{"*"}}, {"rbac.authorization.k8s.io/ClusterRole"}, false, k_role,
       std::nullopt, k_role_path, nullptr},
      {"its own Namespace", std::nullopt, k_default_kinds, false,
       "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n", std::nullopt, "/api/v1/namespaces/team", nullptr},
      {"another Namespace", std::nullopt, k_default_kinds, false,
       "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n", std::nullopt, "/api/v1/namespaces/prod",
       "Namespace \"prod\": namespace \"prod\" is not among"},
      {"kube-system's Namespace through a glob", Namespaces{{"*"}}, k_default_kinds, false,
       "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n", std::nullopt,
       "/api/v1/namespaces/kube-system", "is reserved"},
      // Live objects: never another target's, never one made by others unless adopt.
      {"made by hand", std::nullopt, k_default_kinds, false, configmap("a"), live_configmap("a", "team"), cm_path("a"),
       "exists and was not created by target \"prod\""},
      {"made by hand, adopt", std::nullopt, k_default_kinds, true, configmap("a"), live_configmap("a", "team"),
       cm_path("a"), nullptr},
      {"another target's label", std::nullopt, k_default_kinds, true, configmap("a"),
       live_configmap("a", "team", {{"portcullis.io/target", "dev"}}), cm_path("a"), "owned by target \"dev\""},
      {"another target's annotation", std::nullopt, k_default_kinds, true, configmap("a"),
       live_configmap("a", "team", json::object(), {{"portcullis.io/owned-by", "dev//ConfigMap/team/a"}}), cm_path("a"),
       "owned by target \"dev\""},
      {"another target's annotation beside this one's label", std::nullopt, k_default_kinds, true, configmap("a"),
       live_configmap("a", "team", ours_label, {{"portcullis.io/owned-by", "dev//ConfigMap/team/a"}}), cm_path("a"),
       "owned by target \"dev\""},
      {"this target's label alone (copied)", std::nullopt, k_default_kinds, false, configmap("a"),
       live_configmap("a", "team", ours_label), cm_path("a"), "exists and was not created"},
      {"this target's annotation of another object (copied)", std::nullopt, k_default_kinds, false, configmap("a"),
       live_configmap("a", "team", ours_label, {{"portcullis.io/owned-by", "prod//ConfigMap/team/b"}}), cm_path("a"),
       "exists and was not created"},
      {"this target's marks of this object (its inventory was lost)", std::nullopt, k_default_kinds, false,
       configmap("a"),
       live_configmap("a", "team", ours_label, {{"portcullis.io/owned-by", "prod//ConfigMap/team/a"}}), cm_path("a"),
       nullptr},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Harness h;
    h.config.namespaces = c.namespaces;
    h.config.cluster_kinds = c.cluster_kinds;
    h.config.adopt = c.adopt;
    if (c.live) h.api.put(c.path, *c.live);
    const auto before = h.api.object(c.path);
    TargetSyncer syncer(h.config, "portcullis-system");
    SyncResult r = h.sync(syncer, {{"env/x.yaml", c.manifest}});
    INFO(describe(r));
    auto after = h.api.object(c.path);
    const auto applied = h.applied();
    const bool patched = std::find(applied.begin(), applied.end(), c.path) != applied.end();
    if (c.refusal == nullptr) {
      CHECK(r.state == SyncState::synced);
      CHECK(patched);
      REQUIRE(after);
      CHECK((*after)["metadata"]["labels"]["portcullis.io/target"] == "prod");
      CHECK(r.refused == 0);
      CHECK(r.adopted_objects.size() == (c.adopt && c.live ? 1u : 0u));
      continue;
    }
    CHECK(r.state == SyncState::failed);
    CHECK(r.refused == 1);
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::Contains(c.refusal));
    CHECK(r.errors[0].starts_with("x.yaml: refused"));
    CHECK_FALSE(patched);
    CHECK(after == before);  // untouched, or still absent
    // Neither kept as desired (self-heal would apply it) nor recorded as the target's.
    auto desired = syncer.desired();
    REQUIRE(desired);
    CHECK(desired->empty());
    CHECK(h.inventory().entries.empty());
  }
}

TEST_CASE("an adoption is applied on the resourceVersion read, so that a writer in between wins",
          "[sync][apiserver][confinement]") {
  Harness h;
  h.config.adopt = true;
  h.api.put(cm_path("a"), live_configmap("a", "team"));
  TargetSyncer syncer(h.config, "portcullis-system");

  SECTION("nothing in between: adopted, and said so") {
    const json read = h.api.object(cm_path("a")).value()["metadata"]["resourceVersion"];
    SyncResult r = h.sync(syncer, configmaps({"a"}));
    INFO(describe(r));
    CHECK(r.state == SyncState::synced);
    CHECK(r.adopted_objects == std::vector<std::string>{"v1 ConfigMap team/a"});
    auto patches = h.requests("PATCH");
    REQUIRE(patches.size() == 3);  // the inventory ahead, the object, the inventory
    CHECK(patches[0].path == k_inventory);
    json body = json::parse(patches[1].body);
    CHECK(body["metadata"]["resourceVersion"] == read);
    // What is kept as desired carries no resourceVersion (it would be drift forever).
    auto desired = syncer.desired();
    REQUIRE(desired);
    REQUIRE(desired->size() == 1);
    CHECK(desired->begin()->second->body().find("resourceVersion") == std::string::npos);
    // Once in the inventory, it is the target's: applied directly, no adoption again.
    SyncResult again = h.sync(syncer, {{"env/a.yaml", configmap("a", "2")}});
    CHECK(again.state == SyncState::synced);
    CHECK(again.adopted_objects.empty());
    CHECK(h.requests("GET").size() == 1);  // the inventory's resourceVersion, no claim read
  }
  SECTION("changed between the read and the apply: the apply fails, nothing is taken over") {
    h.api.change_after_get(cm_path("a"));
    SyncResult r = h.sync(syncer, configmaps({"a"}));
    INFO(describe(r));
    CHECK(r.state == SyncState::failed);
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0], Catch::Contains("409"));
    CHECK(r.adopted_objects.empty());
    auto live = h.api.object(cm_path("a"));
    REQUIRE(live);
    CHECK_FALSE((*live)["metadata"]["labels"].contains("portcullis.io/target"));
  }
}

TEST_CASE("objects a sync may have created are in the inventory, and are pruned only when ours", "[sync][apiserver]") {
  Harness h;
  h.config.max_prune_share = 1;
  TargetSyncer syncer(h.config, "portcullis-system");
  REQUIRE(h.sync(syncer, configmaps({"a"})).state == SyncState::synced);
  // b's apply fails (as when its answer is lost); it stays in the inventory without a UID.
  h.api.fail("PATCH", cm_path("b"), 422);
  h.api.fail("PATCH", cm_path("e"), 422);
  SyncResult failed = h.sync(syncer, configmaps({"a", "b", "c", "e"}));
  INFO(describe(failed));
  REQUIRE(failed.state == SyncState::failed);
  std::map<std::string, std::string> uids;
  for (const auto& e : h.inventory().entries) uids[e.name] = e.uid;
  REQUIRE(uids.size() == 4);
  CHECK_FALSE(uids.at("a").empty());
  CHECK(uids.at("b").empty());
  CHECK_FALSE(uids.at("c").empty());
  CHECK(uids.at("e").empty());
  // b was created after all, by this target's apply; e by someone else, by hand.
  h.api.put(cm_path("b"), live_configmap("b", "team", {{"portcullis.io/target", "prod"}},
                                         {{"portcullis.io/owned-by", owner_value("prod", "", "ConfigMap", "team", "b")}}));
  h.api.put(cm_path("e"), live_configmap("e", "team"));
  h.api.fail("PATCH", cm_path("b"), 422, 0);
  h.api.fail("PATCH", cm_path("e"), 422, 0);

  SyncResult r = h.sync(syncer, configmaps({"a"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(sorted(h.deleted()) == std::vector<std::string>{cm_path("b"), cm_path("c")});
  for (const auto& q : h.requests("DELETE"))
    if (q.path == cm_path("b")) CHECK(json::parse(q.body)["preconditions"]["uid"] == "uid-live-b");
  CHECK(h.api.object(cm_path("e")));
  CHECK(std::any_of(r.warnings.begin(), r.warnings.end(),
                    [](const std::string& w) { return w.find("team/e") != std::string::npos; }));
  CHECK(h.inventory_names() == std::set<std::string>{"a"});
}

TEST_CASE("a refused object fails the sync, which then prunes nothing", "[sync][apiserver][confinement]") {
  Harness h;
  h.config.namespaces = std::vector<std::string>{"team"};
  h.config.max_prune_share = 1;
  TargetSyncer syncer(h.config, "portcullis-system");
  REQUIRE(h.sync(syncer, configmaps({"a", "b"})).state == SyncState::synced);
  SyncResult r = h.sync(syncer, {{"env/a.yaml", configmap("a")}, {"env/x.yaml", configmap_in("x", "kube-system")}});
  INFO(describe(r));
  CHECK(r.state == SyncState::failed);
  CHECK(h.deleted().empty());
  CHECK(h.api.object(cm_path("b")));
  CHECK(h.inventory_names() == std::set<std::string>{"a", "b"});
}

TEST_CASE("prune never deletes outside the confinement, whatever the inventory lists", "[sync][apiserver][confinement]") {
  Harness h;
  h.config.namespaces = std::vector<std::string>{"team"};
  h.config.max_prune_share = 1;
  {
    TargetSyncer first(h.config, "portcullis-system");
    REQUIRE(h.sync(first, configmaps({"a", "b"})).state == SyncState::synced);
  }
  // Objects outside its confinement, marked as the target's, listed in a tampered inventory
  // (or one written before confinement, by a daemon that applied there).
  const std::vector<std::pair<std::string, std::string>> outside{
      {"kube-system", "admin-settings"}, {"portcullis-system", "portcullis-inventory-other"}, {"prod", "web"}};
  Inventory inv = h.inventory();
  for (const auto& [ns, name] : outside) {
    json o = live_configmap(name, ns, {{"portcullis.io/target", "prod"}},
                            {{"portcullis.io/owned-by", "prod//ConfigMap/" + ns + "/" + name}});
    h.api.put(cm_path(name, ns), o);
    inv.entries.push_back(InventoryEntry{"v1", "ConfigMap", ns, name, o["metadata"]["uid"], "h", name + ".yaml"});
  }
  auto cm = h.api.object(k_inventory);
  REQUIRE(cm);
  (*cm)["data"]["objects"] = encode_entries(inv.entries);
  h.api.put(k_inventory, *cm);

  TargetSyncer syncer(h.config, "portcullis-system");
  SyncResult r = h.sync(syncer, configmaps({"a"}));
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(h.deleted() == std::vector<std::string>{cm_path("b")});
  for (const auto& [ns, name] : outside) {
    INFO(ns << "/" << name);
    CHECK(h.api.object(cm_path(name, ns)));
    CHECK(any_contains(r.warnings, ns + "/" + name + ": not pruned, outside the confinement"));
  }
  CHECK(h.inventory_names() == std::set<std::string>{"a"});
}

TEST_CASE("objects of the former shared field manager are applied again and its entry released", "[sync][apiserver]") {
  Harness h;
  const auto items = configmaps({"a", "b"});
  {
    TargetSyncer first(h.config, "portcullis-system");
    REQUIRE(h.sync(first, items).state == SyncState::synced);
  }
  // As an older daemon left them: applied by "portcullis", an inventory naming no manager.
  for (const char* name : {"a", "b"}) {
    auto o = h.api.object(cm_path(name));
    REQUIRE(o);
    (*o)["metadata"]["managedFields"] = json::array({{{"manager", "portcullis"}, {"operation", "Apply"}}});
    h.api.put(cm_path(name), *o);
  }
  auto cm = h.api.object(k_inventory);
  REQUIRE(cm);
  REQUIRE((*cm)["data"]["fieldManager"] == "portcullis-prod");
  (*cm)["data"].erase("fieldManager");
  h.api.put(k_inventory, *cm);

  TargetSyncer syncer(h.config, "portcullis-system");
  SyncResult r = h.sync(syncer, items);
  INFO(describe(r));
  CHECK(r.state == SyncState::synced);
  CHECK(r.applied == 2);
  auto log = h.api.requests();
  for (const char* name : {"a", "b"}) {
    INFO(name);
    // Applied as the target's manager first, then the old entry released by an apply of nothing.
    std::size_t ours = log.size(), release = log.size();
    for (std::size_t i = 0; i < log.size(); ++i) {
      if (log[i].method != "PATCH" || log[i].path != cm_path(name)) continue;
      if (log[i].query == "fieldManager=portcullis-prod&force=true") ours = std::min(ours, i);
      if (log[i].query == "fieldManager=portcullis") release = i;
    }
    REQUIRE(ours < release);
    REQUIRE(release < log.size());
    json body = json::parse(log[release].body);
    CHECK(body == json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"namespace", "team"}}}});
    auto live = h.api.object(cm_path(name));
    REQUIRE(live);
    CHECK((*live)["metadata"]["managedFields"] ==
          json::array({{{"manager", "portcullis-prod"}, {"operation", "Apply"}}}));
    CHECK((*live)["data"]["v"] == "1");
  }
  CHECK(h.api.object(k_inventory).value()["data"]["fieldManager"] == "portcullis-prod");
  // Done once: the next sync applies nothing.
  SyncResult again = h.sync(syncer, configmaps({"a", "b", "c"}));
  CHECK(again.applied == 1);
}
