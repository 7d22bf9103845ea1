#pragma once
// API discovery: which resource serves an apiVersion/kind, and whether it is namespaced.
// Group-versions are fetched when first needed and fetched again on a miss, so kinds of
// CRDs applied moments ago are found.
#include <map>
#include <string>
#include <string_view>

#include "shared/kube/client.hpp"
#include "shared/util/error.hpp"

namespace portcullis::kube {

struct Resource {
  std::string base;      // "/api/v1" or "/apis/apps/v1"
  std::string plural;    // "deployments"
  bool namespaced = false;

  // The URL path of one object ("" namespace for cluster-scoped resources).
  std::string object_path(std::string_view ns, std::string_view name) const;
  // The URL path of the collection (all namespaces when `ns` is empty).
  std::string collection_path(std::string_view ns) const;
};

class Discovery {
 public:
  // Resolves `api_version`/`kind`; refreshes that group-version once when it is not known.
  // Fails with "no kind K in V" when the server does not serve it.
  util::Result<Resource> resolve(Client& client, std::string_view api_version, std::string_view kind);
  // Forgets a group-version (after a CRD changes).
  void forget(std::string_view api_version);

 private:
  util::Result<void> load(Client& client, const std::string& api_version);
  std::map<std::string, std::map<std::string, Resource>> m_cache;  // apiVersion -> kind -> resource
};

// Percent-encodes a path segment (names may hold ':' for RBAC objects).
std::string escape_segment(std::string_view s);

}  // namespace portcullis::kube
