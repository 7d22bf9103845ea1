#pragma once
// A native `kustomize build` (kustomize v5.5 semantics, no external binary): resources, bases,
// components, namespace, name prefixes and suffixes with name references, labels and
// annotations, images, replicas, strategic-merge and JSON 6902 patches, ConfigMap and Secret
// generators with kustomize's hash suffixes, replacements and vars, sortOptions. Remote
// resources and plugins are refused. Files are read through a `FileSource` (a directory on
// disk or a Git tree) and never outside it; files a kustomization names must lie in or below
// its own directory (kustomize's default load restrictions).
//
// Errors carry a rule id and the file they concern:
//   kustomize.missing    a kustomization, resource, patch or generator file that is not there
//   kustomize.cycle      a kustomization that includes itself, directly or through others
//   kustomize.outside    a path outside the kustomization's directory or the source's root
//   kustomize.remote     a remote resource (URL, git repository): never fetched
//   kustomize.plugin     a generator, transformer or validator plugin: never run
//   kustomize.invalid    a kustomization or a resource that is malformed
//   kustomize.conflict   two resources with one id, ambiguous references
//   kustomize.patch      a patch that cannot be applied (no target, bad operation)
//   kustomize.limit      past a limit of `Limits` (nesting, objects, file size)
//   yaml.*               a file that is not valid YAML
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/kustomize/source.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

struct Limits {
  std::uint32_t max_depth = 32;             // kustomizations nested in one another
  std::size_t max_objects = 50'000;         // objects at any step of the build
  std::size_t max_entries = 5'000;          // entries in one list of a kustomization
  std::uint64_t max_file_bytes = 8ull << 20;
  std::uint64_t max_total_bytes = 256ull << 20;  // read over the whole build
};

// One object the build yields, with the file (and line of its document) it came from; for a
// generated object, the kustomization that generated it.
struct Object {
  const yaml::Node* node = nullptr;
  std::string file;
  std::uint32_t line = 0;
};

// A place in a source file.
struct Location {
  std::string_view file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

// A source text of the build as output marks number it: its lines are the marks' lines
// `first` to `first + lines - 1`, lines `offset + 1` on of `file`.
struct SourceSpan {
  std::string file;
  std::uint32_t first = 0;
  std::uint32_t offset = 0;
  std::uint32_t lines = 0;
};

struct Output {
  yaml::Stream stream;               // owns the nodes
  std::vector<Object> objects;       // in kustomize's output order
  std::vector<std::string> files_read;  // every path read or probed, sorted: what the build depends on
  // The marks of the objects' nodes say where each field came from: the base line of a field
  // a resource file wrote, the patch line of one a patch set (a field a transformer or a
  // generator wrote has its parent's mark; 0 when nothing is known). They number the lines of
  // every source one after another; `locate` turns a mark back into its file, line and column.
  std::vector<SourceSpan> sources;   // sorted by `first`
  std::optional<Location> locate(yaml::Mark mark) const;
};

// Builds the kustomization in directory `dir` of `source` (`dir` normalised; "" is the root).
// A directory without a kustomization file fails with "kustomize.missing".
util::Result<Output> build(const FileSource& source, std::string_view dir, const Limits& limits = {});

// True when `dir` holds a kustomization file (kustomization.yaml, kustomization.yml or
// Kustomization).
util::Result<bool> has_kustomization(const FileSource& source, std::string_view dir);

// The objects as a YAML stream ("---" between documents), or as a JSON array.
std::string to_yaml(const Output& output);
std::string to_json(const Output& output);
// The same for any objects (e.g. the manifest files of a directory without a kustomization).
std::string nodes_to_yaml(const std::vector<const yaml::Node*>& objects);
std::string nodes_to_json(const std::vector<const yaml::Node*>& objects);

}  // namespace portcullis::kustomize
