#include "hooks/crds.hpp"

#include "shared/k8svalidate/validate.hpp"
#include "shared/manifest/object.hpp"
#include "shared/schema/store.hpp"

namespace portcullis::hooks {

bool is_crd(std::string_view api_version, std::string_view kind) {
  return kind == "CustomResourceDefinition" && manifest::group_of(api_version) == "apiextensions.k8s.io";
}

CrdRegistry::CrdRegistry() : m_compiler(std::make_unique<schema::Compiler>()) {}
CrdRegistry::~CrdRegistry() = default;

util::Result<void> CrdRegistry::add(const yaml::Node& crd) {
  const yaml::Node* spec = crd.get("spec");
  if (!spec || !spec->is_mapping()) return util::fail("CustomResourceDefinition has no spec", "schema.invalid");
  std::string group(spec->get_string("group"));
  std::string kind(spec->at({"names", "kind"}) ? spec->at({"names", "kind"})->text : std::string_view{});
  if (group.empty() || kind.empty())
    return util::fail("CustomResourceDefinition lacks spec.group or spec.names.kind", "schema.invalid");
  schema::Scope scope = spec->get_string("scope") == "Cluster" ? schema::Scope::cluster : schema::Scope::namespaced;
  // v1beta1 kept one schema for all versions in spec.validation.
  const yaml::Node* shared_schema = spec->at({"validation", "openAPIV3Schema"});
  std::vector<std::pair<std::string, const yaml::Node*>> versions;
  bool unserved = false;
  if (const yaml::Node* vs = spec->get("versions"); vs && vs->is_sequence()) {
    for (const yaml::Node* v : vs->items) {
      if (!v->is_mapping()) continue;
      // The apiserver refuses objects of a version that is not served.
      if (const yaml::Node* served = v->get("served"); served && served->type == yaml::Type::boolean && !served->value.boolean) {
        unserved = true;
        continue;
      }
      const yaml::Node* s = v->at({"schema", "openAPIV3Schema"});
      versions.emplace_back(std::string(v->get_string("name")), s ? s : shared_schema);
    }
  } else if (auto v = spec->get_string("version"); !v.empty()) {
    versions.emplace_back(std::string(v), shared_schema);
  }
  if (versions.empty())
    return util::fail(unserved ? "CustomResourceDefinition declares no served versions"
                               : "CustomResourceDefinition declares no versions",
                      "schema.invalid");
  // Compile every version before registering any, so a CRD with one broken version serves none.
  std::vector<std::pair<std::string, schema::NodeId>> compiled_versions;
  m_compiler->forget_nodes();  // this CRD's nodes belong to a parse the last CRD's did not
  for (const auto& [version, s] : versions) {
    schema::NodeId id;
    if (s) {
      auto compiled = m_compiler->compile(*s, *s);
      if (!compiled) {
        auto e = compiled.error();
        e.message = "the openAPIV3Schema of version " + version + " does not compile: " + e.message;
        e.rule = "schema.invalid";
        return util::fail(std::move(e));
      }
      id = *compiled;
    } else {
      id = m_compiler->any();
    }
    compiled_versions.emplace_back(version, id);
  }
  for (const auto& [version, id] : compiled_versions) m_compiler->add_root(group + "/" + version, kind, id, scope);
  // The CEL rules of each version; rules that do not compile are left out (k8svalidate reports
  // them under k8s.crd.cel.compile).
  for (const auto& [version, s] : versions) {
    auto& slot = m_cel[{group + "/" + version, kind}];
    slot.reset();
    if (!m_rules || !s) continue;
    std::vector<cel::SchemaProblem> problems;
    slot = cel::compile_schema(*s, "", *m_rules, problems);
  }
  m_kinds[{group, kind}] = true;
  m_dirty = true;
  return {};
}

bool CrdRegistry::declares(std::string_view group, std::string_view kind) const {
  return m_kinds.contains({std::string(group), std::string(kind)});
}

std::optional<CrdRegistry::Found> CrdRegistry::find(std::string_view api_version, std::string_view kind) {
  if (m_kinds.empty()) return std::nullopt;
  if (m_dirty || !m_program) {
    auto p = m_compiler->finish();
    if (!p) return std::nullopt;
    m_program = std::move(*p);
    m_dirty = false;
  }
  auto root = m_program->find(api_version, kind);
  if (!root) return std::nullopt;
  auto rules = m_cel.find({std::string(api_version), std::string(kind)});
  return Found{&*m_program, *root, rules != m_cel.end() ? rules->second.get() : nullptr};
}

std::optional<cel::RuleFeatures> rule_features_of(const schema::Program* store) {
  if (!store) return std::nullopt;
  std::optional<k8svalidate::Version> version;
  if (auto v = schema::kubernetes_version(*store)) version = k8svalidate::parse_version(*v);
  for (const auto& r : k8svalidate::rules())
    if (r.id == "k8s.crd.cel" && !k8svalidate::applies(r, version)) return std::nullopt;
  return version ? cel::rule_features(version->major, version->minor) : cel::RuleFeatures{};
}

}  // namespace portcullis::hooks
