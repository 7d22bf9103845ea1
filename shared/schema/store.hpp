#pragma once
// The schema store on the Git server: made by `portcullis schemas import` from a cluster's
// OpenAPI v2 document, read by the hook.
//
// Layout of a store directory:
//   schemas.bin                         compiled program, mapped by the hook (O(1) load)
//   index.json                          every kind: apiVersion, kind, scope, definition, file
//   _definitions.json                   the OpenAPI definitions, verbatim
//   <group|core>/<version>/<Kind>.json  one JSON Schema per group/version/kind ($ref into
//                                       _definitions.json)
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/schema/program.hpp"
#include "shared/util/error.hpp"

namespace portcullis::schema {

struct ImportSummary {
  std::size_t kinds = 0;        // group/version/kinds with a schema
  std::size_t definitions = 0;  // OpenAPI definitions in the document
  std::size_t namespaced = 0;
  std::size_t cluster = 0;
};

// The pseudo root under which the store keeps ObjectMeta, used for custom resources' metadata.
inline constexpr std::string_view k_object_meta_api_version = "portcullis.io/internal";
inline constexpr std::string_view k_object_meta_kind = "ObjectMeta";

// The Kubernetes version ("v1.20.2") of the OpenAPI document a store was imported from
// (`info.version`), recorded in its program; nullopt for stores imported before it was recorded.
std::optional<std::string> kubernetes_version(const Program& program);

// Builds a store in `out_dir` from the text of an OpenAPI v2 document (as served at
// /openapi/v2). Replaces an existing store atomically: hooks running meanwhile see the old
// or the new store, never a mix.
util::Result<ImportSummary> import_openapi_v2(std::string_view openapi_json, const std::filesystem::path& out_dir);

// Maps the compiled program of the store at `dir`. Fails, saying how to fix it, when the
// store is missing or was written by an incompatible version.
util::Result<Program> open_store(const std::filesystem::path& dir);

}  // namespace portcullis::schema
