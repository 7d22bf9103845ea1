#pragma once
// Content rules of one ref update: the policy file, and for every environment the files the
// update changes (or that a changed selection starts to read), judged as the one render reads
// them: YAML, objects, schemas (the store, then the repository's CRDs), content rules and
// duplicates across the environment (through the identity index), confinement. Plaintext
// Secrets elsewhere: secrets.hpp.
#include <cstddef>
#include <string>
#include <vector>

#include "hooks/checks.hpp"
#include "hooks/index_cache.hpp"
#include "hooks/promotion.hpp"
#include "hooks/report.hpp"
#include "hooks/update.hpp"
#include "shared/schema/program.hpp"

namespace portcullis::hooks {

struct ContentContext {
  const git::Repository& repo;
  const policy::ServerConfig& config;
  const schema::Program* store;  // nullptr: schema validation is off
  const Deadline& deadline;
  IndexCache& indexes;
};

struct ContentResult {
  std::vector<Finding> findings;  // `ref` set
  std::size_t files = 0;          // files read and checked
  std::size_t objects = 0;
  std::vector<EnvImages> images;  // per environment, for the promotion rules
  // What the checked files declare for the daemon to apply: "path: group/kind namespace/name"
  // as written (the one render's objects; what the daemon's render of those files yields).
  std::vector<std::string> applied;
  bool out_of_time = false;  // stopped at the deadline: the result is partial
};

// The content rules of `update` (a commit on a checked ref).
ContentResult check_content(const ContentContext& ctx, const Update& update);

}  // namespace portcullis::hooks
