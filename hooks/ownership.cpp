#include "hooks/ownership.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <set>

#include "shared/codeowners/codeowners.hpp"
#include "shared/signing/allowed_signers.hpp"
#include "shared/signing/git_object.hpp"
#include "shared/signing/sshsig.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks {

namespace {

// Where GitHub and GitLab look for CODEOWNERS.
constexpr std::string_view k_codeowners_locations[] = {".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS",
                                                       ".gitlab/CODEOWNERS"};

// Signed commits are looked for among at most this many pushed commits.
constexpr std::size_t k_history_limit = 10'000;

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool same_person(std::string_view a, std::string_view b) {
  if (a.starts_with('@')) a.remove_prefix(1);
  if (b.starts_with('@')) b.remove_prefix(1);
  return !a.empty() && iequal(a, b);
}

// True when a signer's principal names the pusher: the same name, or an email whose local part
// is the pusher's name (allowed signers often name people by email, hosts by user name).
bool is_pusher(std::string_view principal, std::string_view pusher) {
  if (pusher.empty()) return false;
  if (same_person(principal, pusher)) return true;
  auto at = principal.find('@');
  return at != std::string_view::npos && at > 0 && same_person(principal.substr(0, at), pusher);
}

Finding finding(std::string rule, std::string message, Level level = Level::error) {
  Finding f;
  f.level = level;
  f.rule = std::move(rule);
  f.message = std::move(message);
  return f;
}

// Team members from the repository's teams file (a YAML mapping of @org/team to names).
std::map<std::string, std::vector<std::string>> repository_teams(const OwnershipContext& ctx,
                                                                 const git::Oid& base_tree,
                                                                 std::vector<Finding>& out) {
  std::map<std::string, std::vector<std::string>> teams;
  if (ctx.policy.teams_file.empty()) return teams;
  auto entry = ctx.repo.entry_at(base_tree, ctx.policy.teams_file);
  if (!entry || !*entry) return teams;
  auto text = ctx.repo.read_blob((*entry)->oid, 1 << 20);
  auto stream = text ? yaml::parse_yaml(*text) : util::Result<yaml::Stream>(util::fail(text.error()));
  const yaml::Node* root = stream && !stream->documents.empty() ? stream->documents[0].root : nullptr;
  if (!root || !root->is_mapping()) {
    Finding f =
        finding("owners.invalid", "the teams file is not a YAML mapping of @org/team to member lists");
    f.file = ctx.policy.teams_file;
    out.push_back(std::move(f));
    return teams;
  }
  for (const auto& e : root->entries) {
    if (!e.value->is_sequence()) continue;
    for (const yaml::Node* m : e.value->items)
      if (m->is_string()) teams[std::string(e.key->text)].emplace_back(m->text);
  }
  return teams;
}

std::optional<signing::AllowedSigners> load_signers(const OwnershipContext& ctx, std::vector<Finding>& out) {
  if (ctx.config.allowed_signers.empty()) return std::nullopt;
  auto signers = signing::load_allowed_signers(ctx.config.allowed_signers);
  if (!signers) {
    out.push_back(
        finding("gate.internal", "the allowed-signers file cannot be used: " + signers.error().describe()));
    return std::nullopt;
  }
  return std::move(*signers);
}

std::string principal_of(const signing::Verified& v) {
  return v.principals.empty() ? v.fingerprint : v.principals.front();
}

struct LoadedOwners {
  std::optional<codeowners::Codeowners> rules;  // nullopt: nobody owns anything
  codeowners::Dialect dialect = codeowners::Dialect::github;
};

// CODEOWNERS as it is on the target before the push, where the forge would look for it. A
// CODEOWNERS that cannot be read or parsed is a finding: on a protected ref it never means
// "no owners".
std::optional<LoadedOwners> load_codeowners(const OwnershipContext& ctx, const git::Oid& base_tree,
                                            std::vector<Finding>& out) {
  auto exists = [&](std::string_view p) {
    auto e = ctx.repo.entry_at(base_tree, p);
    return e && *e && ((*e)->kind == git::EntryKind::blob || (*e)->kind == git::EntryKind::executable);
  };
  // A CODEOWNERS that is a symbolic link or a submodule is no file a forge reads, and never
  // means "no owners" on a protected ref.
  for (std::string_view p : k_codeowners_locations) {
    auto e = ctx.repo.entry_at(base_tree, p);
    if (e && *e && ((*e)->kind == git::EntryKind::symlink || (*e)->kind == git::EntryKind::submodule)) {
      Finding f = finding("owners.invalid", std::string(p) + " is a " +
                                                ((*e)->kind == git::EntryKind::symlink ? "symbolic link" : "submodule") +
                                                ", not a file; on a protected ref that never means \"no owners\"");
      f.file = std::string(p);
      out.push_back(std::move(f));
      return std::nullopt;
    }
  }
  LoadedOwners c;
  std::string location;
  switch (ctx.policy.codeowners_dialect) {
    case policy::Dialect::github:
      location = std::string(codeowners::locate(codeowners::Dialect::github, exists));
      break;
    case policy::Dialect::gitlab:
      c.dialect = codeowners::Dialect::gitlab;
      location = std::string(codeowners::locate(codeowners::Dialect::gitlab, exists));
      break;
    case policy::Dialect::automatic:
      for (std::string_view p : {".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"})
        if (exists(p)) {
          location = std::string(p);
          if (p == ".gitlab/CODEOWNERS") c.dialect = codeowners::Dialect::gitlab;
          break;
        }
      break;
  }
  if (location.empty()) return c;
  auto entry = ctx.repo.entry_at(base_tree, location);
  auto text = ctx.repo.read_blob((*entry)->oid, codeowners::k_github_max_bytes + 1);
  if (!text) {
    Finding f =
        finding("owners.invalid", "CODEOWNERS cannot be read: " + text.error().message +
                                      "; on a protected ref a broken CODEOWNERS never means \"no owners\"");
    f.file = location;
    out.push_back(std::move(f));
    return std::nullopt;
  }
  auto rules = codeowners::parse(*text, c.dialect, codeowners::Validation::strict);
  if (!rules) {
    Finding f = finding(
        "owners.invalid",
        rules.error().message +
            " (CODEOWNERS on the target; on a protected ref a broken CODEOWNERS never means \"no owners\")");
    f.file = location;
    f.line = rules.error().line;
    f.column = rules.error().column;
    out.push_back(std::move(f));
    return std::nullopt;
  }
  c.rules = std::move(*rules);
  return c;
}

// An approval by signature counts only for a commit the push brings that contains the target
// before the push (an approval of the target itself approves nothing new).
// ... and that the new tip contains (an approval of a commit outside what is pushed approves
// nothing in it).
bool approves_from_base(const OwnershipContext& ctx, const git::Oid& commit) {
  if (commit == ctx.base_commit) return false;
  auto contains = ctx.repo.is_ancestor(ctx.base_commit, commit);
  if (!contains || !*contains) return false;
  auto pushed = ctx.repo.is_ancestor(commit, ctx.new_commit);
  return pushed && *pushed;
}

// Approvals from SSH-signed commits among the pushed ones, judged at the server's clock.
void signed_commit_approvals(const OwnershipContext& ctx, const signing::AllowedSigners& signers,
                             const std::vector<git::Oid>& pushed, OwnershipResult& r) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(ctx.now));
  for (const auto& c : pushed) {
    auto raw = ctx.repo.read_raw(c);
    if (!raw) continue;
    auto signed_commit = signing::split_signed_commit(raw->data);
    if (!signed_commit) continue;  // unsigned: no approval, no problem
    auto v = signing::verify(signed_commit->signature, signed_commit->payload, "git", signers, now);
    if (!v) {
      r.findings.push_back(
          finding("owners.signature",
                  "the signature of commit " + c.short_hex() + " is not accepted: " + v.error().message,
                  Level::warning));
      continue;
    }
    if (!approves_from_base(ctx, c)) {
      r.findings.push_back(
          finding("owners.signature",
                  "commit " + c.short_hex() + " is signed by " + principal_of(*v) +
                      " but does not contain the target's tip " + ctx.base_commit.short_hex() +
                      ", so it approves nothing this push changes (sign a merge onto the current tip)",
                  Level::warning));
      continue;
    }
    r.approvals.push_back(Approval{principal_of(*v), "signed commit " + c.short_hex(), c, false});
  }
}

