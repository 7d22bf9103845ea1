#include "hooks/gate.hpp"

#include <algorithm>
#include <ctime>
#include <map>

#include "hooks/content.hpp"
#include "hooks/index_cache.hpp"
#include "hooks/ownership.hpp"
#include "hooks/promotion.hpp"
#include "hooks/refs.hpp"
#include "hooks/secrets.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks {

namespace {

using git::Oid;

std::int64_t clock_of(const GateInput& in) {
  return in.now ? in.now : static_cast<std::int64_t>(std::time(nullptr));
}

// The ref whose soak ledgers describe the base of `u`: the ref itself, or the default branch a
// new ref is judged against.
std::string ledger_ref(const git::Repository& repo, const Update& u) {
  if (u.old_commit) return u.raw->ref;
  return repo.head_ref().value_or(u.raw->ref);
}

class Gate {
 public:
  explicit Gate(const GateInput& in)
      : m_in(in),
        m_now(clock_of(in)),
        m_indexes(in.repo, in.config, in.store, in.index_dir, in.deadline),
        m_content{in.repo, in.config, in.store, in.deadline, m_indexes} {}

  Report run() {
    m_report.stats.refs = m_in.updates.size();
    std::vector<Update> updates;
    updates.reserve(m_in.updates.size());
    for (const auto& raw : m_in.updates) updates.push_back(describe_update(m_in.repo, m_in.config, raw));
    // Decided before anything may run out of time, and never accepted unjudged: a refused
    // break-glass request, a protected ref or environment, and plaintext Secrets anywhere the
    // push brings them (the environments' own files are only looked at here for a spelling of
    // Secret; they are judged whole by the content checks).
    // The ref rules (cheap) are decided here too, for every update: a push that breaks one is
    // rejected whatever runs out of time later.
    const bool refused = m_in.break_glass && break_glass_refusal(m_in.config, m_in.pusher, *m_in.break_glass);
    bool cleared = !refused;
    // The environments' files are read ahead for a spelling of Secret only when the push might
    // fail open: with failMode closed, the content checks alone judge them.
    const bool may_fail_open = m_in.fail_open && m_in.config.fail_mode == policy::FailMode::open;
    const SecretScan scope = !hook()         ? SecretScan::tip
                             : may_fail_open ? SecretScan::history_fail_open
                                             : SecretScan::history;
    for (const auto& u : updates) {
      RefVerdict refs = hook() && u.problem.empty() ? check_ref_rules(m_in.repo, u) : RefVerdict{};
      SecretScanResult scan = scan_once(u, hook() ? u.base_tree : u.old_tree, scope);
      cleared = cleared && refs.findings.empty() && scan.complete && !scan.judged_may_hold_secret &&
                scan.findings.empty() && !reaches_protected(u);
      add_all(std::move(scan.findings));
      m_refs.push_back(std::move(refs));
    }
    if (m_in.fail_open && cleared) m_in.fail_open->allowed.store(true);
    for (std::size_t i = 0; i < updates.size(); ++i) {
      const Update& u = updates[i];
      if (out_of_time()) break;
      std::size_t first = m_report.findings.size();
      judge(u, m_refs[i]);
      apply_break_glass(u, first);
    }
    return std::move(m_report);
  }

 private:
  bool hook() const { return m_in.mode == GateMode::hook; }

  // The Secret scan of an update, done once per (tip, base) in a push: 3,000 branches at one
  // commit are one scan (its findings named for each ref).
  SecretScanResult scan_once(const Update& u, const std::optional<Oid>& against, SecretScan scope) {
    std::string key = u.raw->new_oid.hex() + (against ? against->hex() : std::string("-"));
    auto it = m_scans.find(key);
    if (it == m_scans.end())
      it = m_scans.emplace(key, scan_plaintext_secrets(m_content, u, against, scope)).first;
    SecretScanResult r = it->second;
    for (auto& f : r.findings) f.ref = u.raw->ref;
    return r;
  }

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

