#pragma once
// Time-limited access for a break-glass window: a ServiceAccount of its own, a RoleBinding to
// the configured ClusterRole in each of the target's namespaces (names, not globs), and a token
// for it from the TokenRequest API whose expirationSeconds is the window (the apiserver's minimum
// is 10 minutes: a shorter window's token outlives it, but close and expiry delete the
// ServiceAccount, which invalidates its tokens at once, and the bindings). Nothing else is
// granted. Created with the identity of breakGlass.access.kubeconfig, never the target's.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

struct Grant {
  std::string service_account;  // "break-glass-<window id>"
  std::string namespace_;       // where the ServiceAccount lives
  std::vector<std::string> bindings;  // namespaces holding a RoleBinding of the same name
  std::string kubeconfig;       // YAML with the token; a secret: never logged or stored
};

// The namespaces a window's access covers: the target's `namespaces` that are plain names
// (globs are skipped), else its `namespace`.
std::vector<std::string> access_namespaces(const TargetConfig& target);

// Creates the ServiceAccount and RoleBindings and requests a token valid `seconds`. On failure
// what was created is deleted again.
util::Result<Grant> grant_access(const BreakGlassAccess& access, const TargetConfig& target, const std::string& window_id,
                                 std::int64_t seconds);

// Deletes the RoleBindings and the ServiceAccount (what is gone already is not an error).
util::Result<void> revoke_access(const BreakGlassAccess& access, const std::string& service_account,
                                 const std::string& namespace_, const std::vector<std::string>& bindings);

}  // namespace portcullis::daemon
