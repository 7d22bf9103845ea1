#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "hooks/cli/command.hpp"
#include "hooks/update.hpp"
#include "shared/kustomize/kustomize.hpp"
#include "shared/render/environment.hpp"
#include "shared/util/fs.hpp"

namespace portcullis::hooks::cli {

namespace {

namespace fs = std::filesystem;

// The manifest files of a directory without a kustomization, as the one render reads them.
int render_plain(const fs::path& dir, bool json) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    std::string rel = fs::relative(it->path(), dir).generic_string();
    if (render::use_of({}, "", rel) == render::FileUse::objects) files.push_back(rel);
  }
  if (ec) {
    std::cerr << "portcullis render: cannot list " << dir << ": " << ec.message() << "\n";
    return k_exit_rejected;
  }
  std::sort(files.begin(), files.end());
  std::vector<yaml::Stream> streams;
  std::vector<const yaml::Node*> objects;
  for (const auto& rel : files) {
    auto text = util::read_file(dir / rel);
    if (!text) {
      std::cerr << "portcullis render: " << rel << ": " << text.error().message << "\n";
      return k_exit_rejected;
    }
    auto stream = render::parse_file(rel, *text);
    if (!stream) {
      util::Error e = stream.error();
      e.file = rel;
      std::cerr << "portcullis render: " << e.describe() << " [" << e.rule << "]\n";
      return k_exit_rejected;
    }
    streams.push_back(std::move(*stream));
    auto declared = render::declared_in(streams.back());
    for (const auto& o : declared.objects) objects.push_back(o.node);
  }
  std::cout << (json ? kustomize::nodes_to_json(objects) : kustomize::nodes_to_yaml(objects));
  if (json) std::cout << "\n";
  return k_exit_ok;
}

// The objects environment `env` (a name or a path) applies at `rev` of the repository `repo_path`,
// exactly as the gate validates and the daemon applies them (shared/render).
int render_environment(const std::string& repo_path, const std::string& rev, const std::string& env, bool json) {
  auto repo = git::Repository::open(repo_path);
  if (!repo) {
    std::cerr << "portcullis render: cannot open " << repo_path << ": " << repo.error().message << "\n";
    return k_exit_usage;
  }
  auto commit = repo->resolve_commit(rev);
  if (!commit) {
    std::cerr << "portcullis render: " << rev << ": " << commit.error().message << "\n";
    return k_exit_usage;
  }
  auto tree = repo->commit_tree(*commit);
  if (!tree) {
    std::cerr << "portcullis render: " << tree.error().message << "\n";
    return k_exit_rejected;
  }
  policy::ServerConfig config;
  auto read = render::environments_at(*repo, policy_at(*repo, *commit, config), *tree);
  if (!read) {
    std::cerr << "portcullis render: " << read.error().message << "\n";
    return k_exit_rejected;
  }
  const std::vector<policy::Environment>& environments = *read;
  auto found = std::find_if(environments.begin(), environments.end(),
                            [&](const policy::Environment& e) { return e.name == env || e.path == env; });
  if (found == environments.end()) {
    std::cerr << "portcullis render: no environment " << env << " at " << rev << "\n";
    return k_exit_usage;
  }
  auto kustomized = render::is_kustomized(*repo, *tree, found->path);
  if (!kustomized) {
    std::cerr << "portcullis render: " << kustomized.error().describe() << "\n";
    return k_exit_rejected;
  }
  std::vector<const yaml::Node*> objects;
  std::vector<yaml::Stream> streams;
  std::optional<render::Kustomized> built;
  if (*kustomized) {
    auto b = render::build_environment(*repo, *tree, found->path);
    if (!b) {
      const auto& e = b.error();
      std::cerr << "portcullis render: " << (e.file.empty() ? "" : e.file + ": ") << e.message << " [" << e.rule
                << "]\n";
      return k_exit_rejected;
    }
    built = std::move(*b);
    for (const auto& o : built->objects) objects.push_back(o.node);
  } else {
    auto selection = render::selection_at(*repo, *commit);
    auto env_dir = repo->entry_at(*tree, found->path);
    if (!selection || !env_dir) {
      std::cerr << "portcullis render: " << (!selection ? selection.error().message : env_dir.error().message) << "\n";
      return k_exit_rejected;
    }
    if (*env_dir && (*env_dir)->kind == git::EntryKind::tree) {
      auto files = render::environment_files(*repo, (*env_dir)->oid, found->path, *selection);
      if (!files) {
        std::cerr << "portcullis render: " << files.error().message << "\n";
        return k_exit_rejected;
      }
      streams.reserve(files->size());
      for (const auto& f : *files) {
        auto text = repo->read_blob(f.blob, 16 << 20);
        auto stream = text ? render::parse_file(f.path, *text) : util::Result<yaml::Stream>(util::fail(text.error()));
        if (!stream) {
          util::Error e = stream.error();
          e.file = found->path + "/" + f.path;
          std::cerr << "portcullis render: " << e.describe() << " [" << e.rule << "]\n";
          return k_exit_rejected;
        }
        streams.push_back(std::move(*stream));
        for (const auto& o : render::declared_in(streams.back()).objects) objects.push_back(o.node);
      }
    }
  }
  std::cout << (json ? kustomize::nodes_to_json(objects) + "\n" : kustomize::nodes_to_yaml(objects));
  return k_exit_ok;
}

}  // namespace