  void add(const Update& u, std::string rule, std::string message) {
    Finding f;
    f.rule = std::move(rule);
    f.ref = u.raw->ref;
    f.message = std::move(message);
    m_report.add(std::move(f));
  }

  void add_all(std::vector<Finding>&& findings, const std::string& ref = {}) {
    for (auto& f : findings) {
      if (f.ref.empty()) f.ref = ref;
      m_report.add(std::move(f));
    }
  }

  // The rule families, in order; each stops the update when it rejects it outright.
  void judge(const Update& u, RefVerdict& refs) {
    if (!u.problem.empty()) return add(u, "gate.internal", u.problem);
    const bool hook = m_in.mode == GateMode::hook;
    if (!u.policy_problem.empty())
      m_report.notes.push_back("the policy in " + u.raw->ref + " cannot be used (" + u.policy_problem +
                               "); judged by the default policy");
    if (hook) {
      add_all(std::move(refs.findings));
      if (refs.stop) return;
    }
    if (!u.new_commit && !u.raw->new_oid.is_zero() &&
        (u.raw->ref.starts_with("refs/heads/") || u.protected_ref))
      return add(u, "ref.not-a-commit",
                 "a branch must point at a commit; " + u.raw->new_oid.short_hex() + " is not one");
    if (u.new_commit && (!hook || u.policy.is_checked_ref(u.raw->ref))) {
      ContentResult content = check_content(m_content, u);
      add_all(std::move(content.findings));
      m_report.stats.files += content.files;
      m_report.stats.objects += content.objects;
      if (content.out_of_time) return (void)out_of_time();
      check_promotion_of(u, content.images);
    }
    // Identity and ownership on every protected ref, checked for content or not.
    if (out_of_time() || !hook || !u.new_commit || !(u.policy.is_checked_ref(u.raw->ref) || u.protected_ref))
      return;
    if (m_in.pusher.empty() && (u.protected_ref || u.touches_protected_env)) {
      std::string vars;
      for (const auto& v : m_in.config.identity_env) vars += (vars.empty() ? "" : ", ") + v;
      return add(u, "identity.missing",
                 std::string("the push ") +
                     (u.protected_ref ? "updates a protected ref" : "touches a protected environment") +
                     " but the Git server names no pusher (expected one of " + vars + ")");
    }
    if (u.protected_ref && u.base_commit) {
      OwnershipContext ctx{m_in.repo,  m_in.config, u.policy,     *u.base_commit, *u.new_commit,
                           u.raw->ref, m_in.pusher, m_in.updates, m_now};
      add_all(check_ownership(ctx).findings, u.raw->ref);
    }
  }

  void check_promotion_of(const Update& u, const std::vector<EnvImages>& changes) {
    const std::string ref = ledger_ref(m_in.repo, u);
    PromotionContext ctx{m_in.repo,
                         m_in.config,
                         u.environments,
                         u.base_commit,
                         m_now,
                         [this, &u](const policy::Environment& e, const Oid& t) {
                           return m_indexes.index_for(e, t, u.selection_before);
                         },
                         [this, &u, &ref](const policy::Environment& e) -> const SoakLedger* {
                           return u.base_commit ? m_indexes.ledger_for(ref, e, *u.base_commit) : nullptr;
                         },
                         ref};
    add_all(check_promotion(ctx, changes), u.raw->ref);
  }

