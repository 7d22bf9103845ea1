#include "daemon/inventory.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>

#include "daemon/faults.hpp"
#include "daemon/sync.hpp"
#include "shared/kube/discovery.hpp"
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

std::string field_manager(std::string_view target) { return "portcullis-" + std::string(target); }

std::string inventory_shard_name(std::string_view target, std::string_view generation, std::size_t i) {
  return inventory_name(target) + "-" + std::string(generation) + "-" + std::to_string(i);
}

namespace {

std::string configmap_path(std::string_view ns, std::string_view name) {
  return "/api/v1/namespaces/" + std::string(ns) + "/configmaps/" + std::string(name);
}

yaml::Limits big_limits() {
  yaml::Limits limits;
  limits.max_nodes = 10'000'000;
  return limits;
}

// A ConfigMap of the inventory, read whole: its resourceVersion and data (nullopt: 404).
struct ConfigMapData {
  std::string resource_version;
  std::string revision, tree, objects, generation, shards, field_manager;
};
util::Result<std::optional<ConfigMapData>> read_configmap(kube::Client& client, std::string_view ns, std::string_view name,
                                                          std::string_view target) {
  auto res = client.get(configmap_path(ns, name));
  if (!res) return util::fail(res.error());
  if (res->status == 404) return std::optional<ConfigMapData>{};
  if (res->status != 200)
    return util::fail("reading the inventory of " + std::string(target) + " (ConfigMap " + std::string(name) +
                      ") answered HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
  auto doc = yaml::parse_json(res->body, big_limits());
  if (!doc || doc->documents.empty() || !doc->documents[0].root)
    return util::fail("the inventory ConfigMap " + std::string(name) + " is not JSON");
  const yaml::Node& root = *doc->documents[0].root;
  ConfigMapData out;
  if (const yaml::Node* rv = root.at({"metadata", "resourceVersion"})) out.resource_version = std::string(rv->text);
  if (const yaml::Node* data = root.get("data")) {
    out.revision = std::string(data->get_string("revision"));
    out.tree = std::string(data->get_string("tree"));
    out.objects = std::string(data->get_string("objects"));
    out.generation = std::string(data->get_string("generation"));
    out.shards = std::string(data->get_string("shards"));
    out.field_manager = std::string(data->get_string("fieldManager"));
  }
  return std::optional<ConfigMapData>{std::move(out)};
}

bool valid_generation(std::string_view g) {
  return !g.empty() && g.size() <= 16 &&
         std::all_of(g.begin(), g.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// 64 random bits: a new generation never names the shards of the live one.
std::string new_generation() {
  std::random_device rd;
  std::uint64_t v = (std::uint64_t(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Server-side applies a ConfigMap of the inventory, creating the namespace when missing;
// returns the resourceVersion stored.
util::Result<std::string> apply_configmap(kube::Client& client, std::string_view ns, std::string_view name,
                                          std::string_view target, const std::string& body) {
  using util::json_escape;
  const std::string manager = field_manager(target);
  std::string path = configmap_path(ns, name) + "?fieldManager=" + manager + "&force=true";
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
      auto doc = yaml::parse_json(res->body, big_limits());
      const yaml::Node* rv = doc && !doc->documents.empty() && doc->documents[0].root
                                 ? doc->documents[0].root->at({"metadata", "resourceVersion"}) : nullptr;
      return rv ? std::string(rv->text) : std::string();
    }
    if (res->status == 404 && !namespace_created) {
      namespace_created = true;
      // The inventory namespace does not exist yet.
      std::string ns_body = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + json_escape(ns) + "\"}}";
      auto created = client.request(kube::Client::Method::patch,
                                    "/api/v1/namespaces/" + std::string(ns) + "?fieldManager=" + manager, ns_body,
                                    "application/apply-patch+yaml");
      if (!created) return util::fail(created.error());
      if (created->status >= 300)
        return util::fail("cannot create the inventory namespace " + std::string(ns) + ": HTTP " +
                          std::to_string(created->status) + ": " + created->body.substr(0, 300));
      continue;
    }
    return util::fail("writing the inventory of " + std::string(target) + " (ConfigMap " + std::string(name) +
                      ") answered HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
  }
  return util::fail("cannot write the inventory of " + std::string(target));
}

// Deletes the shards of `target` that are not of `generation` ("" : every shard); "" when
// done, else what failed.
std::string delete_other_shards(kube::Client& client, std::string_view ns, std::string_view target,
                                std::string_view generation) {
  std::string selector =
      std::string(k_target_label) + "=" + std::string(target) + "," + std::string(k_inventory_shard_label) + "=true";
  std::string path = "/api/v1/namespaces/" + std::string(ns) + "/configmaps?labelSelector=" +
                     kube::escape_segment(selector);
  auto res = client.get(path, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
  if (res && res->status == 406) res = client.get(path);
  if (!res) return "listing its shards: " + res.error().message;
  if (res->status != 200) return "listing its shards answered HTTP " + std::to_string(res->status);
  auto doc = yaml::parse_json(res->body, big_limits());
  if (!doc || doc->documents.empty() || !doc->documents[0].root) return "the list of its shards is not JSON";
  const yaml::Node* items = doc->documents[0].root->get("items");
  if (!items || !items->is_sequence()) return {};
  std::string failed;
  for (const yaml::Node* item : items->items) {
    const yaml::Node* meta = item->get("metadata");
    if (!meta) continue;
    std::string_view name = meta->get_string("name");
    const yaml::Node* labels = meta->get("labels");
    std::string_view gen = labels ? labels->get_string(k_inventory_generation_label) : std::string_view{};
    if (name.empty() || name == inventory_name(target) || (!generation.empty() && gen == generation)) continue;
    auto del = client.request(kube::Client::Method::del, configmap_path(ns, name));
    if (!del) failed = "deleting " + std::string(name) + ": " + del.error().message;
    else if (del->status >= 300 && del->status != 404)
      failed = "deleting " + std::string(name) + " answered HTTP " + std::to_string(del->status);
  }
  return failed;
}

}  // namespace

util::Result<std::optional<Inventory>> load_inventory(kube::Client& client, std::string_view ns, std::string_view target) {
  auto head = read_configmap(client, ns, inventory_name(target), target);
  if (!head) return util::fail(head.error());
  if (!*head) return std::optional<Inventory>{};
  Inventory inv;
  inv.resource_version = (*head)->resource_version;
  inv.revision = std::move((*head)->revision);
  inv.tree = std::move((*head)->tree);
  inv.field_manager = std::move((*head)->field_manager);
  auto entries = decode_entries((*head)->objects);
  if (!entries) return util::fail(entries.error());
  inv.entries = std::move(*entries);
  const std::string& shards = (*head)->shards;
  if (!shards.empty() && shards != "0") {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(shards.data(), shards.data() + shards.size(), n);
    if (ec != std::errc() || end != shards.data() + shards.size() || n > 10'000 || !valid_generation((*head)->generation))
      return util::fail("the inventory of " + std::string(target) + " names its shards wrongly (shards '" + shards +
                        "', generation '" + (*head)->generation + "')");
    inv.generation = (*head)->generation;
    inv.shards = n;
    for (std::size_t i = 1; i <= n; ++i) {
      std::string name = inventory_shard_name(target, inv.generation, i);
      auto shard = read_configmap(client, ns, name, target);
      if (!shard) return util::fail(shard.error());
      if (!*shard)
        return util::fail("the inventory of " + std::string(target) + " is incomplete: its shard ConfigMap " + name +
                          " is missing (nothing is pruned; deleting ConfigMap " + inventory_name(target) +
                          " makes the next sync start a new inventory)");
      auto more = decode_entries((*shard)->objects);
      if (!more) return util::fail("inventory shard " + name + ": " + more.error().message);
      inv.entries.insert(inv.entries.end(), std::make_move_iterator(more->begin()), std::make_move_iterator(more->end()));
    }
  }
  return std::optional<Inventory>{std::move(inv)};
}

util::Result<bool> inventory_unchanged(kube::Client& client, std::string_view ns, std::string_view target,
                                       std::string_view resource_version) {
  if (resource_version.empty()) return false;
  auto res = client.get(configmap_path(ns, inventory_name(target)), kube::Client::k_accept_metadata);
  if (!res) return util::fail(res.error());
  if (res->status != 200) return false;  // gone (404), or no metadata-only answer (406): read it whole
  auto doc = yaml::parse_json(res->body);
  if (!doc || doc->documents.empty() || !doc->documents[0].root) return false;
  const yaml::Node* rv = doc->documents[0].root->at({"metadata", "resourceVersion"});
  return rv && rv->text == resource_version;
}

util::Result<std::string> store_inventory(kube::Client& client, std::string_view ns, std::string_view target,
                                          Inventory& inv, InventoryStore& store) {
  const std::size_t shard_bytes = std::max<std::size_t>(store.shard_bytes, 1);
  using util::json_escape;
  const std::string head = inventory_name(target);
  // Entries in ConfigMaps of at most `shard_bytes` each (one entry at least), the first one
  // the head's: where each begins, from the entries' sizes; then each body is built entry by
  // entry and sent before the next is built (one copy of up to 1 MiB at a time).
  std::vector<std::size_t> starts{0};
  std::string line;
  std::size_t bytes = 0;
  for (std::size_t k = 0; k < inv.entries.size(); ++k) {
    line.clear();
    append_entry(line, inv.entries[k]);
    if (bytes > 0 && bytes + line.size() > shard_bytes) {
      starts.push_back(k);
      bytes = 0;
    }
    bytes += line.size();
  }
  starts.push_back(inv.entries.size());
  auto append_objects = [&](std::string& body, std::size_t part) {
    body.reserve(body.size() + (starts[part + 1] - starts[part]) * 180 + 16);
    for (std::size_t k = starts[part]; k < starts[part + 1]; ++k) {
      line.clear();
      append_entry(line, inv.entries[k]);
      util::append_json_escaped(body, line);
    }
  };
  const std::size_t shards = starts.size() - 2;
  inv.shards = shards;
  inv.generation = shards ? new_generation() : std::string();
  auto labels = [&](bool shard) {
    std::string out = "\"labels\":{\"" + std::string(k_inventory_label) + "\":\"true\",\"" +
                      std::string(k_target_label) + "\":\"" + json_escape(target) + "\"";
    if (shard)
      out += ",\"" + std::string(k_inventory_shard_label) + "\":\"true\",\"" +
             std::string(k_inventory_generation_label) + "\":\"" + inv.generation + "\"";
    return out + "}";
  };
  for (std::size_t i = 1; i <= shards; ++i) {
    std::string name = inventory_shard_name(target, inv.generation, i);
    std::string body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" + name +
                       "\",\"namespace\":\"" + json_escape(ns) + "\"," + labels(true) + "},\"data\":{\"objects\":\"";
    append_objects(body, i);
    body += "\"}}";
    if (auto stored = apply_configmap(client, ns, name, target, body); !stored) {
      store.shards_clean = false;  // those written so far belong to no inventory
      return util::fail(stored.error());
    }
  }
  if (shards) fault_point("shard");
  std::string body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" + head +
                     "\",\"namespace\":\"" + json_escape(ns) + "\"," + labels(false) + "},\"data\":{\"revision\":\"" +
                     json_escape(inv.revision) + "\",\"tree\":\"" + json_escape(inv.tree) + "\",";
  // Always both keys: a restore by another field manager may own them, and an apply that
  // left them out would not remove them.
  body += "\"generation\":\"" + inv.generation + "\",\"shards\":\"" + std::to_string(shards) + "\",";
  inv.field_manager = field_manager(target);
  body += "\"fieldManager\":\"" + json_escape(inv.field_manager) + "\",";
  body += "\"objects\":\"";
  append_objects(body, 0);
  body += "\"}}";
  auto stored = apply_configmap(client, ns, head, target, body);
  if (!stored) {
    store.shards_clean = store.shards_clean && shards == 0;
    return stored;
  }
  store.cleanup_error.clear();
  if (shards || !store.shards_clean) store.cleanup_error = delete_other_shards(client, ns, target, inv.generation);
  store.shards_clean = store.cleanup_error.empty();
  return stored;
}

}  // namespace portcullis::daemon
