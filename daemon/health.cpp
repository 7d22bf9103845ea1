#include "daemon/health.hpp"

namespace portcullis::daemon {

std::string_view health_name(HealthStatus h) {
  switch (h) {
    case HealthStatus::healthy: return "Healthy";
    case HealthStatus::progressing: return "Progressing";
    case HealthStatus::degraded: return "Degraded";
    case HealthStatus::missing: return "Missing";
    default: return "Unknown";
  }
}

namespace {

std::int64_t integer(const yaml::Node* n, std::int64_t fallback = 0) {
  return n && n->type == yaml::Type::integer ? n->value.integer : fallback;
}

const yaml::Node* condition(const yaml::Node& obj, std::string_view type) {
  const yaml::Node* conds = obj.at({"status", "conditions"});
  if (!conds || !conds->is_sequence()) return nullptr;
  for (const yaml::Node* c : conds->items)
    if (c->is_mapping() && c->get_string("type") == type) return c;
  return nullptr;
}

std::string describe(const yaml::Node* c) {
  if (!c) return {};
  std::string out(c->get_string("reason"));
  if (auto m = c->get_string("message"); !m.empty()) out += (out.empty() ? "" : ": ") + std::string(m);
  return out;
}

Health healthy() { return Health{HealthStatus::healthy, {}}; }
Health progressing(std::string why) { return Health{HealthStatus::progressing, std::move(why)}; }
Health degraded(std::string why) { return Health{HealthStatus::degraded, std::move(why)}; }

// The controller has not seen the latest spec yet.
bool unobserved(const yaml::Node& obj) {
  const yaml::Node* gen = obj.at({"metadata", "generation"});
  return gen && integer(obj.at({"status", "observedGeneration"}), -1) < integer(gen);
}

Health deployment(const yaml::Node& obj) {
  if (unobserved(obj)) return progressing("the rollout has not been observed by the controller yet");
  if (const yaml::Node* p = condition(obj, "Progressing"); p && p->get_string("status") == "False")
    return degraded(describe(p));
  if (const yaml::Node* f = condition(obj, "ReplicaFailure"); f && f->get_string("status") == "True")
    return degraded(describe(f));
  std::int64_t want = integer(obj.at({"spec", "replicas"}), 1);
  std::int64_t updated = integer(obj.at({"status", "updatedReplicas"}));
  std::int64_t available = integer(obj.at({"status", "availableReplicas"}));
  if (updated < want) return progressing(std::to_string(updated) + " of " + std::to_string(want) + " replicas updated");
  if (available < want) return progressing(std::to_string(available) + " of " + std::to_string(want) + " replicas available");
  return healthy();
}

Health statefulset(const yaml::Node& obj) {
  if (unobserved(obj)) return progressing("the rollout has not been observed by the controller yet");
  std::int64_t want = integer(obj.at({"spec", "replicas"}), 1);
  auto update_rev = obj.at({"status", "updateRevision"});
  auto current_rev = obj.at({"status", "currentRevision"});
  if (update_rev && current_rev && update_rev->text != current_rev->text) return progressing("rolling out a new revision");
  std::int64_t ready = integer(obj.at({"status", "readyReplicas"}));
  if (ready < want) return progressing(std::to_string(ready) + " of " + std::to_string(want) + " replicas ready");
  return healthy();
}

Health daemonset(const yaml::Node& obj) {
  if (unobserved(obj)) return progressing("the rollout has not been observed by the controller yet");
  std::int64_t want = integer(obj.at({"status", "desiredNumberScheduled"}));
  std::int64_t updated = integer(obj.at({"status", "updatedNumberScheduled"}));
  std::int64_t available = integer(obj.at({"status", "numberAvailable"}));
  if (updated < want) return progressing(std::to_string(updated) + " of " + std::to_string(want) + " pods updated");
  if (available < want) return progressing(std::to_string(available) + " of " + std::to_string(want) + " pods available");
  return healthy();
}

Health job(const yaml::Node& obj) {
  if (const yaml::Node* f = condition(obj, "Failed"); f && f->get_string("status") == "True") return degraded(describe(f));
  if (const yaml::Node* c = condition(obj, "Complete"); c && c->get_string("status") == "True") return healthy();
  return progressing("the job has not completed");
}

}  // namespace

Health health_of(const yaml::Node& obj) { return health_of(obj, obj.get_string("apiVersion"), obj.get_string("kind")); }

Health health_of(const yaml::Node& obj, std::string_view api, std::string_view kind) {
  bool apps = api == "apps/v1";
  if (apps && kind == "Deployment") return deployment(obj);
  if (apps && kind == "StatefulSet") return statefulset(obj);
  if (apps && kind == "DaemonSet") return daemonset(obj);
  if (kind == "Job" && api.starts_with("batch/")) return job(obj);
  if (kind == "CustomResourceDefinition") {
    const yaml::Node* e = condition(obj, "Established");
    return e && e->get_string("status") == "True" ? healthy() : progressing("not Established yet");
  }
  if (kind == "Namespace" && api == "v1") {
    auto phase = obj.at({"status", "phase"});
    if (!phase || phase->text == "Active") return healthy();
    return progressing("namespace is " + std::string(phase->text));
  }
  if (kind == "PersistentVolumeClaim" && api == "v1") {
    auto phase = obj.at({"status", "phase"});
    std::string_view p = phase ? phase->text : std::string_view{};
    if (p == "Bound") return healthy();
    if (p == "Lost") return degraded("the claim lost its volume");
    return progressing("the claim is " + std::string(p.empty() ? "not bound yet" : p));
  }
  for (std::string_view type : {"Ready", "Available"})
    if (const yaml::Node* c = condition(obj, type)) {
      auto status = c->get_string("status");
      if (status == "True") return healthy();
      if (status == "False") return degraded(std::string(type) + " is False" + (describe(c).empty() ? "" : ": " + describe(c)));
      return progressing(std::string(type) + " is " + std::string(status));
    }
  return healthy();
}

}  // namespace portcullis::daemon
