// The build: loads kustomizations, accumulates resources from files, bases and components,
// runs generators and transformers in kustomize's order, then fixes name references, adds
// hash suffixes, drops local configuration and sorts.
#include <algorithm>
#include <set>

#include "shared/kustomize/builder.hpp"
#include "shared/kustomize/builtin.hpp"
#include "shared/kustomize/generate.hpp"
#include "shared/kustomize/internal.hpp"
#include "shared/kustomize/replace.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

std::string shown(std::string_view path) { return "/" + std::string(path); }

bool is_remote(std::string_view entry) {
  return entry.find("://") != std::string_view::npos || util::starts_with(entry, "git@") ||
         util::starts_with(entry, "github.com/") || util::starts_with(entry, "gitlab.com/") ||
         util::starts_with(entry, "bitbucket.org/") || entry.find("?ref=") != std::string_view::npos ||
         entry.find(".git//") != std::string_view::npos;
}

std::vector<std::string> strings_of(const yaml::Node* list) {
  std::vector<std::string> out;
  if (!list) return out;
  if (list->is_sequence()) {
    for (const auto* item : list->items)
      if (item->is_scalar()) out.push_back(scalar_text(*item));
  } else if (list->is_scalar() && list->type != yaml::Type::null) {
    out.push_back(scalar_text(*list));
  }
  return out;
}

Json string_map(const yaml::Node* map) {
  Json out = Json::object();
  if (!map || !map->is_mapping()) return out;
  for (const auto& e : map->entries) out[scalar_text(*e.key)] = e.value->is_scalar() ? Json(scalar_text(*e.value)) : to_value(*e.value);
  return out;
}

bool bool_at(const yaml::Node* node, std::string_view key, bool fallback) {
  if (!node) return fallback;
  const auto* v = node->get(key);
  if (!v || v->type != yaml::Type::boolean) return fallback;
  return v->value.boolean;
}

namespace {

const char* const k_kustomization_names[] = {"kustomization.yaml", "kustomization.yml", "Kustomization"};

constexpr std::string_view k_fields[] = {
    "apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace", "namePrefix", "nameSuffix",
    "commonLabels", "labels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge",
    "patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions", "replacements", "vars", "crds",
    "configurations", "sortOptions", "generators", "transformers", "validators", "helmCharts", "openapi",
    "buildMetadata", "helmGlobals", "helmChartInflationGenerator"};

// `path` relative to the directory `from` ("../base/x.yaml"); both normalised.
std::string relative_to(std::string_view from, std::string_view path) {
  auto a = util::split(from, '/');
  auto b = util::split(path, '/');
  if (from.empty()) a.clear();
  std::size_t common = 0;
  while (common < a.size() && common + 1 < b.size() && a[common] == b[common]) ++common;
  std::string out;
  for (std::size_t i = common; i < a.size(); ++i) out += "../";
  for (std::size_t i = common; i < b.size(); ++i) out += std::string(b[i]) + (i + 1 < b.size() ? "/" : "");
  return out;
}

// An object as kustomize loads it: label and annotation values are strings, as written.
Json object_of(const yaml::Node& node) {
  Json out = to_value(node);
  const auto* meta = node.get("metadata");
  if (!meta || !meta->is_mapping()) return out;
  for (const char* field : {"labels", "annotations"}) {
    const auto* map = meta->get(field);
    if (!map || !map->is_mapping()) continue;
    for (const auto& e : map->entries)
      if (e.value->is_scalar() && e.value->type != yaml::Type::string && e.value->type != yaml::Type::null)
        out["metadata"][field][scalar_text(*e.key)] = scalar_text(*e.value);
  }
  return out;
}

}  // namespace

util::Result<std::string> Builder::read(const std::string& path) {
  files_read.insert(path);
  auto t = m_source.type(path);
  if (!t) return util::fail(t.error());
  if (*t == EntryType::missing)
    return util::fail(error("file '" + shown(path) + "' does not exist", "kustomize.missing", m_file));
  if (*t != EntryType::file)
    return util::fail(error("'" + shown(path) + "' is not a regular file (symbolic links are not followed)",
                            "kustomize.invalid", m_file));
  auto text = m_source.read(path, m_limits.max_file_bytes);
  if (!text) {
    util::Error e = text.error();
    if (e.rule == "file.too-large") e.rule = "kustomize.limit";
    e.file = path;
    return util::fail(std::move(e));
  }
  m_total += text->size();
  if (m_total > m_limits.max_total_bytes)
    return util::fail(error("the build read more than " + std::to_string(m_limits.max_total_bytes) + " bytes",
                            "kustomize.limit", path));
  return text;
}

