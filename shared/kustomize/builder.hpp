#pragma once
// Internal to shared/kustomize: the builder that walks kustomizations (build.cpp: loading,
// resources, accumulation; steps.cpp: generators, transformers and patches of one
// kustomization).
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/kustomize/generate.hpp"
#include "shared/kustomize/internal.hpp"
#include "shared/kustomize/replace.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

// "/path" as messages show a source path (kustomize's in-memory root).
std::string shown(std::string_view path);
// A resource, component or plugin entry that names something remote (URL, git repository).
bool is_remote(std::string_view entry);
// The strings of a scalar or a sequence of scalars.
std::vector<std::string> strings_of(const yaml::Node* list);
// A mapping of scalars as strings (labels, annotations).
Json string_map(const yaml::Node* map);
bool bool_at(const yaml::Node* node, std::string_view key, bool fallback = false);

// One document of a patch entry: the patch, the file it came from, and what it contributes.
struct PatchDocument {
  Json patch;
  std::string file;
  Contribution from;
};

// How a patch entry is written: a file path, inline text, or either (patchesStrategicMerge).
enum class PatchText { path, inline_text, path_or_inline };

struct Kustomization {
  std::string dir;
  std::string file;
  yaml::Stream stream;
  const yaml::Node* root = nullptr;
  std::optional<std::uint32_t> source;  // its text's source index; none when its marks are not its lines
};

class Builder : public FileReader {
 public:
  Builder(const FileSource& source, const Limits& limits) : m_source(source), m_limits(limits) {}

  std::set<std::string> files_read;
  Config config = default_config();
  // The parsed resource and patch files whose nodes contributions point to, and their texts.
  std::deque<yaml::Stream> kept;
  Sources sources;
  // Keeps `stream` (parsed from `text` of `file`, whose line 1 is the file's line `offset` + 1)
  // and returns its source index.
  std::uint32_t keep(yaml::Stream stream, std::string file, std::string_view text, std::uint32_t offset = 0);
  std::uint32_t add_source(std::string file, std::string_view text, std::uint32_t offset = 0);

  util::Result<void> accumulate(const std::string& dir, Resources& ra, bool component);
  util::Result<Kustomization> load(const std::string& dir, bool component);
  util::Result<std::string> read(const std::string& path);
  util::Result<EntryType> type(const std::string& path) {
    files_read.insert(path);
    return m_source.type(path);
  }
  util::Result<std::string> read_file(const std::string& relative) override {
    auto path = restricted(relative);
    if (!path) return util::fail(path.error());
    return read(*path);
  }
  // A file a kustomization names: in or below its directory.
  util::Result<std::string> restricted(const std::string& relative) {
    auto path = join_path(m_dir, relative);
    if (!path) {
      util::Error e = path.error();
      e.file = m_file;
      return util::fail(std::move(e));
    }
    if (!is_within(m_dir, *path))
      return util::fail(error("security; file '" + shown(*path) + "' is not in or below '" + shown(m_dir) + "'",
                              "kustomize.outside", m_file));
    return path;
  }
  Json sort_options;
  bool origin_annotations = false;
  bool transformer_annotations = false;
  bool custom_openapi = false;  // a kustomization gave an `openapi:` schema
  Unknown unknown_lists() const { return custom_openapi ? Unknown::merge_by_name : Unknown::replace; }
  void record_transformer(const yaml::Node& k, const char* field, const char* kind, Resources& ra);
  std::vector<Var> vars;

 private:
  util::Result<void> add_resources_from(const std::string& entry, Resources& ra);
  util::Result<void> parse_objects(const std::string& path, std::string_view text, Resources& out);
  util::Result<void> append(Resources& ra, Resources more);
  util::Result<void> run_generators(const yaml::Node& k, Resources& ra);
  util::Result<void> run_transformers(const yaml::Node& k, Resources& ra, std::optional<std::uint32_t> source);
  util::Result<std::vector<PatchDocument>> load_patches(const yaml::Node& entry, PatchText how);
  util::Result<Selector> selector(const yaml::Node* node);
  util::Result<std::vector<std::pair<Json, std::string>>> plugin_configs(const yaml::Node* list);
  util::Result<void> run_builtins(const yaml::Node* list, Resources& ra, bool generators);
  util::Result<std::vector<PatchDocument>> patch_documents(const yaml::Node& entry);

  const FileSource& m_source;
  const Limits& m_limits;
  std::vector<std::string> m_stack;
  std::uint64_t m_total = 0;
  std::string m_dir, m_file;  // the kustomization being accumulated
};

}  // namespace portcullis::kustomize
