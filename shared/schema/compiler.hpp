#pragma once
// Compiles JSON Schemas (the subset Kubernetes uses: OpenAPI v2 definitions, CRD structural
// schemas, and draft-07 for our own files) into a `Program`.
#include <memory>
#include <string_view>

#include "shared/schema/program.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::schema {

class Compiler {
 public:
  Compiler();
  ~Compiler();
  Compiler(const Compiler&) = delete;
  Compiler& operator=(const Compiler&) = delete;

  // Compiles `schema`; "$ref": "#/..." pointers resolve against `document` (the whole file the
  // schema came from; may be `schema` itself). Shared and recursive references compile once.
  // Fails on a malformed schema or a dangling reference, naming the JSON pointer.
  util::Result<NodeId> compile(const yaml::Node& schema, const yaml::Node& document);

  // Compiles the definition at JSON pointer `pointer` ("#/definitions/io.k8s.api.apps.v1.Deployment").
  util::Result<NodeId> compile_pointer(std::string_view pointer, const yaml::Node& document);
  // Forgets which schema nodes were compiled already (the memo is keyed by node address): call it
  // before compiling the nodes of another parse, whose arena may reuse freed addresses.
  void forget_nodes();

  // A schema object with exactly the given properties open to anything else: used to wrap
  // custom resources (apiVersion/kind/metadata are implicit in CRD schemas).
  NodeId any();

  // Registers `node` as the schema of `api_version`/`kind`. A later registration of the same
  // pair replaces the earlier one.
  void add_root(std::string_view api_version, std::string_view kind, NodeId node, Scope scope);

  // Serializes everything compiled so far into an immutable program.
  util::Result<Program> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// Resolves a JSON pointer ("#/a/b~1c") within `document`; nullptr when it names nothing.
const yaml::Node* resolve_pointer(const yaml::Node& document, std::string_view pointer);

}  // namespace portcullis::schema
