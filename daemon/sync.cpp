#include "daemon/sync.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "daemon/claim.hpp"
#include "daemon/drift.hpp"
#include "daemon/faults.hpp"
#include "daemon/inventory.hpp"
#include "daemon/log.hpp"
#include "daemon/render.hpp"
#include "shared/kube/client.hpp"
#include "shared/kube/discovery.hpp"
#include "shared/kube/kubeconfig.hpp"
#include "shared/manifest/object.hpp"
#include "shared/render/environment.hpp"
#include "shared/policy/confinement.hpp"
#include "shared/util/parallel.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

using Clock = std::chrono::steady_clock;

std::string_view state_name(SyncState s) {
  switch (s) {
    case SyncState::synced: return "Synced";
    case SyncState::out_of_sync: return "OutOfSync";
    case SyncState::failed: return "Failed";
    case SyncState::source_unavailable: return "SourceUnavailable";
    default: return "Unknown";
  }
}

namespace {

std::string status_message(const kube::Response& r) {
  if (auto doc = yaml::parse_json(r.body); doc && !doc->documents.empty() && doc->documents[0].root)
    if (auto m = doc->documents[0].root->get_string("message"); !m.empty()) return std::string(m);
  return r.body.substr(0, 300);
}

bool retryable(int status) { return status == 429 || status >= 500; }

// Whether an apply's answer (its managedFields) still has an Apply entry of the field manager
// all targets shared before. The apiserver writes the entry's manager before its operation.
bool holds_legacy_entry(std::string_view answer) {
  std::string needle = "\"manager\":\"" + std::string(k_legacy_field_manager) + "\",\"operation\":\"Apply\"";
  return answer.find(needle) != std::string_view::npos;
}

// Releases every field the legacy field manager holds on an object: an apply of nothing by it.
// Fields the target's own manager holds stay; fields no manager holds any more (those Git no
// longer declares) are removed, as a target's own apply would have removed them.
util::Result<void> release_legacy_entry(kube::Client& client, const kube::Resource& resource, std::string_view ns,
                                        std::string_view name, std::string_view api_version, std::string_view kind) {
  std::string body = "{\"apiVersion\":\"" + util::json_escape(api_version) + "\",\"kind\":\"" + util::json_escape(kind) +
                     "\",\"metadata\":{\"name\":\"" + util::json_escape(name) + "\"";
  if (resource.namespaced) body += ",\"namespace\":\"" + util::json_escape(ns) + "\"";
  body += "}}";
  std::string path = resource.object_path(ns, name) + "?fieldManager=" + std::string(k_legacy_field_manager);
  auto res = client.request(kube::Client::Method::patch, path, body, "application/apply-patch+yaml",
                            kube::Client::k_accept_metadata);
  if (!res) return util::fail(res.error());
  if (res->status != 200 && res->status != 201 && res->status != 406)
    return util::fail("releasing the fields of the former shared field manager \"" + std::string(k_legacy_field_manager) +
                      "\" answered HTTP " + std::to_string(res->status) + ": " + status_message(*res));
  return {};
}

}  // namespace

struct Work {
  DesiredObject* desired;  // its JSON is released once the body to apply is built (CRDs keep theirs)
  kube::Resource resource;
  std::string ns;    // resolved namespace ("" cluster-scoped)
  std::string key;   // group/kind/ns/name
  std::shared_ptr<const DesiredState> state;  // what is desired (applied when it changed), deflated
  std::string uid;   // result
  std::string error;
  bool ok = false;
  bool refused = false;  // by confinement or ownership: never kept as desired, never healed
  bool adopted = false;  // an existing object no target owned, taken over (adopt: true)
  bool attempted = false;  // an apply was sent: the object may exist, whatever the answer
};

// An inventory entry without a UID: an object a sync meant to apply and may have created
// (recorded before its apply, so that a crash cannot orphan it). Pruned, like any entry, only
// when the live object carries this target's ownership annotation.
InventoryEntry pending_entry(const Work& w) {
  return InventoryEntry{w.desired->api_version, w.desired->kind, w.ns, w.desired->name, {}, {}, w.desired->path};
}

struct ClientPool {
  std::vector<kube::Client> clients;
};

