#pragma once
// What a target owns, stored in its cluster (a ConfigMap per target in the inventory
// namespace) so a restarted or new daemon knows exactly what it applied: each object's
// identity, UID, the hash of what was applied and the file it came from. A ConfigMap holds at
// most 1 MiB (some 6,000 objects): the entries of a larger target continue in shard
// ConfigMaps that the first one names by generation and count, written before it.
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
  // The shard ConfigMaps holding entries beyond the first ConfigMap's: "<name>-<generation>-<i>",
  // i = 1..shards (0 shards: no generation).
  std::string generation;
  std::size_t shards = 0;
  // The field manager that applied the entries ("" before managers were per target): another
  // than the target's own makes the next sync apply every object again.
  std::string field_manager;
};

// The field manager of `target`'s applies, "portcullis-<target>"; before, every target applied
// as k_legacy_field_manager, whose entries a target's next apply of an object releases.
std::string field_manager(std::string_view target);
inline constexpr std::string_view k_legacy_field_manager = "portcullis";

std::string inventory_name(std::string_view target);
// The label every inventory ConfigMap carries ("true"), next to the target label.
inline constexpr std::string_view k_inventory_label = "portcullis.io/inventory";
// On shards ("true"), beside the target label; and the generation they belong to. (Not the
// first ConfigMap's name: with a 63-character target it would pass a label value's 63.)
inline constexpr std::string_view k_inventory_shard_label = "portcullis.io/inventory-shard";
inline constexpr std::string_view k_inventory_generation_label = "portcullis.io/inventory-generation";
// Bytes of entries per ConfigMap: under the apiserver's 1 MiB, with room for the rest.
inline constexpr std::size_t k_inventory_shard_bytes = 900 * 1024;
std::string inventory_shard_name(std::string_view target, std::string_view generation, std::size_t i);

// The ConfigMap data (one line per object, tab-separated, paths escaped).
std::string encode_entries(const std::vector<InventoryEntry>& entries);
util::Result<std::vector<InventoryEntry>> decode_entries(std::string_view text);

// nullopt when the target has no inventory yet (a first sync). A missing or damaged shard
// fails: an incomplete inventory would make objects the target owns look unowned.
util::Result<std::optional<Inventory>> load_inventory(kube::Client& client, std::string_view ns, std::string_view target);
// Whether the inventory ConfigMap is still at `resource_version`: one metadata-only GET, so a
// daemon that keeps the inventory it read or stored need not read the whole (up to 1 MiB)
// ConfigMap again. False when it changed, is gone, or the server cannot answer with metadata.
util::Result<bool> inventory_unchanged(kube::Client& client, std::string_view ns, std::string_view target,
                                       std::string_view resource_version);
// How an inventory is stored, and what the caller knows of stray shards between stores.
struct InventoryStore {
  std::size_t shard_bytes = k_inventory_shard_bytes;  // of entries per ConfigMap
  // In: no shard of another generation is known to exist (false after a start, a failed
  // store or cleanup); out: the same, after this store.
  bool shards_clean = false;
  std::string cleanup_error;  // out: why stray shards could not be deleted ("" when they were)
};

// Server-side applies the inventory as the target's field manager (creating the namespace when
// missing): the shards of a new
// generation first, then the first ConfigMap naming them (or naming none: generation "",
// shards "0"), then the shards of other generations are deleted, looked for when this
// inventory has shards or `store.shards_clean` is false. Fills `inventory`'s generation and
// shards; returns the first ConfigMap's resourceVersion.
util::Result<std::string> store_inventory(kube::Client& client, std::string_view ns, std::string_view target,
                                          Inventory& inventory, InventoryStore& store);

}  // namespace portcullis::daemon
