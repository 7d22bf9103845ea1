#include "daemon/monitor.hpp"

#include <malloc.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "daemon/drift.hpp"
#include "daemon/inventory.hpp"
#include "daemon/log.hpp"
#include "daemon/watch.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

using SteadyClock = std::chrono::steady_clock;

namespace {

// Desired fields (through mappings, from the top level and metadata's labels and
// annotations) that the portcullis apply entry of `managed_fields` no longer owns: another
// manager took them over. Lists are not followed (their keys in fieldsV1 are values); an
// empty entry owns its whole (atomic) value.
bool empty_container(const yaml::Node& n) {
  return (n.is_mapping() && n.entries.empty()) || (n.is_sequence() && n.items.empty());
}

void not_owned(const yaml::Node& desired, const yaml::Node* owned, std::string& pointer, std::vector<std::string>& out,
               std::size_t limit) {
  for (const auto& [key, value] : desired.entries) {
    if (out.size() >= limit) return;
    const yaml::Node* sub = owned ? owned->get("f:" + std::string(key->text)) : nullptr;
    std::size_t len = pointer.size();
    pointer += "/";
    for (char c : key->text) pointer += c == '/' ? std::string("~1") : c == '~' ? std::string("~0") : std::string(1, c);
    bool deeper = value->is_mapping() && !value->entries.empty() && (!sub || (sub->is_mapping() && !sub->entries.empty()));
    if (deeper)
      not_owned(*value, sub, pointer, out, limit);
    else if (!sub && !empty_container(*value))  // the server keeps no entry for {} or []
      out.push_back(pointer);
    pointer.resize(len);
  }
}

// How deep `pointer` ("/spec/replicas") reaches into a fieldsV1 tree; list indexes end it.
std::size_t owned_depth(std::string_view pointer, const yaml::Node* fields) {
  std::size_t depth = 0;
  std::size_t i = 1;
  while (fields && i <= pointer.size()) {
    std::size_t end = pointer.find('/', i);
    if (end == std::string_view::npos) end = pointer.size();
    std::string token(pointer.substr(i, end - i));
    fields = fields->get("f:" + token);
    if (!fields) break;
    ++depth;
    i = end + 1;
  }
  return depth;
}

// The pointers where the apply entry of the target's field manager `manager` lost desired
// fields, and the manager that owns the first drifted field now (the one reaching deepest into
// it; the latest on a tie).
std::vector<std::string> taken_over(const yaml::Node& desired, const yaml::Node& live, std::string_view manager) {
  std::vector<std::string> out;
  const yaml::Node* fields = live.at({"metadata", "managedFields"});
  if (!fields || !fields->is_sequence()) return out;  // the server keeps none: nothing to tell
  const yaml::Node* ours = nullptr;
  bool found = false;
  for (const yaml::Node* f : fields->items)
    if (f->get_string("manager") == manager && f->get_string("operation") == "Apply") {
      ours = f->get("fieldsV1");
      found = true;
    }
  if (!found) return {"/metadata/managedFields"};
  std::string pointer;
  for (const auto& [key, value] : desired.entries) {
    std::string_view k = key->text;
    if (k == "apiVersion" || k == "kind") continue;
    if (k == "metadata") {
      const yaml::Node* meta = ours ? ours->get("f:metadata") : nullptr;
      for (std::string_view part : {"labels", "annotations"})
        if (const yaml::Node* m = value->get(part); m && m->is_mapping()) {
          pointer = "/metadata/" + std::string(part);
          not_owned(*m, meta ? meta->get("f:" + std::string(part)) : nullptr, pointer, out, 20);
        }
      continue;
    }
    if (!value->is_mapping()) continue;  // top-level scalars and lists: compared by value only
    const yaml::Node* sub = ours ? ours->get("f:" + std::string(k)) : nullptr;
    pointer = "/" + std::string(k);
    if (!value->entries.empty() && (!sub || (sub->is_mapping() && !sub->entries.empty())))
      not_owned(*value, sub, pointer, out, 20);
  }
  return out;
}

// Not the target's own apply entry, nor the one all targets shared before (released by the
// target's next apply).
std::string manager_of(const yaml::Node& live, std::string_view pointer, std::string_view manager) {
  const yaml::Node* fields = live.at({"metadata", "managedFields"});
  if (!fields || !fields->is_sequence()) return {};
  std::string best;
  std::size_t best_depth = 0;
  std::string_view best_time;
  for (const yaml::Node* f : fields->items) {
    auto name = f->get_string("manager");
    if ((name == manager || name == k_legacy_field_manager) && f->get_string("operation") == "Apply") continue;
    std::size_t d = owned_depth(pointer, f->get("fieldsV1"));
    auto t = f->get_string("time");
    if (d > best_depth || (d == best_depth && d > 0 && t > best_time)) {
      best = std::string(f->get_string("manager"));
      best_depth = d;
      best_time = t;
    }
  }
  return best;
}

}  // namespace