struct TargetSyncer::Impl {
  TargetConfig target;
  std::string inventory_namespace;
  std::string manager;  // field_manager(target.name)
  policy::Confinement confinement;  // known once connected (the default namespace is the context's)
  InventoryStore inventory_store;  // shard size, and whether stray shards are known to be gone
  std::optional<kube::Connection> connection;
  // The cluster's connections (shared with the other targets of the cluster when the service
  // says so: share_pool); clients()[0] is also used for sequential work.
  std::shared_ptr<ClientPool> shared = std::make_shared<ClientPool>();
  std::vector<kube::Client>& clients() { return shared->clients; }
  std::chrono::milliseconds request_timeout{30'000};
  bool connected = false;
  kube::Discovery discovery;
  bool allow_prune_once = false;
  std::function<util::Result<void>(bool)> fence;
  util::Result<void> fenced(bool confirm) { return fence ? fence(confirm) : util::Result<void>{}; }
  std::atomic<bool> no_metadata_answers{false};  // the server refused PartialObjectMetadata (406)
  std::mutex mutex;  // one sync or heal at a time
  std::atomic<bool> forget_pending{false};  // forget(): dropped at the start of the next sync or heal
  // The inventory as last read or stored, trusted while the ConfigMap keeps its resourceVersion.
  std::optional<Inventory> inventory;
  // What the last sync declared, and the connection; read by other threads.
  mutable std::mutex state_mutex;
  std::shared_ptr<const DesiredSet> desired_set;
  // The inputs of the last kustomize render of the target (repository paths): a sync whose
  // inputs are unchanged (inventory key "k" + their digest) is skipped.
  std::vector<std::string> kustomize_inputs;

  std::shared_ptr<const DesiredSet> desired_snapshot() const {
    std::lock_guard lock(state_mutex);
    return desired_set;
  }

  // Under `mutex`: what forget() asked to drop.
  void forget_if_asked() {
    if (!forget_pending.exchange(false)) return;
    inventory.reset();
    kustomize_inputs.clear();
    std::lock_guard lock(state_mutex);
    desired_set.reset();
  }

  util::Result<void> connect() {
    if (connected && clients().size() >= static_cast<std::size_t>(std::max(1, target.concurrency))) return {};
    auto conn = target.kubeconfig.empty() ? kube::in_cluster() : kube::load_kubeconfig(target.kubeconfig, target.context);
    if (!conn) return util::fail(conn.error());
    if (!target.namespace_.empty()) conn->namespace_ = target.namespace_;
    confinement.namespaces = target.namespaces.value_or(std::vector<std::string>{conn->namespace_});
    confinement.cluster_kinds = target.cluster_kinds;
    confinement.inventory_namespace = inventory_namespace;
    {
      std::lock_guard lock(state_mutex);
      connection = *conn;
    }
    // A shared pool grows to the largest concurrency among its targets.
    while (clients().size() < static_cast<std::size_t>(std::max(1, target.concurrency))) {
      auto c = kube::Client::connect(*conn);
      if (!c) return util::fail(c.error());
      c->set_timeout(request_timeout);
      clients().push_back(std::move(*c));
    }
    connected = true;
    return {};
  }

  struct Applied {
    bool ok = false;
    std::string uid, error;
  };

  // Server-side apply as the target's field manager, with retries on transport errors, 429 and
  // 5xx (backoff 100, 200, 400 ms); then the entry of the former shared manager is released
  // when the object still has one.
  Applied apply_body(kube::Client& client, const kube::Resource& resource, const std::string& ns,
                     const std::string& name, const std::string& body, const std::string& what,
                     std::string_view api_version, std::string_view kind) {
    Applied out;
    std::string path =
        resource.object_path(ns, name) + "?fieldManager=" + manager + (target.force_conflicts ? "&force=true" : "");
    for (int attempt = 0;; ++attempt) {
      // The answer is wanted for the uid only: metadata, not the object with its managedFields.
      bool metadata = !no_metadata_answers.load(std::memory_order_relaxed);
      auto res = client.request(kube::Client::Method::patch, path, body, "application/apply-patch+yaml",
                                metadata ? kube::Client::k_accept_metadata : std::string_view("application/json"));
      if (res && res->status == 406 && metadata) {
        if (!no_metadata_answers.exchange(true))
          log(LogLevel::warn, "the apiserver does not answer with metadata only (406); reading whole objects back",
              {{"target", target.name}});
        --attempt;
        continue;
      }
      bool again = !res || retryable(res->status);
      if (again && attempt < 3) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
        continue;
      }
      if (!res) {
        out.error = "apply " + what + ": " + res.error().message;
        return out;
      }
      if (res->status != 200 && res->status != 201) {
        out.error = "apply " + what + ": HTTP " + std::to_string(res->status) + ": " + status_message(*res);
        return out;
      }
      // Only the uid is wanted of the answer: scanned for, not parsed into a tree.
      if (auto uid = yaml::json_string_at(res->body, {"metadata", "uid"})) out.uid = std::move(*uid);
      if (holds_legacy_entry(res->body))
        if (auto released = release_legacy_entry(client, resource, ns, name, api_version, kind); !released) {
          out.error = "apply " + what + ": " + released.error().message;
          return out;
        }
      out.ok = true;
      return out;
    }
  }

  static std::string what_of(const Work& w) {
    return w.desired->api_version + " " + w.desired->kind + " " + (w.ns.empty() ? "" : w.ns + "/") + w.desired->name;
  }

  // Why `w` may not be written by this target (its namespace or kind is outside the
  // target's confinement); nullopt when it may.
  std::optional<std::string> confinement_refusal(const Work& w) const {
    auto problem = policy::confinement_problem(confinement, manifest::group_of(w.desired->api_version), w.desired->kind,
                                               w.ns, w.desired->name, w.resource.namespaced);
    if (!problem) return std::nullopt;
    return w.desired->path + ": refused by the confinement of target \"" + target.name + "\": " + *problem;
  }

