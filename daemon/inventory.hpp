#pragma once
// What a target owns, stored in its cluster (a ConfigMap per target in the inventory
// namespace) so a restarted or new daemon knows exactly what it applied: each object's
// identity, UID, the hash of what was applied and the file it came from.
#include <optional>
#include <string>
#include <vector>

#include "shared/kube/client.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

struct InventoryEntry {
  std::string api_version, kind, namespace_, name;  // namespace resolved ("" = cluster-scoped)
  std::string uid;
  std::string hash;
  std::string path;
  // group/Kind/namespace/name: versions of one kind are one object.
  std::string key() const;
};

struct Inventory {
  std::string revision;  // commit last synced
  std::string tree;      // the target directory's tree at that commit
  std::vector<InventoryEntry> entries;
  std::string resource_version;  // of the ConfigMap it was read from or stored as ("" unknown)
};

std::string inventory_name(std::string_view target);
// The label every inventory ConfigMap carries ("true"), next to the target label.
inline constexpr std::string_view k_inventory_label = "portcullis.io/inventory";

// The ConfigMap data (one line per object, tab-separated, paths escaped).
std::string encode_entries(const std::vector<InventoryEntry>& entries);
util::Result<std::vector<InventoryEntry>> decode_entries(std::string_view text);

// nullopt when the target has no inventory yet (a first sync).
util::Result<std::optional<Inventory>> load_inventory(kube::Client& client, std::string_view ns, std::string_view target);
// Whether the inventory ConfigMap is still at `resource_version`: one metadata-only GET, so a
// daemon that keeps the inventory it read or stored need not read the whole (up to 1 MiB)
// ConfigMap again. False when it changed, is gone, or the server cannot answer with metadata.
util::Result<bool> inventory_unchanged(kube::Client& client, std::string_view ns, std::string_view target,
                                       std::string_view resource_version);
// Server-side applies the inventory ConfigMap (creating the namespace when missing); returns
// the resourceVersion it was stored as.
util::Result<std::string> store_inventory(kube::Client& client, std::string_view ns, std::string_view target,
                                          const Inventory& inventory);

}  // namespace portcullis::daemon
