#pragma once
// Rendering a target: every Kubernetes object the one render (shared/render) yields for its
// directory, read from Git trees (kustomize and Helm come later; SOPS documents are skipped
// with a warning).
#include <string>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/render/environment.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

struct DesiredObject {
  std::string api_version, kind, namespace_, name;  // namespace as written ("" if none)
  std::string path;  // file that declares it, relative to the target's directory
  std::string body;  // the object as compact JSON, as written in Git
  std::string hash;  // SHA-256 of `body`
};

struct Rendered {
  std::vector<DesiredObject> objects;
  std::vector<std::string> warnings;  // files skipped, with the reason
};

struct FileRef {
  std::string path;  // relative to the target's directory
  git::Oid blob;
};

// Renders the given files (blobs), parsing on up to `threads` threads; the result is that of
// a serial render. A file that does not parse, or an object without apiVersion, kind or
// metadata.name, fails the whole render (never apply half a target).
util::Result<Rendered> render_files(const git::Repository& repo, const std::vector<FileRef>& files,
                                    std::size_t threads = 1);

// Renders a target whose directory holds a kustomization (shared/render): the objects of
// kustomize's build of `env_path` in the repository tree `root`, each with `path` its origin file
// relative to the target's directory ("../../base/app.yaml" for a base elsewhere), SOPS-encrypted
// objects skipped with a warning; `files_read` (repository paths) are the render's inputs. A
// build error, or an object without apiVersion, kind or metadata.name, fails the render.
struct KustomizeRender {
  Rendered rendered;
  std::vector<std::string> files_read;
};
util::Result<KustomizeRender> render_kustomized(const git::Repository& repo, const git::Oid& root,
                                                std::string_view env_path);

// Every file of the environment `tree` (at `env_path`) that the one render reads
// (shared/render), paths relative to it.
util::Result<std::vector<FileRef>> manifest_files(const git::Repository& repo, const git::Oid& tree,
                                                  std::string_view env_path,
                                                  const render::Selection& selection);

}  // namespace portcullis::daemon
