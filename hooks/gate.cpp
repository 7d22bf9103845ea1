#include "hooks/gate.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include "hooks/checks.hpp"
#include "hooks/crds.hpp"
#include "hooks/index.hpp"
#include "hooks/ownership.hpp"
#include "hooks/promotion.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks {

namespace {

using git::Oid;

struct LoadedPolicy {
  policy::Policy policy;
  std::string problem;  // why the stored policy could not be used (defaults apply)
};

// The policy that judges an update: .portcullis.yaml at `commit` (the target ref before the
// push); the server's default policy, or the built-in one, when there is none. A broken stored
// policy falls back to the defaults, so the push that repairs it can be judged.
LoadedPolicy policy_at(const git::Repository& repo, const std::optional<Oid>& commit,
                       const policy::ServerConfig& config) {
  LoadedPolicy out;
  out.policy = config.default_policy.value_or(policy::Policy{});
  if (!commit) return out;
  auto tree = repo.commit_tree(*commit);
  if (!tree) {
    out.problem = tree.error().message;
    return out;
  }
  auto entry = repo.entry_at(*tree, policy::k_policy_file);
  if (!entry || !*entry) return out;
  auto text = repo.read_blob((*entry)->oid, 1 << 20);
  if (!text) {
    out.problem = text.error().message;
    return out;
  }
  auto parsed = policy::parse_policy(*text, std::string(policy::k_policy_file));
  if (!parsed) {
    out.problem = parsed.error().describe();
    return out;
  }
  out.policy = std::move(*parsed);
  return out;
}

std::vector<policy::Environment> environments_of(const git::Repository& repo, const policy::Policy& p,
                                                 const Oid& tree) {
  if (!p.discover_environments) return p.environments;
  std::vector<policy::Environment> out;
  auto dir = repo.entry_at(tree, policy::k_environments_dir);
  if (!dir || !*dir || (*dir)->kind != git::EntryKind::tree) return out;
  std::set<std::string> names;
  (void)repo.walk((*dir)->oid, "", [&](const std::string& path, const git::TreeEntry&) {
    auto slash = path.find('/');
    if (slash != std::string::npos) names.insert(path.substr(0, slash));
    return true;
  });
  for (const auto& n : names) out.push_back(policy::discovered_environment(n));
  return out;
}

class Gate {
 public:
  explicit Gate(const GateInput& in) : m_in(in) {}

  Report run() {
    m_report.stats.refs = m_in.updates.size();
    for (const auto& u : m_in.updates) {
      if (out_of_time()) break;
      check_update(u);
    }
    return std::move(m_report);
  }

  // The identity index of one environment tree: loaded, or built from Git and stored.
  const IdentityIndex* index_for(const policy::Environment& env, const Oid& tree) {
    auto key = tree.hex() + "\n" + env.namespace_;
    if (auto it = m_indexes.find(key); it != m_indexes.end()) return &it->second;
    std::filesystem::path dir = index_dir(env);
    auto loaded = IdentityIndex::load(dir, tree);
    if (!loaded) {
      std::vector<IndexRecord> records;
      // Paths are relative to the environment: environments with equal trees share the file.
      auto walked = m_in.repo.walk(tree, "", [&](const std::string& path, const git::TreeEntry& e) {
        auto rs = index_records(m_in.repo, path, e, env, m_in.config, m_in.store);
        records.insert(records.end(), std::make_move_iterator(rs.begin()), std::make_move_iterator(rs.end()));
        return !m_in.deadline.expired();
      });
      if (!walked || m_in.deadline.expired()) return nullptr;
      (void)IdentityIndex::store(dir, tree, std::move(records));  // a cache: failing to store costs only time
      loaded = IdentityIndex::load(dir, tree);
      if (!loaded) return nullptr;
    }
    return &m_indexes.emplace(key, std::move(*loaded)).first->second;
  }

