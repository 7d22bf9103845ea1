#pragma once
// Who may change what, on protected refs: CODEOWNERS (read from the target before the push)
// enforced over every path the pushed commits change, with approvals proven from Git itself:
// the pusher (an owner), SSH-signed commits in the push, and SSH-signed approval tags under
// refs/approvals/ pointing at the pushed commit.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hooks/gate.hpp"
#include "hooks/report.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"

namespace portcullis::hooks {

struct OwnershipContext {
  const git::Repository& repo;
  const policy::ServerConfig& config;
  const policy::Policy& policy;
  std::optional<git::Oid> base_commit;  // the target before the push (or the default branch)
  std::optional<git::Oid> old_commit;   // the ref's tip before the push; nullopt for a new ref
  git::Oid new_commit;
  std::string ref;
  std::string pusher;                  // "" when the hosting layer names nobody
  std::span<const RefUpdate> updates;  // the whole push: approval tags may come with it
};

struct Approval {
  std::string identity;  // user name or email, as CODEOWNERS names people
  std::string how;       // "pusher", "signed commit 1a2b3c", "approval tag refs/approvals/..."
};

struct OwnershipResult {
  std::vector<Finding> findings;  // `ref` left empty
  std::vector<Approval> approvals;
  std::size_t changed_paths = 0;
};

// Paths changed by the commits `new_commit` brings over `exclude` (the union of each pushed
// commit's diff against its first parent), at most `limit` commits; nullopt with `truncated`
// set when the history is longer.
util::Result<std::vector<std::string>> pushed_paths(const git::Repository& repo, const git::Oid& new_commit,
                                                    const std::vector<git::Oid>& exclude, std::size_t limit,
                                                    bool& truncated);

// The checks of one update to a protected ref. Findings use rules owners.*.
OwnershipResult check_ownership(const OwnershipContext& ctx);

// True when `identity` is `owner` ("@alice", "alice@example.com") or a member of the team
// `owner` names ("@org/team", from `teams`). Case-insensitive.
bool owner_matches(std::string_view owner, std::string_view identity,
                   const std::map<std::string, std::vector<std::string>>& teams);

}  // namespace portcullis::hooks
