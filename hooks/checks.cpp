#include "hooks/checks.hpp"

#include <algorithm>
#include <set>

#include "shared/k8svalidate/validate.hpp"
#include "shared/schema/store.hpp"
#include "shared/schema/validator.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks {

namespace {

constexpr std::string_view k_ignored_root_keys[] = {"sops"};
constexpr std::string_view k_cr_root_keys[] = {"apiVersion", "kind", "metadata"};

Level level_of(policy::Severity s) {
  return s == policy::Severity::warn ? Level::warning : Level::error;
}

std::string object_label(const manifest::Object& o) {
  std::string kind = o.kind.empty() ? std::string("object") : std::string(o.kind);
  if (o.name.empty()) return kind;
  return kind + " \"" + std::string(o.name) + "\"";
}

bool looks_binary(std::string_view data) {
  // git's heuristic: a NUL byte in the first 8000 bytes.
  return data.substr(0, 8000).find('\0') != std::string_view::npos;
}

bool deny_kind_matches(const policy::Policy& p, const manifest::Object& o) {
  std::string qualified = std::string(manifest::group_of(o.api_version)) + "/" + std::string(o.kind);
  for (const auto& k : p.deny_kinds)
    if (k == o.kind || k == qualified) return true;
  return false;
}

// confinement.denied when the environment may not write `o` where it goes: its namespace (as
// written, else the environment's), or a cluster-scoped kind it is not allowed. An object whose
// scope is not known yet (a CRD later in the push) and that names no namespace is left to the
// daemon, which refuses it the same way.
template <class Checker>
void check_confinement(const CheckContext& ctx, const manifest::Object& o, const std::string& label,
                       Checker& checker) {
  schema::Scope scope = schema::Scope::unknown;
  if (ctx.store)
    if (auto r = ctx.store->find(o.api_version, o.kind)) scope = r->scope;
  if (scope == schema::Scope::unknown)
    if (auto crd = ctx.crds.find(o.api_version, o.kind)) scope = crd->root.scope;
  if (scope == schema::Scope::unknown && !o.namespace_.empty()) scope = schema::Scope::namespaced;
  if (scope == schema::Scope::unknown) return;
  const bool namespaced = scope == schema::Scope::namespaced;
  std::string ns;
  if (namespaced) {
    ns = !o.namespace_.empty()                  ? std::string(o.namespace_)
         : !ctx.confinement->namespace_.empty() ? ctx.confinement->namespace_
                                                : ctx.env.namespace_;
    if (ns.empty()) return;
  }
  auto problem = policy::confinement_problem(ctx.confinement->confinement, manifest::group_of(o.api_version),
                                             o.kind, ns, o.name, namespaced);
  if (!problem) return;
  const yaml::Node* at = o.node->at({"metadata", "namespace"});
  if (!at) at = o.node;
  checker.add("confinement.denied", "environment " + ctx.env.name + " may not write this: " + *problem,
              at->mark.line, at->mark.column, label, Level::error);
}

}  // namespace

std::string key_of(const manifest::Object& o, const policy::Environment& env, const schema::Program* store) {
  manifest::Identity id = o.identity();
  schema::Scope scope = schema::Scope::unknown;
  if (store)
    if (auto r = store->find(o.api_version, o.kind)) scope = r->scope;
  if (scope == schema::Scope::cluster)
    id.namespace_.clear();
  else if (id.namespace_.empty())
    id.namespace_ = env.namespace_;
  return object_key(id);
}

namespace {

// The checks of one file, a method per concern; findings go to `m_result` with the file's path.
class FileChecker {
 public:
  FileChecker(const CheckContext& ctx, const std::string& path, Pass pass)
      : m_ctx(ctx), m_path(path), m_pass(pass) {
    if (ctx.store)
      if (auto v = schema::kubernetes_version(*ctx.store)) m_cluster = k8svalidate::parse_version(*v);
  }

  FileResult run(const git::TreeEntry& entry) {
    auto stream = read(entry);
    if (!stream) return std::move(m_result);
    for (const auto& [o, sops] : objects_of(*stream)) check_object(o, sops);
    return std::move(m_result);
  }