  // Applies `body` for `w`. An object that the inventory does not hold with a UID (`known`)
  // is read first (metadata only): refused when another target owns it, or when it exists,
  // was not made by this target and the target may not adopt it. An adoption is applied on
  // the resourceVersion read, so that a change in between fails it instead of being taken over.
  void guarded_apply(kube::Client& client, Work& w, const std::string& body, bool known) {
    const std::string group(manifest::group_of(w.desired->api_version));
    const std::string what = what_of(w);
    std::string conditional;
    if (!known) {
      auto claim = read_claim(client, w.resource, target.name, group, w.desired->kind, w.ns, w.desired->name);
      if (!claim) {
        w.error = "apply " + what + ": " + claim.error().message;
        return;
      }
      if (auto problem = claim_problem(*claim, target.name, what, target.adopt)) {
        w.error = w.desired->path + ": refused: " + *problem;
        w.refused = true;
        return;
      }
      if (claim->claim == Claim::unowned) {
        auto pinned = owned_body(body, target.name, group, w.desired->kind, w.ns, w.desired->name,
                                 w.resource.namespaced, claim->resource_version);
        if (!pinned) {
          w.error = w.desired->path + ": " + pinned.error().message;
          return;
        }
        conditional = std::move(*pinned);
        w.adopted = true;
      }
    }
    if (auto f = fenced(false); !f) {
      w.error = "apply " + what + ": " + f.error().message;
      return;
    }
    w.attempted = true;
    auto a = apply_body(client, w.resource, w.ns, w.desired->name, w.adopted ? conditional : body, what,
                        w.desired->api_version, w.desired->kind);
    w.ok = a.ok;
    w.uid = std::move(a.uid);
    w.error = std::move(a.error);
  }

  // The target's inventory as the cluster has it: the one kept from the last sync when the
  // ConfigMap is still at its resourceVersion (a metadata-only GET), else read whole.
  util::Result<const Inventory*> current_inventory(kube::Client& client) {
    if (inventory && !inventory->resource_version.empty()) {
      auto same = inventory_unchanged(client, inventory_namespace, target.name, inventory->resource_version);
      if (!same) return util::fail(same.error());
      if (*same) return &*inventory;
    }
    inventory.reset();
    auto loaded = load_inventory(client, inventory_namespace, target.name);
    if (!loaded) return util::fail(loaded.error());
    inventory = loaded->value_or(Inventory{});
    return &*inventory;
  }

  // Stores `next` and keeps it as the current inventory (forgotten when the write failed).
  util::Result<void> keep_inventory(kube::Client& client, Inventory next) {
    if (auto f = fenced(true); !f) {
      inventory.reset();
      return util::fail("inventory not stored: " + f.error().message);
    }
    auto stored = store_inventory(client, inventory_namespace, target.name, next, inventory_store);
    if (!inventory_store.cleanup_error.empty())
      log(LogLevel::warn, "stray inventory shards are left (deleted after a later store)",
          {{"target", target.name}, {"error", inventory_store.cleanup_error}});
    if (!stored) {
      inventory.reset();
      return util::fail(stored.error());
    }
    next.resource_version = std::move(*stored);
    inventory = std::move(next);
    return {};
  }

  // Write-ahead: before objects the inventory does not list are applied, the inventory is
  // stored with them as pending entries (and its tree cleared, so the next sync renders in
  // full), so that a sync killed at any point leaves nothing it created outside the inventory.
  // `recorded` holds the keys already listed; nothing is written when all are.
  util::Result<void> record_intent(const Inventory& previous, const std::vector<Work*>& batch,
                                   std::set<std::string>& recorded, std::vector<InventoryEntry>& intents) {
    std::size_t before = intents.size();
    for (const Work* w : batch)
      if (!w->key.empty() && recorded.insert(w->key).second) intents.push_back(pending_entry(*w));
    if (intents.size() == before) return {};
    Inventory ahead;
    ahead.revision = previous.revision;
    ahead.entries = previous.entries;
    ahead.entries.insert(ahead.entries.end(), intents.begin(), intents.end());
    // The inventory kept from the last sync stays as it is: `previous` is it, and the ConfigMap's
    // new resourceVersion tells the next sync to read it again if this one stores no other.
    if (auto f = fenced(true); !f) return util::fail("inventory not stored: " + f.error().message);
    auto stored = store_inventory(clients()[0], inventory_namespace, target.name, ahead, inventory_store);
    if (!stored) return util::fail("cannot record the objects about to be applied in the inventory: " + stored.error().message);
    fault_point("intent");
    return {};
  }

  // Waits (polling, 30 s at most) until a CRD is Established.
  bool wait_established(const std::string& name) {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto res = clients()[0].get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + kube::escape_segment(name));
      if (res && res->status == 200)
        if (auto doc = yaml::parse_json(res->body); doc && !doc->documents.empty() && doc->documents[0].root)
          if (const yaml::Node* conds = doc->documents[0].root->at({"status", "conditions"}); conds && conds->is_sequence())
            for (const yaml::Node* c : conds->items)
              if (c->get_string("type") == "Established" && c->get_string("status") == "True") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  SyncResult sync(const git::Repository& repo, const git::Oid& commit);
  SyncResult heal(const std::vector<std::string>& keys);
  void prune(const Inventory& previous, const std::set<std::string>& desired_keys, std::vector<InventoryEntry>& keep,
             SyncResult& r);
};