// `portcullis approve` stores the approval of commit C at refs/approvals/C/<who>: those of the new
// tip already on the server, and any pushed with this push (of any pushed commit).
void approval_tag_approvals(const OwnershipContext& ctx, const signing::AllowedSigners& signers,
                            OwnershipResult& r) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(ctx.now));
  std::vector<std::pair<std::string, git::Oid>> tags;
  if (auto existing = ctx.repo.refs_matching("refs/approvals/" + ctx.new_commit.hex() + "/*"))
    tags = std::move(*existing);
  for (const auto& u : ctx.updates)
    if (u.ref.starts_with("refs/approvals/") && !u.new_oid.is_zero()) tags.emplace_back(u.ref, u.new_oid);
  for (const auto& [name, oid] : tags) {
    auto raw = ctx.repo.read_raw(oid, 1 << 20);
    if (!raw || raw->type != "tag" || !raw->data.starts_with("object ")) continue;
    auto target = git::Oid::from_hex(std::string_view(raw->data).substr(7, 40));
    // The ref names the commit it approves; a tag of another commit under that name is ignored.
    if (!target || !name.starts_with("refs/approvals/" + target->hex() + "/")) continue;
    auto signed_tag = signing::split_signed_tag(raw->data);
    if (!signed_tag) continue;
    auto v = signing::verify(signed_tag->signature, signed_tag->payload, "git", signers, now);
    if (!v) {
      r.findings.push_back(finding("owners.signature",
                                   "approval tag " + name + " is not accepted: " + v.error().message,
                                   Level::warning));
      continue;
    }
    if (!approves_from_base(ctx, *target)) continue;  // an approval of a commit that is not pushed here
    r.approvals.push_back(Approval{principal_of(*v), "approval tag " + name, *target, false});
  }
}

