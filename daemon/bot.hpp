#pragma once
// The image bot's Git side: a private work repository under the state directory where it
// writes commits and pushes them to the Git server over the configured transport (file://,
// ssh://, https://), as a person would, so that the server's pre-receive gate judges them.
// git runs as a subprocess with an argument vector (never a shell), with the user's and the
// system's git configuration replaced by the bot's own file, hooks off, no prompts; credentials reach it
// through its environment (never argv, never logs). Files are written into Git objects (hash-object,
// update-index): the repository's paths are never created on disk.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

enum class PushOutcome {
  accepted,
  moved,     // the branch moved since the fetch (a person pushed): fetch and try again
  rejected,  // the server's hook refused it: `reason` holds its remote: lines
  failed,    // transport or other failure: `reason` says why
};

struct PushResult {
  PushOutcome outcome = PushOutcome::failed;
  std::string reason;
};

class BotRepository {
 public:
  // Creates (once) or opens the work repository `dir` for pushes to `bot.push_url`, branch
  // `branch`. Fails when git cannot be run or the directory cannot be made.
  static util::Result<BotRepository> open(const std::filesystem::path& dir, BotConfig bot,
                                          std::string branch);

  // Fetches the branch; returns its commit (40 hex digits).
  util::Result<std::string> fetch();
  // A commit on `parent` whose tree is `parent`'s with `files` (repository path, new content)
  // replaced (each must exist in `parent`; its mode is kept), with `message`, authored and
  // committed by the bot, signed when a signing key is configured. Returns its id.
  util::Result<std::string> commit(const std::string& parent,
                                   const std::vector<std::pair<std::string, std::string>>& files,
                                   const std::string& message);
  // Pushes `commit` to the branch (a fast-forward only).
  PushResult push(const std::string& commit);

  const std::filesystem::path& dir() const { return m_dir; }

 private:
  BotRepository(std::filesystem::path dir, BotConfig bot, std::string branch);
  util::Result<std::string> git(const std::vector<std::string>& args, bool remote = false) const;
  std::vector<std::pair<std::string, std::string>> environment(bool remote) const;

  std::filesystem::path m_dir;
  BotConfig m_bot;
  std::string m_branch;
};

// The `remote:` lines of git's stderr (what the server's hook printed), prefix removed, at
// most `max_lines`.
std::string remote_lines(std::string_view stderr_text, std::size_t max_lines = 20);

}  // namespace portcullis::daemon
