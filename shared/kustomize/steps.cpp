// The steps of one kustomization: generators, built-in plugin configurations, patches and
// transformers, in kustomize's order.
#include "shared/kustomize/builder.hpp"
#include "shared/kustomize/builtin.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kustomize {


// The documents of a patch: from `path` (a file in or below the kustomization) or inline text
// (its lines are the kustomization's, from the line after the block scalar's indicator).
util::Result<std::vector<PatchDocument>> Builder::load_patches(const yaml::Node& entry, PatchText how) {
  std::string text, where = m_file;
  bool from_file = false;
  if (entry.is_scalar() && how != PatchText::inline_text) {
    std::string value = scalar_text(entry);
    // patchesStrategicMerge entries are file paths or inline patches.
    if (how == PatchText::path ||
        (value.find('\n') == std::string::npos && value.find(": ") == std::string::npos)) {
      auto path = restricted(value);
      if (!path) return util::fail(path.error());
      auto t = read(*path);
      if (!t) return util::fail(t.error());
      text = std::move(*t);
      where = *path;
      from_file = true;
    } else {
      text = value;
    }
  } else if (entry.is_scalar()) {
    text = scalar_text(entry);
  } else {
    return util::fail(error("a patch must be a path or inline text", "kustomize.invalid", m_file));
  }
  auto stream = parse_yaml_file(text, where);
  if (!stream) return util::fail(stream.error());
  // An inline block scalar's content starts on the line after its indicator; a one-line one
  // is all on the indicator's line.
  std::uint32_t offset = from_file ? 0 : text.find('\n') == std::string::npos ? entry.mark.line - 1 : entry.mark.line;
  std::vector<const yaml::Node*> roots;
  for (const auto& d : stream->documents)
    if (d.root && d.root->type != yaml::Type::null) roots.push_back(d.root);
  std::uint32_t source = keep(std::move(*stream), where, text, offset);
  std::vector<PatchDocument> out;
  for (const auto* root : roots) {
    Contribution from{root->is_sequence() ? Contribution::Kind::json6902 : Contribution::Kind::smp, root, source};
    out.push_back(PatchDocument{to_value(*root), where, from});
  }
  return out;
}

// The documents of a `patches` or `patchesJson6902` entry: its `path` or its inline `patch`.
util::Result<std::vector<PatchDocument>> Builder::patch_documents(const yaml::Node& entry) {
  if (const auto* inline_patch = entry.get("patch")) return load_patches(*inline_patch, PatchText::inline_text);
  const auto* path = entry.get("path");
  if (!path || !path->is_scalar())
    return util::fail(error("a patch needs 'path' or 'patch'", "kustomize.invalid", m_file));
  return load_patches(*path, PatchText::path);
}

// The configurations a `generators:` or `transformers:` list names: inline YAML, files, or
// kustomizations whose objects are configurations.
util::Result<std::vector<std::pair<Json, std::string>>> Builder::plugin_configs(const yaml::Node* list) {
  std::vector<std::pair<Json, std::string>> out;
  if (!list || !list->is_sequence()) return out;
  std::string dir = m_dir, file = m_file;
  for (const auto* item : list->items) {
    if (item->is_mapping()) {
      out.emplace_back(to_value(*item), m_file);
      continue;
    }
    if (!item->is_scalar()) continue;
    std::string entry = scalar_text(*item);
    if (entry.find('\n') != std::string::npos || entry.find(": ") != std::string::npos) {
      auto stream = yaml::parse_yaml(entry);
      if (!stream) return util::fail(stream.error());
      for (const auto& d : stream->documents)
        if (d.root && d.root->type != yaml::Type::null) out.emplace_back(to_value(*d.root), m_file);
      continue;
    }
    if (is_remote(entry))
      return util::fail(error("remote plugin configuration '" + entry + "' is not fetched", "kustomize.remote", m_file));
    auto path = join_path(m_dir, entry);
    if (!path) return util::fail(path.error());
    auto t = type(*path);
    if (!t) return util::fail(t.error());
    if (*t == EntryType::directory) {
      Resources sub;
      auto ok = accumulate(*path, sub, false);
      m_dir = dir;
      m_file = file;
      if (!ok) return util::fail(ok.error());
      for (auto& r : sub) out.emplace_back(std::move(r.object), r.file);
      continue;
    }
    auto text = read_file(entry);
    if (!text) return util::fail(text.error());
    auto stream = parse_yaml_file(*text, *path);
    if (!stream) return util::fail(stream.error());
    for (const auto& d : stream->documents)
      if (d.root && d.root->type != yaml::Type::null) out.emplace_back(to_value(*d.root), *path);
  }
  return out;
}