// The entry `path` has in the tree of `commit` (cached per commit): nullopt when absent, an
// error when the commit or a tree on the way cannot be read.
class Contents {
 public:
  explicit Contents(const git::Repository& repo) : m_repo(repo) {}
  util::Result<std::optional<git::TreeEntry>> at(const git::Oid& commit, const std::string& path) {
    auto& tree = m_trees[commit.hex()];
    if (!tree) {
      auto t = m_repo.commit_tree(commit);
      if (!t) return util::fail(t.error());
      tree = *t;
    }
    return m_repo.entry_at(*tree, path);
  }

 private:
  const git::Repository& m_repo;
  std::map<std::string, std::optional<git::Oid>> m_trees;
};

// Whether `a` (as read from an approving commit) is `b`: both absent, or one blob or tree. What
// could not be read is never the same: an approval of unreadable content approves nothing.
bool same_entry(const util::Result<std::optional<git::TreeEntry>>& a, const std::optional<git::TreeEntry>& b) {
  if (!a) return false;
  if (!*a || !b) return !*a && !b;
  return (*a)->oid == b->oid && (*a)->kind == b->kind;
}

struct Need {
  std::string owners;
  std::uint32_t required = 1;
  std::vector<std::string> paths;
  std::set<std::string> approved_by;  // owners whose approval counts, too few
  std::set<std::string> stale;        // owners who approved other content
};

std::string describe_approvals(const std::vector<Approval>& approvals) {
  std::string have;
  for (const auto& a : approvals)
    have += (have.empty() ? "" : ", ") + a.identity + " (" + a.how +
            (a.self ? ", the pusher's own: self-approval is off" : "") + ")";
  return have.empty() ? std::string("none") : have;
}

