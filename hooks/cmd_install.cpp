#include <CLI/CLI.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "hooks/command.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/fs.hpp"

namespace portcullis::hooks {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_marker = "# portcullis-managed-hook";

// Quotes `s` for a POSIX shell: the hook scripts never interpolate anything else.
std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string hook_script(const fs::path& exe, std::string_view name, const fs::path& config) {
  std::string s = "#!/bin/sh\n";
  s += std::string(k_marker) + ": written by `portcullis install`; re-run it to change this file.\n";
  s += "exec " + shell_quote(exe.string()) + " hook " + std::string(name);
  if (!config.empty()) s += " --config " + shell_quote(config.string());
  s += "\n";
  return s;
}

fs::path self_executable() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("portcullis") : p;
}

}  // namespace

Runner setup_install(CLI::App& app) {
  struct Options {
    std::string repo;
    std::string config;
    bool force = false;
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Make a bare repository enforce Portcullis: installs hooks/pre-receive and hooks/post-receive "
      "that run `portcullis hook ...` with the server config, and sets receive.advertisePushOptions. "
      "Idempotent; refuses to replace a hook it did not write unless --force (the old hook is kept as "
      "<hook>.portcullis-backup).");
  app.add_option("--repo", o->repo, "the bare repository (or a .git directory)")->required();
  app.add_option("--config", o->config, "server config (YAML, schemas/server-config.schema.json)");
  app.add_flag("--force", o->force, "replace hooks that Portcullis did not write");
  return [o] {
    auto repo = git::Repository::open(o->repo);
    if (!repo) {
      std::cerr << "portcullis install: " << repo.error().message << "\n";
      return int(k_exit_usage);
    }
    fs::path config;
    if (!o->config.empty()) {
      auto c = policy::load_server_config(o->config);
      if (!c) {
        std::cerr << "portcullis install: " << c.error().describe() << "\n";
        return int(k_exit_usage);
      }
      config = c->source;
    }
    fs::path hooks = repo->git_dir() / "hooks";
    std::error_code ec;
    fs::create_directories(hooks, ec);
    fs::path exe = self_executable();
    // Check both hooks before writing either, so a refusal changes nothing.
    for (std::string_view name : {"pre-receive", "post-receive"}) {
      fs::path path = hooks / name;
      if (!fs::exists(path, ec) && !fs::is_symlink(path, ec)) continue;
      auto current = util::read_file(path, 1 << 20);
      bool ours = current && current->find(k_marker) != std::string::npos;
      if (!ours && !o->force) {
        std::cerr << "portcullis install: " << path.string()
                  << " exists and was not written by Portcullis; refusing to replace it.\n"
                  << "  Move it aside, or re-run with --force to keep it as " << name
                  << ".portcullis-backup and install Portcullis' hook.\n";
        return int(k_exit_usage);
      }
    }
    for (std::string_view name : {"pre-receive", "post-receive"}) {
      fs::path path = hooks / name;
      std::string script = hook_script(exe, name, config);
      auto current = util::read_file(path, 1 << 20);
      if (current && *current == script) {
        std::cout << "unchanged  " << path.string() << "\n";
        continue;
      }
      if (current && current->find(k_marker) == std::string::npos) {
        fs::path backup = path;
        backup += ".portcullis-backup";
        fs::rename(path, backup, ec);
        if (ec) {
          std::cerr << "portcullis install: cannot move " << path << " aside: " << ec.message() << "\n";
          return int(k_exit_usage);
        }
        std::cout << "kept       " << backup.string() << " (the hook that was there)\n";
      }
      if (auto w = util::write_file(path, script, 0755); !w) {
        std::cerr << "portcullis install: " << w.error().message << "\n";
        return int(k_exit_usage);
      }
      std::cout << "installed  " << path.string() << "\n";
    }
    if (auto r = repo->set_config_bool("receive.advertisePushOptions", true); !r) {
      std::cerr << "portcullis install: " << r.error().message << "\n";
      return int(k_exit_usage);
    }
    std::cout << "configured receive.advertisePushOptions=true\n"
              << "Portcullis now judges every push to " << fs::absolute(repo->git_dir()).lexically_normal().string()
              << (config.empty() ? " (built-in server defaults; pass --config to set the schema store)" : "") << "\n";
    return int(k_exit_ok);
  };
}

}  // namespace portcullis::hooks