util::Result<void> Builder::run_builtins(const yaml::Node* list, Resources& ra, bool generators) {
  auto configs = plugin_configs(list);
  if (!configs) return util::fail(configs.error());
  for (const auto& [c, file] : *configs) {
    BuiltinContext context{*this, config, file, m_limits.max_objects};
    if (!generators && transformer_annotations) {
      const Json& meta = c.contains("metadata") && c["metadata"].is_object() ? c["metadata"] : Json::object();
      for (auto& r : ra)
        r.transformations.push_back(Transformation{file, c.value("kind", ""), meta.value("name", ""),
                                                   meta.value("namespace", "")});
    }
    auto ok = generators ? run_builtin_generator(c, ra, context) : run_builtin_transformer(c, ra, context);
    if (!ok) return ok;
  }
  return {};
}

util::Result<void> Builder::run_generators(const yaml::Node& k, Resources& ra) {
  const yaml::Node* options = k.get("generatorOptions");
  for (bool secret : {false, true}) {
    const auto* list = k.get(secret ? "secretGenerator" : "configMapGenerator");
    if (!list || !list->is_sequence()) continue;
    if (list->items.size() > m_limits.max_entries)
      return util::fail(error("too many generators", "kustomize.limit", m_file));
    for (const auto* g : list->items) {
      if (!g->is_mapping()) return util::fail(error("a generator must be a mapping", "kustomize.invalid", m_file));
      GeneratorArgs args;
      args.kustomization = m_file;
      args.name = std::string(g->get_string("name"));
      args.namespace_ = std::string(g->get_string("namespace"));
      args.behavior = std::string(g->get_string("behavior"));
      args.type = std::string(g->get_string("type"));
      args.literals = strings_of(g->get("literals"));
      args.files = strings_of(g->get("files"));
      args.envs = strings_of(g->get("envs"));
      for (auto& e : strings_of(g->get("env"))) args.envs.push_back(e);
      if (!args.behavior.empty() && args.behavior != "create" && args.behavior != "merge" && args.behavior != "replace")
        return util::fail(error("invalid generator behavior '" + args.behavior + "'", "kustomize.invalid", m_file));
      const yaml::Node* own = g->get("options");
      args.labels = string_map(options ? options->get("labels") : nullptr);
      args.annotations = string_map(options ? options->get("annotations") : nullptr);
      for (auto& [field, into] : {std::pair{"labels", &args.labels}, std::pair{"annotations", &args.annotations}}) {
        Json more = string_map(own ? own->get(field) : nullptr);
        for (auto it = more.begin(); it != more.end(); ++it) (*into)[it.key()] = it.value();
      }
      args.disable_hash = bool_at(options, "disableNameSuffixHash");
      if (own && own->get("disableNameSuffixHash")) args.disable_hash = bool_at(own, "disableNameSuffixHash");
      args.immutable = bool_at(options, "immutable");
      if (own && own->get("immutable")) args.immutable = bool_at(own, "immutable");
      auto r = generate(args, secret, *this);
      if (!r) return util::fail(r.error());
      r->line = g->mark.line;
      auto ok = absorb(ra, std::move(*r), m_limits.max_objects);
      if (!ok) return ok;
    }
  }
  return {};
}

