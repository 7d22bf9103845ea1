#include "hooks/install.hpp"

#include <sys/stat.h>

#include <array>
#include <system_error>

#include "shared/util/fs.hpp"

namespace portcullis::hooks {

namespace fs = std::filesystem;

namespace {

struct LayoutName {
  Layout layout;
  std::string_view name;
};

constexpr std::array<LayoutName, 4> k_layouts{{
    {Layout::plain, "plain"},
    {Layout::gitolite, "gitolite"},
    {Layout::gitlab, "gitlab"},
    {Layout::gitea, "gitea"},
}};

constexpr std::string_view k_gitlab_prefix = "GL-HOOK-ERR: ";
constexpr std::string_view k_backup_suffix = ".portcullis-backup";

// Quotes `s` for a POSIX shell: the hook scripts never interpolate anything else.
std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool exists_or_link(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

bool ours(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(p, ec))) return false;
  auto current = util::read_file(p, 1 << 20);
  return current && current->find(k_hook_marker) != std::string::npos;
}

// <file>.portcullis-backup, or -2, -3, ... when that is taken: an earlier backup is never lost.
fs::path free_backup_name(const fs::path& p) {
  fs::path first = p;
  first += k_backup_suffix;
  if (!exists_or_link(first)) return first;
  for (int i = 2;; ++i) {
    fs::path next = first;
    next += "-" + std::to_string(i);
    if (!exists_or_link(next)) return next;
  }
}

// Writes one hook atomically. In a directory whose every executable the host runs, the new
// file is prepared one level up and renamed into place, so no half-written script is ever run.
util::Result<void> write_hook(const HookFile& f, bool staged) {
  if (!staged) return util::write_file(f.path, f.content, 0755);
  fs::path dir = f.path.parent_path();
  fs::path stage =
      dir.parent_path() / ("." + dir.filename().string() + "-" + f.path.filename().string() + ".new");
  if (auto w = util::write_file(stage, f.content, 0755); !w) return w;
  std::error_code ec;
  fs::rename(stage, f.path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(stage, ignored);
    return util::fail("cannot rename " + stage.string() + " to " + f.path.string() + ": " + ec.message());
  }
  return {};
}

}  // namespace

std::string_view layout_name(Layout layout) {
  for (const auto& l : k_layouts)
    if (l.layout == layout) return l.name;
  return "plain";
}

std::optional<Layout> parse_layout(std::string_view name) {
  for (const auto& l : k_layouts)
    if (l.name == name) return l.layout;
  return std::nullopt;
}

std::string hook_script(Layout layout, const fs::path& exe, std::string_view name, const fs::path& config) {
  std::string s = "#!/bin/sh\n";
  s += std::string(k_hook_marker) + ": written by `portcullis install`; re-run it to change this file.\n";
  s += "exec " + shell_quote(exe.string()) + " hook " + std::string(name);
  if (layout != Layout::plain) s += " --layout " + std::string(layout_name(layout));
  if (!config.empty()) s += " --config " + shell_quote(config.string());
  s += "\n";
  return s;
}

std::vector<HookFile> plan_hooks(const InstallTarget& target, const fs::path& exe, const fs::path& config) {
  std::vector<HookFile> files;
  for (std::string_view name : {"pre-receive", "post-receive"}) {
    std::string hook(name);
    fs::path path;
    switch (target.layout) {
      case Layout::plain: path = target.dir / "hooks" / hook; break;
      case Layout::gitolite:
        path = target.scope == GitoliteScope::common
                   ? target.dir / "hooks" / "common" / hook
                   : target.dir / "hooks" / "repo-specific" / ("portcullis-" + hook);
        break;
      case Layout::gitlab: path = target.dir / "custom_hooks" / (hook + ".d") / "portcullis"; break;
      case Layout::gitea: path = target.dir / "hooks" / (hook + ".d") / "portcullis"; break;
    }
    files.push_back(HookFile{path, hook_script(target.layout, exe, name, config)});
  }
  return files;
}

bool runs_whole_directory(Layout layout) {
  return layout == Layout::gitlab || layout == Layout::gitea;
}

util::Result<std::vector<Written>> write_hooks(const std::vector<HookFile>& files, Overwrite overwrite,
                                               bool strip_exec) {
  // Check every file before writing any, so a refusal changes nothing.
  if (overwrite == Overwrite::refuse) {
    for (const auto& f : files) {
      if (!exists_or_link(f.path) || ours(f.path)) continue;
      return util::fail(f.path.string() +
                        " exists and was not written by Portcullis; refusing to replace it.\n"
                        "  Move it aside, or re-run with --force to keep it as " +
                        f.path.filename().string() + std::string(k_backup_suffix) +
                        " and install Portcullis' hook.");
    }
  }
  std::vector<Written> done;
  for (const auto& f : files) {
    Written w{f.path, Outcome::installed, {}};
    std::error_code ec;
    fs::create_directories(f.path.parent_path(), ec);
    if (ec) return util::fail("cannot create " + f.path.parent_path().string() + ": " + ec.message());
    if (exists_or_link(f.path)) {
      if (ours(f.path)) {
        auto current = util::read_file(f.path, 1 << 20);
        if (current && *current == f.content) {
          w.outcome = Outcome::unchanged;
          done.push_back(std::move(w));
          continue;
        }
        w.outcome = Outcome::updated;
      } else {
        w.backup = free_backup_name(f.path);
        fs::rename(f.path, w.backup, ec);
        if (ec) return util::fail("cannot move " + f.path.string() + " aside: " + ec.message());
        if (strip_exec && fs::is_regular_file(fs::symlink_status(w.backup, ec))) {
          fs::permissions(w.backup, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                          fs::perm_options::remove, ec);
          if (ec)
            return util::fail("cannot take the execute bits off " + w.backup.string() + ": " + ec.message());
        }
      }
    }
    if (auto written = write_hook(f, strip_exec); !written) return util::fail(written.error());
    done.push_back(std::move(w));
  }
  return done;
}

std::string adapt_output(Layout layout, std::string_view text, bool rejection) {
  if (layout != Layout::gitlab || !rejection) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16 * k_gitlab_prefix.size());
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    out += k_gitlab_prefix;
    out += line;
    out += '\n';
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace portcullis::hooks
