#include "daemon/render.hpp"

#include <exception>
#include <optional>
#include <thread>

#include "shared/manifest/object.hpp"
#include "shared/render/environment.hpp"
#include "shared/util/hash.hpp"
#include "shared/util/parallel.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

namespace {
std::string relative_path(std::string_view env_path, std::string_view file);
}

util::Result<std::vector<FileRef>> manifest_files(const git::Repository& repo, const git::Oid& tree,
                                                  std::string_view env_path,
                                                  const render::Selection& selection) {
  auto files = render::environment_files(repo, tree, env_path, selection);
  if (!files) return util::fail(files.error());
  std::vector<FileRef> out;
  out.reserve(files->size());
  for (auto& f : *files) out.push_back(FileRef{std::move(f.path), f.blob});
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
  auto stream = render::parse_file(path, text);
  if (!stream) {
    auto e = stream.error();
    e.file = path;
    return util::fail(std::move(e));
  }
  // What the file declares is decided by the one render, as the gate validated it.
  render::Declared declared = render::declared_in(*stream);
  if (!declared.not_objects.empty())
    return util::fail(path + ": document " + std::to_string(declared.not_objects.front() + 1) +
                      " is not an object");
  if (!declared.encrypted.empty())
    r.warnings.push_back(path + ": SOPS-encrypted document skipped (decryption is not supported yet)");
  const std::vector<manifest::Object>& objects = declared.objects;
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
  // Files go in chunks. This thread reads the blobs of a chunk, one after the other (a libgit2
  // repository is used by one thread at a time), while the chunk before is parsed on the
  // threads; results are taken in file order, so objects, warnings and the error reported are
  // those of a serial render. A chunk ends after 64 files or past 32 MiB of text (a file may
  // have 16): two chunks are held at a time.
  constexpr std::size_t k_chunk = 64, k_chunk_bytes = 32 << 20;
  struct Chunk {
    std::size_t begin = 0;
    std::vector<std::string> texts;
    std::vector<std::optional<util::Result<FileRender>>> results;  // set early by a failed read
    bool read_failed = false;
  };
  auto read_chunk = [&](std::size_t begin) {
    Chunk c;
    c.begin = begin;
    std::size_t bytes = 0;
    for (std::size_t i = begin; i < files.size() && i - begin < k_chunk && bytes <= k_chunk_bytes; ++i) {
      auto text = repo.read_blob(files[i].blob, 16 << 20);
      if (!text) {  // reported after what comes before it
        c.texts.emplace_back();
        c.results.emplace_back(util::fail(files[i].path + ": " + text.error().message));
        c.read_failed = true;
        break;
      }
      bytes += text->size();
      c.texts.push_back(std::move(*text));
      c.results.emplace_back(std::nullopt);
    }
    return c;
  };
  auto parse_chunk = [&](Chunk& c) {
    util::parallel_for(c.texts.size(), threads, [&](std::size_t, std::size_t k) {
      if (c.results[k]) return;
      c.results[k] = render_text(files[c.begin + k].path, c.texts[k]);
      std::string().swap(c.texts[k]);
    });
  };
  Chunk current = read_chunk(0);
  while (!current.texts.empty()) {
    std::size_t next_begin = current.begin + current.texts.size();
    Chunk next;
    std::exception_ptr failure;
    {
      std::jthread parser([&] {
        try {
          parse_chunk(current);
        } catch (...) {
          failure = std::current_exception();
        }
      });
      if (!current.read_failed && next_begin < files.size()) next = read_chunk(next_begin);
    }
    if (failure) std::rethrow_exception(failure);
    for (auto& res : current.results) {
      if (!*res) return util::fail(std::move(res->error()));
      FileRender& f = **res;
      for (auto& o : f.objects) r.objects.push_back(std::move(o));
      for (auto& w : f.warnings) r.warnings.push_back(std::move(w));
    }
    current = std::move(next);
  }
  return r;
}

namespace {
std::string relative_path(std::string_view env_path, std::string_view file) {
  if (auto rel = render::within(env_path, file)) return std::string(*rel);
  // Up from the target's directory to the common ancestor, then down to the file.
  std::string up;
  std::string_view dir = env_path;
  while (!dir.empty()) {
    if (file.starts_with(dir) && file.size() > dir.size() && file[dir.size()] == '/')
      return up + std::string(file.substr(dir.size() + 1));
    up += "../";
    auto slash = dir.rfind('/');
    dir = slash == std::string_view::npos ? std::string_view() : dir.substr(0, slash);
  }
  return up + std::string(file);
}
}  // namespace

util::Result<KustomizeRender> render_kustomized(const git::Repository& repo, const git::Oid& root,
                                                std::string_view env_path) {
  auto built = render::build_environment(repo, root, env_path);
  if (!built) return util::fail(built.error());
  KustomizeRender k;
  for (const auto& o : built->encrypted)
    k.rendered.warnings.push_back(built->output.objects[o.document].file +
                                  ": SOPS-encrypted object skipped (decryption is not supported yet)");
  k.rendered.objects.reserve(built->objects.size());
  for (const auto& o : built->objects) {
    const auto& origin = built->output.objects[o.document];
    if (!o.node->is_mapping() || o.api_version.empty() || o.kind.empty() || o.name.empty())
      return util::fail(origin.file + ":" + std::to_string(origin.line) +
                        ": a rendered object lacks apiVersion, kind or metadata.name");
    DesiredObject d;
    d.api_version = std::string(o.api_version);
    d.kind = std::string(o.kind);
    d.namespace_ = std::string(o.namespace_);
    d.name = std::string(o.name);
    d.path = relative_path(env_path, origin.file);
    d.body = yaml::to_json(*o.node);
    d.hash = util::sha256_hex(d.body);
    k.rendered.objects.push_back(std::move(d));
  }
  k.files_read = std::move(built->output.files_read);
  return k;
}

}  // namespace portcullis::daemon