void TargetSyncer::Impl::prune(const Inventory& previous, const std::set<std::string>& desired_keys,
                               std::vector<InventoryEntry>& keep, SyncResult& r) {
  // An allow-prune lasts for the next prune decision only, even one that has nothing to prune.
  const bool allowed = std::exchange(allow_prune_once, false);
  std::vector<const InventoryEntry*> candidates;
  for (const auto& e : previous.entries)
    if (!desired_keys.contains(e.key())) candidates.push_back(&e);
  if (candidates.empty()) return;
  auto carry = [&](const InventoryEntry* e) { keep.push_back(*e); };
  if (!target.prune) {
    for (auto* e : candidates) carry(e);
    return;
  }
  bool emptying = desired_keys.empty();
  double share = static_cast<double>(candidates.size()) / static_cast<double>(previous.entries.size());
  if (emptying && !target.allow_empty) {
    r.prune_blocked = "the target would become empty (" + std::to_string(candidates.size()) +
                      " objects); set allowEmpty on the target to allow it";
  } else if (!emptying && share > target.max_prune_share && !allowed) {
    r.prune_blocked = "pruning " + std::to_string(candidates.size()) + " of " + std::to_string(previous.entries.size()) +
                      " objects exceeds maxPruneShare " + std::to_string(static_cast<int>(target.max_prune_share * 100)) +
                      "%; allow it once with POST /v1/targets/" + target.name + "/allow-prune";
  }
  if (!r.prune_blocked.empty()) {
    for (auto* e : candidates) carry(e);
    return;
  }
  kube::Client& client = clients()[0];
  for (const InventoryEntry* e : candidates) {
    std::string what = e->api_version + " " + e->kind + " " + (e->namespace_.empty() ? "" : e->namespace_ + "/") + e->name;
    auto resource = discovery.resolve(client, e->api_version, e->kind);
    if (!resource) {
      r.errors.push_back("prune " + what + ": " + resource.error().message);
      carry(e);
      continue;
    }
    // The inventory is in the cluster and could have been written by others: nothing outside
    // the target's confinement is deleted, whatever it lists.
    auto problem = resource->namespaced == e->namespace_.empty()
                       ? std::optional<std::string>("the inventory's namespace does not fit the kind's scope")
                       : policy::confinement_problem(confinement, manifest::group_of(e->api_version), e->kind,
                                                     e->namespace_, e->name, resource->namespaced);
    if (problem) {
      r.warnings.push_back("kept " + what + ": not pruned, outside the confinement of target \"" + target.name +
                           "\" (" + *problem + "); no longer in its inventory");
      continue;
    }
    std::string path = resource->object_path(e->namespace_, e->name);
    auto live = client.get(path);
    if (!live) {
      r.errors.push_back("prune " + what + ": " + live.error().message);
      carry(e);
      continue;
    }
    if (live->status == 404) continue;  // already gone
    if (live->status != 200) {
      r.errors.push_back("prune " + what + ": HTTP " + std::to_string(live->status) + ": " + status_message(*live));
      carry(e);
      continue;
    }
    auto doc = yaml::parse_json(live->body, yaml::Limits{256, 10'000'000, 10'000'000});
    const yaml::Node* meta = doc && !doc->documents.empty() && doc->documents[0].root ? doc->documents[0].root->get("metadata") : nullptr;
    std::string_view uid = meta ? meta->get_string("uid") : std::string_view{};
    const yaml::Node* annotations = meta ? meta->get("annotations") : nullptr;
    std::string_view owner = annotations ? annotations->get_string(k_owner_annotation) : std::string_view{};
    std::string_view policy = annotations ? annotations->get_string(k_prune_annotation) : std::string_view{};
    std::string expected = owner_value(target.name, manifest::group_of(e->api_version), e->kind, e->namespace_, e->name);
    if (policy == "disabled") {
      r.warnings.push_back("kept " + what + ": annotated portcullis.io/prune: disabled; no longer managed");
      continue;
    }
    // A pending entry (recorded before its apply, by a sync that did not finish) has no UID:
    // the object is the one this target applied when it carries this target's ownership
    // annotation, which only an apply of this target writes.
    const bool pending = e->uid.empty();
    if (owner != expected || uid.empty() || (!pending && uid != e->uid)) {
      // Recreated by someone else, or never ours: not touched, and no longer in the inventory.
      r.warnings.push_back("kept " + what + ": the live object is not the one this target applied (ownership or UID differ)");
      continue;
    }
    if (auto f = fenced(false); !f) {
      r.errors.push_back("prune " + what + ": " + f.error().message);
      carry(e);
      continue;
    }
    std::string options = "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"propagationPolicy\":\"Background\","
                          "\"preconditions\":{\"uid\":\"" + util::json_escape(std::string(uid)) + "\"}}";
    auto del = client.request(kube::Client::Method::del, path, options);
    if (!del) {
      r.errors.push_back("prune " + what + ": " + del.error().message);
      carry(e);
    } else if (del->status == 200 || del->status == 202 || del->status == 404) {
      ++r.pruned;
      r.pruned_objects.push_back(what);
      fault_point("prune");
    } else if (del->status == 409) {
      r.warnings.push_back("kept " + what + ": its UID changed before the delete (precondition failed)");
    } else {
      r.errors.push_back("prune " + what + ": HTTP " + std::to_string(del->status) + ": " + status_message(*del));
      carry(e);
    }
  }
}

