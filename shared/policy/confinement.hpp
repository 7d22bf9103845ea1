#pragma once
// What a target (daemon) or an environment (gate) may write into a cluster: the namespaces
// and cluster-scoped kinds it is allowed. One rule for both sides, so the gate rejects at push
// time exactly what the daemon would refuse to apply or prune.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::policy {

struct Confinement {
  std::vector<std::string> namespaces;     // globs (util::glob_match); empty: none
  std::vector<std::string> cluster_kinds;  // "Kind" (core group) or "group/Kind", exact
  std::string inventory_namespace;         // never writable; empty: no such namespace
};

// Namespaces no glob grants: only an entry spelling the exact name does.
inline constexpr std::string_view k_reserved_namespaces[] = {"kube-system", "kube-public", "kube-node-lease"};

// "Kind" for the core group (`group` empty), else "group/Kind": how `cluster_kinds` names a kind.
std::string kind_key(std::string_view group, std::string_view kind);

// Why nothing may be written into namespace `ns` (the inventory namespace, a reserved namespace
// not listed by its exact name, or no glob of `namespaces` matching); nullopt when it may.
std::optional<std::string> namespace_problem(const Confinement& confinement, std::string_view ns);

// Why an object of (`group`, `kind`) named `name` in namespace `ns` ("" when cluster-scoped)
// may not be written; nullopt when allowed. A namespaced object (`namespaced`) must name a
// namespace that `namespace_problem` allows; an empty `ns` is refused (resolve the default
// namespace first). A cluster-scoped object's kind must be listed in `cluster_kinds`, and a
// core Namespace must in addition be named like an allowed namespace. The message names the
// object, the rule it breaks and what to configure.
std::optional<std::string> confinement_problem(const Confinement& confinement, std::string_view group,
                                               std::string_view kind, std::string_view ns,
                                               std::string_view name, bool namespaced);

}  // namespace portcullis::policy
