#include "shared/policy/confinement.hpp"

#include <algorithm>

#include "shared/util/strings.hpp"

namespace portcullis::policy {

namespace {

bool is_reserved(std::string_view ns) {
  return std::ranges::find(k_reserved_namespaces, ns) != std::end(k_reserved_namespaces);
}

std::string joined(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string object_text(std::string_view kind, std::string_view ns, std::string_view name) {
  std::string out{kind};
  out += " \"";
  out += name;
  out += '"';
  if (!ns.empty()) {
    out += " in namespace \"";
    out += ns;
    out += '"';
  }
  return out;
}

}  // namespace

std::string kind_key(std::string_view group, std::string_view kind) {
  if (group.empty()) return std::string{kind};
  std::string out{group};
  out += '/';
  out += kind;
  return out;
}

std::optional<std::string> namespace_problem(const Confinement& confinement, std::string_view ns) {
  std::string quoted = "namespace \"" + std::string{ns} + '"';
  if (ns.empty()) return std::string{"no namespace is named (a namespaced object needs one)"};
  if (!confinement.inventory_namespace.empty() && ns == confinement.inventory_namespace)
    return quoted + " holds the inventories (inventoryNamespace): no target may write there";
  if (is_reserved(ns)) {
    if (std::ranges::find(confinement.namespaces, ns) != confinement.namespaces.end()) return std::nullopt;
    return quoted + " is reserved: only an entry naming it exactly in `namespaces` allows it, no glob does";
  }
  for (const auto& glob : confinement.namespaces)
    if (util::glob_match(glob, ns)) return std::nullopt;
  return quoted + " is not among the allowed namespaces (" + joined(confinement.namespaces) +
         "); add it to `namespaces` if this target should write there";
}

std::optional<std::string> confinement_problem(const Confinement& confinement, std::string_view group,
                                               std::string_view kind, std::string_view ns,
                                               std::string_view name, bool namespaced) {
  std::string key = kind_key(group, kind);
  std::string what = object_text(key, ns, name);
  if (namespaced) {
    if (auto problem = namespace_problem(confinement, ns)) return what + ": " + *problem;
    return std::nullopt;
  }
  if (std::ranges::find(confinement.cluster_kinds, key) == confinement.cluster_kinds.end())
    return what + ": cluster-scoped kind " + key + " is not among the allowed cluster kinds (" +
           joined(confinement.cluster_kinds) + "); add \"" + key +
           "\" to `clusterKinds` if this target should write it";
  if (group.empty() && kind == "Namespace") {
    if (auto problem = namespace_problem(confinement, name)) return what + ": " + *problem;
  }
  return std::nullopt;
}

}  // namespace portcullis::policy