Runner setup_render(CLI::App& app) {
  struct Options {
    std::string dir;
    std::string format = "yaml";
    std::string repo, rev = "HEAD", env;
  };
  auto opts = std::make_shared<Options>();
  app.description(
      "print the objects a directory declares, like `kubectl kustomize DIR`: a kustomization is built natively "
      "(no kustomize binary; remote resources and plugins are refused), a directory without one yields its "
      "manifest files as the gate and the reconciler read them. Exit 0 when built, 1 on a build error (its rule "
      "id in brackets), 2 on bad usage.");
  app.add_option("DIR", opts->dir, "the directory to render");
  app.add_option("--repo", opts->repo, "a Git repository: render an environment at a revision instead of DIR");
  app.add_option("--rev", opts->rev, "the revision to render (with --repo; default HEAD)");
  app.add_option("--env", opts->env, "the environment (name or path) to render (with --repo)");
  app.add_option("--format", opts->format, "output format: yaml (documents separated by ---) or json (an array)")
      ->check(CLI::IsMember({"yaml", "json"}));
  return [opts]() -> int {
    if (!opts->repo.empty() || !opts->env.empty()) {
      if (opts->repo.empty() || opts->env.empty() || !opts->dir.empty()) {
        std::cerr << "portcullis render: --repo and --env go together, without DIR\n";
        return k_exit_usage;
      }
      return render_environment(opts->repo, opts->rev, opts->env, opts->format == "json");
    }
    if (opts->dir.empty()) {
      std::cerr << "portcullis render: give DIR, or --repo and --env\n";
      return k_exit_usage;
    }
    std::error_code ec;
    fs::path dir = fs::weakly_canonical(fs::absolute(opts->dir, ec), ec);
    if (ec || !fs::is_directory(dir)) {
      std::cerr << "portcullis render: " << opts->dir << " is not a directory\n";
      return k_exit_usage;
    }
    bool json = opts->format == "json";
    kustomize::DiskSource source("/");
    std::string rel = dir.relative_path().generic_string();
    auto has = kustomize::has_kustomization(source, rel);
    if (!has) {
      std::cerr << "portcullis render: " << has.error().describe() << "\n";
      return k_exit_rejected;
    }
    if (!*has) return render_plain(dir, json);
    auto built = kustomize::build(source, rel);
    if (!built) {
      const auto& e = built.error();
      std::cerr << "portcullis render: " << (e.file.empty() ? "" : "/" + e.file + ": ") << e.message << " ["
                << e.rule << "]\n";
      return k_exit_rejected;
    }
    std::cout << (json ? kustomize::to_json(*built) + "\n" : kustomize::to_yaml(*built));
    return k_exit_ok;
  };
}

}  // namespace portcullis::hooks::cli
