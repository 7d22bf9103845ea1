#pragma once
// Internal to k8svalidate: field paths built lazily on the stack, the context findings go to,
// and the shapes of field.Error messages.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/k8svalidate/validate.hpp"

namespace portcullis::k8svalidate::detail {

using yaml::Node;

// A field path as a chain of frames; rendered only when something is reported. A frame must
// not outlive its parent: pass `p.field("x")` as an argument, do not store chains of them.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;  // field name(s), "a" or "a.b"; empty for an item or map entry of the parent
  std::int64_t index = -1;
  std::string_view entry;  // the key of a map entry ("[cpu]"), with `keyed`
  bool keyed = false;

  Path field(std::string_view k) const { return Path{this, k, -1, {}, false}; }
  Path item(std::size_t i) const { return Path{this, {}, static_cast<std::int64_t>(i), {}, false}; }
  Path key_of(std::string_view k) const { return Path{this, {}, -1, k, true}; }
  // One frame for `field(k).item(i)` and `field(k).key_of(e)`, so it can be stored.
  Path field_item(std::string_view k, std::size_t i) const { return Path{this, k, static_cast<std::int64_t>(i), {}, false}; }
  Path field_key(std::string_view k, std::string_view e) const { return Path{this, k, -1, e, true}; }
  std::string str() const;
};

// Accessors that tolerate any shape: the wrong type reads as absent.
const Node* map_at(const Node* n, std::string_view key);  // a mapping value, else nullptr
const Node* seq_at(const Node* n, std::string_view key);  // a sequence value, else nullptr
std::optional<std::string_view> str_at(const Node* n, std::string_view key);  // a string value
std::optional<std::int64_t> int_at(const Node* n, std::string_view key);      // an integer value
bool true_at(const Node* n, std::string_view key);                            // boolean true
// `n` as written, for messages: "abc" quoted, numbers and booleans as they are.
std::string value_text(const Node* n);

class Ctx {
 public:
  Ctx(const Options& options, std::vector<Finding>& out);
  const Options& options() const { return m_options; }
  // Whether `rule` applies to the target cluster.
  bool on(std::string_view rule) const;

  void report(std::string_view rule, const Path& p, const Node* at, std::string message);
  void required(std::string_view rule, const Path& p, const Node* at, std::string_view detail = {});
  void invalid(std::string_view rule, const Path& p, const Node* v, std::string_view detail);
  void invalid_text(std::string_view rule, const Path& p, const Node* at, std::string_view shown,
                    std::string_view detail);
  void unsupported(std::string_view rule, const Path& p, const Node* v, std::initializer_list<std::string_view> values);
  void duplicate(std::string_view rule, const Path& p, const Node* v);
  void forbidden(std::string_view rule, const Path& p, const Node* at, std::string_view detail);
  void not_found(std::string_view rule, const Path& p, const Node* v);
  void too_long(std::string_view rule, const Path& p, const Node* at, std::size_t max);

  // Checks on a value present in `parent` under `key`, all optional: absent or mistyped
  // values are left alone.
  void nonnegative(std::string_view rule, const Path& p, const Node* parent, std::string_view key);
  void positive(std::string_view rule, const Path& p, const Node* parent, std::string_view key);
  void in_range(std::string_view rule, const Path& p, const Node* parent, std::string_view key, std::int64_t lo,
                std::int64_t hi);
  void one_of(std::string_view rule, const Path& p, const Node* parent, std::string_view key,
              std::initializer_list<std::string_view> values);
  // A string checked with a syntax.hpp grammar.
  void syntax(std::string_view rule, const Path& p, const Node* parent, std::string_view key,
              std::string (*grammar)(std::string_view));

 private:
  const Options& m_options;
  std::vector<Finding>& m_out;
};

