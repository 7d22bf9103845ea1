#include "hooks/update.hpp"

#include <set>

namespace portcullis::hooks {

namespace {

using git::Oid;

void load_policy(const git::Repository& repo, const std::optional<Oid>& commit,
                 const policy::ServerConfig& config, Update& u) {
  u.policy = commit ? policy_at(repo, *commit, config, &u.policy_problem)
                    : config.default_policy.value_or(policy::Policy{});
}

// The id at `path` in `tree` (nullopt when absent: also a blob where a directory is expected,
// which differs either way); an error when the tree cannot be read.
util::Result<std::optional<Oid>> subtree(const git::Repository& repo, const std::optional<Oid>& tree,
                                         const std::string& path) {
  if (!tree) return std::optional<Oid>{};
  auto e = repo.entry_at(*tree, path);
  if (!e) return util::fail(e.error());
  return *e ? std::optional<Oid>{(**e).oid} : std::nullopt;
}

// Whether a protected environment of the base or of the new tip declares something else after
// the update. Deleting an environment touches it as much as changing it. What cannot be read
// on either side counts as touched (the update then meets every rule of a protected one).
bool touches_protected(const git::Repository& repo, const Update& u) {
  std::set<std::string> paths;
  for (const auto& e : u.environments)
    if (e.protected_) paths.insert(e.path);
  if (u.base_tree) {
    auto base_envs = render::environments_at(repo, u.policy, *u.base_tree);
    if (!base_envs) return true;
    for (const auto& e : *base_envs)
      if (e.protected_) paths.insert(e.path);
  }
  if (paths.empty()) return false;
  if (u.selection_before != u.selection_after) return true;
  for (const auto& p : paths) {
    auto before = subtree(repo, u.base_tree, p), after = subtree(repo, u.new_tree, p);
    if (!before || !after || *before != *after) return true;
  }
  // A protected environment rendered by kustomize changes with any input of its render, at
  // either tip (a shared base, a component); one whose inputs cannot be known (it does not
  // build) is taken as changed.
  for (const auto& p : paths)
    for (const auto& tree : {u.base_tree, u.new_tree}) {
      if (!tree) continue;
      auto inputs = render::outside_inputs(repo, *tree, p);
      if (!inputs) return true;
      if (inputs->empty()) continue;
      if (!u.base_tree || !u.new_tree ||
          render::inputs_digest(repo, *u.base_tree, *inputs) != render::inputs_digest(repo, *u.new_tree, *inputs))
        return true;
    }
  return false;
}

}  // namespace

// A broken stored policy falls back to the defaults, so the push that repairs it can be judged.
policy::Policy policy_at(const git::Repository& repo, const Oid& commit, const policy::ServerConfig& config,
                         std::string* problem) {
  policy::Policy fallback = config.default_policy.value_or(policy::Policy{});
  auto fail = [&](std::string why) {
    if (problem) *problem = std::move(why);
    return fallback;
  };
  auto tree = repo.commit_tree(commit);
  if (!tree) return fail(tree.error().message);
  auto entry = repo.entry_at(*tree, policy::k_policy_file);
  if (!entry) return fail(entry.error().message);
  if (!*entry) return fallback;
  auto text = repo.read_blob((*entry)->oid, 1 << 20);
  if (!text) return fail(text.error().message);
  auto parsed = policy::parse_policy(*text, std::string(policy::k_policy_file));
  if (!parsed) return fail(parsed.error().describe());
  return std::move(*parsed);
}

Update describe_update(const git::Repository& repo, const policy::ServerConfig& config, const RefUpdate& raw,
                       Reading reading) {
  Update u;
  u.raw = &raw;
  auto fail = [&](const util::Error& e) {
    u.problem = e.message;
    return u;
  };
  if (!raw.old_oid.is_zero()) {
    auto c = repo.peel_to_commit(raw.old_oid);
    if (!c) return fail(c.error());
    u.old_commit = *c;
    u.base_commit = *c;
  }
  if (!u.base_commit) {
    // A new ref (or one that pointed at no commit) is judged against the default branch:
    // creating a ref cannot escape the rules. A HEAD that cannot be read fails the update (read
    // as "no default branch", a new ref would be judged against nothing).
    auto head = repo.head_commit();
    if (!head) return fail(head.error());
    if (*head) u.base_commit = **head;
  }
  load_policy(repo, u.base_commit, config, u);
  u.protected_ref = u.policy.is_protected_ref(raw.ref);
  if (!raw.new_oid.is_zero()) {
    auto c = repo.peel_to_commit(raw.new_oid);
    if (!c) return fail(c.error());
    u.new_commit = *c;
  }
  for (auto [commit, tree] : {std::pair{&u.old_commit, &u.old_tree}, std::pair{&u.base_commit, &u.base_tree},
                              std::pair{&u.new_commit, &u.new_tree}}) {
    if (!*commit) continue;
    auto t = repo.commit_tree(**commit);
    if (!t) return fail(t.error());
    *tree = *t;
  }
  // A selection that cannot be read (a broken .portcullis.yaml) reads every file: the push that
  // brings it is rejected for it, and nothing is left unchecked meanwhile.
  if (u.base_commit)
    u.selection_before = render::selection_at(repo, *u.base_commit).value_or(render::Selection{});
  if (u.new_commit)
    u.selection_after = render::selection_at(repo, *u.new_commit).value_or(render::Selection{});
  if (u.new_tree && reading == Reading::index) {
    u.environments = environments_of(repo, u.policy, *u.new_tree);
  } else if (u.new_tree) {
    // Every tree the update brings is read before anything is judged: a tree Git takes but the
    // gate cannot read (a name twice, a name with '/', a malformed entry) must not leave part of
    // the push unseen. The checks diff the same trees again, from the cache.
    const std::optional<Oid> from = u.old_tree ? u.old_tree : u.base_tree;
    if (auto read = repo.diff(from, *u.new_tree, "", [](const git::Change&) { return true; }); !read)
      return fail(read.error());
    auto environments = render::environments_at(repo, u.policy, *u.new_tree);
    if (!environments) return fail(environments.error());
    u.environments = std::move(*environments);
  }
  u.touches_protected_env = touches_protected(repo, u);
  return u;
}

}  // namespace portcullis::hooks
