#pragma once
// Who may change what, on protected refs. CODEOWNERS (read from the target before the push) is
// enforced over what the ref update changes tip to tip: every path whose entry differs between
// the target before the push and the new tip, whatever history shape brought it (merges whose
// first parent is an old commit, octopus merges, reverts).
//
// An approval approves content, not commits. Approvals come from the pusher (named by the
// hosting layer), from SSH-signed commits among the pushed ones, and from SSH-signed approval
// tags (refs/approvals/<commit>/<who>, of the new tip or pushed with it). A signed commit or tag
// approves commit C; C approves a changed path when the new tip has that path exactly as C has
// it (both absent for a deletion), and only when C contains the target before the push (its
// signer saw what it replaces: an old or unrelated signed commit approves nothing). The pusher
// approves everything they push, unless self-approval is off: then nothing the pusher's identity
// approves counts, neither the push nor their signatures. Signatures are judged at the server's
// clock. The cases are a table in tests/unit/hooks/test_ownership.cpp.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hooks/report.hpp"
#include "hooks/update.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"

namespace portcullis::hooks {

struct OwnershipContext {
  const git::Repository& repo;
  const policy::ServerConfig& config;
  const policy::Policy& policy;
  git::Oid base_commit;  // the target before the push (the default branch for a new ref)
  git::Oid new_commit;
  std::string ref;
  std::string pusher;                  // "" when the hosting layer names nobody
  std::span<const RefUpdate> updates;  // the whole push: approval tags may come with it
  std::int64_t now = 0;                // the server's clock, unix seconds
};

struct Approval {
  std::string identity;            // user name or email, as CODEOWNERS names people
  std::string how;                 // "pusher", "signed commit 1a2b3c", "approval tag refs/approvals/..."
  std::optional<git::Oid> commit;  // what it approves (nullopt: the pusher, everything pushed)
  bool self = false;               // the pusher's own, when self-approval is off: does not count
};

struct OwnershipResult {
  std::vector<Finding> findings;  // `ref` left empty
  std::vector<Approval> approvals;
  std::size_t changed_paths = 0;
};

// The paths whose entries differ between the trees of `before` (nullopt: none) and `after`,
// with both entries: what a ref update changes, whatever history lies between.
util::Result<std::vector<git::Change>> changed_between(const git::Repository& repo,
                                                       const std::optional<git::Oid>& before,
                                                       const git::Oid& after);

// The checks of one update to a protected ref. Findings use rules owners.*.
OwnershipResult check_ownership(const OwnershipContext& ctx);

// True when `identity` is `owner` ("@alice", "alice@example.com") or a member of the team
// `owner` names ("@org/team", from `teams`). Case-insensitive.
bool owner_matches(std::string_view owner, std::string_view identity,
                   const std::map<std::string, std::vector<std::string>>& teams);

}  // namespace portcullis::hooks
