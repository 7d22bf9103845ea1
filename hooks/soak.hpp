#pragma once
// The soak ledger: for one environment on one ref at one commit, since when, by the Git
// server's clock, each image the environment applies has been there on that ref. Committer
// dates never count: a pusher writes them.
//
// post-receive writes the ledger of every new tip of a checked ref, tip to tip: the images the
// environment applies at the new tip (its identity index) that it applied at the ref's previous
// tip keep their time; the others arrive now. A new ref starts from the default branch's ledger
// at the commit it was judged against. When the previous ledger is missing (a post-receive that
// did not finish, a repository from before ledgers), every image arrives now: the soak
// restarts, it never shortens. Ledgers are kept beside the identity indexes, written
// atomically, and trimmed.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/util/error.hpp"

namespace portcullis::hooks {

struct Arrival {
  std::int64_t time = 0;  // unix seconds, the server's clock when post-receive saw it arrive
  git::Oid commit;        // the tip the ref moved to when it arrived
};

using SoakLedger = std::unordered_map<std::string, Arrival>;  // image reference -> arrival

// The ledger of `env_path` on `ref` at `commit`, stored under `dir`; nullopt when absent or
// damaged.
std::optional<SoakLedger> load_soak_ledger(const std::filesystem::path& dir, std::string_view ref,
                                           std::string_view env_path, const git::Oid& commit);

// The ledger of an environment at `commit` whose images are `images`, from `previous` (the
// ledger at the ref's previous tip; nullopt when unknown): images in both keep their arrival,
// the others arrive at `now`.
SoakLedger next_soak_ledger(const std::optional<SoakLedger>& previous, const std::vector<std::string>& images,
                            const git::Oid& commit, std::int64_t now);

// Stores `ledger` as that of `env_path` on `ref` at `commit` (atomically) and trims old ones.
util::Result<void> store_soak_ledger(const std::filesystem::path& dir, std::string_view ref,
                                     std::string_view env_path, const git::Oid& commit,
                                     const SoakLedger& ledger);

}  // namespace portcullis::hooks