struct DriftMonitor::Impl {
  Metrics& metrics;
  std::function<void(const std::string&)> on_drift;

  struct TargetState {
    std::string cluster;
    std::shared_ptr<const DesiredSet> desired;
    std::unordered_map<std::string, DriftItem> drift;
  };
  struct WatchState {
    std::string cluster, group, kind, api_version;
    kube::Resource resource;
    std::string ns;  // the namespace watched; "" for cluster-scoped resources
    std::unordered_set<std::string> seen;  // keys reported by the list in progress
    // The health of every labelled object the watch reports, whichever target declares it:
    // an object two targets declare carries one target's label, and a target declared after
    // the watch reported its objects must still know them.
    std::unordered_map<std::string, Health> health;
    // Labelled objects that no target declares (yet): key -> live JSON. Objects a sync creates
    // are reported before the sync declares them; pruned ones leave with their deletion.
    std::unordered_map<std::string, std::string> pending;
    bool listing = false;                  // a list is in progress
    bool listed = false;                   // a list has completed
    std::unique_ptr<Watch> watch;
  };

  static constexpr std::size_t k_max_pending = 20'000;
  std::string selector;  // of every watch

  mutable std::mutex mutex;
  std::map<std::string, TargetState> targets;
  std::map<std::string, std::unique_ptr<WatchState>> watches;  // by cluster and resource

  Impl(Metrics& m, std::function<void(const std::string&)> cb) : metrics(m), on_drift(std::move(cb)) {}

  bool each_object(const std::string& target,
                   const std::function<void(const std::string&, const DesiredState&, const Health&)>& fn) const;

  // One watch per cluster, resource and namespace: a target's identity may list and watch only
  // in its own namespaces.
  static std::string watch_key(const std::string& cluster, const DesiredState& d) {
    return cluster + "|" + d.resource.base + "/" + d.resource.plural + "|" + watched_namespace(d);
  }
  static std::string watched_namespace(const DesiredState& d) { return d.resource.namespaced ? d.ns : std::string(); }

  void set_drift_gauge(const std::string& target, const TargetState& ts) {
    metrics.set("portcullis_drifted_objects", "target=\"" + label_value(target) + "\"", static_cast<double>(ts.drift.size()));
  }

  // What one target makes of a live object: its drift (for the target that owns the object,
  // see observe).
  struct Verdict {
    std::string target;
    std::shared_ptr<const DesiredSet> set;
    bool owner = false;
    DriftItem item;
  };

  static DriftItem drift_of(const std::string& key, const DesiredState& desired, const yaml::Node& object, bool deleted,
                            std::string_view manager) {
    DriftItem item;
    item.key = key;
    item.what = desired.what();
    item.deleted = deleted;
    if (deleted) return item;
    auto parsed = yaml::parse_json(desired.body());
    if (!parsed || parsed->documents.empty() || !parsed->documents[0].root) return item;
    const yaml::Node& d = *parsed->documents[0].root;
    item.pointers = drift_between(d, object, 20, manager);
    // Fields another manager took over, unless a changed value already names them.
    auto related = [](const std::string& a, const std::string& b) {
      auto under = [](const std::string& x, const std::string& y) { return x.size() > y.size() && x.starts_with(y) && x[y.size()] == '/'; };
      return a == b || under(a, b) || under(b, a);
    };
    for (auto& p : taken_over(d, object, manager))
      if (std::none_of(item.pointers.begin(), item.pointers.end(), [&](const std::string& q) { return related(p, q); }))
        item.pointers.push_back(p);
    if (!item.pointers.empty()) item.manager = manager_of(object, item.pointers.front(), manager);
    return item;
  }