  // The soak ledger of an environment at a commit, as post-receive left it (null when none).
  const SoakLedger* ledger_for(const policy::Environment& env, const Oid& commit) {
    auto key = env.path + "\n" + commit.hex();
    auto it = m_ledgers.find(key);
    if (it == m_ledgers.end())
      it = m_ledgers.emplace(key, load_soak_ledger(m_in.index_dir, env.path, commit)).first;
    return it->second ? &*it->second : nullptr;
  }

  std::filesystem::path index_dir(const policy::Environment& env) const {
    // Keys depend on the environment's default namespace, so it is part of the location.
    return env.namespace_.empty() ? m_in.index_dir : m_in.index_dir / ("ns-" + env.namespace_);
  }

 private:
  bool out_of_time() {
    if (!m_in.deadline.expired()) return false;
    if (!m_budget_reported) {
      m_budget_reported = true;
      Finding f;
      f.rule = "gate.budget";
      f.message = "the checks did not finish within the time budget of " +
                  std::to_string(m_in.config.time_budget_ms) + " ms";
      m_report.add(std::move(f));
    }
    return true;
  }

  void add(const std::string& ref, Finding f) {
    f.ref = ref;
    m_report.add(std::move(f));
  }

  void ref_finding(const std::string& ref, std::string rule, std::string message) {
    Finding f;
    f.rule = std::move(rule);
    f.message = std::move(message);
    add(ref, std::move(f));
  }

  void internal(const std::string& ref, const std::string& message) {
    ref_finding(ref, "gate.internal", message);
  }

  void check_update(const RefUpdate& u) {
    std::size_t first_finding = m_report.findings.size();
    m_touched_protected_env = false;
    check_update_rules(u);
    apply_break_glass(u, first_finding);
  }

  // Break-glass turns ownership and promotion findings of an allowed pusher into notices;
  // validity, ref protection and hostile-input limits stay.
  void apply_break_glass(const RefUpdate& u, std::size_t first) {
    if (m_in.break_glass.empty() || m_in.mode != GateMode::hook) return;
    bool allowed = false;
    for (const auto& who : m_in.config.break_glass)
      if (!m_in.pusher.empty() &&
          owner_matches(who.starts_with('@') || who.find('@') != std::string::npos ? who : "@" + who,
                        m_in.pusher, m_in.config.teams))
        allowed = true;
    if (!allowed) {
      if (!m_break_glass_denied) {
        m_break_glass_denied = true;
        ref_finding(u.ref, "breakglass.denied",
                    (m_in.pusher.empty() ? std::string("an unidentified pusher") : "pusher " + m_in.pusher) +
                        " may not use break-glass (identity.breakGlass in the server config)");
      }
      return;
    }
    m_report.break_glass = m_in.break_glass;
    for (std::size_t i = first; i < m_report.findings.size(); ++i) {
      Finding& f = m_report.findings[i];
      if (f.level != Level::error || !(f.rule.starts_with("owners.") || f.rule.starts_with("promotion.")))
        continue;
      f.level = Level::notice;
      f.message = "bypassed by break-glass: " + f.message;
      if (std::find(m_report.bypassed.begin(), m_report.bypassed.end(), f.rule) == m_report.bypassed.end())
        m_report.bypassed.push_back(f.rule);
    }
  }