  // Break-glass turns ownership and promotion findings of an allowed pusher into notices;
  // validity, ref protection and hostile-input limits stay. A request without a reason, or by
  // someone not allowed, is refused (and the push with it).
  void apply_break_glass(const Update& u, std::size_t first) {
    if (!m_in.break_glass || m_in.mode != GateMode::hook) return;
    if (auto refusal = break_glass_refusal(m_in.config, m_in.pusher, *m_in.break_glass)) {
      if (std::exchange(m_break_glass_refused, true)) return;
      if (*refusal == "breakglass.reason-required")
        return add(u, *refusal,
                   "break-glass needs a reason a person can read: git push -o break-glass=\"INC-1234: what "
                   "and why\"");
      return add(u, *refusal,
                 (m_in.pusher.empty() ? std::string("an unidentified pusher") : "pusher " + m_in.pusher) +
                     " may not use break-glass (identity.breakGlass in the server config)");
    }
    m_report.break_glass = *m_in.break_glass;
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

  const GateInput& m_in;
  const std::int64_t m_now;
  IndexCache m_indexes;
  ContentContext m_content;
  Report m_report;
  bool m_budget_reported = false;
  bool m_break_glass_refused = false;
  std::vector<RefVerdict> m_refs;                   // per update, decided before the other rules
  std::map<std::string, SecretScanResult> m_scans;  // by tip and base
};

// The identity index of `env` at the new tip, carried forward from the old tip's when there is
// one (the old index without the changed paths, plus the changed files), else built whole.
void update_index(const GateInput& input, IndexCache& cache, const Update& u,
                  const policy::Environment& env) {
  auto new_env = input.repo.entry_at(*u.new_tree, env.path);
  if (!new_env || !*new_env || (*new_env)->kind != git::EntryKind::tree) return;
  const render::Selection& selection = u.selection_after;
  std::filesystem::path dir = cache.index_dir(env, selection);
  if (IdentityIndex::load(dir, (*new_env)->oid)) return;
  std::optional<IdentityIndex> old_index;
  std::optional<Oid> old_env_tree;
  if (u.old_tree)
    if (auto e = input.repo.entry_at(*u.old_tree, env.path); e && *e && (*e)->kind == git::EntryKind::tree) {
      old_env_tree = (*e)->oid;
      old_index = IdentityIndex::load(dir, *old_env_tree);
    }
  if (!old_index) {
    (void)cache.index_for(env, (*new_env)->oid, selection);  // full build
    return;
  }
  std::vector<std::string> changed;
  std::vector<IndexRecord> added;
  auto diffed = input.repo.diff(old_env_tree, (*new_env)->oid, "", [&](const git::Change& c) {
    changed.push_back(c.path);  // relative to the environment, like the index
    if (c.after) {
      auto rs = index_records(input.repo, c.path, *c.after, env, input.config, input.store, selection);
      added.insert(added.end(), rs.begin(), rs.end());
    }
    return true;
  });
  if (!diffed) return;
  std::sort(changed.begin(), changed.end());
  if (!IdentityIndex::store_carried(dir, (*new_env)->oid, *old_index, changed, std::move(added)))
    (void)cache.index_for(env, (*new_env)->oid, selection);  // the old index is damaged: full build
}

// Environments others are promoted from, by the policy before or after the update.
std::vector<const policy::Environment*> promotion_sources(const GateInput& input, const Update& u) {
  std::vector<std::string> names;
  auto collect = [&](const std::vector<policy::Environment>& envs) {
    for (const auto& e : envs)
      if (e.promotion) names.push_back(e.promotion->from);
  };
  collect(u.environments);
  // The new tip's policy: the next push is judged by it, and it may name other sources.
  collect(environments_of(input.repo, policy_at(input.repo, *u.new_commit, input.config), *u.new_tree));
  std::vector<const policy::Environment*> out;
  for (const auto& e : u.environments)
    if (std::find(names.begin(), names.end(), e.name) != names.end()) out.push_back(&e);
  return out;
}

// The soak ledger of `env` on the ref at its new tip, tip to tip from the ledger of its previous
// tip (the default branch's at the base, for a new ref), at the server's clock: the images its
// render runs (kustomize), else those its index records.
void update_ledger(const GateInput& input, IndexCache& cache, const Update& u,
                   const policy::Environment& env) {
  std::vector<std::string> images;
  auto new_env = input.repo.entry_at(*u.new_tree, env.path);
  // An environment kustomize renders runs what its render runs.
  const bool kustomized = cache.is_kustomized(*u.new_tree, env.path).value_or(false);
  if (auto rendered = rendered_images(input.repo, *u.new_tree, env.path, kustomized)) {
    images = std::move(*rendered);
  } else if (new_env && *new_env && (*new_env)->kind == git::EntryKind::tree) {
    const IdentityIndex* index = cache.index_for(env, (*new_env)->oid, u.selection_after);
    if (!index) return;  // out of time: no ledger, and the next push's soak restarts
    for (const auto& rec : index->with_prefix("i\x1f")) images.push_back(rec.key.substr(2));
  }
  std::optional<SoakLedger> previous;
  if (u.old_commit)
    previous = load_soak_ledger(cache.dir(), u.raw->ref, env.path, *u.old_commit);
  else if (u.base_commit)
    previous = load_soak_ledger(cache.dir(), ledger_ref(input.repo, u), env.path, *u.base_commit);
  (void)store_soak_ledger(cache.dir(), u.raw->ref, env.path, *u.new_commit,
                          next_soak_ledger(previous, images, *u.new_commit, clock_of(input)));
}

}  // namespace

bool reaches_protected(const Update& u) {
  return !u.problem.empty() || u.protected_ref || u.touches_protected_env;
}

Report run_gate(const GateInput& input) {
  Gate gate(input);
  return gate.run();
}

void update_indexes(const GateInput& input, bool with_ledgers) {
  IndexCache cache(input.repo, input.config, input.store, input.index_dir, input.deadline);
  for (const auto& raw : input.updates) {
    if (raw.new_oid.is_zero() || input.deadline.expired()) continue;
    Update u = describe_update(input.repo, input.config, raw, Reading::index);
    if (!u.problem.empty() || !u.new_commit || !u.policy.is_checked_ref(raw.ref)) continue;
    for (const auto& env : u.environments) update_index(input, cache, u, env);
    if (with_ledgers)
      for (const auto* env : promotion_sources(input, u)) update_ledger(input, cache, u, *env);
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

namespace {

// Decodes one UTF-8 code point at `i` (advancing it); U+FFFD for a byte that starts none.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i++]);
  int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
  char32_t cp = extra == 3 ? c & 0x07 : extra == 2 ? c & 0x0f : extra == 1 ? c & 0x1f : c;
  if (c >= 0x80 && extra == 0) return 0xfffd;
  for (; extra > 0 && i < s.size(); --extra) cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3f);
  return cp;
}

// Spaces, controls, format characters and bytes that are no UTF-8: nothing a reader sees.
bool invisible(char32_t cp) {
  return cp == 0xfffd || cp <= 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad || cp == 0x034f ||
         cp == 0x061c || cp == 0x115f || cp == 0x1160 || cp == 0x1680 || (cp >= 0x17b4 && cp <= 0x17b5) ||
         (cp >= 0x180b && cp <= 0x180f) || (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
         (cp >= 0x205f && cp <= 0x206f) || cp == 0x2800 || cp == 0x3000 || cp == 0x3164 ||
         (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || cp == 0xffa0 || (cp >= 0xfff0 && cp <= 0xfffb) ||
         (cp >= 0xe0000 && cp <= 0xe0fff);
}

bool has_visible(std::string_view text) {
  for (std::size_t i = 0; i < text.size();)
    if (!invisible(next_code_point(text, i))) return true;
  return false;
}

}  // namespace

std::optional<std::string> break_glass_refusal(const policy::ServerConfig& config, std::string_view pusher,
                                               std::string_view request) {
  if (!has_visible(request)) return std::string("breakglass.reason-required");
  bool allowed =
      !pusher.empty() &&
      std::any_of(config.break_glass.begin(), config.break_glass.end(), [&](const std::string& who) {
        return owner_matches(who.starts_with('@') || who.find('@') != std::string::npos ? who : "@" + who,
                             pusher, config.teams);
      });
  if (!allowed) return std::string("breakglass.denied");
  return std::nullopt;
}

std::optional<std::string> break_glass_request(std::span<const std::string> push_options) {
  constexpr std::string_view k_name = "break-glass";
  for (const auto& opt : push_options)
    if (opt == k_name)
      return std::string();  // `-o break-glass`: asked for, without a reason
    else if (opt.starts_with(k_name) && opt.size() > k_name.size() && opt[k_name.size()] == '=')
      return opt.substr(k_name.size() + 1);
  return std::nullopt;
}

}  // namespace portcullis::hooks