  // One rendered object (check_rendered): findings where `output` locates their field (else at
  // the origin line), declarations at the origin line.
  FileResult run_object(const manifest::Object& o, bool sops, std::uint32_t line, const kustomize::Output* output) {
    if (first() && !sops)
      for (const auto& image : manifest::image_fields_of(o))
        m_result.images.push_back(UsedImage{std::string(image.reference), line, 0});
    if (first() && !sops) m_result.applied.push_back(o.identity());
    m_result.checked = true;
    check_object(o, sops);
    for (auto& f : m_result.findings) {
      auto at = output ? output->locate(yaml::Mark{f.line, f.column}) : std::nullopt;
      f.file = at ? std::string(at->file) : f.file;
      f.line = at ? at->line : line;
      f.column = at ? at->column : 0;
    }
    for (auto& d : m_result.declared) {
      d.line = line;
      d.column = 0;
    }
    return std::move(m_result);
  }

  void add(std::string rule, std::string message, std::uint32_t line = 0, std::uint32_t column = 0,
           std::string object = {}, Level level = Level::error) {
    Finding f;
    f.level = level;
    f.rule = std::move(rule);
    f.file = m_path;
    f.line = line;
    f.column = column;
    f.object = std::move(object);
    f.message = std::move(message);
    m_result.findings.push_back(std::move(f));
  }

 private:
  bool first() const { return m_pass == Pass::first; }

  // File rules, the render's reading of the file and its parse; nullopt when nothing in it is
  // judged further.
  std::optional<yaml::Stream> read(const git::TreeEntry& entry) {
    if (entry.kind == git::EntryKind::symlink || entry.kind == git::EntryKind::submodule) {
      if (first())
        add(entry.kind == git::EntryKind::symlink ? "file.symlink" : "file.submodule",
            std::string(entry.kind == git::EntryKind::symlink ? "symbolic links" : "submodules") +
                " are not allowed inside environment " + m_ctx.env.name);
      return std::nullopt;
    }
    std::string_view rel = render::within(m_ctx.env.path, m_path).value_or(m_path);
    render::FileUse use = render::use_of(m_ctx.selection, m_ctx.env.path, rel, entry.kind);
    if (use == render::FileUse::excluded) return std::nullopt;
    auto blob = m_ctx.repo.read_blob(entry.oid, m_ctx.config.max_file_size);
    if (!blob) {
      if (blob.error().rule == "file.too-large")
        add("file.too-large", blob.error().message);
      else
        add("gate.internal", "cannot read the file: " + blob.error().message);
      return std::nullopt;
    }
    if (looks_binary(*blob)) {
      if (first()) add("file.binary", "binary file inside environment " + m_ctx.env.name);
      return std::nullopt;
    }
    if (use == render::FileUse::other) return std::nullopt;
    m_result.checked = true;
    auto stream = render::parse_file(m_path, *blob, m_ctx.config.yaml_limits);
    if (!stream) {
      const auto& e = stream.error();
      if (first()) add(e.rule.empty() ? "yaml.syntax" : e.rule, e.message, e.line, e.column);
      return std::nullopt;
    }
    if (use == render::FileUse::kustomization) return std::nullopt;  // parsed, declares nothing (yet)
    if (first()) m_result.images = images_in(*stream, ImageReading::may_run);
    return std::move(*stream);
  }

  // What the file declares, as the daemon will apply it (the one render), in document order:
  // (object, encrypted). Encrypted documents are declared too (duplicates), never validated.
  std::vector<std::pair<manifest::Object, bool>> objects_of(const yaml::Stream& stream) {
    render::Declared declared = render::declared_in(stream);
    for (std::size_t i : declared.not_objects) {
      const yaml::Node* root = stream.documents[i].root;
      if (first())
        add("k8s.not-an-object",
            "document " + std::to_string(i + 1) + " is a" + (root->is_sequence() ? "n array" : " scalar") +
                ", not a Kubernetes object",
            root->mark.line, root->mark.column);
    }
    std::vector<std::pair<manifest::Object, bool>> objects;
    for (std::size_t i : declared.encrypted) {
      std::vector<manifest::Object> in_doc;
      manifest::collect_objects(*stream.documents[i].root, i, in_doc);
      for (auto& o : in_doc) objects.emplace_back(o, true);
    }
    for (const auto& o : declared.objects) {
      objects.emplace_back(o, false);
      if (first()) m_result.applied.push_back(o.identity());
    }
    std::stable_sort(objects.begin(), objects.end(),
                     [](const auto& a, const auto& b) { return a.first.document < b.first.document; });
    return objects;
  }