  void check_update_rules(const RefUpdate& u) {
    // A name git refuses to store (from a client that is not git, or `git push HEAD:refs/x`):
    // git would refuse that ref alone and store the rest of a non-atomic push, so the push is
    // rejected here, in any failMode, and the name is shown escaped (printable).
    if (m_in.mode == GateMode::hook)
      if (auto why = ref_name_problem(u.ref))
        return ref_finding(u.ref, "ref.invalid-name", "\"" + u.ref + "\" is not a valid ref name: " + *why);
    std::optional<Oid> old_commit;
    if (!u.old_oid.is_zero()) {
      auto c = m_in.repo.peel_to_commit(u.old_oid);
      if (!c) return internal(u.ref, c.error().message);
      old_commit = *c;
    }
    std::optional<Oid> policy_commit = old_commit;
    if (!policy_commit && u.old_oid.is_zero()) {
      // A new ref is judged by the default branch's policy: creating a branch cannot
      // escape the rules.
      auto head = m_in.repo.head_commit();
      if (head) policy_commit = *head;
    }
    LoadedPolicy lp = policy_at(m_in.repo, policy_commit, m_in.config);
    if (!lp.problem.empty())
      m_report.notes.push_back("the policy in " + u.ref + " cannot be used (" + lp.problem +
                               "); judged by the default policy");
    const policy::Policy& p = lp.policy;

    if (m_in.mode == GateMode::hook && !check_ref_rules(u, p, old_commit)) return;
    if (u.new_oid.is_zero()) return;
    if (m_in.mode == GateMode::hook && u.old_oid.is_zero() && policy_commit) {
      auto base_tree = m_in.repo.commit_tree(*policy_commit);
      if (base_tree && p.is_environment_branch(u.ref, environments_of(m_in.repo, p, *base_tree)))
        return ref_finding(
            u.ref, "ref.environment-branch",
            u.ref + " names an environment; environments are directories on the main branch, not branches");
    }
    if (m_in.mode == GateMode::hook && !p.is_checked_ref(u.ref)) return;

    auto new_commit = m_in.repo.peel_to_commit(u.new_oid);
    if (!new_commit) return internal(u.ref, new_commit.error().message);
    if (!*new_commit) {
      if (u.ref.starts_with("refs/heads/"))
        ref_finding(u.ref, "ref.not-a-commit",
                    "a branch must point at a commit; " + u.new_oid.short_hex() + " is not one");
      return;
    }
    auto new_tree = m_in.repo.commit_tree(**new_commit);
    if (!new_tree) return internal(u.ref, new_tree.error().message);
    std::optional<Oid> old_tree;
    if (old_commit) {
      auto t = m_in.repo.commit_tree(*old_commit);
      if (!t) return internal(u.ref, t.error().message);
      old_tree = *t;
    }
    check_policy_file(u.ref, old_tree, *new_tree);
    check_content(u.ref, p, old_tree, *new_tree, policy_commit);
    if (m_in.mode != GateMode::hook) return;
    if (!old_commit && policy_commit) {
      // A new ref touches an environment when it differs from the default branch there, not
      // merely because the content checks read it all.
      m_touched_protected_env = false;
      auto base_tree = m_in.repo.commit_tree(*policy_commit);
      for (const auto& env : environments_of(m_in.repo, p, *new_tree)) {
        if (!env.protected_ || !base_tree) continue;
        auto a = m_in.repo.entry_at(*base_tree, env.path);
        auto b = m_in.repo.entry_at(*new_tree, env.path);
        std::optional<Oid> ao = a && *a ? std::optional<Oid>((*a)->oid) : std::nullopt;
        std::optional<Oid> bo = b && *b ? std::optional<Oid>((*b)->oid) : std::nullopt;
        if (ao != bo) m_touched_protected_env = true;
      }
    }
    bool protected_ref = p.is_protected_ref(u.ref);
    if (m_in.pusher.empty() && (protected_ref || m_touched_protected_env)) {
      std::string vars;
      for (const auto& v : m_in.config.identity_env) vars += (vars.empty() ? "" : ", ") + v;
      return ref_finding(u.ref, "identity.missing",
                         std::string("the push ") +
                             (protected_ref ? "updates a protected ref" : "touches a protected environment") +
                             " but the Git server names no pusher (expected one of " + vars + ")");
    }
    if (protected_ref) {
      OwnershipContext ctx{m_in.repo,    m_in.config, p,           policy_commit, old_commit,
                           **new_commit, u.ref,       m_in.pusher, m_in.updates};
      for (auto& f : check_ownership(ctx).findings) add(u.ref, std::move(f));
    }
  }

