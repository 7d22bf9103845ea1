#include "hooks/ownership.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <set>

#include "shared/codeowners/codeowners.hpp"
#include "shared/signing/allowed_signers.hpp"
#include "shared/signing/git_object.hpp"
#include "shared/signing/sshsig.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks {

namespace {

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

Finding finding(std::string rule, std::string message, Level level = Level::error) {
  Finding f;
  f.level = level;
  f.rule = std::move(rule);
  f.message = std::move(message);
  return f;
}

// Team members from the repository's teams file (a YAML mapping of @org/team to names).
std::map<std::string, std::vector<std::string>> repository_teams(const OwnershipContext& ctx,
                                                                 std::vector<Finding>& out) {
  std::map<std::string, std::vector<std::string>> teams;
  if (ctx.policy.teams_file.empty() || !ctx.base_commit) return teams;
  auto tree = ctx.repo.commit_tree(*ctx.base_commit);
  if (!tree) return teams;
  auto entry = ctx.repo.entry_at(*tree, ctx.policy.teams_file);
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

util::Result<std::vector<std::string>> pushed_paths(const git::Repository& repo, const git::Oid& new_commit,
                                                    const std::vector<git::Oid>& exclude, std::size_t limit,
                                                    bool& truncated) {
  auto commits = repo.new_commits(new_commit, exclude, "", limit, &truncated);
  if (!commits) return util::fail(commits.error());
  std::set<std::string> paths;
  for (const auto& c : *commits) {
    auto info = repo.commit_info(c);
    if (!info) return util::fail(info.error());
    auto tree = repo.commit_tree(c);
    if (!tree) return util::fail(tree.error());
    std::optional<git::Oid> parent_tree;
    if (!info->parents.empty()) {
      auto pt = repo.commit_tree(info->parents.front());
      if (!pt) return util::fail(pt.error());
      parent_tree = *pt;
    }
    auto diffed = repo.diff(parent_tree, *tree, "", [&](const git::Change& ch) {
      paths.insert(ch.path);
      return true;
    });
    if (!diffed) return util::fail(diffed.error());
  }
  return std::vector<std::string>(paths.begin(), paths.end());
}

OwnershipResult check_ownership(const OwnershipContext& ctx) {
  OwnershipResult r;
  // CODEOWNERS as it is on the target before the push.
  if (!ctx.base_commit) return r;
  auto base_tree = ctx.repo.commit_tree(*ctx.base_commit);
  if (!base_tree) {
    r.findings.push_back(finding("gate.internal", base_tree.error().message));
    return r;
  }
  auto exists = [&](std::string_view p) {
    auto e = ctx.repo.entry_at(*base_tree, p);
    return e && *e && ((*e)->kind == git::EntryKind::blob || (*e)->kind == git::EntryKind::executable);
  };
  std::string location;
  codeowners::Dialect dialect = codeowners::Dialect::github;
  switch (ctx.policy.codeowners_dialect) {
    case policy::Dialect::github:
      location = std::string(codeowners::locate(codeowners::Dialect::github, exists));
      break;
    case policy::Dialect::gitlab:
      dialect = codeowners::Dialect::gitlab;
      location = std::string(codeowners::locate(codeowners::Dialect::gitlab, exists));
      break;
    case policy::Dialect::automatic:
      for (std::string_view p : {".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"})
        if (exists(p)) {
          location = std::string(p);
          if (p == ".gitlab/CODEOWNERS") dialect = codeowners::Dialect::gitlab;
          break;
        }
      break;
  }
  if (location.empty()) return r;  // nobody owns anything
  auto entry = ctx.repo.entry_at(*base_tree, location);
  auto text = ctx.repo.read_blob((*entry)->oid, codeowners::k_github_max_bytes + 1);
  if (!text) {
    Finding f =
        finding("owners.invalid", "CODEOWNERS cannot be read: " + text.error().message +
                                      "; on a protected ref a broken CODEOWNERS never means \"no owners\"");
    f.file = location;
    r.findings.push_back(std::move(f));
    return r;
  }
  auto owners = codeowners::parse(*text, dialect, codeowners::Validation::strict);
  if (!owners) {
    Finding f = finding(
        "owners.invalid",
        owners.error().message +
            " (CODEOWNERS on the target; on a protected ref a broken CODEOWNERS never means \"no owners\")");
    f.file = location;
    f.line = owners.error().line;
    f.column = owners.error().column;
    r.findings.push_back(std::move(f));
    return r;
  }

  // Every path the pushed commits change.
  std::vector<git::Oid> exclude;
  if (ctx.old_commit)
    exclude.push_back(*ctx.old_commit);
  else if (ctx.base_commit)
    exclude.push_back(*ctx.base_commit);
  bool truncated = false;
  auto paths = pushed_paths(ctx.repo, ctx.new_commit, exclude, k_history_limit, truncated);
  if (!paths) {
    r.findings.push_back(finding("gate.internal", paths.error().message));
    return r;
  }
  if (truncated) {
    r.findings.push_back(
        finding("owners.history-limit", "the push brings more than " + std::to_string(k_history_limit) +
                                            " commits; ownership cannot be checked (push in smaller steps)"));
    return r;
  }
  r.changed_paths = paths->size();

  auto teams = ctx.config.teams;
  for (auto& [team, members] : repository_teams(ctx, r.findings)) {
    auto& all = teams[team];
    all.insert(all.end(), members.begin(), members.end());
  }

  // Approvals.
  auto pushed = ctx.repo.new_commits(ctx.new_commit, exclude, "", k_history_limit);
  bool pusher_authored = false;
  if (pushed)
    for (const auto& c : *pushed)
      if (auto info = ctx.repo.commit_info(c)) {
        std::string_view email = info->author_email;
        std::string_view local = email.substr(0, email.find('@'));
        if (!ctx.pusher.empty() && (same_person(info->author_name, ctx.pusher) ||
                                    same_person(email, ctx.pusher) || same_person(local, ctx.pusher)))
          pusher_authored = true;
      }
  if (!ctx.pusher.empty() && (ctx.policy.self_approval || !pusher_authored))
    r.approvals.push_back(Approval{ctx.pusher, "pusher"});
  auto signers = load_signers(ctx, r.findings);
  auto now = std::chrono::system_clock::now();
  if (signers && pushed) {
    for (const auto& c : *pushed) {
      auto raw = ctx.repo.read_raw(c);
      if (!raw) continue;
      auto signed_commit = signing::split_signed_commit(raw->data);
      if (!signed_commit) continue;  // unsigned: no approval, no problem
      auto v = signing::verify(signed_commit->signature, signed_commit->payload, "git", *signers,
                               signed_commit->signed_at.value_or(now));
      if (v) {
        r.approvals.push_back(Approval{principal_of(*v), "signed commit " + c.short_hex()});
      } else {
        Finding f =
            finding("owners.signature",
                    "the signature of commit " + c.short_hex() + " is not accepted: " + v.error().message,
                    Level::warning);
        r.findings.push_back(std::move(f));
      }
    }
  }
  if (signers) {
    // `portcullis approve` stores the approval of commit C at refs/approvals/C/<who>: only the
    // refs named for the pushed commit are read, not every approval the repository has kept.
    std::vector<std::pair<std::string, git::Oid>> tags;
    if (auto existing = ctx.repo.refs_matching("refs/approvals/" + ctx.new_commit.hex() + "/*"))
      tags = std::move(*existing);
    for (const auto& u : ctx.updates)
      if (u.ref.starts_with("refs/approvals/") && !u.new_oid.is_zero()) tags.emplace_back(u.ref, u.new_oid);
    std::string target = "object " + ctx.new_commit.hex() + "\n";
    for (const auto& [name, oid] : tags) {
      auto raw = ctx.repo.read_raw(oid, 1 << 20);
      if (!raw || raw->type != "tag" || !raw->data.starts_with(target))
        continue;  // an approval of another commit
      auto signed_tag = signing::split_signed_tag(raw->data);
      if (!signed_tag) continue;
      auto v = signing::verify(signed_tag->signature, signed_tag->payload, "git", *signers,
                               signed_tag->signed_at.value_or(now));
      if (v)
        r.approvals.push_back(Approval{principal_of(*v), "approval tag " + name});
      else
        r.findings.push_back(finding("owners.signature",
                                     "approval tag " + name + " is not accepted: " + v.error().message,
                                     Level::warning));
    }
  }

  // Every changed path needs its owners' approval: GitHub one owner of the last matching
  // line; GitLab, per section that applies, N distinct owners (N = [N], default 1), optional
  // sections none.
  struct Need {
    std::string owners;
    std::uint32_t required;
    std::vector<std::string> paths;
    std::set<std::string> approved_by;
  };
  std::map<std::string, Need> missing;
  for (const auto& path : *paths) {
    for (const auto& m : owners->match(path)) {
      if (m.entry->owners.empty() || m.section->optional) continue;
      std::uint32_t required = std::max<std::uint32_t>(1, m.entry->approvals);
      std::set<std::string> approved;
      for (const auto& a : r.approvals)
        for (const auto& o : m.entry->owners)
          if (owner_matches(o, a.identity, teams)) approved.insert(util::to_lower(a.identity));
      if (approved.size() >= (dialect == codeowners::Dialect::gitlab ? required : 1)) continue;
      std::string owner_list;
      for (const auto& o : m.entry->owners) owner_list += (owner_list.empty() ? "" : ", ") + o;
      std::string key = m.section->name + "\x1f" + owner_list + "\x1f" + std::to_string(required);
      auto& need = missing[key];
      need.owners = owner_list;
      need.required = dialect == codeowners::Dialect::gitlab ? required : 1;
      need.paths.push_back(path);
      need.approved_by.insert(approved.begin(), approved.end());
    }
  }
  std::string have;
  for (const auto& a : r.approvals) have += (have.empty() ? "" : ", ") + a.identity + " (" + a.how + ")";
  for (auto& [key, need] : missing) {
    std::string section = key.substr(0, key.find('\x1f'));
    Finding f;
    f.rule = "owners.approval-required";
    f.file = need.paths.front();
    std::string who =
        need.required > 1 ? std::to_string(need.required) + " distinct approvals from " : "approval by ";
    f.message = (need.paths.size() == 1 ? std::string("needs ")
                                        : std::to_string(need.paths.size()) + " paths need ") +
                who + need.owners +
                (section.empty() || section == "codeowners" ? "" : " (section " + section + ")");
    if (need.paths.size() > 1) {
      f.message += ": ";
      for (std::size_t i = 0; i < need.paths.size() && i < 5; ++i)
        f.message += (i ? ", " : "") + need.paths[i];
      if (need.paths.size() > 5) f.message += ", ...";
    }
    f.message += "; approvals seen: " + (have.empty() ? std::string("none") : have);
    if (!ctx.policy.self_approval && pusher_authored)
      f.message += " (the pusher authored a change, and self-approval is off)";
    r.findings.push_back(std::move(f));
  }
  return r;
}

}  // namespace portcullis::hooks
