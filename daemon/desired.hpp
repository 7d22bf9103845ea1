#pragma once
// What a target declares, object by object, as it applies it: the ownership marks every
// applied object carries, the body as applied, and the deflated states the drift monitor and
// self-heal keep.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/config.hpp"
#include "shared/kube/discovery.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

// The label and annotation that mark what a target applied. The annotation names the object
// itself, so one copied onto another object (operators copy labels and annotations onto PVCs
// and Pods) never makes that object prunable.
inline constexpr std::string_view k_target_label = "portcullis.io/target";
inline constexpr std::string_view k_owner_annotation = "portcullis.io/owned-by";
inline constexpr std::string_view k_prune_annotation = "portcullis.io/prune";
std::string owner_value(std::string_view target, std::string_view group, std::string_view kind, std::string_view ns,
                        std::string_view name);

// The object JSON as applied: `body` with the ownership label and annotation added and, for
// namespaced kinds, the namespace set; with `resource_version`, metadata.resourceVersion set
// too (the apply then fails with 409 when the object changed since). Fails when `body` is not
// a JSON object.
util::Result<std::string> owned_body(std::string_view body, std::string_view target, std::string_view group,
                                     std::string_view kind, std::string_view ns, std::string_view name, bool set_namespace,
                                     std::string_view resource_version = {});

// What a target declares, object by object, as it applies it: the drift monitor compares live
// objects with `body()`, and self-heal applies it again. The daemon keeps one per managed
// object for its whole life, so the JSON is kept deflated (a fifth of its size, or less).
class DesiredState {
 public:
  DesiredState(std::string api_version, std::string kind, std::string group, std::string ns, std::string name,
               std::string path, kube::Resource resource, std::string_view body);

  std::string api_version, kind, group, ns, name;
  std::string path;  // the file that declares it, relative to the target's directory
  kube::Resource resource;

  // JSON as applied: ownership marks added, ignored fields removed.
  std::string body() const;
  bool same_body(const DesiredState& other) const { return m_size == other.m_size && m_packed == other.m_packed; }
  // Bytes held for the body (deflated, or as is when deflating failed).
  std::size_t stored_size() const { return m_packed.size(); }
  std::string what() const { return api_version + " " + kind + " " + (ns.empty() ? "" : ns + "/") + name; }

 private:
  std::string m_packed;  // zlib
  std::size_t m_size = 0;
};
// By key: "group/kind/namespace/name". States are shared: a sync that changes a few files
// builds its set from the previous one without copying every object's body.
using DesiredSet = std::unordered_map<std::string, std::shared_ptr<const DesiredState>>;
std::string object_key(std::string_view group, std::string_view kind, std::string_view ns, std::string_view name);

// Whether `rule` selects the object (empty selectors match anything; globs otherwise).
bool ignore_matches(const IgnoreRule& rule, std::string_view group, std::string_view kind, std::string_view ns,
                    std::string_view name);

}  // namespace portcullis::daemon
