#include "shared/kube/discovery.hpp"

#include "shared/yaml/parse.hpp"

namespace portcullis::kube {

std::string escape_segment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string Resource::collection_path(std::string_view ns) const {
  if (namespaced && !ns.empty()) return base + "/namespaces/" + escape_segment(ns) + "/" + plural;
  return base + "/" + plural;
}

std::string Resource::object_path(std::string_view ns, std::string_view name) const {
  return collection_path(namespaced ? ns : std::string_view{}) + "/" + escape_segment(name);
}

util::Result<void> Discovery::load(Client& client, const std::string& api_version) {
  std::string base = api_version.find('/') == std::string::npos ? "/api/" + api_version : "/apis/" + api_version;
  auto res = client.get(base);
  if (!res) return util::fail(res.error());
  auto& kinds = m_cache[api_version];
  kinds.clear();
  if (res->status == 404) return {};
  if (res->status != 200)
    return util::fail("discovery of " + api_version + " answered HTTP " + std::to_string(res->status));
  auto parsed = yaml::parse_json(res->body);
  if (!parsed || parsed->documents.empty() || !parsed->documents[0].root)
    return util::fail("discovery of " + api_version + " returned malformed JSON");
  const yaml::Node* resources = parsed->documents[0].root->get("resources");
  if (!resources || !resources->is_sequence()) return {};
  for (const yaml::Node* r : resources->items) {
    std::string_view name = r->get_string("name");
    if (name.empty() || name.find('/') != std::string_view::npos) continue;  // subresources
    const yaml::Node* ns = r->get("namespaced");
    kinds[std::string(r->get_string("kind"))] =
        Resource{base, std::string(name), ns && ns->type == yaml::Type::boolean && ns->value.boolean};
  }
  return {};
}

util::Result<Resource> Discovery::resolve(Client& client, std::string_view api_version, std::string_view kind) {
  std::string av(api_version), k(kind);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto it = m_cache.find(av);
    if (it != m_cache.end()) {
      if (auto r = it->second.find(k); r != it->second.end()) return r->second;
      if (attempt == 1) break;
    }
    if (auto loaded = load(client, av); !loaded) return util::fail(loaded.error());
  }
  return util::fail("the API server serves no kind " + k + " in " + av + " (is its CRD installed?)");
}

void Discovery::forget(std::string_view api_version) { m_cache.erase(std::string(api_version)); }

}  // namespace portcullis::kube
