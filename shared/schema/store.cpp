#include "shared/schema/store.hpp"

#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "shared/schema/compiler.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::schema {

namespace fs = std::filesystem;
using yaml::Node;

namespace {

struct Gvk {
  std::string group, version, kind;
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  bool operator<(const Gvk& o) const {
    return std::tie(group, version, kind) < std::tie(o.group, o.version, o.kind);
  }
};

std::vector<Gvk> gvks_of(const Node* ext) {
  std::vector<Gvk> out;
  if (!ext || !ext->is_sequence()) return out;
  for (const Node* g : ext->items) {
    if (!g->is_mapping()) continue;
    Gvk gvk{std::string(g->get_string("group")), std::string(g->get_string("version")),
            std::string(g->get_string("kind"))};
    if (!gvk.version.empty() && !gvk.kind.empty()) out.push_back(std::move(gvk));
  }
  return out;
}

// Scope from the API paths: a kind served under /namespaces/{namespace}/ is namespaced.
std::map<Gvk, Scope> scopes_of(const Node* paths) {
  std::map<Gvk, Scope> out;
  if (!paths || !paths->is_mapping()) return out;
  for (const auto& e : paths->entries) {
    bool namespaced = e.key->text.find("/namespaces/{namespace}/") != std::string_view::npos;
    if (!e.value->is_mapping()) continue;
    for (const auto& op : e.value->entries) {
      if (!op.value->is_mapping()) continue;
      const Node* g = op.value->get("x-kubernetes-group-version-kind");
      if (!g || !g->is_mapping()) continue;
      Gvk gvk{std::string(g->get_string("group")), std::string(g->get_string("version")),
              std::string(g->get_string("kind"))};
      auto& scope = out[gvk];
      if (namespaced) scope = Scope::namespaced;
      else if (scope == Scope::unknown) scope = Scope::cluster;
    }
  }
  return out;
}

// The pseudo root under k_object_meta_api_version whose kind records the Kubernetes version.
constexpr std::string_view k_version_kind_prefix = "KubernetesVersion ";

std::string scope_name(Scope s) {
  switch (s) {
    case Scope::namespaced: return "Namespaced";
    case Scope::cluster: return "Cluster";
    default: return "Unknown";
  }
}

}  // namespace

