#pragma once
// Internal to shared/kustomize: the mutable object model the build transforms (nlohmann's
// ordered JSON, kept out of the public headers), resource ids as kustomize writes them, and
// the transformer, patch and generator steps shared by build.cpp.
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/kustomize/kustomize.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

using Json = nlohmann::ordered_json;

Json to_value(const yaml::Node& node);
// A scalar as text (numbers and booleans as written), for labels, literals and names.
std::string scalar_text(const yaml::Node& node);

util::Error error(std::string message, std::string rule, std::string_view file = {});
// Parses the YAML stream of `file`; its errors name the file.
util::Result<yaml::Stream> parse_yaml_file(std::string_view text, std::string_view file);

struct Gvk {
  std::string group, version, kind;
  bool operator==(const Gvk&) const = default;
  // Kind.version.group with [noVer]/[noGrp] as kustomize writes it.
  std::string str() const;
  // Selected by `selector`: each of its non-empty parts equal.
  bool selected_by(const Gvk& selector) const;
};
Gvk gvk_of(const Json& object);
bool is_cluster_scoped(const Gvk& gvk);

struct Id {
  Gvk gvk;
  std::string name;
  std::string namespace_;
  std::string effective_namespace() const;
  bool operator==(const Id& o) const {
    return gvk == o.gvk && name == o.name && effective_namespace() == o.effective_namespace();
  }
  // Deployment.v1.apps/name.namespace, [noNs] when none.
  std::string str() const;
};

std::uint64_t next_serial();

// A built-in transformer that ran on an object (buildMetadata transformerAnnotations).
struct Transformation {
  std::string file, kind, name, namespace_;
};

// What contributed fields to an object, for the marks of its rendered nodes
// (shared/kustomize/provenance.cpp): the document it was read from and each patch applied to
// it, in the order they were applied. Nodes live in streams the builder keeps.
struct Contribution {
  // value: a kustomization's `namespace:` scalar or one of its `images:` entries, which give
  // string fields the value they have wherever they are.
  enum class Kind : std::uint8_t { document, smp, json6902, value };
  Kind kind = Kind::document;
  const yaml::Node* node = nullptr;  // the object's document, the patch, the operations list, the value
  std::uint32_t source = 0;          // index in Sources
};

// The texts whose lines marks may point into: a file, or a patch written inline in a
// kustomization (its lines are the kustomization's from `offset` on).
struct SourceText {
  std::string file;
  std::uint32_t offset = 0;  // file line of the text's line 1, minus one
  std::uint32_t lines = 1;
};
using Sources = std::vector<SourceText>;

struct Resource {
  Json object;
  std::vector<Contribution> contributions;
  std::string file;  // where it was declared ("/"-less source path)
  std::uint32_t line = 0;
  std::vector<Id> previous;  // ids before each rename, oldest first
  std::uint64_t serial = next_serial();  // which object this is, through copies and merges
  std::vector<std::string> prefixes, suffixes;
  bool generated = false;
  std::string configured_by;  // a generated object's built-in generator configuration, by name
  std::vector<Transformation> transformations;
  bool needs_hash = false;
  std::string behavior;  // generators: create, merge, replace

  Id id() const;
  Id original_id() const { return previous.empty() ? id() : previous.front(); }
  std::string name() const;
  std::string namespace_() const;
  void set_name(const std::string& name);
  void store_previous_id() { previous.push_back(id()); }
  bool any_id(const std::function<bool(const Id&)>& pred) const;
};

using Resources = std::vector<Resource>;

// The index of the first object whose id an earlier one has; nullopt when ids are unique.
std::optional<std::size_t> first_duplicate(const Resources& resources);

// Field specs: where a transformer writes, per kind (kustomize's builtinpluginconsts).
struct FieldSpec {
  Gvk gvk;
  std::string path;
  bool create = false;
};
struct NameBackRef {
  Gvk gvk;  // the kind referred to
  std::vector<FieldSpec> referrers;
};
struct Config {
  std::vector<FieldSpec> common_labels, template_labels, volume_claim_template_labels, labels, common_annotations, name_prefix, name_suffix,
      namespace_, images, replicas, var_reference;
  std::vector<NameBackRef> name_reference;
};
const Config& default_config();
// Adds the field specs of a `configurations:` file (or a CRD-derived one) to `config`.
util::Result<void> merge_config(Config& config, const yaml::Node& document);
// Adds what the OpenAPI definitions of a `crds:` file say (x-kubernetes-object-ref-kind and
// -api-version: name references; x-kubernetes-annotation, -label-selector, -identity).
void merge_crd_config(Config& config, const yaml::Node& definitions);