  // Returns false when the update is rejected outright (nothing more to check).
  bool check_ref_rules(const RefUpdate& u, const policy::Policy& p, const std::optional<Oid>& old_commit) {
    bool deleting = u.new_oid.is_zero();
    bool creating = u.old_oid.is_zero();
    if (deleting) {
      if (p.is_release_tag(u.ref))
        ref_finding(u.ref, "ref.release-tag-delete", "release tag " + u.ref + " cannot be deleted");
      else if (p.is_protected_ref(u.ref))
        ref_finding(u.ref, "ref.protected-delete", "protected ref " + u.ref + " cannot be deleted");
      return false;
    }
    if (creating) return true;
    if (p.is_release_tag(u.ref)) {
      ref_finding(
          u.ref, "ref.release-tag-move",
          "release tag " + u.ref + " already points at " + u.old_oid.short_hex() + " and cannot be moved");
      return false;
    }
    if (p.is_protected_ref(u.ref)) {
      auto new_commit = m_in.repo.peel_to_commit(u.new_oid);
      if (!new_commit) {
        internal(u.ref, new_commit.error().message);
        return false;
      }
      bool ff = false;
      if (old_commit && *new_commit) {
        auto r = m_in.repo.is_ancestor(*old_commit, **new_commit);
        if (!r) {
          internal(u.ref, r.error().message);
          return false;
        }
        ff = *r;
      }
      if (!ff) {
        ref_finding(u.ref, "ref.protected-force",
                    "protected ref " + u.ref + " can only move forward: " + u.new_oid.short_hex() +
                        " does not contain the current tip " + u.old_oid.short_hex() + " (a force push?)");
        return false;
      }
    }
    return true;
  }

  void check_policy_file(const std::string& ref, const std::optional<Oid>& old_tree, const Oid& new_tree) {
    auto after = m_in.repo.entry_at(new_tree, policy::k_policy_file);
    if (!after || !*after) return;
    if (old_tree) {
      auto before = m_in.repo.entry_at(*old_tree, policy::k_policy_file);
      if (before && *before && (*before)->oid == (*after)->oid) return;
    }
    Finding f;
    f.rule = "policy.invalid";
    f.file = std::string(policy::k_policy_file);
    auto text = m_in.repo.read_blob((*after)->oid, 1 << 20);
    if (!text) {
      f.message = "the policy file is unreadable or larger than 1 MiB";
      return add(ref, std::move(f));
    }
    auto parsed = policy::parse_policy(*text, policy::k_policy_file);
    if (parsed) return;
    f.line = parsed.error().line;
    f.column = parsed.error().column;
    f.message = parsed.error().message;
    add(ref, std::move(f));
  }

  struct EnvState {
    const policy::Environment* env;
    std::optional<Oid> old_env_tree;
    std::vector<std::pair<Declared, std::string>> declared;  // (object, path)
    std::vector<std::pair<UsedImage, std::string>> images;   // (image, path) in changed files
  };

  struct Deferred {
    const policy::Environment* env;
    std::string path;
    git::TreeEntry entry;
  };