// The rule ids, one constant each so a typo does not compile.
namespace rule {
inline constexpr std::string_view name = "k8s.invalid-name";
inline constexpr std::string_view labels = "k8s.meta.labels";
inline constexpr std::string_view annotations = "k8s.meta.annotations";
inline constexpr std::string_view finalizers = "k8s.meta.finalizers";
inline constexpr std::string_view owner_references = "k8s.meta.owner-references";
inline constexpr std::string_view generate_name = "k8s.meta.generate-name";
inline constexpr std::string_view selector = "k8s.selector";
inline constexpr std::string_view containers = "k8s.pod.containers";
inline constexpr std::string_view ephemeral = "k8s.pod.ephemeral-containers";
inline constexpr std::string_view ports = "k8s.pod.ports";
inline constexpr std::string_view env = "k8s.pod.env";
inline constexpr std::string_view resources = "k8s.pod.resources";
inline constexpr std::string_view volumes = "k8s.pod.volumes";
inline constexpr std::string_view probes = "k8s.pod.probes";
inline constexpr std::string_view security = "k8s.pod.security-context";
inline constexpr std::string_view pod = "k8s.pod.spec";
inline constexpr std::string_view ssa_protocol = "k8s.ssa.port-protocol";
inline constexpr std::string_view ssa_duplicate = "k8s.ssa.duplicate-key";
inline constexpr std::string_view workload = "k8s.workload";
inline constexpr std::string_view job = "k8s.job";
inline constexpr std::string_view schedule = "k8s.cronjob.schedule";
inline constexpr std::string_view cronjob = "k8s.cronjob";
inline constexpr std::string_view service = "k8s.service";
inline constexpr std::string_view data_keys = "k8s.data";
inline constexpr std::string_view secret_type = "k8s.secret.type";
inline constexpr std::string_view pvc = "k8s.pvc";
inline constexpr std::string_view quota = "k8s.quota";
inline constexpr std::string_view ingress = "k8s.ingress";
inline constexpr std::string_view ingress_path_type = "k8s.ingress.path-type";
inline constexpr std::string_view network_policy = "k8s.network-policy";
inline constexpr std::string_view pdb = "k8s.pdb";
inline constexpr std::string_view hpa = "k8s.hpa";
inline constexpr std::string_view rbac = "k8s.rbac";
inline constexpr std::string_view storage = "k8s.storage";
inline constexpr std::string_view webhook = "k8s.webhook";
inline constexpr std::string_view crd = "k8s.crd";
inline constexpr std::string_view crd_structural = "k8s.crd.structural";
inline constexpr std::string_view crd_cel = "k8s.crd.cel";
inline constexpr std::string_view crd_cel_compile = "k8s.crd.cel.compile";
}  // namespace rule

// The validators of each module; `p` is the object's root path (empty).
void validate_meta(Ctx& ctx, const Node& object, std::string_view group, std::string_view kind, bool namespaced);
// ValidateObjectMeta's labels check (`metadata.labels` and pod template labels, selectors).
void validate_labels(Ctx& ctx, std::string_view rule, const Path& p, const Node* labels);
// A metav1.LabelSelector.
void validate_label_selector(Ctx& ctx, const Path& p, const Node* selector);
// Whether `selector` (a LabelSelector mapping) matches `labels` (a mapping of strings).
bool selector_matches(const Node* selector, const Node* labels);

enum class RestartPolicies { any, always, on_failure_or_never };
// A PodTemplateSpec under `p` (metadata labels and annotations, then the pod spec).
void validate_pod_template(Ctx& ctx, const Path& p, const Node* tmpl, RestartPolicies allowed);
void validate_pod_spec(Ctx& ctx, const Path& p, const Node* spec, RestartPolicies allowed);
void validate_pvc_spec(Ctx& ctx, const Path& p, const Node* spec);
// The server-side apply checks of a template whose pod spec the apiserver does not validate.
void validate_template_for_ssa(Ctx& ctx, const Path& p, const Node* tmpl);

void validate_workload(Ctx& ctx, const Node& object, std::string_view group, std::string_view version,
                       std::string_view kind);
void validate_network(Ctx& ctx, const Node& object, std::string_view group, std::string_view version,
                      std::string_view kind);
void validate_cluster(Ctx& ctx, const Node& object, std::string_view group, std::string_view version,
                      std::string_view kind);
void validate_core(Ctx& ctx, const Node& object, std::string_view kind);
void validate_service(Ctx& ctx, const Node& object, const Node* spec);

}  // namespace portcullis::k8svalidate::detail