  // A live object (or its deletion) reported by the watch `ws`: its health is kept; drift is
  // judged for one target, the owner: the target its label names, else the first that declares
  // it (an object two targets declare, such as a shared Namespace, carries one label: the
  // other target must not fight over it). An object no target declares yet is kept until a
  // target does: the sync that creates an object declares it only after the watch reports it.
  // `replayed`: the JSON of `object` as kept in `pending` (skipped if a newer event came since).
  void observe(WatchState& ws, const yaml::Node& object, bool deleted, const std::string* replayed = nullptr) {
    const yaml::Node* meta = object.get("metadata");
    if (!meta) return;
    const yaml::Node* labels = meta->get("labels");
    std::string label(labels ? labels->get_string(k_target_label) : std::string_view{});
    std::string key = object_key(ws.group, ws.kind, meta->get_string("namespace"), meta->get_string("name"));
    if (!replayed) {
      // List items carry no apiVersion and kind: the watch's resource tells them.
      Health h = deleted ? Health{} : health_of(object, ws.api_version, ws.kind);
      std::lock_guard lock(mutex);
      if (deleted)
        ws.health.erase(key);
      else
        ws.health[key] = std::move(h);
    }
    for (int attempt = 0; attempt < 3; ++attempt) {  // again if a target is declared anew meanwhile
      std::vector<Verdict> verdicts;
      {
        std::lock_guard lock(mutex);
        if (replayed && attempt == 0) {
          auto p = ws.pending.find(key);
          if (p == ws.pending.end() || p->second != *replayed) return;
        }
        if (!deleted && ws.listing) ws.seen.insert(key);
        for (const auto& [name, ts] : targets)
          if (ts.cluster == ws.cluster && ts.desired && ts.desired->contains(key))
            verdicts.push_back(Verdict{name, ts.desired, name == label, {}});
        if (verdicts.empty()) {
          if (deleted)
            ws.pending.erase(key);
          else if (ws.pending.size() < k_max_pending || ws.pending.contains(key))
            ws.pending[key] = yaml::to_json(object);
          return;
        }
        ws.pending.erase(key);
      }
      if (std::none_of(verdicts.begin(), verdicts.end(), [](const Verdict& v) { return v.owner; }))
        verdicts.front().owner = true;
      for (auto& v : verdicts)
        if (v.owner) v.item = drift_of(key, *v.set->at(key), object, deleted, field_manager(v.target));
      std::vector<std::string> gained;
      bool stale = false;
      {
        std::lock_guard lock(mutex);
        for (auto& v : verdicts) {
          auto t = targets.find(v.target);
          if (t == targets.end() || t->second.desired != v.set) {
            stale = true;
            continue;
          }
          if (v.owner && record_drift(v.target, t->second, std::move(v.item))) gained.push_back(v.target);
        }
      }
      for (const auto& t : gained) on_drift(t);
      if (!stale) return;
    }
  }

  // Keeps `item` as the drift of its object (or forgets it when there is none); true when the
  // target gained a drifted object. Called with the lock held.
  bool record_drift(const std::string& target, TargetState& ts, DriftItem item) {
    auto now = SteadyClock::now();
    if (!item.deleted && item.pointers.empty()) {
      if (ts.drift.erase(item.key)) set_drift_gauge(target, ts);
      return false;
    }
    if (auto d = ts.drift.find(item.key); d != ts.drift.end()) {
      item.since = d->second.since;
      item.observed = now;
      d->second = std::move(item);
      return false;
    }
    item.since = item.observed = now;
    std::string key = item.key;
    ts.drift.emplace(std::move(key), std::move(item));
    metrics.add("portcullis_drift_detected_total", "target=\"" + label_value(target) + "\"");
    set_drift_gauge(target, ts);
    return true;
  }

  // A list ended: declared objects it did not report are gone (deleted while the watch was
  // away, or never created).
  void list_done(WatchState& ws) {
    std::vector<std::string> gained_targets;
    {
      std::lock_guard lock(mutex);
      ws.listed = true;
      ws.listing = false;
      // Objects deleted while the watch was away.
      for (auto it = ws.health.begin(); it != ws.health.end();)
        it = ws.seen.contains(it->first) ? std::next(it) : ws.health.erase(it);
      auto now = SteadyClock::now();
      for (auto& [name, ts] : targets) {
        if (ts.cluster != ws.cluster || !ts.desired) continue;
        bool gained = false;
        for (const auto& [key, state] : *ts.desired) {
          const DesiredState& d = *state;
          if (d.resource.base != ws.resource.base || d.resource.plural != ws.resource.plural ||
              watched_namespace(d) != ws.ns || ws.seen.contains(key))
            continue;
          if (ts.drift.contains(key)) continue;
          DriftItem item;
          item.key = key;
          item.what = d.what();
          item.deleted = true;
          item.since = item.observed = now;
          ts.drift.emplace(key, std::move(item));
          gained = true;
          metrics.add("portcullis_drift_detected_total", "target=\"" + label_value(name) + "\"");
        }
        if (gained) {
          set_drift_gauge(name, ts);
          gained_targets.push_back(name);
        }
      }
      log(LogLevel::info, "watch listed",
          {{"resource", ws.resource.base + "/" + ws.resource.plural}, {"namespace", ws.ns},
           {"objects", std::to_string(ws.seen.size())},
           {"undeclared", std::to_string(ws.pending.size())}});
      ws.seen.clear();
    }
    // A list of thousands of objects was parsed on this thread, in its own malloc arena: hand
    // what it freed back, or the daemon keeps tens of MB it no longer uses.
    malloc_trim(0);
    for (const auto& t : gained_targets) on_drift(t);
  }