util::Result<Kustomization> Builder::load(const std::string& dir, bool component) {
  Kustomization k;
  k.dir = dir;
  std::vector<std::string> found;
  for (const char* name : k_kustomization_names) {
    std::string path = dir.empty() ? name : dir + "/" + name;
    auto t = type(path);
    if (!t) return util::fail(t.error());
    if (*t == EntryType::file) found.push_back(path);
    if (*t == EntryType::other)
      return util::fail(error("'" + shown(path) + "' is not a regular file (symbolic links are not followed)",
                              "kustomize.invalid", path));
  }
  if (found.size() > 1)
    return util::fail(error("Found multiple kustomization files under: " + shown(dir), "kustomize.invalid", dir));
  if (found.empty()) {
    auto t = type(dir);
    if (t && *t == EntryType::file && component)
      return util::fail(error("accumulating components: must build at directory: '" + shown(dir) + "'",
                              "kustomize.invalid", dir));
    return util::fail(error("unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in "
                            "directory '" + shown(dir) + "'",
                            "kustomize.missing", dir));
  }
  k.file = found[0];
  auto text = read(k.file);
  if (!text) return util::fail(text.error());
  auto stream = parse_yaml_file(*text, k.file);
  if (!stream) return util::fail(stream.error());
  k.stream = std::move(*stream);
  for (const auto& d : k.stream.documents)
    if (d.root) {
      k.root = d.root;
      break;
    }
  if (k.root && k.root->is_mapping()) {
    // kustomize reads its fields as Go's encoding/json does: names match whatever their case.
    bool respell = false;
    Json fixed = Json::object();
    for (const auto& e : k.root->entries) {
      std::string key = scalar_text(*e.key);
      for (std::string_view canonical : k_fields)
        if (key != canonical && util::to_lower(key) == util::to_lower(canonical)) {
          key = std::string(canonical);
          respell = true;
        }
      fixed[key] = to_value(*e.value);
    }
    if (respell) {
      auto again = yaml::parse_json(fixed.dump());
      if (!again) return util::fail(again.error());
      k.stream = std::move(*again);
      k.root = k.stream.documents[0].root;
    }
    // Its transformers' values are located in it (not when respelled: then its marks are not
    // its lines).
    if (!respell) k.source = add_source(k.file, *text);
  }
  if (!k.root || !k.root->is_mapping()) {
    if (k.root && k.root->type == yaml::Type::null) return k;
    if (!k.root) return k;
    return util::fail(error("a kustomization must be a mapping", "kustomize.invalid", k.file));
  }
  std::string kind(k.root->get_string("kind"));
  std::string api(k.root->get_string("apiVersion"));
  if (component) {
    if (kind != "Component")
      return util::fail(error("accumulating components: accumulateDirectory: \"expected kind 'Component' for path '" +
                                  shown(dir) + "' but got '" + (kind.empty() ? "Kustomization" : kind) + "'",
                              "kustomize.invalid", k.file));
    if (!api.empty() && api != "kustomize.config.k8s.io/v1alpha1")
      return util::fail(error("apiVersion for Component should be kustomize.config.k8s.io/v1alpha1",
                              "kustomize.invalid", k.file));
  } else if (kind == "Component") {
    return util::fail(error("accumulating resources: expected kind != 'Component' for path '" + shown(dir) + "'",
                            "kustomize.invalid", k.file));
  } else if (!kind.empty() && kind != "Kustomization") {
    return util::fail(error("unsupported kind '" + kind + "' in " + shown(k.file), "kustomize.invalid", k.file));
  }
  for (const char* plugin : {"validators", "helmCharts", "helmChartInflationGenerator", "helmGlobals"}) {
    const auto* v = k.root->get(plugin);
    if (v && ((v->is_sequence() && !v->items.empty()) || v->is_mapping()))
      return util::fail(error(std::string("'") + plugin + "' of " + shown(k.file) +
                                  ": plugins (validators, Helm charts, generators and transformers other than the "
                                  "built-in ones) are not run",
                              "kustomize.plugin", k.file));
  }
  return k;
}