SyncResult TargetSyncer::Impl::sync(const git::Repository& repo, const git::Oid& commit) {
  auto started = Clock::now();
  SyncResult r;
  r.revision = commit.hex();
  auto since = [](Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  };
  // The inventory says what the last sync applied, and so what to render. After a start
  // nothing is known to compare with and everything is rendered: the inventory is read
  // meanwhile, on another thread (inventoryMs counts the read itself, not only the wait).
  struct Read {
    util::Result<const Inventory*> inventory;
    std::chrono::milliseconds took;
  };
  std::future<Read> reading;
  auto finish = [&](SyncState s) {
    // A sync that fails while the inventory is read waits for the read (it uses the client),
    // and reports its error too.
    if (reading.valid()) {
      Read got = reading.get();
      r.inventory_time += got.took;
      if (!got.inventory) r.errors.push_back(got.inventory.error().message);
    }
    r.state = s;
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return r;
  };
  auto failed = [&](std::string message) {
    r.errors.push_back(std::move(message));
    return finish(SyncState::failed);
  };
  if (auto c = connect(); !c) return failed("cannot connect to the cluster: " + c.error().message);
  kube::Client& client = clients()[0];

  std::shared_ptr<const DesiredSet> known = desired_snapshot();
  const Inventory* previous_read = nullptr;
  auto read_inventory = [this, &client, since] {
    auto t = Clock::now();
    auto got = current_inventory(client);
    return Read{std::move(got), since(t)};
  };
  if (known) {
    Read got = read_inventory();
    r.inventory_time += got.took;
    if (!got.inventory) return failed(got.inventory.error().message);
    previous_read = *got.inventory;
  } else {
    reading = std::async(std::launch::async, read_inventory);
  }

  auto tree = repo.commit_tree(commit);
  if (!tree) return failed(tree.error().message);
  auto entry = repo.entry_at(*tree, target.path);
  if (!entry) return failed(entry.error().message);
  std::optional<git::Oid> dir;
  if (*entry && (*entry)->kind == git::EntryKind::tree) dir = (*entry)->oid;
  // Which files are objects is the repository's to say, at this commit (the one render).
  auto selection = render::selection_at(repo, commit);
  if (!selection) return failed("cannot render " + target.path + ": " + selection.error().message);
  // A directory with a kustomization is rendered by kustomize over the whole repository tree.
  bool kustomized = false;
  if (dir) {
    auto k = render::is_kustomized(repo, *tree, target.path);
    if (!k) return failed("cannot render " + target.path + ": " + k.error().describe());
    kustomized = *k;
  }
  // The inventory names what was rendered: the tree, and the selection when it excludes files;
  // for kustomize, "k" and a digest of the build's inputs (every file it read or probed).
  std::string rendered_key = !dir                       ? std::string()
                             : kustomized               ? std::string()
                             : selection->key().empty() ? dir->hex()
                                                        : dir->hex() + "+" + selection->key();
  if (kustomized && known && !kustomize_inputs.empty())
    rendered_key = "k" + render::inputs_digest(repo, *tree, kustomize_inputs);

  // Nothing changed under the target (or in the build's inputs) since the last complete sync:
  // no write at all (and, with the inventory kept, one metadata-only read).
  // (After a restart the desired set is rendered once more, for the drift monitor.)
  if (dir && known && !rendered_key.empty() && !previous_read->tree.empty() && previous_read->tree == rendered_key) {
    r.objects = previous_read->entries.size();
    return finish(SyncState::synced);
  }

  // Render: only the files that changed since the last sync, when the inventory says which
  // tree that was; everything otherwise.
  auto t0 = Clock::now();
  std::vector<FileRef> files;
  std::set<std::string> changed;
  bool incremental = false;
  if (dir && !kustomized) {
    // Incremental only when the last render used the same selection.
    std::optional<git::Oid> prev_tree;
    if (known) {
      std::string_view prev_key = previous_read->tree;
      auto plus = prev_key.find('+');
      std::string_view prev_selection = plus == std::string_view::npos ? std::string_view() : prev_key.substr(plus + 1);
      if (prev_selection == selection->key()) prev_tree = git::Oid::from_hex(prev_key.substr(0, plus));
    }
    if (prev_tree && !previous_read->entries.empty()) {
      auto diffed = repo.diff(*prev_tree, *dir, "", [&](const git::Change& c) {
        changed.insert(c.path);
        if (c.after && render::use_of(*selection, target.path, c.path, c.after->kind) == render::FileUse::objects)
          files.push_back(FileRef{c.path, c.after->oid});
        return true;
      });
      incremental = static_cast<bool>(diffed);
      if (!incremental) {
        files.clear();
        changed.clear();
      }
    }
    if (!incremental) {
      auto all = manifest_files(repo, *dir, target.path, *selection);
      if (!all) return failed("cannot read " + target.path + ": " + all.error().message);
      files = std::move(*all);
    }
  }
  // Parsing is the daemon's CPU work before the first request: spread over the cores.
  const std::size_t cpus = util::cpu_threads();
  util::Result<Rendered> rendered = Rendered{};
  if (kustomized) {
    auto k = render_kustomized(repo, *tree, target.path);
    if (k) {
      rendered_key = "k" + render::inputs_digest(repo, *tree, k->files_read);
      kustomize_inputs = std::move(k->files_read);
      rendered = std::move(k->rendered);
    } else {
      kustomize_inputs.clear();
      rendered = util::fail(k.error());
    }
  } else {
    kustomize_inputs.clear();
    rendered = render_files(repo, files, cpus);
  }
  r.render_time = since(t0);
  if (reading.valid()) {
    Read got = reading.get();
    r.inventory_time += got.took;
    if (!got.inventory) return failed(got.inventory.error().message);
    previous_read = *got.inventory;
  }
  const Inventory& previous = *previous_read;  // valid until keep_inventory below
  if (!rendered) return failed("cannot render " + target.path + ": " + rendered.error().describe());
  r.warnings = rendered->warnings;

  // Resolve every object's resource; CRDs and Namespaces go first so kinds they introduce
  // resolve afterwards.
  std::vector<Work> work;
  work.reserve(rendered->objects.size());
  for (auto& d : rendered->objects) work.push_back(Work{&d, {}, {}, {}, {}, {}, {}});
  std::unordered_map<std::string, const InventoryEntry*> previous_by_key;
  for (const auto& e : previous.entries) previous_by_key[e.key()] = &e;

  std::mutex discovery_mutex;  // discovery uses `client`; bodies are built on several threads
  // The object's resource, namespace and key; false (with the object's error) when it cannot
  // be resolved or lies outside the target's confinement.
  auto resolve = [&](Work& w) -> bool {
    auto res = [&] {
      std::lock_guard lock(discovery_mutex);
      return discovery.resolve(client, w.desired->api_version, w.desired->kind);
    }();
    if (!res) {
      w.error = w.desired->path + ": " + res.error().message;
      return false;
    }
    w.resource = *res;
    w.ns = res->namespaced ? (w.desired->namespace_.empty() ? connection->namespace_ : w.desired->namespace_) : "";
    w.key = object_key(manifest::group_of(w.desired->api_version), w.desired->kind, w.ns, w.desired->name);
    if (auto refusal = confinement_refusal(w)) {
      w.error = std::move(*refusal);
      w.refused = true;
      return false;
    }
    return true;
  };
  // The body that is applied: the object with its ownership marks, less what ignore rules
  // name. The rendered JSON is released (CRDs keep theirs, read after they are applied).
  auto build = [&](Work& w) -> std::optional<std::string> {
    std::string group(manifest::group_of(w.desired->api_version));
    auto body = owned_body(w.desired->body, target.name, group, w.desired->kind, w.ns, w.desired->name,
                           w.resource.namespaced);
    if (!body) {
      w.error = w.desired->path + ": " + body.error().message;
      return std::nullopt;
    }
    if (w.desired->kind != "CustomResourceDefinition") std::string().swap(w.desired->body);
    std::vector<std::string> ignored;
    for (const auto& rule : target.ignore)
      if (ignore_matches(rule, group, w.desired->kind, w.ns, w.desired->name))
        ignored.insert(ignored.end(), rule.pointers.begin(), rule.pointers.end());
    if (!ignored.empty()) {
      auto stripped = without_pointers(*body, ignored);
      if (!stripped) {
        w.error = w.desired->path + ": " + stripped.error().message;
        return std::nullopt;
      }
      *body = std::move(*stripped);
    }
    return std::move(*body);
  };
  // What the drift monitor and self-heal keep of it: deflated, since thousands of bodies
  // would make the peak of a first sync.
  auto keep_state = [&](Work& w, std::string_view body) {
    w.state = std::make_shared<const DesiredState>(w.desired->api_version, w.desired->kind,
                                                   std::string(manifest::group_of(w.desired->api_version)), w.ns,
                                                   w.desired->name, w.desired->path, w.resource, body);
  };
  // Objects applied by another field manager (the one all targets shared before) are applied
  // again, all of them, as this target's.
  const bool manager_changed = !previous.entries.empty() && previous.field_manager != manager;
  auto owned_before = [&](const Work& w) {
    auto it = previous_by_key.find(w.key);
    return it != previous_by_key.end() && !it->second->uid.empty();
  };
  auto needs_apply = [&](const Work& w) {
    auto it = previous_by_key.find(w.key);
    return manager_changed || !owned_before(w) || it->second->hash != w.desired->hash;
  };
  auto phase_of = [](const Work& w) {
    if (w.desired->kind == "Namespace" || w.desired->kind == "CustomResourceDefinition") return 0;
    return 1;
  };
  // Objects the inventory does not list are recorded in it before they are applied.
  std::set<std::string> recorded;
  for (const auto& e : previous.entries) recorded.insert(e.key());
  std::vector<InventoryEntry> intents;
  auto record_new = [&](const std::vector<Work*>& group) {
    std::vector<Work*> fresh;
    for (Work* w : group)
      if (needs_apply(*w) && !previous_by_key.contains(w->key)) fresh.push_back(w);
    return record_intent(previous, fresh, recorded, intents);
  };
  // Phase 0: Namespaces and CRDs.
  t0 = Clock::now();
  std::vector<Work*> batch;
  for (auto& w : work) {
    if (phase_of(w) != 0 || !resolve(w)) continue;
    auto body = build(w);
    if (!body) continue;
    keep_state(w, *body);
    if (needs_apply(w)) batch.push_back(&w);
  }
  if (auto noted = record_new(batch); !noted) return failed(noted.error().message);
  util::parallel_for(batch.size(), clients().size(), [&](std::size_t t, std::size_t i) {
    Work& w = *batch[i];
    guarded_apply(clients()[t], w, w.state->body(), owned_before(w));
    if (w.refused) w.state.reset();
  });
  for (auto* w : batch)
    if (w->ok && w->desired->kind == "CustomResourceDefinition") {
      if (!wait_established(w->desired->name)) r.errors.push_back("CRD " + w->desired->name + " did not become Established within 30 s");
      if (auto d = yaml::parse_json(w->desired->body); d && !d->documents.empty() && d->documents[0].root)
        if (const yaml::Node* spec = d->documents[0].root->get("spec"); spec && spec->get("versions"))
          for (const yaml::Node* v : spec->get("versions")->items)
            discovery.forget(std::string(spec->get_string("group")) + "/" + std::string(v->get_string("name")));
    }
  // Phase 1: cluster-scoped objects, then phase 2: namespaced ones. Their bodies are built by
  // the workers that apply them, each just before its request: the first request leaves as
  // soon as the kinds are resolved, and no body is deflated and inflated again on the way.
  std::vector<Work*> cluster, namespaced;
  for (auto& w : work)
    if (phase_of(w) != 0 && resolve(w)) (w.resource.namespaced ? namespaced : cluster).push_back(&w);
  {
    std::vector<Work*> both(cluster);
    both.insert(both.end(), namespaced.begin(), namespaced.end());
    if (auto noted = record_new(both); !noted) return failed(noted.error().message);
  }
  auto build_and_apply = [&](std::vector<Work*>& group) {
    util::parallel_for(group.size(), clients().size(), [&](std::size_t t, std::size_t i) {
      Work& w = *group[i];
      // Some objects may be applied already: a failure here (out of memory) is this object's
      // error, so that the inventory still records what was applied.
      try {
        auto body = build(w);
        if (!body) return;
        if (needs_apply(w)) guarded_apply(clients()[t], w, *body, owned_before(w));
        if (w.ok) fault_point("apply");
        if (!w.refused) keep_state(w, *body);
      } catch (const std::exception& e) {
        w.error = what_of(w) + ": " + e.what();
      }
    });
  };
  build_and_apply(cluster);
  build_and_apply(namespaced);
  r.apply_time = since(t0);  // with preparing the bodies and waiting for CRDs

  // The new inventory: applied objects with their new UID, unchanged ones as they were,
  // failed ones as they were before (still owned), and prune candidates handled below.
  Inventory next;
  next.entries.reserve(work.size() + (incremental ? previous.entries.size() : 0));
  next.revision = commit.hex();
  next.tree = rendered_key;
  std::set<std::string> desired_keys;
  std::set<std::string> rendered_paths;
  for (auto& w : work) {
    rendered_paths.insert(w.desired->path);
    if (w.key.empty()) {  // could not even be resolved
      r.errors.push_back(w.error);
      continue;
    }
    desired_keys.insert(w.key);
    auto prev = previous_by_key.find(w.key);
    if (w.ok) {
      ++r.applied;
      r.applied_objects.push_back(what_of(w));
      if (w.adopted) r.adopted_objects.push_back(what_of(w));
      next.entries.push_back(InventoryEntry{w.desired->api_version, w.desired->kind, w.ns, w.desired->name, w.uid,
                                            w.desired->hash, w.desired->path});
    } else if (!w.error.empty()) {
      r.errors.push_back(w.error);
      if (w.refused) ++r.refused;
      if (prev != previous_by_key.end()) next.entries.push_back(*prev->second);
      // An apply that failed may still have created the object (an answer lost on the way).
      else if (w.attempted && !w.refused) next.entries.push_back(pending_entry(w));
    } else if (prev != previous_by_key.end()) {
      next.entries.push_back(*prev->second);  // unchanged, but maybe moved to another file
      next.entries.back().path = w.desired->path;
    }
  }
  // With an incremental render, objects of unchanged files are still desired.
  if (incremental)
    for (const auto& e : previous.entries)
      if (!changed.contains(e.path) && !desired_keys.contains(e.key())) {
        desired_keys.insert(e.key());
        next.entries.push_back(e);
      }
  r.objects = desired_keys.size();

  // What the drift monitor compares and self-heal applies: with an incremental render, the
  // previous set without the changed files, plus what they declare now.
  auto next_set = std::make_shared<DesiredSet>();
  if (incremental && known)
    for (const auto& [key, state] : *known)
      if (!changed.contains(state->path)) next_set->emplace(key, state);
  for (auto& w : work)
    if (!w.key.empty() && w.state) (*next_set)[w.key] = std::move(w.state);
  {
    std::lock_guard lock(state_mutex);
    desired_set = std::move(next_set);
  }

  bool complete = r.errors.empty();
  if (complete) {
    t0 = Clock::now();
    prune(previous, desired_keys, next.entries, r);
    r.prune_time = since(t0);
  } else {
    // Never prune after a failed render or apply: carry every previous object along.
    for (const auto& e : previous.entries)
      if (!desired_keys.contains(e.key())) next.entries.push_back(e);
  }
  if (!r.errors.empty() || !r.prune_blocked.empty()) next.tree.clear();  // retried in full next time
  fault_point("inventory");
  t0 = Clock::now();
  if (auto stored = keep_inventory(client, std::move(next)); !stored) r.errors.push_back(stored.error().message);
  r.inventory_time += since(t0);
  if (!r.errors.empty()) return finish(SyncState::failed);
  return finish(r.prune_blocked.empty() ? SyncState::synced : SyncState::out_of_sync);
}