  void on_event(WatchState& ws, WatchEventType type, const yaml::Node* object) {
    switch (type) {
      case WatchEventType::list_begin: {
        std::lock_guard lock(mutex);
        ws.seen.clear();
        ws.listing = true;
        ws.pending.clear();  // the list reports them again
        return;
      }
      case WatchEventType::list_end: list_done(ws); return;
      case WatchEventType::deleted: observe(ws, *object, true); return;
      default: observe(ws, *object, false); return;
    }
  }
};

DriftMonitor::DriftMonitor(Metrics& metrics, std::function<void(const std::string&)> on_drift,
                           std::vector<std::string> targets)
    : m_impl(std::make_unique<Impl>(metrics, std::move(on_drift))) {
  // "portcullis.io/target in (a,b),!portcullis.io/inventory": target names are DNS labels.
  std::sort(targets.begin(), targets.end());
  std::string names;
  for (const auto& t : targets) names += (names.empty() ? "" : ",") + t;
  m_impl->selector = std::string(k_target_label) + " in (" + names + "),!" + std::string(k_inventory_label);
  metrics.describe("portcullis_drift_detected_total", "counter", "Objects found to differ from Git (changed, deleted or taken over).");
  metrics.describe("portcullis_drifted_objects", "gauge", "Objects that differ from Git now.");
  metrics.describe("portcullis_watches", "gauge", "Watches running (one per cluster and resource).");
  metrics.set("portcullis_watches", "", 0);
}

DriftMonitor::~DriftMonitor() {
  // Watches join their threads, whose callbacks take the lock: stop them without it (nothing
  // else calls in any more).
  for (auto& [k, w] : m_impl->watches) w->watch.reset();
}

void DriftMonitor::set_target(const std::string& target, const kube::Connection& connection,
                              std::shared_ptr<const DesiredSet> desired) {
  std::string cluster = connection.server + "|" + connection.context;
  std::vector<Impl::WatchState*> start;
  std::vector<std::pair<Impl::WatchState*, std::string>> replay;  // reported before declared
  {
    std::lock_guard lock(m_impl->mutex);
    Impl::TargetState& ts = m_impl->targets[target];
    const DesiredSet* old = ts.desired.get();
    // Drift of objects declared anew was just applied by the sync; the rest stays.
    for (auto it = ts.drift.begin(); it != ts.drift.end();) {
      auto n = desired ? desired->find(it->first) : DesiredSet::const_iterator{};
      bool same = desired && n != desired->end() && old && old->contains(it->first) && old->at(it->first)->same_body(*n->second);
      it = same ? std::next(it) : ts.drift.erase(it);
    }
    ts.cluster = cluster;
    ts.desired = desired;
    m_impl->set_drift_gauge(target, ts);
    if (desired)
      for (auto& [wk, ws] : m_impl->watches) {
        if (ws->cluster != cluster) continue;
        for (auto it = ws->pending.begin(); it != ws->pending.end(); ++it)
          if (desired->contains(it->first)) replay.emplace_back(ws.get(), it->second);
      }
    if (desired)
      for (const auto& [key, state] : *desired) {
        const DesiredState& d = *state;
        std::string wk = Impl::watch_key(cluster, d);
        if (m_impl->watches.contains(wk)) continue;
        auto ws = std::make_unique<Impl::WatchState>();
        ws->cluster = cluster;
        ws->group = d.group;
        ws->kind = d.kind;
        ws->api_version = d.resource.base.substr(d.resource.base.starts_with("/apis/") ? 6 : 5);  // "apps/v1", "v1"
        ws->resource = d.resource;
        ws->ns = Impl::watched_namespace(d);
        start.push_back(ws.get());
        m_impl->watches.emplace(wk, std::move(ws));
      }
  }
  // Started outside the lock: a watch's first events take it.
  for (Impl::WatchState* ws : start) {
    Impl* impl = m_impl.get();
    // Inventory ConfigMaps carry the target label too, and are large: not watched.
    auto watch = std::make_unique<Watch>(connection, ws->resource, ws->ns, m_impl->selector,
                                         [impl, ws](WatchEventType t, const yaml::Node* o) { impl->on_event(*ws, t, o); });
    std::lock_guard lock(m_impl->mutex);
    ws->watch = std::move(watch);
  }
  if (!start.empty()) m_impl->metrics.set("portcullis_watches", "", static_cast<double>(watches()));
  for (const auto& [ws, json] : replay)
    if (auto doc = yaml::parse_json(json); doc && !doc->documents.empty() && doc->documents[0].root)
      m_impl->observe(*ws, *doc->documents[0].root, false, &json);
}