util::Result<void> Builder::append(Resources& ra, Resources more) {
  for (auto& r : more) {
    if (ra.size() >= m_limits.max_objects)
      return util::fail(error("more than " + std::to_string(m_limits.max_objects) + " objects",
                              "kustomize.limit", r.file));
    ra.push_back(std::move(r));
  }
  return {};
}

namespace {
// Ids are checked once all of a kustomization's resources (or a component's) are in.
util::Result<void> unique_ids(const Resources& ra) {
  if (auto dup = first_duplicate(ra))
    return util::fail(error("may not add resource with an already registered id: " + ra[*dup].id().str(),
                            "kustomize.conflict", ra[*dup].file));
  return {};
}
}  // namespace

std::uint32_t Builder::add_source(std::string file, std::string_view text, std::uint32_t offset) {
  auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n') + 1);
  sources.push_back(SourceText{std::move(file), offset, lines});
  return static_cast<std::uint32_t>(sources.size() - 1);
}

std::uint32_t Builder::keep(yaml::Stream stream, std::string file, std::string_view text, std::uint32_t offset) {
  kept.push_back(std::move(stream));
  return add_source(std::move(file), text, offset);
}

util::Result<void> Builder::parse_objects(const std::string& path, std::string_view text, Resources& out) {
  auto parsed = parse_yaml_file(text, path);
  if (!parsed) return util::fail(parsed.error());
  // Kept: the objects' documents are their first contribution (the marks of base fields).
  std::uint32_t source = keep(std::move(*parsed), path, text);
  const yaml::Stream* stream = &kept.back();
  for (const auto& doc : stream->documents) {
    if (!doc.root || doc.root->type == yaml::Type::null) continue;
    if (!doc.root->is_mapping())
      return util::fail(error("a resource must be a mapping", "kustomize.invalid", path));
    std::string kind(doc.root->get_string("kind"));
    const auto* items = doc.root->get("items");
    if (util::ends_with(kind, "List") && items && items->is_sequence()) {
      for (const auto* item : items->items) {
        if (!item->is_mapping()) continue;
        Resource r;
        r.object = object_of(*item);
        r.contributions.push_back(Contribution{Contribution::Kind::document, item, source});
        r.file = path;
        r.line = item->mark.line;
        out.push_back(std::move(r));
      }
      continue;
    }
    if (kind == "Kustomization" || kind == "Component")
      return util::fail(error("'" + shown(path) + "' is a kustomization: list its directory in resources",
                              "kustomize.invalid", path));
    if (kind.empty())
      return util::fail(error("missing kind in an object of " + shown(path), "kustomize.invalid", path));
    Resource r;
    r.object = object_of(*doc.root);
    r.contributions.push_back(Contribution{Contribution::Kind::document, doc.root, source});
    r.file = path;
    r.line = doc.root->mark.line;
    out.push_back(std::move(r));
  }
  return {};
}

util::Result<void> Builder::add_resources_from(const std::string& entry, Resources& ra) {
  if (is_remote(entry))
    return util::fail(error("remote resource '" + entry + "' in " + shown(m_file) +
                                ": remote resources are not fetched; vendor it into the repository",
                            "kustomize.remote", m_file));
  auto path = join_path(m_dir, entry);
  if (!path) {
    util::Error e = path.error();
    e.file = m_file;
    return util::fail(std::move(e));
  }
  auto t = type(*path);
  if (!t) return util::fail(t.error());
  if (*t == EntryType::missing)
    return util::fail(error("accumulating resources: '" + shown(*path) + "' (from " + shown(m_file) +
                                ") does not exist",
                            "kustomize.missing", m_file));
  if (*t == EntryType::directory) {
    Resources sub;
    std::string dir = m_dir, file = m_file;
    auto ok = accumulate(*path, sub, false);
    m_dir = dir;
    m_file = file;
    if (!ok) {
      util::Error e = ok.error();
      if (!util::starts_with(e.message, "accumulating resources")) e.message = "accumulating resources: " + e.message;
      return util::fail(std::move(e));
    }
    return append(ra, std::move(sub));
  }
  if (*t != EntryType::file)
    return util::fail(error("accumulating resources: '" + shown(*path) +
                                "' is not a regular file or directory (symbolic links are not followed)",
                            "kustomize.invalid", m_file));
  if (!is_within(m_dir, *path))
    return util::fail(error("security; file '" + shown(*path) + "' is not in or below '" + shown(m_dir) + "'",
                            "kustomize.outside", m_file));
  auto text = read(*path);
  if (!text) return util::fail(text.error());
  Resources objects;
  auto ok = parse_objects(*path, *text, objects);
  if (!ok) return ok;
  return append(ra, std::move(objects));
}