SyncResult TargetSyncer::Impl::heal(const std::vector<std::string>& keys) {
  auto started = Clock::now();
  SyncResult r;
  auto finish = [&](SyncState s) {
    r.state = s;
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return r;
  };
  auto set = desired_snapshot();
  if (!set) return finish(SyncState::unknown);
  if (auto c = connect(); !c) {
    r.errors.push_back("cannot connect to the cluster: " + c.error().message);
    return finish(SyncState::failed);
  }
  struct Heal {
    const std::string* key;
    const DesiredState* state;
    Applied result;
  };
  std::vector<Heal> heals;
  for (const auto& key : keys)
    if (auto it = set->find(key); it != set->end()) heals.push_back(Heal{&it->first, it->second.get(), {}});
  if (heals.empty()) return finish(SyncState::synced);
  util::parallel_for(heals.size(), clients().size(), [&](std::size_t t, std::size_t i) {
    const DesiredState& d = *heals[i].state;
    heals[i].result = apply_body(clients()[t], d.resource, d.ns, d.name, d.body(), d.what(), d.api_version, d.kind);
  });

  std::unordered_map<std::string, std::string> uids;  // key -> new UID
  for (auto& h : heals) {
    if (!h.result.ok) {
      r.errors.push_back(h.result.error);
      continue;
    }
    ++r.applied;
    r.applied_objects.push_back(h.state->what());
    uids[*h.key] = h.result.uid;
  }
  r.objects = set->size();
  // An object recreated has a new UID: the inventory must know it, or a later prune would
  // refuse to delete it as not the one this target applied. Most corrections keep the UID: the
  // inventory kept from the last sync tells, without a request.
  auto recreated = [&](const Inventory& inv) {
    for (const auto& e : inv.entries)
      if (auto it = uids.find(e.key()); it != uids.end() && !it->second.empty() && it->second != e.uid) return true;
    return false;
  };
  if (inventory && !inventory->resource_version.empty() && !recreated(*inventory)) {
    r.revision = inventory->revision;
  } else if (auto current = current_inventory(clients()[0]); !current) {
    r.errors.push_back(current.error().message);
  } else if (!(*current)->resource_version.empty()) {  // "" : no inventory yet
    Inventory inv = **current;
    r.revision = inv.revision;
    if (recreated(inv)) {
      for (auto& e : inv.entries)
        if (auto it = uids.find(e.key()); it != uids.end() && !it->second.empty()) e.uid = it->second;
      if (auto stored = keep_inventory(clients()[0], std::move(inv)); !stored) r.errors.push_back(stored.error().message);
    }
  }
  return finish(r.errors.empty() ? SyncState::synced : SyncState::failed);
}

