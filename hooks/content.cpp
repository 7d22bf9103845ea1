#include "hooks/content.hpp"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_set>

#include "hooks/crds.hpp"
#include "shared/imagepolicy/policy.hpp"
#include "shared/manifest/object.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks {

namespace {

using git::Oid;

Finding ref_finding(const Update& u, std::string rule, std::string message, std::string file = {}) {
  Finding f;
  f.rule = std::move(rule);
  f.ref = u.raw->ref;
  f.file = std::move(file);
  f.message = std::move(message);
  return f;
}

// A .portcullis.yaml the update brings must be valid: it judges every later push.
void check_policy_file(const ContentContext& ctx, const Update& u, ContentResult& out) {
  auto after = ctx.repo.entry_at(*u.new_tree, policy::k_policy_file);
  if (!after || !*after) return;
  if (u.old_tree) {
    auto before = ctx.repo.entry_at(*u.old_tree, policy::k_policy_file);
    if (before && *before && (*before)->oid == (*after)->oid) return;
  }
  Finding f = ref_finding(u, "policy.invalid", "", std::string(policy::k_policy_file));
  auto text = ctx.repo.read_blob((*after)->oid, 1 << 20);
  if (!text) {
    f.message = "the policy file is unreadable or larger than 1 MiB";
    out.findings.push_back(std::move(f));
    return;
  }
  auto parsed = policy::parse_policy(*text, policy::k_policy_file);
  // Image policies (images.policies) beyond their schema: ranges and patterns that compile.
  util::Result<void> images;
  if (parsed) {
    if (auto p = imagepolicy::parse_policies(std::string_view(*text), policy::k_policy_file); !p) {
      images = util::fail(p.error());
    }
  }
  if (parsed && images) return;
  const util::Error& e = parsed ? images.error() : parsed.error();
  f.line = e.line;
  f.column = e.column;
  f.message = e.message;
  out.findings.push_back(std::move(f));
}

struct EnvState {
  const policy::Environment* env;
  std::optional<Oid> old_env_tree;
  std::vector<std::pair<Declared, std::string>> declared;  // (object, path)
};

struct Deferred {
  const policy::Environment* env;
  std::string path;
  git::TreeEntry entry;
  // A rendered object (kustomize) instead of a file: checked again as itself, at `line`.
  const manifest::Object* object = nullptr;
  std::uint32_t line = 0;
  const kustomize::Output* output = nullptr;  // the build that rendered `object`
};

// The rules of one environment run over its changed files.
class EnvironmentChecks {
 public:
  EnvironmentChecks(const ContentContext& ctx, const Update& u, ContentResult& out)
      : m_ctx(ctx), m_u(u), m_out(out) {
    m_crds.set_rules(rule_features_of(ctx.store));
  }

  void run() {
    for (const auto& env : m_u.environments) {
      if (out_of_time()) return;
      if (!check_environment(env)) return;
    }
    if (!m_deferred.empty()) {
      resolve_crds_from_indexes();
      for (const auto& d : m_deferred) {
        if (out_of_time()) return;
        CheckContext c{m_ctx.repo,  m_ctx.config, m_u.policy,          *d.env,
                       m_ctx.store, m_crds,       m_u.selection_after, confinement_of(*d.env)};
        add_all(d.object ? check_rendered(c, d.path, d.line, *d.object, false, Pass::deferred, d.output).findings
                         : check_file(c, d.path, d.entry, Pass::deferred).findings);
      }
    }
    for (auto& s : m_states) {
      if (out_of_time()) return;
      check_duplicates(s);
    }
  }

 private:
  bool out_of_time() {
    if (m_ctx.deadline.expired()) m_out.out_of_time = true;
    return m_out.out_of_time;
  }

  const policy::EnvironmentConfinement* confinement_of(const policy::Environment& env) const {
    auto it = m_ctx.config.confinement.find(env.path);
    return it == m_ctx.config.confinement.end() ? nullptr : &it->second;
  }

  void add_all(std::vector<Finding>&& findings) {
    for (auto& f : findings) {
      f.ref = m_u.raw->ref;
      m_out.findings.push_back(std::move(f));
    }
  }

  void internal(const std::string& message) {
    m_out.findings.push_back(ref_finding(m_u, "gate.internal", message));
    m_out.out_of_time = true;  // stops the checks
  }