std::vector<DriftItem> DriftMonitor::drifted(const std::string& target) const {
  std::lock_guard lock(m_impl->mutex);
  std::vector<DriftItem> out;
  if (auto t = m_impl->targets.find(target); t != m_impl->targets.end())
    for (const auto& [k, item] : t->second.drift) out.push_back(item);
  std::sort(out.begin(), out.end(), [](const DriftItem& a, const DriftItem& b) { return a.key < b.key; });
  return out;
}

// Calls `fn(key, desired, health)` for every object `target` declares, with its health as the
// watches report it; false when the target has not been synced yet. Called with the lock held.
bool DriftMonitor::Impl::each_object(const std::string& target,
                                     const std::function<void(const std::string&, const DesiredState&, const Health&)>& fn) const {
  auto t = targets.find(target);
  if (t == targets.end() || !t->second.desired) return false;
  const auto& ts = t->second;
  std::map<std::string, const WatchState*> by_resource;  // watch key -> its watch (or null)
  for (const auto& [key, state] : *ts.desired) {
    const DesiredState& d = *state;
    auto [r, added] = by_resource.try_emplace(watch_key(ts.cluster, d), nullptr);
    if (added)
      if (auto w = watches.find(r->first); w != watches.end()) r->second = w->second.get();
    const WatchState* ws = r->second;
    Health h{HealthStatus::unknown, "not reported by a watch yet"};
    if (ws) {
      if (auto it = ws->health.find(key); it != ws->health.end())
        h = it->second;
      else if (ws->listed)
        h = Health{HealthStatus::missing, "not found in the cluster"};
    }
    fn(key, d, h);
  }
  return true;
}

TargetHealth DriftMonitor::health(const std::string& target) const {
  std::lock_guard lock(m_impl->mutex);
  TargetHealth out;
  out.health = Health{HealthStatus::healthy, {}};
  std::string worst_key;
  bool synced = m_impl->each_object(target, [&](const std::string& key, const DesiredState& d, const Health& h) {
    ++out.counts[static_cast<int>(h.status)];
    if (h.status > out.health.status || (h.status == out.health.status && h.status != HealthStatus::healthy && key < worst_key)) {
      out.health = Health{h.status, d.what() + (h.reason.empty() ? "" : ": " + h.reason)};
      worst_key = key;
    }
  });
  if (!synced) {
    out.health = Health{HealthStatus::unknown, "not synced yet"};
    return out;
  }
  for (int s = 0; s < 5; ++s)
    m_impl->metrics.set("portcullis_objects_by_health",
                        "target=\"" + label_value(target) + "\",health=\"" +
                            std::string(health_name(static_cast<HealthStatus>(s))) + "\"",
                        static_cast<double>(out.counts[s]));
  return out;
}

std::vector<ObjectHealth> DriftMonitor::objects(const std::string& target, std::size_t limit) const {
  std::lock_guard lock(m_impl->mutex);
  std::vector<ObjectHealth> out;
  m_impl->each_object(target, [&](const std::string& key, const DesiredState& d, const Health& h) {
    out.push_back(ObjectHealth{key, d.what(), h});
  });
  // The worst first; then by identity.
  std::sort(out.begin(), out.end(), [](const ObjectHealth& a, const ObjectHealth& b) {
    return a.health.status != b.health.status ? a.health.status > b.health.status : a.key < b.key;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::size_t DriftMonitor::watches() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->watches.size();
}

}  // namespace portcullis::daemon
