#pragma once
// The apiserver's own validation of built-in kinds: what Kubernetes checks in Go beyond what
// its OpenAPI schema states (names, labels, selectors matching templates, port ranges, cron
// schedules, references between fields), after the defaulting it depends on. Findings carry
// the Kubernetes source's field path and message ("spec.template.spec.containers[0].image:
// Required value") under a rule id `k8s.*`. Rules are versioned: a rule newer than the target
// cluster, or one that a later version dropped, is not applied.
#include <compare>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/yaml/node.hpp"

namespace portcullis::k8svalidate {

struct Version {
  int major = 1;
  int minor = 0;
  auto operator<=>(const Version&) const = default;
  std::string str() const;  // "1.20"
};

// "v1.20.2", "1.20", "v1.20.2-gke.1", "v1.21+": major.minor; nullopt when unreadable.
std::optional<Version> parse_version(std::string_view text);

// One rule: an id, the cluster versions it applies to, and what it checks (for docs and
// `portcullis rules`).
struct Rule {
  std::string_view id;
  Version since;                 // first version that applies it
  std::optional<Version> until;  // last version that applies it; nullopt: still applied
  std::string_view summary;
};
// Every rule, in id order.
std::span<const Rule> rules();
// Whether `rule` applies to a cluster of `version`. An unknown version (a store imported
// before versions were recorded) applies every rule still in force, and none that a later
// version dropped.
bool applies(const Rule& rule, std::optional<Version> version);

struct Finding {
  std::string_view rule;  // one of rules()
  std::string path;       // "spec.template.spec.containers[0].image"
  std::string message;    // "Required value", "Invalid value: 70000: must be between 1 and 65535, inclusive"
  const yaml::Node* at;   // the value, or the closest enclosing node present in the manifest
  std::string text() const { return path.empty() ? message : path + ": " + message; }
};

struct Options {
  std::optional<Version> cluster;  // the target cluster's version; nullopt: unknown
  // An object of a built-in kind not covered here (the schema store knows it): only its
  // ObjectMeta is validated, names as DNS-1123 subdomains, its namespace when `namespaced`.
  bool other_builtin = false;
  bool namespaced = true;
};

// Whether the apiserver's validation of (`api_version`, `kind`) is known here.
bool covers(std::string_view api_version, std::string_view kind);

// Appends to `out` what the apiserver refuses in `object` (a mapping with apiVersion and kind
// of a covered kind, or any built-in one with `other_builtin`; anything else yields nothing). Fields of the wrong type are skipped
// (the schema reports them); nothing in `object` makes it fail or crash.
void validate(const yaml::Node& object, const Options& options, std::vector<Finding>& out);

}  // namespace portcullis::k8svalidate
