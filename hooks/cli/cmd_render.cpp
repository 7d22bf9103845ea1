#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>

#include "hooks/cli/command.hpp"
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

}  // namespace

Runner setup_render(CLI::App& app) {
  struct Options {
    std::string dir;
    std::string format = "yaml";
  };
  auto opts = std::make_shared<Options>();
  app.description(
      "print the objects a directory declares, like `kubectl kustomize DIR`: a kustomization is built natively "
      "(no kustomize binary; remote resources and plugins are refused), a directory without one yields its "
      "manifest files as the gate and the reconciler read them. Exit 0 when built, 1 on a build error (its rule "
      "id in brackets), 2 on bad usage.");
  app.add_option("DIR", opts->dir, "the directory to render")->required();
  app.add_option("--format", opts->format, "output format: yaml (documents separated by ---) or json (an array)")
      ->check(CLI::IsMember({"yaml", "json"}));
  return [opts]() -> int {
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