util::Result<Selector> Builder::selector(const yaml::Node* node) {
  return node ? selector_from(to_value(*node)) : Selector{};
}

util::Result<void> Builder::accumulate(const std::string& dir, Resources& ra, bool component) {
  if (std::find(m_stack.begin(), m_stack.end(), dir) != m_stack.end()) {
    std::string chain;
    for (const auto& d : m_stack) chain += shown(d) + " -> ";
    return util::fail(error("cycle of kustomizations: " + chain + shown(dir), "kustomize.cycle", dir));
  }
  if (m_stack.size() >= m_limits.max_depth)
    return util::fail(error("kustomizations nested more than " + std::to_string(m_limits.max_depth) + " deep at " +
                                shown(dir),
                            "kustomize.limit", dir));
  auto k = load(dir, component);
  if (!k) return util::fail(k.error());
  m_stack.push_back(dir);
  struct Pop {
    std::vector<std::string>& s;
    ~Pop() { s.pop_back(); }
  } pop{m_stack};
  m_dir = dir;
  m_file = k->file;
  if (!k->root || !k->root->is_mapping()) return {};
  const yaml::Node& root = *k->root;
  if (root.get("openapi")) custom_openapi = true;
  if (m_stack.size() == 1) {
    if (const auto* so = root.get("sortOptions")) sort_options = to_value(*so);
    for (const auto& m : strings_of(root.get("buildMetadata")))
      if (m == "originAnnotations") origin_annotations = true;
      else if (m == "transformerAnnotations") transformer_annotations = true;
  }

  std::vector<std::string> entries = strings_of(root.get("resources"));
  for (auto& b : strings_of(root.get("bases"))) entries.push_back(b);
  if (entries.size() > m_limits.max_entries)
    return util::fail(error(std::to_string(entries.size()) + " resources in " + shown(k->file) + "; the limit is " +
                                std::to_string(m_limits.max_entries),
                            "kustomize.limit", k->file));
  for (const auto& entry : entries) {
    auto ok = add_resources_from(entry, ra);
    m_dir = dir;
    m_file = k->file;
    if (!ok) return ok;
  }
  if (auto unique = unique_ids(ra); !unique) return unique;
  for (const auto& c : strings_of(root.get("configurations"))) {
    auto path = restricted(c);
    if (!path) return util::fail(path.error());
    auto text = read(*path);
    if (!text) return util::fail(text.error());
    auto stream = yaml::parse_yaml(*text);
    if (!stream) return util::fail(stream.error());
    for (const auto& d : stream->documents)
      if (d.root) {
        auto ok = merge_config(config, *d.root);
        if (!ok) return ok;
      }
  }
  for (const auto& c : strings_of(root.get("crds"))) {
    auto path = restricted(c);
    if (!path) return util::fail(path.error());
    auto text = read(*path);
    if (!text) return util::fail(text.error());
    auto stream = parse_yaml_file(*text, *path);
    if (!stream) return util::fail(stream.error());
    for (const auto& d : stream->documents)
      if (d.root) merge_crd_config(config, *d.root);
  }
  auto ok = run_generators(root, ra);
  if (!ok) return ok;
  ok = run_builtins(root.get("generators"), ra, true);
  if (!ok) return ok;
  for (const auto& c : strings_of(root.get("components"))) {
    if (is_remote(c))
      return util::fail(error("remote component '" + c + "': remote resources are not fetched", "kustomize.remote",
                              k->file));
    auto path = join_path(dir, c);
    if (!path) {
      util::Error e = path.error();
      e.file = k->file;
      return util::fail(std::move(e));
    }
    auto t = type(*path);
    if (!t) return util::fail(t.error());
    if (*t == EntryType::missing)
      return util::fail(error("accumulating components: '" + shown(*path) + "' does not exist", "kustomize.missing",
                              k->file));
    if (*t != EntryType::directory)
      return util::fail(error("accumulating components: must build at directory: '" + shown(*path) + "'",
                              "kustomize.invalid", k->file));
    auto c_ok = accumulate(*path, ra, true);
    m_dir = dir;
    m_file = k->file;
    if (!c_ok) return c_ok;
    if (auto unique = unique_ids(ra); !unique) return unique;
  }
  ok = run_transformers(root, ra, k->source);
  if (!ok) return ok;
  ok = run_builtins(root.get("transformers"), ra, false);
  if (!ok) return ok;
  if (const auto* list = root.get("vars"); list && list->is_sequence()) {
    for (const auto* v : list->items) {
      if (!v->is_mapping()) continue;
      Var var;
      var.name = std::string(v->get_string("name"));
      const auto* obj = v->get("objref");
      if (obj && obj->is_mapping()) {
        var.target.gvk = Gvk{std::string(obj->get_string("group")), std::string(obj->get_string("version")),
                             std::string(obj->get_string("kind"))};
        std::string av(obj->get_string("apiVersion"));
        if (!av.empty()) {
          auto slash = av.find('/');
          var.target.gvk.group = slash == std::string::npos ? "" : av.substr(0, slash);
          var.target.gvk.version = slash == std::string::npos ? av : av.substr(slash + 1);
        }
        var.target.name = std::string(obj->get_string("name"));
        var.target.namespace_ = std::string(obj->get_string("namespace"));
      }
      const auto* field = v->get("fieldref");
      if (field && field->is_mapping()) {
        var.field = std::string(field->get_string("fieldpath"));
        if (var.field.empty()) var.field = std::string(field->get_string("fieldPath"));
      }
      if (var.field.empty()) var.field = "metadata.name";
      var.file = k->file;
      auto targets = var_targets(var, ra);
      if (targets.size() > 1)
        return util::fail(error("unable to disambiguate var '" + var.name + "': it matches " +
                                    std::to_string(targets.size()) + " objects",
                                "kustomize.conflict", k->file));
      if (targets.size() == 1) var.serial = targets[0]->serial;
      for (const auto& existing : vars)
        if (existing.name == var.name)
          return util::fail(error("var '" + var.name + "' already encountered", "kustomize.conflict", k->file));
      vars.push_back(std::move(var));
    }
  }
  // Its transformers' contributions point into it.
  kept.push_back(std::move(k->stream));
  return {};
}