// Calls `fn` with every node at `path` (a field spec path: "spec/template/metadata/labels",
// sequences walked through); creates the missing last field (and its parents) as a mapping
// when `create`, or with `create_value` when given.
void visit_path(Json& object, std::string_view path, bool create, const std::function<void(Json&)>& fn,
                const Json* create_value = nullptr);
void apply_field_specs(Resource& res, const std::vector<FieldSpec>& specs, bool create_ok,
                       const std::function<void(Json&)>& fn, const Json* create_value = nullptr);

// Transformers (kustomize's built-ins, in the order a kustomization runs them).
util::Result<void> set_namespace(Resources& resources, const std::string& ns, const Config& config);
void add_prefix_suffix(Resources& resources, const std::string& prefix, const std::string& suffix,
                       const Config& config);
void add_labels(Resources& resources, const Json& labels, const std::vector<FieldSpec>& specs);
void add_annotations(Resources& resources, const Json& annotations, const std::vector<FieldSpec>& specs);
struct ImageRule {
  std::string name, new_name, new_tag, digest;
};
void set_images(Resources& resources, const std::vector<ImageRule>& rules, const Config& config);
void set_replicas(Resources& resources, const std::string& name, const Json& count, const Config& config);
util::Result<void> fix_name_references(Resources& resources, const Config& config);

// Patches.
struct Selector {
  Gvk gvk;
  std::string name, namespace_, label_selector, annotation_selector;
};
// A selector as a kustomization writes it (group, version, kind, name, namespace,
// labelSelector, annotationSelector); empty fields select everything.
Selector selector_from(const Json& selector);
// `selector` matches the object's original or current id; with `Ids::any`, any id it had.
enum class Ids { original_or_current, any };
util::Result<bool> matches(const Resource& res, const Selector& selector, Ids ids = Ids::original_or_current);
// Lists the OpenAPI table gives no merge strategy for: replaced by the patch, as kustomize does
// with its built-in schema; or merged by `name` (what a custom `openapi:` schema usually says
// of a custom resource's lists).
enum class Unknown { replace, merge_by_name };
util::Result<void> strategic_merge(Json& target, const Json& patch, Unknown unknown = Unknown::replace);
util::Result<void> json_patch(Json& target, const Json& operations);
// Strategic-merge patch `patch` on `resources`; `target` from the patch itself when null.
// A patch that deletes its target removes it.
// `from`, when given, is recorded on every object the patch applied to.
util::Result<void> apply_smp(Resources& resources, const Json& patch, const Selector* target,
                             std::string_view file, Unknown unknown = Unknown::replace,
                             const Contribution* from = nullptr);
util::Result<void> apply_json6902(Resources& resources, const Json& operations, const Selector& target,
                                  std::string_view file, const Contribution* from = nullptr);

// Sets the marks of `object` (a rendered object, in a stream the caller owns) to where each
// node came from among `contributions`: the last of them that holds the node's path (a
// strategic-merge patch or the document by keys, list items by `name` or else by position; a
// JSON patch by its operations' paths), as a line of `layout` (see Output::locate); a node no
// contribution holds (a transformer's, a generator's) takes its parent's mark.
struct SourceLayout {
  std::vector<std::uint32_t> first;  // by source index: the virtual line of its line 1
};
SourceLayout lay_out(const Sources& sources);
void set_provenance(yaml::Node& object, const std::vector<Contribution>& contributions, const SourceLayout& layout);

// Generators.
std::string config_map_hash(const Json& object);
void legacy_sort(Resources& resources, const std::vector<std::string>& first, const std::vector<std::string>& last);
std::vector<std::string> default_order_first();
std::vector<std::string> default_order_last();

// Go's encoding/json string escaping (what kustomize hashes).
void append_go_json(std::string& out, const Json& value);

// YAML text of one object, block style.
void append_yaml(std::string& out, const Json& value);

}  // namespace portcullis::kustomize
