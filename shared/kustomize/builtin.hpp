#pragma once
// Internal to shared/kustomize: the built-in generators and transformers a kustomization may
// configure explicitly (`generators:` and `transformers:` entries with `apiVersion: builtin`),
// such as a NamespaceTransformer with its own field specs. Anything else there is a plugin and
// is refused (rule "kustomize.plugin").
#include <string>

#include "shared/kustomize/generate.hpp"
#include "shared/kustomize/internal.hpp"

namespace portcullis::kustomize {

struct BuiltinContext {
  FileReader& reader;    // files the configuration names, under the kustomization's restrictions
  const Config& config;  // default field specs
  std::string file;      // the file of the configuration (the kustomization when inline)
  std::size_t max_objects;
};

util::Result<void> run_builtin_generator(const Json& config, Resources& resources, BuiltinContext& context);
util::Result<void> run_builtin_transformer(const Json& config, Resources& resources, BuiltinContext& context);

}  // namespace portcullis::kustomize