Finding approval_finding(const std::string& section, const Need& need, const std::string& have) {
  Finding f;
  f.rule = "owners.approval-required";
  f.file = need.paths.front();
  std::string who =
      need.required > 1 ? std::to_string(need.required) + " distinct approvals from " : "approval by ";
  f.message =
      (need.paths.size() == 1 ? std::string("needs ") : std::to_string(need.paths.size()) + " paths need ") +
      who + need.owners + (section.empty() || section == "codeowners" ? "" : " (section " + section + ")");
  if (need.paths.size() > 1) {
    f.message += ": ";
    for (std::size_t i = 0; i < need.paths.size() && i < 5; ++i) f.message += (i ? ", " : "") + need.paths[i];
    if (need.paths.size() > 5) f.message += ", ...";
  }
  f.message += "; approvals seen: " + have;
  if (!need.stale.empty()) {
    std::string names;
    for (const auto& s : need.stale) names += (names.empty() ? "" : ", ") + s;
    f.message += " (" + names + " approved other content: a later change needs its own approval)";
  }
  return f;
}

// The files the update changes that decide who owns what and how environments are judged:
// every CODEOWNERS location, .portcullis.yaml, and the teams file the policy names.
std::vector<std::string> changed_governance(const OwnershipContext& ctx, const std::vector<git::Change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    bool governs = c.path == policy::k_policy_file || (!ctx.policy.teams_file.empty() && c.path == ctx.policy.teams_file) ||
                   std::find(std::begin(k_codeowners_locations), std::end(k_codeowners_locations), c.path) !=
                       std::end(k_codeowners_locations);
    if (governs) out.push_back(c.path);
  }
  return out;
}

// The paths of the protected environments at `trees`; fails when a tree cannot be read (a
// protected environment the gate cannot see is not one it may skip).
util::Result<std::set<std::string>> protected_roots(const OwnershipContext& ctx,
                                                    std::initializer_list<git::Oid> trees) {
  std::set<std::string> roots;
  for (const git::Oid& tree : trees) {
    auto environments = render::environments_at(ctx.repo, ctx.policy, tree);
    if (!environments) return util::fail(environments.error());
    for (const auto& env : *environments)
      if (env.protected_) roots.insert(env.path);
  }
  return roots;
}

// Every file of every protected environment (at the target before the push or at the new tip)
// as a change: a push that changes the files governing them changes them all, and needs the
// approval of their owners. Fails, and the push with it, when a tree cannot be read.
util::Result<void> add_governed(const OwnershipContext& ctx, const git::Oid& base_tree,
                                std::vector<git::Change>& changes, std::set<std::string>& governed) {
  auto new_tree = ctx.repo.commit_tree(ctx.new_commit);
  if (!new_tree) return util::fail(new_tree.error());
  auto roots = protected_roots(ctx, {base_tree, *new_tree});
  if (!roots) return util::fail(roots.error());
  std::set<std::string> known;
  for (const auto& c : changes) known.insert(c.path);
  std::optional<util::Error> failed;
  for (const auto& root : *roots)
    for (const git::Oid& tree : {base_tree, *new_tree}) {
      auto dir = ctx.repo.entry_at(tree, root);
      if (!dir) return util::fail(dir.error());
      if (!*dir || (*dir)->kind != git::EntryKind::tree) continue;
      auto walked = ctx.repo.walk((*dir)->oid, root, [&](const std::string& path, const git::TreeEntry&) {
        if (!known.insert(path).second) return true;
        auto before = ctx.repo.entry_at(base_tree, path);
        auto after = ctx.repo.entry_at(*new_tree, path);
        if (!before || !after) {
          failed = before ? after.error() : before.error();
          return false;
        }
        changes.push_back(git::Change{path, *before, *after});
        governed.insert(path);
        return true;
      });
      if (failed) return util::fail(*failed);
      if (!walked) return util::fail(walked.error());
    }
  return {};
}

// The changed paths outside a protected environment that its kustomize render reads (at the
// target before the push or at the new tip), with the environments that read them: a change to
// a shared base is a change to every protected environment rendering it. An environment whose
// render fails at a tip is taken to read every changed path; a tree that cannot be read fails.
util::Result<std::map<std::string, std::set<std::string>>> read_by_protected(
    const OwnershipContext& ctx, const git::Oid& base_tree, const std::vector<git::Change>& changes) {
  std::map<std::string, std::set<std::string>> out;
  auto new_tree = ctx.repo.commit_tree(ctx.new_commit);
  if (!new_tree) return util::fail(new_tree.error());
  auto roots = protected_roots(ctx, {base_tree, *new_tree});
  if (!roots) return util::fail(roots.error());
  for (const auto& root : *roots)
    for (const git::Oid& tree : {base_tree, *new_tree}) {
      auto inputs = render::outside_inputs(ctx.repo, tree, root);
      for (const auto& c : changes)
        if (!render::within(root, c.path) &&
            (!inputs || std::binary_search(inputs->begin(), inputs->end(), c.path)))
          out[c.path].insert(root);
    }
  return out;
}

}  // namespace