  // False to stop every check (an internal error).
  bool check_environment(const policy::Environment& env) {
    auto new_env = m_ctx.repo.entry_at(*m_u.new_tree, env.path);
    if (!new_env) return internal(new_env.error().message), false;
    if (!*new_env) return true;  // the environment is absent at the new tip: nothing is declared
    if ((*new_env)->kind != git::EntryKind::tree) {
      m_out.findings.push_back(
          ref_finding(m_u, (*new_env)->kind == git::EntryKind::symlink ? "file.symlink" : "k8s.not-an-object",
                      "environment " + env.name + " must be a directory", env.path));
      return true;
    }
    std::optional<Oid> old_env_tree;
    if (m_u.old_tree) {
      auto old_env = m_ctx.repo.entry_at(*m_u.old_tree, env.path);
      if (!old_env) return internal(old_env.error().message), false;
      if (*old_env && (*old_env)->kind == git::EntryKind::tree) old_env_tree = (*old_env)->oid;
    }
    // The one render: an environment with a kustomization is its build, judged as a whole.
    auto kustomized = m_ctx.indexes.is_kustomized(*m_u.new_tree, env.path);
    if (!kustomized) return internal(kustomized.error().message), false;
    bool was_kustomized = false;
    if (m_u.old_tree && old_env_tree) {
      auto k = m_ctx.indexes.is_kustomized(*m_u.old_tree, env.path);
      if (!k) return internal(k.error().message), false;
      was_kustomized = *k;
    }
    if (*kustomized) return check_kustomized(env, old_env_tree, was_kustomized);
    // An environment that stops being a kustomization applies every file it holds now: each is
    // judged, none was before as an object.
    if (was_kustomized) old_env_tree.reset();
    const bool same_selection = m_u.selection_after == m_u.selection_before;
    if (old_env_tree && *old_env_tree == (*new_env)->oid && same_selection) return true;
    EnvState state{&env, old_env_tree, {}};
    EnvImages images{&env, old_env_tree, {}, std::nullopt};
    CheckContext c{m_ctx.repo,  m_ctx.config, m_u.policy,          env,
                   m_ctx.store, m_crds,       m_u.selection_after, confinement_of(env)};
    auto check = [&](const std::string& path, const git::TreeEntry& entry) {
      FileResult r = check_file(c, path, entry, Pass::first);
      for (auto& image : r.images) images.used.emplace_back(std::move(image), path);
      add_all(std::move(r.findings));
      if (r.checked) ++m_out.files;
      for (const auto& id : r.applied) m_out.applied.push_back(path + ": " + id.describe());
      m_out.objects += r.objects;
      for (auto& d : r.declared) state.declared.emplace_back(std::move(d), path);
      if (r.deferred) m_deferred.push_back(Deferred{&env, path, entry});
    };
    auto diffed = m_ctx.repo.diff(old_env_tree, (*new_env)->oid, env.path, [&](const git::Change& ch) {
      m_changed.insert(ch.path);
      if (ch.after) check(ch.path, *ch.after);
      return !m_ctx.deadline.expired();
    });
    if (!diffed) return internal(diffed.error().message), false;
    // Files the update does not change but the new selection reads and the old one did not (a
    // policy change that stops excluding them) are new objects too.
    if (!same_selection) {
      auto walked =
          m_ctx.repo.walk((*new_env)->oid, env.path, [&](const std::string& path, const git::TreeEntry& e) {
            std::string_view rel = *render::within(env.path, path);
            if (!m_changed.contains(path) &&
                render::use_of(m_u.selection_after, env.path, rel, e.kind) == render::FileUse::objects &&
                render::use_of(m_u.selection_before, env.path, rel, e.kind) != render::FileUse::objects) {
              m_changed.insert(path);
              check(path, e);
            }
            return !m_ctx.deadline.expired();
          });
      if (!walked) return internal(walked.error().message), false;
    }
    if (out_of_time()) return true;
    m_states.push_back(std::move(state));
    m_out.images.push_back(std::move(images));
    return true;
  }

  // An environment rendered by kustomize: rendered again at the new tip when any input of its
  // render (every file the build read or probed) differs from the old tip, and then every object
  // judged, at the origin file and line, with duplicates within the render. A build error is a
  // finding with its kustomize.* rule.
  bool check_kustomized(const policy::Environment& env, const std::optional<Oid>& old_env_tree,
                        bool was_kustomized) {
    auto built = render::build_environment(m_ctx.repo, *m_u.new_tree, env.path);
    if (!built) {
      const auto& e = built.error();
      Finding f = ref_finding(m_u, e.rule.empty() ? "kustomize.invalid" : e.rule,
                              "environment " + env.name + " does not render: " + e.message,
                              e.file.empty() ? env.path : e.file);
      f.line = e.line;
      f.column = e.column;
      m_out.findings.push_back(std::move(f));
      return true;
    }
    if (was_kustomized && m_u.old_tree &&
        render::inputs_digest(m_ctx.repo, *m_u.old_tree, built->output.files_read) ==
            render::inputs_digest(m_ctx.repo, *m_u.new_tree, built->output.files_read))
      return true;  // every input is as it was: the render is too
    EnvImages images{&env, old_env_tree, {}, std::nullopt};  // from plain files: its index says
    if (was_kustomized)
      images.old_rendered = rendered_images(m_ctx.repo, *m_u.old_tree, env.path).value_or(std::vector<std::string>{});
    EnvState state{&env, std::nullopt, {}};  // the render is the whole environment: no index
    CheckContext c{m_ctx.repo,  m_ctx.config, m_u.policy,          env,
                   m_ctx.store, m_crds,       m_u.selection_after, confinement_of(env)};
    m_builds.push_back(std::move(*built));
    const render::Kustomized& k = m_builds.back();
    auto check = [&](const manifest::Object& o, bool encrypted) {
      const auto& origin = k.output.objects[o.document];
      FileResult r = check_rendered(c, origin.file, origin.line, o, encrypted, Pass::first, &k.output);
      for (auto& image : r.images) images.used.emplace_back(std::move(image), origin.file);
      add_all(std::move(r.findings));
      for (const auto& id : r.applied) m_out.applied.push_back(origin.file + ": " + id.describe());
      m_out.objects += r.objects;
      for (auto& d : r.declared) state.declared.emplace_back(std::move(d), origin.file);
      if (r.deferred) m_deferred.push_back(Deferred{&env, origin.file, {}, &o, origin.line, &k.output});
    };
    for (const auto& o : k.objects) {
      if (out_of_time()) return true;
      check(o, false);
    }
    for (const auto& o : k.encrypted) check(o, true);
    m_out.files += k.output.files_read.size();
    m_states.push_back(std::move(state));
    m_out.images.push_back(std::move(images));
    return true;
  }

