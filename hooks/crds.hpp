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

#include "shared/cel/schema.hpp"
#include "shared/schema/compiler.hpp"
#include "shared/schema/program.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::hooks {

class CrdRegistry {
 public:
  CrdRegistry();
  ~CrdRegistry();

  // The features of x-kubernetes-validations the target cluster runs; nullopt (the default): it
  // runs none (older than 1.25), rules are not compiled. Applies to CRDs added afterwards.
  void set_rules(std::optional<cel::RuleFeatures> features) { m_rules = features; }

  // Compiles the schemas of every version of a CustomResourceDefinition document.
  // Fails with a location when its schema cannot be compiled.
  util::Result<void> add(const yaml::Node& crd);
  bool empty() const { return m_kinds.empty(); }
  // True when some CRD in the registry declares group/kind (any version).
  bool declares(std::string_view group, std::string_view kind) const;

  struct Found {
    const schema::Program* program;
    schema::Root root;
    const cel::Schema* rules;  // the CEL rules of its schema; nullptr: none (or not run)
  };
  // The schema of `api_version`/`kind`, if a registered CRD serves it.
  std::optional<Found> find(std::string_view api_version, std::string_view kind);

 private:
  std::unique_ptr<schema::Compiler> m_compiler;
  std::optional<schema::Program> m_program;
  bool m_dirty = false;
  std::map<std::pair<std::string, std::string>, bool> m_kinds;  // (group, kind)
  std::optional<cel::RuleFeatures> m_rules;
  // (apiVersion, kind) -> the schema's CEL rules, for versions whose schema has any.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<cel::Schema>> m_cel;
};

// What the cluster of the schema store runs of x-kubernetes-validations (k8s.crd.cel applies to
// its version; a store without a recorded version runs them); nullopt without a store.
std::optional<cel::RuleFeatures> rule_features_of(const schema::Program* store);

// True for apiextensions.k8s.io CustomResourceDefinition documents.
bool is_crd(std::string_view api_version, std::string_view kind);

}  // namespace portcullis::hooks