  void check_content(const std::string& ref, const policy::Policy& p, const std::optional<Oid>& old_tree,
                     const Oid& new_tree, const std::optional<Oid>& base_commit) {
    auto envs = environments_of(m_in.repo, p, new_tree);
    CrdRegistry crds;
    std::vector<Deferred> deferred;
    std::unordered_set<std::string> changed;  // every path the update touches, in any environment
    std::vector<EnvState> states;

    for (const auto& env : envs) {
      if (out_of_time()) return;
      auto new_env = m_in.repo.entry_at(new_tree, env.path);
      if (!new_env) return internal(ref, new_env.error().message);
      if (!*new_env) continue;  // the environment is absent at the new tip: nothing is declared
      if ((*new_env)->kind != git::EntryKind::tree) {
        Finding f;
        f.rule = (*new_env)->kind == git::EntryKind::symlink ? "file.symlink" : "k8s.not-an-object";
        f.file = env.path;
        f.message = "environment " + env.name + " must be a directory";
        add(ref, std::move(f));
        continue;
      }
      std::optional<Oid> old_env_tree;
      if (old_tree) {
        auto old_env = m_in.repo.entry_at(*old_tree, env.path);
        if (!old_env) return internal(ref, old_env.error().message);
        if (*old_env && (*old_env)->kind == git::EntryKind::tree) old_env_tree = (*old_env)->oid;
      }
      if (old_env_tree && *old_env_tree == (*new_env)->oid) continue;
      EnvState state{&env, old_env_tree, {}, {}};
      CheckContext ctx{m_in.repo, m_in.config, p, env, m_in.store, crds};
      auto diffed = m_in.repo.diff(old_env_tree, (*new_env)->oid, env.path, [&](const git::Change& c) {
        changed.insert(c.path);
        if (env.protected_) m_touched_protected_env = true;
        if (!c.after) return true;
        FileResult r = check_file(ctx, c.path, *c.after, Pass::first);
        for (auto& image : r.images) state.images.emplace_back(std::move(image), c.path);
        for (auto& f : r.findings) add(ref, std::move(f));
        if (r.checked) ++m_report.stats.files;
        m_report.stats.objects += r.objects;
        for (auto& d : r.declared) state.declared.emplace_back(std::move(d), c.path);
        if (r.deferred) deferred.push_back(Deferred{&env, c.path, *c.after});
        return !m_in.deadline.expired();
      });
      if (!diffed) return internal(ref, diffed.error().message);
      if (out_of_time()) return;
      states.push_back(std::move(state));
    }

    if (!deferred.empty()) {
      resolve_crds_from_indexes(states, changed, crds, new_tree);
      for (const auto& d : deferred) {
        if (out_of_time()) return;
        CheckContext ctx{m_in.repo, m_in.config, p, *d.env, m_in.store, crds};
        FileResult r = check_file(ctx, d.path, d.entry, Pass::deferred);
        for (auto& f : r.findings) add(ref, std::move(f));
      }
    }
    for (auto& s : states) {
      if (out_of_time()) return;
      check_duplicates(ref, p, s.env, s.old_env_tree, s.declared, changed);
    }
    {
      std::vector<EnvImages> changes;
      for (auto& s : states) changes.push_back(EnvImages{s.env, s.old_env_tree, s.images, &changed});
      PromotionContext pctx{m_in.repo,
                            m_in.config,
                            envs,
                            base_commit,
                            m_in.now ? m_in.now : static_cast<std::int64_t>(std::time(nullptr)),
                            [this](const policy::Environment& e, const Oid& t) { return index_for(e, t); },
                            [this](const policy::Environment& e, const Oid& c) { return ledger_for(e, c); }};
      for (auto& f : check_promotion(pctx, changes)) add(ref, std::move(f));
    }
  }

  // CRDs declared in files this update does not touch are found through the index.
  void resolve_crds_from_indexes(const std::vector<EnvState>& states,
                                 const std::unordered_set<std::string>& changed, CrdRegistry& crds,
                                 const Oid& new_tree) {
    std::set<std::string> paths;
    for (const auto& s : states) {
      if (!s.old_env_tree) continue;
      const IdentityIndex* index = index_for(*s.env, *s.old_env_tree);
      if (!index) continue;
      for (std::size_t i = 0; i < index->size(); ++i) {
        auto rec = index->at(i);
        std::string path = s.env->path + "/" + rec.path;
        if (rec.key.starts_with("c\x1f") && !changed.contains(path)) paths.insert(std::move(path));
      }
    }
    for (const auto& path : paths) {
      auto entry = m_in.repo.entry_at(new_tree, path);
      if (!entry || !*entry) continue;
      auto text = m_in.repo.read_blob((*entry)->oid, m_in.config.max_file_size);
      if (!text) continue;
      auto stream = path.ends_with(".json") ? yaml::parse_json(*text, m_in.config.yaml_limits)
                                            : yaml::parse_yaml(*text, m_in.config.yaml_limits);
      if (!stream) continue;
      for (const auto& doc : stream->documents) {
        if (!doc.root || !doc.root->is_mapping()) continue;
        if (is_crd(doc.root->get_string("apiVersion"), doc.root->get_string("kind")))
          (void)crds.add(*doc.root);
      }
    }
  }