  void check_object(const manifest::Object& o, bool sops) {
    const yaml::Node& node = *o.node;
    const std::string label = object_label(o);
    const bool in_store = m_ctx.store && m_ctx.store->find(o.api_version, o.kind).has_value();
    if (!first()) {
      if (in_store || !m_ctx.store || !node.is_mapping() || o.api_version.empty() || o.kind.empty() ||
          o.name.empty() || sops)
        return;
      // Deferred objects had no schema in the first pass: those that name no namespace had no
      // known scope either, and are judged for confinement now that every CRD is known.
      if (m_ctx.confinement && o.namespace_.empty()) check_confinement(m_ctx, o, label, *this);
      return validate(o, label);
    }
    ++m_result.objects;
    if (!identified(o, label)) return;
    if (!sops) {
      sops_stanza(node, label);
      if (m_ctx.confinement) check_confinement(m_ctx, o, label, *this);
    }
    declare(o, sops, label);
    if (!sops) content_rules(o, label);
    if (m_ctx.env.protected_) image_rules(o, label);
    if (!sops && m_ctx.store) validate(o, label);  // ciphertext cannot be validated; no store, no schemas
    if (!sops && in_store) apiserver_rules(o, label);
  }

  // An object has apiVersion, kind and metadata.name.
  bool identified(const manifest::Object& o, const std::string& label) {
    const yaml::Node& node = *o.node;
    if (!node.is_mapping()) {
      add("k8s.not-an-object", "list item is not a Kubernetes object", node.mark.line, node.mark.column);
      return false;
    }
    std::string missing;
    for (auto [value, name] : {std::pair{o.api_version, "apiVersion"}, std::pair{o.kind, "kind"},
                               std::pair{o.name, "metadata.name"}})
      if (value.empty()) missing += (missing.empty() ? "" : ", ") + std::string(name);
    if (missing.empty()) return true;
    add("k8s.missing-field", "missing " + missing, node.mark.line, node.mark.column, label);
    return false;
  }

  // A sops stanza that is not a complete encryption is a mistake or an attempt to pass plaintext
  // as ciphertext: the document is judged as the plaintext it is.
  void sops_stanza(const yaml::Node& node, const std::string& label) {
    if (!manifest::has_sops_stanza(node)) return;
    const yaml::Node* at = &node;
    for (const auto& e : node.entries)
      if (e.key->text == "sops") at = e.key;
    add("content.sops-invalid",
        "the document has a sops stanza but is not SOPS-encrypted: " +
            manifest::sops_problem(node).value_or(""),
        at->mark.line, at->mark.column, label);
  }

  // What the apiserver's own validation refuses in an object of a built-in kind, for the
  // cluster version the store was imported from (k8svalidate). A field the schema already
  // reports (the same path, or a required field it names) is not reported twice.
  void apiserver_rules(const manifest::Object& o, const std::string& label) {
    k8svalidate::Options options;
    options.cluster = m_cluster;
    options.other_builtin = true;
    if (auto r = m_ctx.store->find(o.api_version, o.kind)) options.namespaced = r->scope != schema::Scope::cluster;
    std::vector<k8svalidate::Finding> found;
    k8svalidate::validate(*o.node, options, found);
    const policy::Policy& p = m_ctx.policy;
    for (const auto& f : found) {
      if (m_schema_paths.contains(f.path)) continue;
      policy::Severity severity = p.severity(f.rule);
      if (severity == policy::Severity::off) continue;
      const yaml::Node* at = f.at && f.at->mark.line ? f.at : o.node;
      add(std::string(f.rule), f.text(), at->mark.line, at->mark.column, label, level_of(severity));
    }
    m_schema_paths.clear();
  }

  // The CRD's x-kubernetes-validations (CEL) on a custom resource, with the apiserver's limits.
  void cel_rules(const manifest::Object& o, const cel::Schema& rules, const std::string& label) {
    policy::Severity severity = m_ctx.policy.severity("k8s.crd.cel");
    if (severity == policy::Severity::off) return;
    std::vector<cel::Violation> found;
    cel::validate(rules, *o.node, cel::Budget{}, found);
    for (const auto& v : found) {
      const yaml::Node* at = v.at && v.at->mark.line ? v.at : o.node;
      add("k8s.crd.cel", v.path.empty() ? v.message : v.path + ": " + v.message, at->mark.line, at->mark.column, label,
          level_of(severity));
    }
  }

