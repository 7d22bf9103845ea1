#include "daemon/inventory.hpp"

#include "shared/manifest/object.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

std::string InventoryEntry::key() const {
  return std::string(manifest::group_of(api_version)) + "/" + kind + "/" + namespace_ + "/" + name;
}

std::string inventory_name(std::string_view target) { return "portcullis-inventory-" + std::string(target); }

namespace {

std::string escape_field(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string unescape_field(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char e = s[++i];
      out += e == 't' ? '\t' : e == 'n' ? '\n' : e;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

namespace {

void append_entry(std::string& out, const InventoryEntry& e) {
  for (const std::string* f : {&e.api_version, &e.kind, &e.namespace_, &e.name, &e.uid, &e.hash, &e.path}) {
    out += escape_field(*f);
    out += f == &e.path ? '\n' : '\t';
  }
}

}  // namespace

std::string encode_entries(const std::vector<InventoryEntry>& entries) {
  std::string out;
  for (const auto& e : entries) append_entry(out, e);
  return out;
}

util::Result<std::vector<InventoryEntry>> decode_entries(std::string_view text) {
  std::vector<InventoryEntry> out;
  std::size_t n = 0;
  for (auto line : util::split(text, '\n')) {
    ++n;
    if (line.empty()) continue;
    auto f = util::split(line, '\t');
    if (f.size() != 7) return util::fail("inventory line " + std::to_string(n) + " is damaged");
    out.push_back(InventoryEntry{unescape_field(f[0]), unescape_field(f[1]), unescape_field(f[2]), unescape_field(f[3]),
                                 unescape_field(f[4]), unescape_field(f[5]), unescape_field(f[6])});
  }
  return out;
}

util::Result<std::optional<Inventory>> load_inventory(kube::Client& client, std::string_view ns, std::string_view target) {
  auto res = client.get("/api/v1/namespaces/" + std::string(ns) + "/configmaps/" + inventory_name(target));
  if (!res) return util::fail(res.error());
  if (res->status == 404) return std::optional<Inventory>{};
  if (res->status != 200)
    return util::fail("reading the inventory of " + std::string(target) + " answered HTTP " + std::to_string(res->status) +
                      ": " + res->body.substr(0, 300));
  yaml::Limits limits;
  limits.max_nodes = 10'000'000;
  auto doc = yaml::parse_json(res->body, limits);
  if (!doc || doc->documents.empty() || !doc->documents[0].root) return util::fail("the inventory ConfigMap is not JSON");
  const yaml::Node* data = doc->documents[0].root->get("data");
  Inventory inv;
  if (const yaml::Node* rv = doc->documents[0].root->at({"metadata", "resourceVersion"})) inv.resource_version = std::string(rv->text);
  if (data) {
    inv.revision = std::string(data->get_string("revision"));
    inv.tree = std::string(data->get_string("tree"));
    auto entries = decode_entries(data->get_string("objects"));
    if (!entries) return util::fail(entries.error());
    inv.entries = std::move(*entries);
  }
  return std::optional<Inventory>{std::move(inv)};
}

util::Result<bool> inventory_unchanged(kube::Client& client, std::string_view ns, std::string_view target,
                                       std::string_view resource_version) {
  if (resource_version.empty()) return false;
  auto res = client.get("/api/v1/namespaces/" + std::string(ns) + "/configmaps/" + inventory_name(target),
                        kube::Client::k_accept_metadata);
  if (!res) return util::fail(res.error());
  if (res->status != 200) return false;  // gone (404), or no metadata-only answer (406): read it whole
  auto doc = yaml::parse_json(res->body);
  if (!doc || doc->documents.empty() || !doc->documents[0].root) return false;
  const yaml::Node* rv = doc->documents[0].root->at({"metadata", "resourceVersion"});
  return rv && rv->text == resource_version;
}

util::Result<std::string> store_inventory(kube::Client& client, std::string_view ns, std::string_view target,
                                          const Inventory& inv) {
  using util::json_escape;
  std::string name = inventory_name(target);
  std::string body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" + name +
                     "\",\"namespace\":\"" + json_escape(ns) +
                     "\",\"labels\":{\"" + std::string(k_inventory_label) + "\":\"true\",\"portcullis.io/target\":\"" +
                     json_escape(target) + "\"}},\"data\":{\"revision\":\"" + json_escape(inv.revision) +
                     "\",\"tree\":\"" + json_escape(inv.tree) + "\",\"objects\":\"";
  // Entry by entry: one copy of up to 1 MiB, not three.
  body.reserve(body.size() + inv.entries.size() * 180 + 8);
  std::string line;
  for (const auto& e : inv.entries) {
    line.clear();
    append_entry(line, e);
    body += json_escape(line);
  }
  body += "\"}}";
  std::string path = "/api/v1/namespaces/" + std::string(ns) + "/configmaps/" + name +
                     "?fieldManager=portcullis&force=true";
  // The answer is the stored ConfigMap: its metadata only (not the up to 1 MiB written), unless
  // the server cannot (406).
  std::string_view accept = kube::Client::k_accept_metadata;
  bool namespace_created = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto res = client.request(kube::Client::Method::patch, path, body, "application/apply-patch+yaml", accept);
    if (!res) return util::fail(res.error());
    if (res->status == 406 && accept != "application/json") {
      accept = "application/json";
      continue;
    }
    if (res->status == 200 || res->status == 201) {
      yaml::Limits limits;
      limits.max_nodes = 10'000'000;
      auto doc = yaml::parse_json(res->body, limits);
      const yaml::Node* rv = doc && !doc->documents.empty() && doc->documents[0].root
                                 ? doc->documents[0].root->at({"metadata", "resourceVersion"}) : nullptr;
      return rv ? std::string(rv->text) : std::string();
    }
    if (res->status == 404 && !namespace_created) {
      namespace_created = true;
      // The inventory namespace does not exist yet.
      std::string ns_body = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + json_escape(ns) + "\"}}";
      auto created = client.request(kube::Client::Method::patch,
                                    "/api/v1/namespaces/" + std::string(ns) + "?fieldManager=portcullis", ns_body,
                                    "application/apply-patch+yaml");
      if (!created) return util::fail(created.error());
      if (created->status >= 300)
        return util::fail("cannot create the inventory namespace " + std::string(ns) + ": HTTP " +
                          std::to_string(created->status) + ": " + created->body.substr(0, 300));
      continue;
    }
    return util::fail("writing the inventory of " + std::string(target) + " answered HTTP " +
                      std::to_string(res->status) + ": " + res->body.substr(0, 300));
  }
  return util::fail("cannot write the inventory of " + std::string(target));
}

}  // namespace portcullis::daemon