  void check_duplicates(const std::string& ref, const policy::Policy& p, const policy::Environment* env,
                        const std::optional<Oid>& old_env_tree,
                        std::vector<std::pair<Declared, std::string>>& declared,
                        const std::unordered_set<std::string>& changed) {
    std::erase_if(declared, [](const auto& d) { return !d.first.key.starts_with("o\x1f"); });
    std::stable_sort(declared.begin(), declared.end(),
                     [](const auto& a, const auto& b) { return a.first.key < b.first.key; });
    auto dup = [&](const std::pair<Declared, std::string>& d, const std::string& where) {
      Finding f;
      f.rule = "k8s.duplicate";
      f.file = d.second;
      f.line = d.first.line;
      f.column = d.first.column;
      f.object = d.first.object;
      f.message = "declared twice in environment " + env->name + " (" + describe_key(d.first.key) +
                  "): also in " + where;
      add(ref, std::move(f));
    };
    for (std::size_t i = 1; i < declared.size(); ++i) {
      if (declared[i].first.key != declared[i - 1].first.key) continue;
      std::size_t first = i - 1;
      while (first > 0 && declared[first - 1].first.key == declared[i].first.key) --first;
      dup(declared[i], declared[first].second + ":" + std::to_string(declared[first].first.line));
    }
    if (!old_env_tree || declared.empty()) return;
    const IdentityIndex* index = index_for(*env, *old_env_tree);
    if (!index) {
      if (!out_of_time()) internal(ref, "cannot build the identity index of environment " + env->name);
      return;
    }
    for (std::size_t i = 0; i < declared.size(); ++i) {
      if (i > 0 && declared[i].first.key == declared[i - 1].first.key) continue;
      for (auto rel : index->lookup(declared[i].first.key)) {
        std::string path = env->path + "/" + std::string(rel);
        if (changed.contains(path) || p.is_excluded(path)) continue;
        dup(declared[i], path);
        break;
      }
    }
  }

  const GateInput& m_in;
  Report m_report;
  bool m_budget_reported = false;
  bool m_touched_protected_env = false;
  bool m_break_glass_denied = false;
  std::map<std::string, IdentityIndex> m_indexes;
  std::map<std::string, std::optional<SoakLedger>> m_ledgers;

  friend void update_indexes(const GateInput& input);
};

}  // namespace

Report run_gate(const GateInput& input) {
  Gate gate(input);
  return gate.run();
}

void update_indexes(const GateInput& input) {
  Gate gate(input);
  for (const auto& u : input.updates) {
    if (u.new_oid.is_zero() || input.deadline.expired()) continue;
    std::optional<Oid> old_commit;
    if (!u.old_oid.is_zero())
      if (auto c = input.repo.peel_to_commit(u.old_oid); c && *c) old_commit = **c;
    std::optional<Oid> policy_commit = old_commit;
    if (!policy_commit)
      if (auto head = input.repo.head_commit(); head && *head) policy_commit = **head;
    LoadedPolicy lp = policy_at(input.repo, policy_commit, input.config);
    if (!lp.policy.is_checked_ref(u.ref)) continue;
    auto new_commit = input.repo.peel_to_commit(u.new_oid);
    if (!new_commit || !*new_commit) continue;
    auto new_tree = input.repo.commit_tree(**new_commit);
    if (!new_tree) continue;
    std::optional<Oid> old_tree;
    if (old_commit)
      if (auto t = input.repo.commit_tree(*old_commit)) old_tree = *t;
    auto envs = environments_of(input.repo, lp.policy, *new_tree);
    // The soak ledgers of environments others are promoted from, at the ref's new commit: the
    // next push's promotion check looks its soak up there.
    for (const auto& env : envs)
      if (std::any_of(envs.begin(), envs.end(), [&](const policy::Environment& e) {
            return e.promotion && e.promotion->from == env.name;
          }))
        (void)update_soak_ledger(input.repo, input.config, input.index_dir, env.path, **new_commit,
                                 [&] { return input.deadline.expired(); });
    for (const auto& env : envs) {
      auto new_env = input.repo.entry_at(*new_tree, env.path);
      if (!new_env || !*new_env || (*new_env)->kind != git::EntryKind::tree) continue;
      std::filesystem::path dir = gate.index_dir(env);
      if (IdentityIndex::load(dir, (*new_env)->oid)) continue;
      std::optional<IdentityIndex> old_index;
      std::optional<Oid> old_env_tree;
      if (old_tree)
        if (auto e = input.repo.entry_at(*old_tree, env.path);
            e && *e && (*e)->kind == git::EntryKind::tree) {
          old_env_tree = (*e)->oid;
          old_index = IdentityIndex::load(dir, *old_env_tree);
        }
      if (!old_index) {
        (void)gate.index_for(env, (*new_env)->oid);  // full build
        continue;
      }
      // Incremental: the old index without the changed paths, plus the changed files.
      std::unordered_set<std::string> changed;
      std::vector<IndexRecord> added;
      auto diffed = input.repo.diff(old_env_tree, (*new_env)->oid, "", [&](const git::Change& c) {
        changed.insert(c.path);  // relative to the environment, like the index
        if (c.after) {
          auto rs = index_records(input.repo, c.path, *c.after, env, input.config, input.store);
          added.insert(added.end(), rs.begin(), rs.end());
        }
        return true;
      });
      if (!diffed) continue;
      std::vector<IndexRecord> records;
      records.reserve(old_index->size() + added.size());
      for (std::size_t i = 0; i < old_index->size(); ++i) {
        auto rec = old_index->at(i);
        if (!changed.contains(rec.path)) records.push_back(std::move(rec));
      }
      records.insert(records.end(), added.begin(), added.end());
      (void)IdentityIndex::store(dir, (*new_env)->oid, std::move(records));
    }
  }
}