TargetSyncer::TargetSyncer(TargetConfig target, std::string inventory_namespace) : m_impl(std::make_unique<Impl>()) {
  m_impl->manager = field_manager(target.name);
  m_impl->target = std::move(target);
  m_impl->inventory_namespace = std::move(inventory_namespace);
  if (std::size_t bytes = test_shard_bytes()) m_impl->inventory_store.shard_bytes = bytes;
}
TargetSyncer::~TargetSyncer() = default;

SyncResult TargetSyncer::sync(const git::Repository& repo, const git::Oid& commit) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->forget_if_asked();
  // With the end's line ("sync of ..."), when each sync ran (tests/e2e/shards.sh checks that no
  // two replicas sync a target at once).
  log(LogLevel::debug, "sync started", {{"target", m_impl->target.name}, {"revision", commit.hex()}});
  try {
    return m_impl->sync(repo, commit);
  } catch (const std::exception& e) {
    SyncResult r;
    r.revision = commit.hex();
    r.state = SyncState::failed;
    r.errors.push_back(std::string("internal error: ") + e.what());
    return r;
  }
}

SyncResult TargetSyncer::heal(const std::vector<std::string>& keys) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->forget_if_asked();
  try {
    return m_impl->heal(keys);
  } catch (const std::exception& e) {
    SyncResult r;
    r.state = SyncState::failed;
    r.errors.push_back(std::string("internal error: ") + e.what());
    return r;
  }
}

std::shared_ptr<const DesiredSet> TargetSyncer::desired() const { return m_impl->desired_snapshot(); }
void TargetSyncer::forget() { m_impl->forget_pending = true; }

std::optional<kube::Connection> TargetSyncer::connection() const {
  std::lock_guard lock(m_impl->state_mutex);
  return m_impl->connection;
}

void TargetSyncer::set_inventory_shard_bytes(std::size_t bytes) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->inventory_store.shard_bytes = bytes;
}

void TargetSyncer::set_fence(std::function<util::Result<void>(bool confirm)> fence) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->fence = std::move(fence);
}

void TargetSyncer::allow_next_prune() {
  std::lock_guard lock(m_impl->mutex);
  m_impl->allow_prune_once = true;
}

const TargetConfig& TargetSyncer::config() const { return m_impl->target; }

std::shared_ptr<ClientPool> make_client_pool() { return std::make_shared<ClientPool>(); }

void TargetSyncer::share_pool(std::shared_ptr<ClientPool> pool, std::chrono::milliseconds request_timeout) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->shared = std::move(pool);
  m_impl->request_timeout = request_timeout;
}

}  // namespace portcullis::daemon
