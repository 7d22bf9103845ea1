#pragma once
// One ref update as the gate judges it: the ref's tips before and after, the commit it is judged
// against (the ref before the push, or the default branch for a new ref), the policy and the
// render's selections, and whether it reaches anything protected. Built once per update, before
// any rule runs; every rule family reads it. A rule judges what the update changes tip to tip,
// never the shape of the history in between.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"
#include "shared/render/environment.hpp"

namespace portcullis::hooks {

struct RefUpdate {
  git::Oid old_oid;  // zero: the ref is created
  git::Oid new_oid;  // zero: the ref is deleted
  std::string ref;
};

class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget) : m_end(std::chrono::steady_clock::now() + budget) {}
  bool expired() const { return std::chrono::steady_clock::now() >= m_end; }
  std::chrono::steady_clock::time_point end() const { return m_end; }

 private:
  std::chrono::steady_clock::time_point m_end;
};

struct Update {
  const RefUpdate* raw = nullptr;
  std::optional<git::Oid> old_commit;   // the ref's tip before the push (nullopt: created, or not a commit)
  std::optional<git::Oid> base_commit;  // judged against: old_commit, or the default branch for a new ref
  std::optional<git::Oid> new_commit;   // nullopt: deleted, or not a commit
  std::optional<git::Oid> old_tree, base_tree, new_tree;
  policy::Policy policy;       // .portcullis.yaml at base_commit, else the server's or built-in defaults
  std::string policy_problem;  // why the stored policy could not be used ("" when it could)
  render::Selection selection_before;             // what the render read at base_commit
  render::Selection selection_after;              // what it reads at new_commit (the daemon renders that)
  std::vector<policy::Environment> environments;  // at the new tip
  bool protected_ref = false;
  // A protected environment (at the base or the new tip) declares something else after the
  // update: its tree differs, the selection that reads it changed, or (kustomize) a file its
  // render reads outside its directory differs.
  bool touches_protected_env = false;
  std::string problem;  // the update could not be read (a missing object); rules do not run
};

// What an update is read for: to judge it, when every tree it brings must be readable (one that
// is not is `problem`), or to index what an accepted push brought (post-receive reads no tree
// it does not need).
enum class Reading { judge, index };

// Reads everything the rules need of `raw`. Never throws; a repository error is `problem`.
Update describe_update(const git::Repository& repo, const policy::ServerConfig& config, const RefUpdate& raw,
                       Reading reading = Reading::judge);

// The policy at `commit`: its .portcullis.yaml, else the server's default policy or the built-in
// one; a stored policy that cannot be used falls back to those too, with the reason in `problem`.
policy::Policy policy_at(const git::Repository& repo, const git::Oid& commit, const policy::ServerConfig& config,
                         std::string* problem = nullptr);

using render::environments_of;  // shared/render: declared environments, or those under environments/

}  // namespace portcullis::hooks