util::Result<std::vector<RefUpdate>> parse_updates(std::string_view input, std::size_t max_refs) {
  std::vector<RefUpdate> out;
  std::size_t line_no = 0;
  for (auto line : util::split(input, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (out.size() >= max_refs)
      return util::fail("the push updates more than " + std::to_string(max_refs) +
                        " refs (limits.maxRefs in the server config); push them in smaller batches");
    // The ref name is the rest of the line, as receive-pack has it: a hostile client can send
    // names with spaces, which the gate then rejects by name (ref_name_problem).
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos)
      return util::fail("malformed hook input on line " + std::to_string(line_no));
    auto old_oid = Oid::from_hex(line.substr(0, sp1));
    auto new_oid = Oid::from_hex(line.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string_view ref = line.substr(sp2 + 1);
    if (!old_oid || !new_oid || ref.empty())
      return util::fail("malformed hook input on line " + std::to_string(line_no));
    out.push_back(RefUpdate{*old_oid, *new_oid, std::string(ref)});
  }
  return out;
}

std::optional<std::string> ref_name_problem(std::string_view ref) {
  if (ref.size() > k_max_ref_name)
    return "it is " + std::to_string(ref.size()) + " bytes long; the limit is " +
           std::to_string(k_max_ref_name);
  for (unsigned char c : ref) {
    if (c < 0x20 || c == 0x7f) return std::string("it contains a control character");
    if (c == ' ') return std::string("it contains a space");
    if (std::string_view("~^:?*[\\").find(static_cast<char>(c)) != std::string_view::npos)
      return std::string("it contains one of ~ ^ : ? * [ \\");
  }
  if (!ref.starts_with("refs/")) return std::string("it does not start with refs/");
  if (ref.find("..") != std::string_view::npos) return std::string("it contains \"..\"");
  if (ref.find("@{") != std::string_view::npos) return std::string("it contains \"@{\"");
  if (ref.ends_with('.')) return std::string("it ends with \".\"");
  auto parts = util::split(ref.substr(5), '/');
  if (parts.size() < 2) return std::string("it has only one level below refs/");
  for (auto part : parts) {
    if (part.empty()) return std::string("it has an empty component (\"//\" or a trailing /)");
    if (part.starts_with('.')) return std::string("a component starts with \".\"");
    if (part.ends_with(".lock")) return std::string("a component ends with \".lock\"");
  }
  return std::nullopt;
}

}  // namespace portcullis::hooks