  // The object is declared even if it has other problems: duplicates are reported too. A CRD
  // declares its kind, and its schema judges custom resources of the push.
  void declare(const manifest::Object& o, bool sops, const std::string& label) {
    const yaml::Node& node = *o.node;
    if (!sops || !o.name.starts_with("ENC["))
      m_result.declared.push_back(
          Declared{key_of(o, m_ctx.env, m_ctx.store), label, node.mark.line, node.mark.column});
    if (!is_crd(o.api_version, o.kind)) return;
    if (auto added = m_ctx.crds.add(node); !added) {
      const auto& e = added.error();
      add("schema.invalid", e.message, e.line ? e.line : node.mark.line, e.line ? e.column : node.mark.column,
          label);
      return;
    }
    const yaml::Node* spec = node.get("spec");
    const yaml::Node* kind = spec ? spec->at({"names", "kind"}) : nullptr;
    if (spec && kind)
      m_result.declared.push_back(
          Declared{crd_key(spec->get_string("group"), kind->text), label, node.mark.line, node.mark.column});
  }

  void content_rules(const manifest::Object& o, const std::string& label) {
    const yaml::Node& node = *o.node;
    const policy::Policy& p = m_ctx.policy;
    if (deny_kind_matches(p, o) && p.severity("content.deny-kind") != policy::Severity::off)
      add("content.deny-kind", "kind " + std::string(o.kind) + " may not be committed to environments",
          node.mark.line, node.mark.column, label, level_of(p.severity("content.deny-kind")));
    const yaml::Node* values = manifest::secret_values(o);
    if (!values || p.severity("content.plaintext-secret") == policy::Severity::off) return;
    add("content.plaintext-secret",
        "Secret carries " + std::string(values == node.get("data") ? "data" : "stringData") +
            " in plaintext (base64 is an encoding, not encryption)",
        values->mark.line, values->mark.column, label, level_of(p.severity("content.plaintext-secret")));
  }

  // Protected environments run pinned images: no :latest, no untagged ones.
  void image_rules(const manifest::Object& o, const std::string& label) {
    const policy::Policy& p = m_ctx.policy;
    for (const auto& image : manifest::image_fields_of(o)) {
      auto ref = manifest::parse_image(image.reference);
      if (!ref.digest.empty()) continue;
      std::string where = image.container.empty() ? "" : " (container " + image.container + ")";
      std::string rule = ref.tag == "latest" ? "content.image-latest"
                         : ref.tag.empty()   ? "content.image-untagged"
                                             : "";
      if (rule.empty() || p.severity(rule) == policy::Severity::off) continue;
      add(rule,
          "image " + std::string(image.reference) + where +
              (ref.tag == "latest" ? " uses :latest" : " has no tag or digest") +
              " in protected environment " + m_ctx.env.name,
          image.node->mark.line, image.node->mark.column, label, level_of(p.severity(rule)));
    }
  }

  // The schema store, then the CRDs of the push and repository; without either, the object is
  // deferred (first pass) or has no schema (deferred pass).
  void validate(const manifest::Object& o, const std::string& label) {
    const yaml::Node& node = *o.node;
    schema::ValidateOptions options;
    options.strictness = m_ctx.policy.strict ? schema::Strictness::strict : schema::Strictness::lenient;
    options.ignored_root_keys = k_ignored_root_keys;
    std::vector<schema::Violation> violations;
    if (auto root = m_ctx.store->find(o.api_version, o.kind)) {
      schema::validate(*m_ctx.store, root->node, node, options, violations);
    } else if (auto crd = m_ctx.crds.find(o.api_version, o.kind)) {
      options.ignored_root_keys = k_cr_root_keys;
      schema::validate(*crd->program, crd->root.node, node, options, violations);
      if (crd->rules) cel_rules(o, *crd->rules, label);
      if (auto meta = m_ctx.store->find(schema::k_object_meta_api_version, schema::k_object_meta_kind))
        if (const yaml::Node* m = node.get("metadata")) {
          std::vector<schema::Violation> meta_violations;
          schema::validate(*m_ctx.store, meta->node, *m, options, meta_violations);
          for (auto& v : meta_violations) {
            v.path = v.path.empty() ? "metadata" : "metadata." + v.path;
            violations.push_back(std::move(v));
          }
        }
    } else if (first()) {
      m_result.deferred = true;
      return;
    } else {
      bool other_version = m_ctx.crds.declares(std::string(manifest::group_of(o.api_version)), o.kind);
      std::string message = "no schema for " + std::string(o.api_version) + "/" + std::string(o.kind) +
                            (other_version ? " (a CRD in the repository declares other versions of this kind)"
                                           : " in the server's schema store or in a CRD in the repository");
      bool warn = m_ctx.policy.missing_schema == policy::MissingSchema::warn;
      add("schema.missing", message, node.mark.line, node.mark.column, label,
          warn ? Level::warning : Level::error);
      return;
    }
    m_schema_paths.clear();
    for (auto& v : violations) {
      m_schema_paths.insert(v.path);
      if (v.rule == "schema.required") {
        auto open = v.message.find('"'), close = v.message.rfind('"');
        if (open != std::string::npos && close > open)
          m_schema_paths.insert((v.path.empty() ? "" : v.path + ".") + v.message.substr(open + 1, close - open - 1));
      }
      add(v.rule, v.path.empty() ? v.message : v.path + ": " + v.message, v.mark.line, v.mark.column, label);
    }
  }