bool owner_matches(std::string_view owner, std::string_view identity,
                   const std::map<std::string, std::vector<std::string>>& teams) {
  if (owner.starts_with("@@")) return false;  // GitLab roles: not known on a bare Git server
  if (owner.starts_with('@') && owner.find('/') != std::string_view::npos) {
    for (const auto& [team, members] : teams)
      if (iequal(team, owner) || same_person(team, owner))
        for (const auto& m : members)
          if (same_person(m, identity)) return true;
    return false;
  }
  return same_person(owner, identity);
}

util::Result<std::vector<git::Change>> changed_between(const git::Repository& repo,
                                                       const std::optional<git::Oid>& before,
                                                       const git::Oid& after) {
  std::optional<git::Oid> before_tree;
  if (before) {
    auto t = repo.commit_tree(*before);
    if (!t) return util::fail(t.error());
    before_tree = *t;
  }
  auto after_tree = repo.commit_tree(after);
  if (!after_tree) return util::fail(after_tree.error());
  std::vector<git::Change> out;
  auto diffed = repo.diff(before_tree, *after_tree, "", [&](const git::Change& c) {
    out.push_back(c);
    return true;
  });
  if (!diffed) return util::fail(diffed.error());
  return out;
}

OwnershipResult check_ownership(const OwnershipContext& ctx) {
  OwnershipResult r;
  auto base_tree = ctx.repo.commit_tree(ctx.base_commit);
  if (!base_tree) {
    r.findings.push_back(finding("gate.internal", base_tree.error().message));
    return r;
  }
  auto owners = load_codeowners(ctx, *base_tree, r.findings);
  if (!owners) return r;
  if (!owners->rules) return r;  // nobody owns anything
  const bool gitlab = owners->dialect == codeowners::Dialect::gitlab;

  // What the update changes, tip to tip.
  auto changes = changed_between(ctx.repo, ctx.base_commit, ctx.new_commit);
  if (!changes) {
    r.findings.push_back(finding("gate.internal", changes.error().message));
    return r;
  }
  r.changed_paths = changes->size();
  if (changes->empty()) return r;
  const std::vector<std::string> governing = changed_governance(ctx, *changes);
  std::set<std::string> governed;  // paths that count as changed because a governing file did
  if (!governing.empty())
    if (auto added = add_governed(ctx, *base_tree, *changes, governed); !added) {
      r.findings.push_back(finding("gate.internal", added.error().message));
      return r;
    }

  // The repository's teams file may define teams of its own, never add members to one the
  // server config defines (a push could otherwise make its author a member).
  auto teams = ctx.config.teams;
  for (auto& [team, members] : repository_teams(ctx, *base_tree, r.findings)) {
    bool server_team = std::any_of(ctx.config.teams.begin(), ctx.config.teams.end(),
                                   [&](const auto& t) { return iequal(t.first, team) || same_person(t.first, team); });
    if (server_team) {
      Finding f = finding("owners.teams",
                          "the teams file names " + team + ", which the server config defines: its members there are ignored",
                          Level::warning);
      f.file = ctx.policy.teams_file;
      r.findings.push_back(std::move(f));
      continue;
    }
    teams[team] = std::move(members);
  }

  // Approvals: the pusher, signed commits among the pushed ones, signed approval tags.
  if (!ctx.pusher.empty())
    r.approvals.push_back(Approval{ctx.pusher, "pusher", std::nullopt, !ctx.policy.self_approval});
  if (auto signers = load_signers(ctx, r.findings)) {
    bool truncated = false;
    auto pushed = ctx.repo.new_commits(ctx.new_commit, {ctx.base_commit}, "", k_history_limit, &truncated);
    if (pushed) signed_commit_approvals(ctx, *signers, *pushed, r);
    if (truncated)
      r.findings.push_back(finding("owners.signature",
                                   "the push brings more than " + std::to_string(k_history_limit) +
                                       " commits; signatures of the older ones were not read",
                                   Level::warning));
    approval_tag_approvals(ctx, *signers, r);
  }
  if (!ctx.policy.self_approval)
    for (auto& a : r.approvals)
      if (a.commit && is_pusher(a.identity, ctx.pusher)) a.self = true;

  // Every changed path needs its owners' approval of the content the new tip has there: GitHub
  // one owner of the last matching line; GitLab, per section that applies, N distinct owners
  // (N = [N], default 1), optional sections none.
  Contents contents(ctx.repo);
  std::map<std::string, Need> missing;
  // An approval of a governed path (or of a governing file) must have seen the governance
  // change: its commit has every changed governing file exactly as the new tip has it. Else an
  // owner's approval of anything would approve the unchanged files that a new CODEOWNERS or
  // policy puts in other hands.
  std::map<std::string, std::optional<git::TreeEntry>> governing_after;
  for (const auto& c : *changes)
    if (std::find(governing.begin(), governing.end(), c.path) != governing.end()) governing_after[c.path] = c.after;
  auto saw_governance = [&](const git::Oid& commit) {
    for (const auto& [g, after] : governing_after)
      if (!same_entry(contents.at(commit, g), after)) return false;
    return true;
  };
  const auto read_by = read_by_protected(ctx, *base_tree, *changes);
  if (!read_by) {
    r.findings.push_back(finding("gate.internal", read_by.error().message));
    return r;
  }
  for (const auto& change : *changes) {
    const std::string& path = change.path;
    const bool governed_path = governed.contains(path) || governing_after.contains(path);
    // The path's owners, and those of every protected environment whose render reads it.
    auto matches = owners->rules->match(path);
    if (auto reader = read_by->find(path); reader != read_by->end())
      for (const auto& root : reader->second) {
        auto more = owners->rules->match(root + "/kustomization.yaml");
        matches.insert(matches.end(), more.begin(), more.end());
      }
    for (const auto& m : matches) {
      if (m.entry->owners.empty() || m.section->optional) continue;
      std::uint32_t required = gitlab ? std::max<std::uint32_t>(1, m.entry->approvals) : 1;
      std::set<std::string> approved, stale;
      for (const auto& a : r.approvals) {
        if (a.self) continue;
        bool owner = std::any_of(m.entry->owners.begin(), m.entry->owners.end(),
                                 [&](const std::string& o) { return owner_matches(o, a.identity, teams); });
        if (!owner) continue;
        if (!a.commit ||
            (same_entry(contents.at(*a.commit, path), change.after) && (!governed_path || saw_governance(*a.commit))))
          approved.insert(util::to_lower(a.identity));
        else
          stale.insert(a.identity);
      }
      if (approved.size() >= required) continue;
      std::string owner_list;
      for (const auto& o : m.entry->owners) owner_list += (owner_list.empty() ? "" : ", ") + o;
      auto& need = missing[m.section->name + "\x1f" + owner_list + "\x1f" + std::to_string(required)];
      need.owners = owner_list;
      need.required = required;
      need.paths.push_back(path);
      need.approved_by.insert(approved.begin(), approved.end());
      need.stale.insert(stale.begin(), stale.end());
    }
  }
  const std::string have = describe_approvals(r.approvals);
  for (auto& [key, need] : missing) {
    Finding f = approval_finding(key.substr(0, key.find('\x1f')), need, have);
    if (std::any_of(need.paths.begin(), need.paths.end(), [&](const std::string& p) { return governed.contains(p); })) {
      std::string files;
      for (const auto& g : governing) files += (files.empty() ? "" : ", ") + g;
      f.message += "; the push changes " + files + ", which decide" + (governing.size() == 1 ? "s" : "") +
                   " who owns the protected environments and how they are judged, so it changes them all";
    }
    r.findings.push_back(std::move(f));
  }
  return r;
}

}  // namespace portcullis::hooks
