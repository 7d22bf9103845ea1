#pragma once
// Internal to shared/kustomize: ConfigMap and Secret generators.
#include <string>
#include <vector>

#include "shared/kustomize/internal.hpp"

namespace portcullis::kustomize {

// Reads files a generator names, under the kustomization's load restrictions.
class FileReader {
 public:
  virtual ~FileReader() = default;
  // `path` as written in the kustomization (relative to its directory).
  virtual util::Result<std::string> read_file(const std::string& path) = 0;
};

struct GeneratorArgs {
  std::string kustomization;  // the file that declares it, for messages
  std::string name, namespace_, behavior, type;
  std::vector<std::string> literals, files, envs;
  Json labels = Json::object(), annotations = Json::object();
  bool disable_hash = false, immutable = false;
};

util::Result<Resource> generate(const GeneratorArgs& args, bool secret, FileReader& reader);

// Adds a generated object to `resources`, or merges it into (replaces) the one it names.
util::Result<void> absorb(Resources& resources, Resource generated, std::size_t max_objects);

}  // namespace portcullis::kustomize
