#include "daemon/render.hpp"

#include "shared/manifest/object.hpp"
#include "shared/util/hash.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

util::Result<std::vector<FileRef>> manifest_files(const git::Repository& repo, const git::Oid& tree) {
  std::vector<FileRef> out;
  auto walked = repo.walk(tree, "", [&](const std::string& path, const git::TreeEntry& e) {
    if ((e.kind == git::EntryKind::blob || e.kind == git::EntryKind::executable) &&
        manifest::role_of(path) == manifest::FileRole::manifest)
      out.push_back(FileRef{path, e.oid});
    return true;
  });
  if (!walked) return util::fail(walked.error());
  return out;
}

util::Result<Rendered> render_files(const git::Repository& repo, const std::vector<FileRef>& files) {
  Rendered r;
  r.objects.reserve(files.size());  // mostly one object per file
  for (const auto& f : files) {
    auto text = repo.read_blob(f.blob, 16 << 20);
    if (!text) return util::fail(f.path + ": " + text.error().message);
    auto stream = f.path.ends_with(".json") ? yaml::parse_json(*text) : yaml::parse_yaml(*text);
    if (!stream) {
      auto e = stream.error();
      e.file = f.path;
      return util::fail(std::move(e));
    }
    std::vector<manifest::Object> objects;
    for (std::size_t i = 0; i < stream->documents.size(); ++i) {
      const yaml::Node* root = stream->documents[i].root;
      if (!root) continue;
      if (!root->is_mapping()) return util::fail(f.path + ": document " + std::to_string(i + 1) + " is not an object");
      if (manifest::is_sops(*root)) {
        r.warnings.push_back(f.path + ": SOPS-encrypted document skipped (decryption is not supported yet)");
        continue;
      }
      manifest::collect_objects(*root, i, objects);
    }
    for (const auto& o : objects) {
      if (!o.node->is_mapping() || o.api_version.empty() || o.kind.empty() || o.name.empty())
        return util::fail(f.path + ": an object lacks apiVersion, kind or metadata.name");
      DesiredObject d;
      d.api_version = std::string(o.api_version);
      d.kind = std::string(o.kind);
      d.namespace_ = std::string(o.namespace_);
      d.name = std::string(o.name);
      d.path = f.path;
      d.body = yaml::to_json(*o.node);
      d.hash = util::sha256_hex(d.body);
      r.objects.push_back(std::move(d));
    }
  }
  return r;
}

}  // namespace portcullis::daemon
