#pragma once
// Where `portcullis install` puts the hooks for each kind of Git hosting, what the hook scripts
// say, how they are written (idempotently, never over a hook someone else wrote), and how the
// hook adapts what it prints to the host.
//
//   plain     <git dir>/hooks/pre-receive, post-receive (git runs them itself)
//   gitolite  <LOCAL_CODE>/hooks/common/pre-receive, post-receive (gitolite links them into
//             every repository), or <LOCAL_CODE>/hooks/repo-specific/portcullis-pre-receive,
//             portcullis-post-receive (enabled per repository with `option hook.pre-receive`)
//   gitlab    <git dir>/custom_hooks/pre-receive.d/portcullis, post-receive.d/portcullis
//   gitea     <git dir>/hooks/pre-receive.d/portcullis, post-receive.d/portcullis
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::hooks {

enum class Layout { plain, gitolite, gitlab, gitea };

// "plain", "gitolite", "gitlab" or "gitea".
std::string_view layout_name(Layout layout);
// The layout named `name`; nullopt for any other name.
std::optional<Layout> parse_layout(std::string_view name);

// Gitolite's two ways of adding hooks: for every repository, or per repository.
enum class GitoliteScope { common, repo_specific };

struct InstallTarget {
  Layout layout = Layout::plain;
  // plain, gitlab, gitea: the repository's git directory; gitolite: its LOCAL_CODE directory.
  std::filesystem::path dir;
  GitoliteScope scope = GitoliteScope::common;  // gitolite only
};

struct HookFile {
  std::filesystem::path path;
  std::string content;
};

// The marker every script Portcullis writes carries; a file without it is someone else's.
inline constexpr std::string_view k_hook_marker = "# portcullis-managed-hook";

// The hook script that runs `exe hook NAME` (NAME is "pre-receive" or "post-receive") with the
// layout (not for plain) and the server config (when `config` is not empty), every argument
// quoted for /bin/sh.
std::string hook_script(Layout layout, const std::filesystem::path& exe, std::string_view name,
                        const std::filesystem::path& config);

// The pre-receive and post-receive scripts of `target`, in that order.
std::vector<HookFile> plan_hooks(const InstallTarget& target, const std::filesystem::path& exe,
                                 const std::filesystem::path& config);

// True when the layout's files live in a directory whose every executable the host runs
// (pre-receive.d/): a file kept aside there must lose its execute bits.
bool runs_whole_directory(Layout layout);

enum class Overwrite { refuse, keep_backup };
enum class Outcome { installed, updated, unchanged };

struct Written {
  std::filesystem::path path;
  Outcome outcome = Outcome::installed;
  std::filesystem::path backup;  // where the foreign file that was there went; empty if none
};

// Writes `files` (mode 0755, atomically, creating directories). A file whose content is already
// the same is left alone (unchanged); one Portcullis wrote before is replaced (updated). When
// any of them exists and was not written by Portcullis, nothing is written and the error says
// which and what to do, unless `overwrite` is keep_backup: then the foreign file is renamed to
// <file>.portcullis-backup first (without execute bits when `strip_exec`, so a host that runs a
// whole directory does not run it). Other files in those directories are never touched.
util::Result<std::vector<Written>> write_hooks(const std::vector<HookFile>& files, Overwrite overwrite,
                                               bool strip_exec);

// What the pre-receive hook prints, adapted to the host: for GitLab, every line of a rejection
// starts with "GL-HOOK-ERR: " so GitLab also shows it in its web UI; otherwise `text` as is.
std::string adapt_output(Layout layout, std::string_view text, bool rejection);

}  // namespace portcullis::hooks