util::Result<ImportSummary> import_openapi_v2(std::string_view openapi_json, const fs::path& out_dir) {
  yaml::Limits limits;
  limits.max_nodes = 50'000'000;
  limits.max_expanded = 100'000'000;
  limits.max_depth = 256;
  auto parsed = yaml::parse_json(openapi_json, limits);
  if (!parsed) {
    auto e = parsed.error();
    e.message = "the OpenAPI document is not valid JSON: " + e.message;
    return util::fail(std::move(e));
  }
  const Node* doc = parsed->documents.empty() ? nullptr : parsed->documents.front().root;
  const Node* defs = doc ? doc->get("definitions") : nullptr;
  if (!doc || !doc->get("swagger") || !defs || !defs->is_mapping())
    return util::fail("not an OpenAPI v2 document (no \"swagger\" and \"definitions\"); fetch it from /openapi/v2");

  auto scopes = scopes_of(doc->get("paths"));
  Compiler compiler;
  ImportSummary summary;
  summary.definitions = defs->entries.size();
  struct Kind {
    Gvk gvk;
    std::string definition;
    Scope scope;
  };
  std::vector<Kind> kinds;
  std::set<Gvk> seen;
  for (const auto& e : defs->entries) {
    std::string name(e.key->text);
    if (name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") {
      auto id = compiler.compile_pointer("#/definitions/" + name, *doc);
      if (!id) return util::fail(id.error());
      compiler.add_root(k_object_meta_api_version, k_object_meta_kind, *id, Scope::unknown);
    }
    auto gvks = gvks_of(e.value->get("x-kubernetes-group-version-kind"));
    // Definitions shared by every group (DeleteOptions, WatchEvent) are not manifests.
    if (gvks.size() != 1) continue;
    const Gvk& gvk = gvks.front();
    if (!seen.insert(gvk).second) continue;
    auto id = compiler.compile_pointer("#/definitions/" + name, *doc);
    if (!id) {
      auto err = id.error();
      err.message = "definition " + name + ": " + err.message;
      return util::fail(std::move(err));
    }
    Scope scope = scopes.contains(gvk) ? scopes[gvk] : Scope::unknown;
    compiler.add_root(gvk.api_version(), gvk.kind, *id, scope);
    kinds.push_back(Kind{gvk, name, scope});
    ++summary.kinds;
    if (scope == Scope::namespaced) ++summary.namespaced;
    if (scope == Scope::cluster) ++summary.cluster;
  }
  if (kinds.empty()) return util::fail("the OpenAPI document declares no kinds (no x-kubernetes-group-version-kind)");
  if (const Node* info = doc->get("info"))
    if (auto version = info->get_string("version"); !version.empty())
      compiler.add_root(k_object_meta_api_version, std::string(k_version_kind_prefix) + std::string(version),
                        compiler.any(), Scope::unknown);
  auto program = compiler.finish();
  if (!program) return util::fail(program.error());

  // Write everything into a fresh sibling directory, then swap it in.
  fs::path parent = out_dir.parent_path().empty() ? fs::path(".") : out_dir.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  auto staging = util::make_temp_dir(parent, "." + out_dir.filename().string() + ".new-");
  if (!staging) return util::fail(staging.error());
  util::TempDirGuard guard(*staging);

  auto bytes = program->bytes();
  if (auto r = util::write_file(*staging / "schemas.bin",
                                std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      !r)
    return util::fail(r.error());

  std::string definitions = "{\"definitions\":";
  yaml::append_json(definitions, *defs);
  definitions += "}\n";
  if (auto r = util::write_file(*staging / "_definitions.json", definitions); !r) return util::fail(r.error());

  std::string index = "{\"kinds\":[\n";
  bool first = true;
  for (const auto& k : kinds) {
    std::string group_dir = k.gvk.group.empty() ? "core" : k.gvk.group;
    fs::path rel = fs::path(group_dir) / k.gvk.version / (k.gvk.kind + ".json");
    fs::create_directories(*staging / rel.parent_path(), ec);
    std::string schema = "{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"$ref\":\"../../_definitions.json#/definitions/" +
                         util::json_escape(k.definition) + "\",\"x-kubernetes-group-version-kind\":[{\"group\":\"" +
                         util::json_escape(k.gvk.group) + "\",\"version\":\"" + util::json_escape(k.gvk.version) +
                         "\",\"kind\":\"" + util::json_escape(k.gvk.kind) + "\"}],\"x-portcullis-scope\":\"" +
                         scope_name(k.scope) + "\"}\n";
    if (auto r = util::write_file(*staging / rel, schema); !r) return util::fail(r.error());
    if (!first) index += ",\n";
    first = false;
    index += "{\"apiVersion\":\"" + util::json_escape(k.gvk.api_version()) + "\",\"kind\":\"" +
             util::json_escape(k.gvk.kind) + "\",\"scope\":\"" + scope_name(k.scope) + "\",\"definition\":\"" +
             util::json_escape(k.definition) + "\",\"file\":\"" + util::json_escape(rel.string()) + "\"}";
  }
  index += "\n]}\n";
  if (auto r = util::write_file(*staging / "index.json", index); !r) return util::fail(r.error());

  if (auto r = util::replace_directory(*staging, out_dir); !r) return util::fail(r.error());
  guard.release();
  return summary;
}

std::optional<std::string> kubernetes_version(const Program& program) {
  // Roots are sorted by (apiVersion, kind): find the internal pseudo roots by bisection.
  std::size_t lo = 0, hi = program.root_count();
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (program.root_at(mid).api_version < k_object_meta_api_version) lo = mid + 1;
    else hi = mid;
  }
  for (std::size_t i = lo; i < program.root_count() && program.root_at(i).api_version == k_object_meta_api_version; ++i)
    if (auto kind = program.root_at(i).kind; kind.starts_with(k_version_kind_prefix))
      return std::string(kind.substr(k_version_kind_prefix.size()));
  return std::nullopt;
}

util::Result<Program> open_store(const fs::path& dir) {
  fs::path bin = dir / "schemas.bin";
  std::error_code ec;
  if (!fs::exists(bin, ec))
    return util::fail("no schema store at " + dir.string() +
                      " (create it with `portcullis schemas import --kubeconfig FILE --out " + dir.string() + "`)");
  return Program::map_file(bin);
}

}  // namespace portcullis::schema