  const CheckContext& m_ctx;
  const std::string& m_path;
  const Pass m_pass;
  std::optional<k8svalidate::Version> m_cluster;  // the version the schema store was imported from
  std::set<std::string> m_schema_paths;           // paths the schema reported, for the object being checked
  FileResult m_result;
};

}  // namespace

FileResult check_file(const CheckContext& ctx, const std::string& path, const git::TreeEntry& entry,
                      Pass pass) {
  return FileChecker(ctx, path, pass).run(entry);
}

FileResult check_rendered(const CheckContext& ctx, const std::string& file, std::uint32_t line,
                          const manifest::Object& object, bool encrypted, Pass pass,
                          const kustomize::Output* output) {
  return FileChecker(ctx, file, pass).run_object(object, encrypted, line, output);
}

std::optional<std::vector<std::string>> rendered_images(const git::Repository& repo, const git::Oid& root,
                                                        std::string_view env_path, std::optional<bool> kustomized) {
  if (!kustomized) kustomized = render::is_kustomized(repo, root, env_path).value_or(false);
  if (!*kustomized) return std::nullopt;
  auto built = render::build_environment(repo, root, env_path);
  if (!built) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& o : built->objects)
    for (const auto& image : manifest::image_fields_of(o)) out.emplace_back(image.reference);
  return out;
}

std::string image_key(std::string_view reference) {
  return "i\x1f" + std::string(reference);
}

std::vector<UsedImage> images_in(const yaml::Stream& stream, ImageReading reading) {
  std::vector<UsedImage> out;
  for (const auto& o : render::declared_in(stream).objects)
    for (const auto& image :
         reading == ImageReading::runs ? manifest::images_of(o) : manifest::image_fields_of(o))
      out.push_back(UsedImage{std::string(image.reference), image.node->mark.line, image.node->mark.column});
  return out;
}

std::vector<UsedImage> images_in_blob(const git::Repository& repo, const std::string& path,
                                      const git::Oid& blob, const policy::ServerConfig& config) {
  if (manifest::role_of(path) != manifest::FileRole::manifest) return {};
  auto text = repo.read_blob(blob, config.max_file_size);
  if (!text || looks_binary(*text)) return {};
  auto stream = render::parse_file(path, *text, config.yaml_limits);
  if (!stream) return {};
  return images_in(*stream, ImageReading::may_run);
}

std::vector<IndexRecord> index_records(const git::Repository& repo, const std::string& path,
                                       const git::TreeEntry& entry, const policy::Environment& env,
                                       const policy::ServerConfig& config, const schema::Program* store,
                                       const render::Selection& selection) {
  std::vector<IndexRecord> out;
  if (render::use_of(selection, env.path, path, entry.kind) != render::FileUse::objects) return out;
  auto blob = repo.read_blob(entry.oid, config.max_file_size);
  if (!blob || looks_binary(*blob)) return out;
  auto stream = render::parse_file(path, *blob, config.yaml_limits);
  if (!stream) return out;
  // What the environment is counted as running compares like with like with what a push brings
  // (an operator's spec.image in staging promotes the same field in prod).
  for (const auto& image : images_in(*stream, ImageReading::may_run))
    out.push_back(IndexRecord{image_key(image.reference), path});
  render::Declared declared = render::declared_in(*stream);
  std::vector<manifest::Object> objects = std::move(declared.objects);
  for (std::size_t i : declared.encrypted) manifest::collect_objects(*stream->documents[i].root, i, objects);
  for (const auto& o : objects) {
    if (!o.node->is_mapping() || o.api_version.empty() || o.kind.empty() || o.name.empty()) continue;
    if (manifest::is_sops(*o.node) && o.name.starts_with("ENC[")) continue;
    out.push_back(IndexRecord{key_of(o, env, store), path});
    if (is_crd(o.api_version, o.kind)) {
      const yaml::Node* spec = o.node->get("spec");
      const yaml::Node* kind = spec ? spec->at({"names", "kind"}) : nullptr;
      if (spec && kind) out.push_back(IndexRecord{crd_key(spec->get_string("group"), kind->text), path});
    }
  }
  return out;
}

}  // namespace portcullis::hooks