  // CRDs declared in files this update does not touch are found through the index.
  void resolve_crds_from_indexes() {
    std::set<std::string> paths;
    for (const auto& s : m_states) {
      if (!s.old_env_tree) continue;
      const IdentityIndex* index = m_ctx.indexes.index_for(*s.env, *s.old_env_tree, m_u.selection_after);
      if (!index) continue;
      for (const auto& rec : index->with_prefix("c\x1f")) {
        std::string path = s.env->path + "/" + rec.path;
        if (!m_changed.contains(path)) paths.insert(std::move(path));
      }
    }
    for (const auto& path : paths) {
      auto entry = m_ctx.repo.entry_at(*m_u.new_tree, path);
      if (!entry || !*entry) continue;
      auto text = m_ctx.repo.read_blob((*entry)->oid, m_ctx.config.max_file_size);
      if (!text) continue;
      auto stream = render::parse_file(path, *text, m_ctx.config.yaml_limits);
      if (!stream) continue;
      for (const auto& o : render::declared_in(*stream).objects)
        if (o.node->is_mapping() && is_crd(o.api_version, o.kind)) (void)m_crds.add(*o.node);
    }
  }

  void check_duplicates(EnvState& s) {
    auto& declared = s.declared;
    std::erase_if(declared, [](const auto& d) { return !d.first.key.starts_with("o\x1f"); });
    std::stable_sort(declared.begin(), declared.end(),
                     [](const auto& a, const auto& b) { return a.first.key < b.first.key; });
    auto dup = [&](const std::pair<Declared, std::string>& d, const std::string& where) {
      Finding f = ref_finding(m_u, "k8s.duplicate",
                              "declared twice in environment " + s.env->name + " (" +
                                  describe_key(d.first.key) + "): also in " + where,
                              d.second);
      f.line = d.first.line;
      f.column = d.first.column;
      f.object = d.first.object;
      m_out.findings.push_back(std::move(f));
    };
    for (std::size_t i = 1; i < declared.size(); ++i) {
      if (declared[i].first.key != declared[i - 1].first.key) continue;
      std::size_t first = i - 1;
      while (first > 0 && declared[first - 1].first.key == declared[i].first.key) --first;
      dup(declared[i], declared[first].second + ":" + std::to_string(declared[first].first.line));
    }
    if (!s.old_env_tree || declared.empty()) return;
    const IdentityIndex* index = m_ctx.indexes.index_for(*s.env, *s.old_env_tree, m_u.selection_after);
    if (!index) {
      if (!out_of_time())
        m_out.findings.push_back(ref_finding(
            m_u, "gate.internal", "cannot build the identity index of environment " + s.env->name));
      return;
    }
    for (std::size_t i = 0; i < declared.size(); ++i) {
      if (i > 0 && declared[i].first.key == declared[i - 1].first.key) continue;
      for (auto rel : index->lookup(declared[i].first.key)) {
        std::string path = s.env->path + "/" + std::string(rel);
        if (m_changed.contains(path)) continue;
        dup(declared[i], path);
        break;
      }
    }
  }

  const ContentContext& m_ctx;
  const Update& m_u;
  ContentResult& m_out;
  CrdRegistry m_crds;
  std::vector<Deferred> m_deferred;
  std::unordered_set<std::string> m_changed;  // every path the update touches, in any environment
  std::vector<EnvState> m_states;
  std::deque<render::Kustomized> m_builds;  // renders whose objects are judged (kept for deferred checks)
};

}  // namespace

ContentResult check_content(const ContentContext& ctx, const Update& u) {
  ContentResult out;
  if (!u.new_tree) return out;
  check_policy_file(ctx, u, out);
  EnvironmentChecks(ctx, u, out).run();
  return out;
}

}  // namespace portcullis::hooks
