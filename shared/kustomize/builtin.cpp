#include "shared/kustomize/builtin.hpp"

#include "shared/kustomize/replace.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kustomize {

namespace {

std::vector<std::string> strings(const Json& config, const char* key) {
  std::vector<std::string> out;
  auto it = config.find(key);
  if (it == config.end()) return out;
  if (it->is_string()) out.push_back(*it);
  if (it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::vector<FieldSpec> field_specs(const Json& config, const std::vector<FieldSpec>& fallback) {
  auto it = config.find("fieldSpecs");
  if (it == config.end() || !it->is_array()) return fallback;
  std::vector<FieldSpec> out;
  for (const auto& f : *it) {
    if (!f.is_object()) continue;
    out.push_back(FieldSpec{Gvk{f.value("group", ""), f.value("version", ""), f.value("kind", "")},
                            f.value("path", ""), f.value("create", false)});
  }
  return out;
}


util::Result<std::vector<Json>> documents(std::string_view text, std::string_view file) {
  auto stream = parse_yaml_file(text, std::string(file));
  if (!stream) return util::fail(stream.error());
  std::vector<Json> out;
  for (const auto& d : stream->documents)
    if (d.root && d.root->type != yaml::Type::null) out.push_back(to_value(*d.root));
  return out;
}

// The patches of a PatchTransformer-like configuration: `patch` (inline) or `path`.
util::Result<std::vector<Json>> patches_of(const Json& config, BuiltinContext& context) {
  if (auto p = config.find("patch"); p != config.end() && p->is_string()) return documents(p->get<std::string>(), context.file);
  if (auto p = config.find("jsonOp"); p != config.end() && p->is_string()) return documents(p->get<std::string>(), context.file);
  if (auto p = config.find("path"); p != config.end() && p->is_string()) {
    auto text = context.reader.read_file(p->get<std::string>());
    if (!text) return util::fail(text.error());
    return documents(*text, p->get<std::string>());
  }
  return std::vector<Json>{};
}

}  // namespace

util::Result<void> run_builtin_generator(const Json& config, Resources& resources, BuiltinContext& context) {
  std::string kind = config.value("kind", "");
  if (config.value("apiVersion", "") != "builtin" || (kind != "ConfigMapGenerator" && kind != "SecretGenerator"))
    return util::fail(error("generator '" + kind + "' (" + config.value("apiVersion", "") +
                                "): plugins are not run; only built-in ConfigMap and Secret generators are",
                            "kustomize.plugin", context.file));
  GeneratorArgs args;
  args.kustomization = context.file;
  const Json& meta = config.contains("metadata") && config["metadata"].is_object() ? config["metadata"] : Json::object();
  args.name = config.value("name", meta.value("name", ""));
  args.namespace_ = config.value("namespace", meta.value("namespace", ""));
  args.behavior = config.value("behavior", "");
  args.type = config.value("type", "");
  args.literals = strings(config, "literals");
  args.files = strings(config, "files");
  args.envs = strings(config, "envs");
  for (auto& e : strings(config, "env")) args.envs.push_back(e);
  if (auto o = config.find("options"); o != config.end() && o->is_object()) {
    if (o->contains("labels") && (*o)["labels"].is_object()) args.labels = (*o)["labels"];
    if (o->contains("annotations") && (*o)["annotations"].is_object()) args.annotations = (*o)["annotations"];
    args.disable_hash = o->value("disableNameSuffixHash", false);
    args.immutable = o->value("immutable", false);
  }
  auto r = generate(args, kind == "SecretGenerator", context.reader);
  if (!r) return util::fail(r.error());
  r->file = context.file;
  r->configured_by = meta.value("name", "");
  return absorb(resources, std::move(*r), context.max_objects);
}

util::Result<void> run_builtin_transformer(const Json& config, Resources& resources, BuiltinContext& context) {
  std::string kind = config.value("kind", "");
  const Config& defaults = context.config;
  if (config.value("apiVersion", "") != "builtin")
    return util::fail(error("transformer '" + kind + "' (" + config.value("apiVersion", "") +
                                "): plugins are not run; only built-in transformers are",
                            "kustomize.plugin", context.file));
  if (kind == "NamespaceTransformer") {
    Config c = defaults;
    c.namespace_ = field_specs(config, defaults.namespace_);
    std::string ns = config.contains("metadata") ? config["metadata"].value("namespace", "") : "";
    if (ns.empty()) ns = config.value("namespace", "");
    return set_namespace(resources, ns, c);
  }
  if (kind == "PrefixSuffixTransformer" || kind == "PrefixTransformer" || kind == "SuffixTransformer") {
    Config c = defaults;
    c.name_prefix = field_specs(config, defaults.name_prefix);
    c.name_suffix = field_specs(config, defaults.name_suffix);
    add_prefix_suffix(resources, config.value("prefix", ""), config.value("suffix", ""), c);
    return {};
  }
  if (kind == "LabelTransformer") {
    add_labels(resources, config.value("labels", Json::object()), field_specs(config, defaults.common_labels));
    return {};
  }
  if (kind == "AnnotationsTransformer") {
    add_annotations(resources, config.value("annotations", Json::object()),
                    field_specs(config, defaults.common_annotations));
    return {};
  }
  if (kind == "ImageTagTransformer") {
    Json it = config.value("imageTag", Json::object());
    Config c = defaults;
    c.images = field_specs(config, defaults.images);
    set_images(resources, {ImageRule{it.value("name", ""), it.value("newName", ""), it.value("newTag", ""),
                                     it.value("digest", "")}},
               c);
    return {};
  }
  if (kind == "ReplicaCountTransformer") {
    Json rc = config.value("replica", Json::object());
    Config c = defaults;
    c.replicas = field_specs(config, defaults.replicas);
    set_replicas(resources, rc.value("name", ""), rc.value("count", Json(0)), c);
    return {};
  }
  if (kind == "ReplacementTransformer") {
    for (const auto& rep : config.value("replacements", Json::array())) {
      if (rep.contains("path") && rep["path"].is_string()) {
        auto text = context.reader.read_file(rep["path"].get<std::string>());
        if (!text) return util::fail(text.error());
        auto docs = documents(*text, rep["path"].get<std::string>());
        if (!docs) return util::fail(docs.error());
        for (const auto& d : *docs)
          for (const auto& one : d.is_array() ? d : Json::array({d})) {
            auto ok = apply_replacement(one, resources, context.file);
            if (!ok) return ok;
          }
        continue;
      }
      auto ok = apply_replacement(rep, resources, context.file);
      if (!ok) return ok;
    }
    return {};
  }
  if (kind == "PatchTransformer" || kind == "PatchJson6902Transformer") {
    auto patches = patches_of(config, context);
    if (!patches) return util::fail(patches.error());
    bool has_target = config.contains("target") && config["target"].is_object();
    Selector target = selector_from(has_target ? config["target"] : Json::object());
    for (const auto& p : *patches) {
      auto ok = p.is_array() ? apply_json6902(resources, p, target, context.file)
                             : apply_smp(resources, p, has_target ? &target : nullptr, context.file);
      if (!ok) return ok;
    }
    return {};
  }
  if (kind == "PatchStrategicMergeTransformer") {
    std::vector<Json> all;
    for (const auto& path : strings(config, "paths")) {
      auto text = context.reader.read_file(path);
      if (!text) return util::fail(text.error());
      auto docs = documents(*text, path);
      if (!docs) return util::fail(docs.error());
      for (auto& d : *docs) all.push_back(std::move(d));
    }
    if (auto p = config.find("patches"); p != config.end() && p->is_string()) {
      auto docs = documents(p->get<std::string>(), context.file);
      if (!docs) return util::fail(docs.error());
      for (auto& d : *docs) all.push_back(std::move(d));
    }
    for (const auto& p : all) {
      auto ok = apply_smp(resources, p, nullptr, context.file);
      if (!ok) return ok;
    }
    return {};
  }
  return util::fail(error("transformer '" + kind + "' is not a built-in transformer this build runs",
                          "kustomize.plugin", context.file));
}

}  // namespace portcullis::kustomize
