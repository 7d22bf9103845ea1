#pragma once
// Schemas of custom resources whose CustomResourceDefinitions are declared in the repository
// itself, compiled from their openAPIV3Schema so custom resources are validated in the same
// push that introduces their CRD.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/schema/compiler.hpp"
#include "shared/schema/program.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::hooks {

class CrdRegistry {
 public:
  CrdRegistry();
  ~CrdRegistry();

  // Compiles the schemas of every version of a CustomResourceDefinition document.
  // Fails with a location when its schema cannot be compiled.
  util::Result<void> add(const yaml::Node& crd);
  bool empty() const { return m_kinds.empty(); }
  // True when some CRD in the registry declares group/kind (any version).
  bool declares(std::string_view group, std::string_view kind) const;

  struct Found {
    const schema::Program* program;
    schema::Root root;
  };
  // The schema of `api_version`/`kind`, if a registered CRD serves it.
  std::optional<Found> find(std::string_view api_version, std::string_view kind);

 private:
  std::unique_ptr<schema::Compiler> m_compiler;
  std::optional<schema::Program> m_program;
  bool m_dirty = false;
  std::map<std::pair<std::string, std::string>, bool> m_kinds;  // (group, kind)
};

// True for apiextensions.k8s.io CustomResourceDefinition documents.
bool is_crd(std::string_view api_version, std::string_view kind);

}  // namespace portcullis::hooks
