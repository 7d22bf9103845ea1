#pragma once
// Internal to shared/kustomize: replacements (copying a field of one object into fields of
// others) and vars ($(NAME) references, resolved once at the end of the build).
#include <string>
#include <vector>

#include "shared/kustomize/generate.hpp"
#include "shared/kustomize/internal.hpp"

namespace portcullis::kustomize {

util::Result<void> apply_replacements(const yaml::Node& list, Resources& resources, FileReader& reader);
// One replacement ({source, targets}); `file` for messages.
util::Result<void> apply_replacement(const Json& replacement, Resources& resources, std::string_view file);

struct Var {
  std::string name;
  Selector target;
  std::string field;  // "metadata.name", "spec.ports[0].port"
  std::uint64_t serial = 0;  // the object it names, when known where it is declared
  std::string file;
};
// The objects of `resources` a var names.
std::vector<const Resource*> var_targets(const Var& var, const Resources& resources);
util::Result<void> resolve_vars(const std::vector<Var>& vars, Resources& resources, const Config& config);

}  // namespace portcullis::kustomize