// Notes, for buildMetadata transformerAnnotations, that the built-in transformer `kind` runs on
// every object accumulated so far when the kustomization sets `field`.
void Builder::record_transformer(const yaml::Node& k, const char* field, const char* kind, Resources& ra) {
  if (!transformer_annotations) return;
  const yaml::Node* v = k.get(field);
  if (!v || v->type == yaml::Type::null || (v->is_scalar() && v->text.empty()) ||
      (v->is_sequence() && v->items.empty()) || (v->is_mapping() && v->entries.empty()))
    return;
  for (auto& r : ra) r.transformations.push_back(Transformation{m_file, kind, "", ""});
}

util::Result<void> Builder::run_transformers(const yaml::Node& k, Resources& ra, std::optional<std::uint32_t> source) {
  // The values this kustomization gives fields wherever they are (located by the value).
  auto contribute = [&](const yaml::Node* value) {
    if (source && value)
      for (auto& r : ra) r.contributions.push_back(Contribution{Contribution::Kind::value, value, *source});
  };
  // patchesStrategicMerge
  record_transformer(k, "patchesStrategicMerge", "PatchStrategicMergeTransformer", ra);
  if (const auto* list = k.get("patchesStrategicMerge"); list && list->is_sequence()) {
    for (const auto* entry : list->items) {
      auto patches = load_patches(*entry, PatchText::path_or_inline);
      if (!patches) return util::fail(patches.error());
      for (auto& [patch, where, from] : *patches) {
        auto ok = apply_smp(ra, patch, nullptr, where, unknown_lists(), &from);
        if (!ok) return ok;
      }
    }
  }
  // patches
  record_transformer(k, "patches", "PatchTransformer", ra);
  if (const auto* list = k.get("patches"); list && list->is_sequence()) {
    for (const auto* entry : list->items) {
      if (!entry->is_mapping()) return util::fail(error("a patch must be a mapping", "kustomize.invalid", m_file));
      auto docs = patch_documents(*entry);
      if (!docs) return util::fail(docs.error());
      const yaml::Node* target_node = entry->get("target");
      auto target = selector(target_node);
      if (!target) return util::fail(target.error());
      const yaml::Node* options = entry->get("options");
      for (auto& [doc, where, from] : *docs) {
        if (doc.is_array()) {
          if (!target_node)
            return util::fail(error("must specify a target for JSON patch " + where, "kustomize.patch", m_file));
          auto ok = apply_json6902(ra, doc, *target, where, &from);
          if (!ok) return ok;
          continue;
        }
        if (options && doc.is_object()) {
          if (bool_at(options, "allowNameChange"))
            doc["metadata"]["annotations"]["kustomize.config.k8s.io/allowNameChange"] = "true";
          if (bool_at(options, "allowKindChange"))
            doc["metadata"]["annotations"]["kustomize.config.k8s.io/allowKindChange"] = "true";
        }
        if (target_node && docs->size() > 1)
          return util::fail(error("Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set "
                                  "`patches.target` field: " + where,
                                  "kustomize.patch", m_file));
        auto ok = apply_smp(ra, doc, target_node ? &*target : nullptr, where, unknown_lists(), &from);
        if (!ok) return ok;
      }
    }
  }
  // namespace
  record_transformer(k, "namespace", "NamespaceTransformer", ra);
  if (const auto* ns = k.get("namespace"); ns && ns->is_scalar()) {
    contribute(ns);
    auto ok = set_namespace(ra, scalar_text(*ns), config);
    if (!ok) {
      util::Error e = ok.error();
      if (e.file.empty()) e.file = m_file;
      return util::fail(std::move(e));
    }
  }
  // namePrefix / nameSuffix
  record_transformer(k, "namePrefix", "PrefixTransformer", ra);
  record_transformer(k, "nameSuffix", "SuffixTransformer", ra);
  {
    const auto* p = k.get("namePrefix");
    const auto* s = k.get("nameSuffix");
    add_prefix_suffix(ra, p && p->is_scalar() ? scalar_text(*p) : "", s && s->is_scalar() ? scalar_text(*s) : "",
                      config);
  }
  // labels, then commonLabels (kustomize's order)
  record_transformer(k, "labels", "LabelTransformer", ra);
  if (const auto* list = k.get("labels"); list && list->is_sequence()) {
    for (const auto* entry : list->items) {
      if (!entry->is_mapping()) continue;
      std::vector<FieldSpec> specs;
      if (const auto* fields = entry->get("fields"); fields && fields->is_sequence())
        for (const auto* f : fields->items) {
          FieldSpec fs;
          fs.gvk = Gvk{std::string(f->get_string("group")), std::string(f->get_string("version")),
                       std::string(f->get_string("kind"))};
          fs.path = std::string(f->get_string("path"));
          fs.create = bool_at(f, "create");
          specs.push_back(fs);
        }
      for (const auto& fs : config.labels) specs.push_back(fs);
      if (bool_at(entry, "includeSelectors")) {
        for (const auto& fs : config.common_labels) specs.push_back(fs);
      } else {
        if (bool_at(entry, "includeTemplates"))
          for (const auto& fs : config.template_labels) specs.push_back(fs);
        if (bool_at(entry, "includeVolumeClaimTemplates"))
          for (const auto& fs : config.volume_claim_template_labels) specs.push_back(fs);
        specs.push_back(FieldSpec{{}, "metadata/labels", true});
      }
      add_labels(ra, string_map(entry->get("pairs")), specs);
    }
  }
  record_transformer(k, "commonLabels", "LabelTransformer", ra);
  if (const auto* labels = k.get("commonLabels"); labels && labels->is_mapping())
    add_labels(ra, string_map(labels), config.common_labels);
  record_transformer(k, "commonAnnotations", "AnnotationsTransformer", ra);
  if (const auto* annotations = k.get("commonAnnotations"); annotations && annotations->is_mapping())
    add_annotations(ra, string_map(annotations), config.common_annotations);
  // patchesJson6902
  record_transformer(k, "patchesJson6902", "PatchJson6902Transformer", ra);
  if (const auto* list = k.get("patchesJson6902"); list && list->is_sequence()) {
    for (const auto* entry : list->items) {
      if (!entry->is_mapping()) return util::fail(error("a patch must be a mapping", "kustomize.invalid", m_file));
      auto target = selector(entry->get("target"));
      if (!target) return util::fail(target.error());
      auto docs = patch_documents(*entry);
      if (!docs) return util::fail(docs.error());
      for (auto& [doc, where, from] : *docs) {
        auto ok = apply_json6902(ra, doc, *target, where, &from);
        if (!ok) return ok;
      }
    }
  }
  // replicas
  record_transformer(k, "replicas", "ReplicaCountTransformer", ra);
  if (const auto* list = k.get("replicas"); list && list->is_sequence()) {
    for (const auto* entry : list->items) {
      if (!entry->is_mapping()) continue;
      const auto* count = entry->get("count");
      if (!count) continue;
      set_replicas(ra, std::string(entry->get_string("name")), to_value(*count), config);
    }
  }
  // images
  record_transformer(k, "images", "ImageTagTransformer", ra);
  if (const auto* list = k.get("images"); list && list->is_sequence()) {
    std::vector<ImageRule> rules;
    for (const auto* entry : list->items) {
      if (!entry->is_mapping()) continue;
      contribute(entry);
      ImageRule rule;
      const auto* n = entry->get("name");
      const auto* nn = entry->get("newName");
      const auto* nt = entry->get("newTag");
      const auto* d = entry->get("digest");
      rule.name = n ? scalar_text(*n) : "";
      rule.new_name = nn ? scalar_text(*nn) : "";
      rule.new_tag = nt ? scalar_text(*nt) : "";
      rule.digest = d ? scalar_text(*d) : "";
      rules.push_back(rule);
    }
    set_images(ra, rules, config);
  }
  // replacements
  record_transformer(k, "replacements", "ReplacementTransformer", ra);
  if (const auto* list = k.get("replacements"); list && list->is_sequence()) {
    auto ok = apply_replacements(*list, ra, *this);
    if (!ok) return ok;
  }
  return {};
}

}  // namespace portcullis::kustomize
