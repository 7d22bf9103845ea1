#include "daemon/render.hpp"

#include <algorithm>
#include <optional>

#include "shared/manifest/object.hpp"
#include "shared/util/hash.hpp"
#include "shared/util/parallel.hpp"
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

namespace {

struct FileRender {
  std::vector<DesiredObject> objects;
  std::vector<std::string> warnings;
};

// The objects one file declares.
util::Result<FileRender> render_text(const std::string& path, std::string_view text) {
  FileRender r;
  auto stream = path.ends_with(".json") ? yaml::parse_json(text) : yaml::parse_yaml(text);
  if (!stream) {
    auto e = stream.error();
    e.file = path;
    return util::fail(std::move(e));
  }
  std::vector<manifest::Object> objects;
  for (std::size_t i = 0; i < stream->documents.size(); ++i) {
    const yaml::Node* root = stream->documents[i].root;
    if (!root) continue;
    if (!root->is_mapping()) return util::fail(path + ": document " + std::to_string(i + 1) + " is not an object");
    if (manifest::is_sops(*root)) {
      r.warnings.push_back(path + ": SOPS-encrypted document skipped (decryption is not supported yet)");
      continue;
    }
    manifest::collect_objects(*root, i, objects);
  }
  r.objects.reserve(objects.size());
  for (const auto& o : objects) {
    if (!o.node->is_mapping() || o.api_version.empty() || o.kind.empty() || o.name.empty())
      return util::fail(path + ": an object lacks apiVersion, kind or metadata.name");
    DesiredObject d;
    d.api_version = std::string(o.api_version);
    d.kind = std::string(o.kind);
    d.namespace_ = std::string(o.namespace_);
    d.name = std::string(o.name);
    d.path = path;
    d.body = yaml::to_json(*o.node);
    d.hash = util::sha256_hex(d.body);
    r.objects.push_back(std::move(d));
  }
  return r;
}

}  // namespace

util::Result<Rendered> render_files(const git::Repository& repo, const std::vector<FileRef>& files,
                                    std::size_t threads) {
  Rendered r;
  r.objects.reserve(files.size());  // mostly one object per file
  // Files go in chunks: their blobs read here, one after the other (a libgit2 repository is
  // used by one thread at a time), then parsed on the threads; results are taken in file
  // order, so objects, warnings and the error reported are those of a serial render.
  // A chunk also ends past 64 MiB of text (a file may have 16): a serial render held one file.
  constexpr std::size_t k_chunk = 256, k_chunk_bytes = 64 << 20;
  std::vector<std::string> texts;
  std::vector<std::optional<util::Result<FileRender>>> results;
  for (std::size_t begin = 0, n = 0; begin < files.size(); begin += n) {
    n = std::min(k_chunk, files.size() - begin);
    texts.assign(n, {});
    results.assign(n, std::nullopt);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto text = repo.read_blob(files[begin + i].blob, 16 << 20);
      if (!text) {  // reported after what comes before it
        results[i] = util::fail(files[begin + i].path + ": " + text.error().message);
        n = i + 1;
        break;
      }
      texts[i] = std::move(*text);
      bytes += texts[i].size();
      if (bytes > k_chunk_bytes) n = i + 1;  // ends the loop
    }
    util::parallel_for(n, threads, [&](std::size_t, std::size_t k) {
      if (results[k]) return;
      results[k] = render_text(files[begin + k].path, texts[k]);
      std::string().swap(texts[k]);
    });
    for (std::size_t k = 0; k < n; ++k) {
      auto& res = results[k];
      if (!*res) return util::fail(std::move(res->error()));
      FileRender& f = **res;
      for (auto& o : f.objects) r.objects.push_back(std::move(o));
      for (auto& w : f.warnings) r.warnings.push_back(std::move(w));
    }
  }
  return r;
}

}  // namespace portcullis::daemon
