#pragma once
// The soak ledger: for one environment at one commit of a protected ref, when each image the
// environment has run came there (the most recent first-parent commit whose change gave a file
// that image), so the promotion check's soak is a lookup instead of a history walk.
// post-receive keeps a ledger for every commit a protected ref moves to: from the ledger of an
// ancestor (replaying the few commits in between), else from at most k_soak_history_limit
// commits of history (images already there at the oldest one count as there since then).
// Ledgers are a cache beside the identity indexes: written atomically, trimmed, and when one
// is missing the gate walks the history as before.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/error.hpp"

namespace portcullis::hooks {

struct Introduction {
  git::Oid commit;            // the commit that brought the image (or the oldest one read)
  std::int64_t time = 0;      // its committer time, unix seconds
  bool at_or_before = false;  // already there at `commit`, the oldest commit the history walk read
};

using SoakLedger = std::unordered_map<std::string, Introduction>;  // image reference -> when it came

// How many first-parent commits a soak search (or a ledger built from scratch) reads at most.
inline constexpr std::size_t k_soak_history_limit = 1000;

// The ledger of `env_path` at `commit`, stored under `dir`; nullopt when absent or damaged.
std::optional<SoakLedger> load_soak_ledger(const std::filesystem::path& dir, std::string_view env_path,
                                           const git::Oid& commit);

// Builds and stores the ledger of `env_path` at `commit` (nothing to do when it exists). Stops
// with an error when `expired` says time is up.
util::Result<void> update_soak_ledger(const git::Repository& repo, const policy::ServerConfig& config,
                                      const std::filesystem::path& dir, std::string_view env_path,
                                      const git::Oid& commit, const std::function<bool()>& expired);

}  // namespace portcullis::hooks