util::Result<bool> has_kustomization(const FileSource& source, std::string_view dir) {
  for (const char* name : k_kustomization_names) {
    std::string path = dir.empty() ? std::string(name) : std::string(dir) + "/" + name;
    auto t = source.type(path);
    if (!t) return util::fail(t.error());
    if (*t == EntryType::file) return true;
  }
  return false;
}

util::Result<Output> build(const FileSource& source, std::string_view dir_in, const Limits& limits) {
  auto dir = join_path("", dir_in);
  if (!dir) return util::fail(dir.error());
  Builder b(source, limits);
  Resources ra;
  try {
    auto ok = b.accumulate(*dir, ra, false);
    if (!ok) return util::fail(ok.error());
    if (b.origin_annotations)
      for (auto& r : ra) {
        std::string origin;
        if (r.generated)
          origin = "configuredIn: " + relative_to(*dir, r.file) + "\nconfiguredBy:\n  apiVersion: builtin\n  kind: " +
                   r.object.value("kind", "") + "Generator\n" +
                   (r.configured_by.empty() ? "" : "  name: " + r.configured_by + "\n");
        else
          origin = "path: " + relative_to(*dir, r.file) + "\n";
        r.object["metadata"]["annotations"]["config.kubernetes.io/origin"] = origin;
      }
    for (auto& r : ra) {
      if (r.transformations.empty()) continue;
      std::string text;
      for (const auto& t : r.transformations) {
        text += "- configuredIn: " + relative_to(*dir, t.file) + "\n  configuredBy:\n    apiVersion: builtin\n    kind: " +
                t.kind + "\n";
        if (!t.name.empty()) text += "    name: " + t.name + "\n";
        if (!t.namespace_.empty()) text += "    namespace: " + t.namespace_ + "\n";
      }
      r.object["metadata"]["annotations"]["alpha.config.kubernetes.io/transformations"] = text;
    }
    // Hash suffixes, then every reference to a renamed object.
    for (auto& r : ra)
      if (r.needs_hash) {
        std::string hash = config_map_hash(r.object);
        r.store_previous_id();
        r.set_name(r.name() + "-" + hash);
      }
    ok = fix_name_references(ra, b.config);
    if (!ok) return util::fail(ok.error());
    ok = resolve_vars(b.vars, ra, b.config);
    if (!ok) return util::fail(ok.error());
    std::erase_if(ra, [](const Resource& r) {
      auto m = r.object.find("metadata");
      if (m == r.object.end() || !m->is_object()) return false;
      auto a = m->find("annotations");
      if (a == m->end() || !a->is_object()) return false;
      auto l = a->find("config.kubernetes.io/local-config");
      return l != a->end() && l->is_string() && *l == "true";
    });
    // Sort: kubectl's default is the legacy order.
    const Json& so = b.sort_options;
    std::string order = "legacy";
    std::vector<std::string> first = default_order_first(), last = default_order_last();
    if (so.is_object()) {
      order = so.value("order", "");
      if (order != "fifo" && order != "legacy")
        return util::fail(error("the field 'sortOptions.order' must be one of [fifo, legacy]", "kustomize.invalid",
                                *dir));
      if (auto lo = so.find("legacySortOptions"); lo != so.end() && !lo->is_null()) {
        if (order == "fifo")
          return util::fail(error("the field 'sortOptions.legacySortOptions' is set but the selected sort order is "
                                  "'fifo', not 'legacy'",
                                  "kustomize.invalid", *dir));
        first.clear();
        last.clear();
        if (lo->contains("orderFirst"))
          for (const auto& v : (*lo)["orderFirst"]) first.push_back(v.is_string() ? v.get<std::string>() : v.dump());
        if (lo->contains("orderLast"))
          for (const auto& v : (*lo)["orderLast"]) last.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    if (order == "legacy") legacy_sort(ra, first, last);
  } catch (const nlohmann::json::exception& e) {
    return util::fail(error(std::string("malformed input: ") + e.what(), "kustomize.invalid", *dir));
  }
  Output out;
  std::string all = "[";
  for (std::size_t i = 0; i < ra.size(); ++i) {
    if (i) all += ',';
    all += ra[i].object.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  all += ']';
  yaml::Limits yl;
  yl.max_depth += 2;  // the array around the objects, and a patch may nest one level more
  yl.max_nodes = std::max<std::uint64_t>(yl.max_nodes, all.size());
  yl.max_expanded = std::max<std::uint64_t>(yl.max_expanded, all.size());
  auto stream = yaml::parse_json(all, yl);
  if (!stream) return util::fail(stream.error());
  out.stream = std::move(*stream);
  const yaml::Node* array = out.stream.documents.empty() ? nullptr : out.stream.documents[0].root;
  SourceLayout layout = lay_out(b.sources);
  for (std::size_t i = 0; array && i < array->items.size(); ++i) {
    // The stream was parsed just above and is owned by `out`: its nodes may be given marks.
    set_provenance(const_cast<yaml::Node&>(*array->items[i]), ra[i].contributions, layout);
    out.objects.push_back(Object{array->items[i], ra[i].file, ra[i].line});
  }
  for (std::size_t i = 0; i < b.sources.size(); ++i)
    out.sources.push_back(SourceSpan{b.sources[i].file, layout.first[i], b.sources[i].offset, b.sources[i].lines});
  out.files_read.assign(b.files_read.begin(), b.files_read.end());
  return out;
}

}  // namespace portcullis::kustomize
