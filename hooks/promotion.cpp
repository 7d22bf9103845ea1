#include "hooks/promotion.hpp"

#include <algorithm>
#include <unordered_map>

#include "shared/manifest/object.hpp"

namespace portcullis::hooks {

namespace {

bool in_index(const IdentityIndex* index, const std::string& key, const std::string& env_path,
              const std::unordered_set<std::string>* skip) {
  if (!index) return false;
  for (auto rel : index->lookup(key)) {
    std::string full = env_path + "/" + std::string(rel);
    if (!skip || !skip->contains(full)) return true;
  }
  return false;
}

std::string duration_text(std::int64_t seconds) {
  if (seconds >= 3600)
    return std::to_string(seconds / 3600) + "h" +
           (seconds % 3600 >= 60 ? std::to_string((seconds % 3600) / 60) + "m" : "");
  if (seconds >= 60) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

// For each image of `wanted`, the most recent first-parent commit from `tip` that brought it
// into `env` (a changed file gained it), found in one walk of at most k_soak_history_limit
// commits that stops as soon as every image is found. Images not found are absent from the
// result; `bounded` tells whether the walk stopped at the limit.
std::unordered_map<std::string, Introduction> introductions(const PromotionContext& ctx,
                                                            const policy::Environment& env,
                                                            const git::Oid& tip,
                                                            std::unordered_set<std::string> wanted,
                                                            bool& bounded) {
  bounded = false;
  std::unordered_map<std::string, Introduction> found;
  auto env_tree_of = [&](const git::Oid& commit) -> std::optional<git::Oid> {
    auto tree = ctx.repo.commit_tree(commit);
    if (!tree) return std::nullopt;
    auto e = ctx.repo.entry_at(*tree, env.path);
    if (e && *e && (*e)->kind == git::EntryKind::tree) return (*e)->oid;
    return std::nullopt;
  };
  std::optional<git::Oid> current = tip;
  std::optional<git::Oid> after = env_tree_of(tip);
  for (std::size_t walked = 0; current && !wanted.empty(); ++walked) {
    if (walked == k_soak_history_limit) {
      bounded = true;
      break;
    }
    auto info = ctx.repo.commit_info(*current);
    if (!info) break;
    std::optional<git::Oid> before;
    if (!info->parents.empty()) before = env_tree_of(info->parents.front());
    if (after) {
      (void)ctx.repo.diff(before, after, env.path, [&](const git::Change& ch) {
        if (!ch.after) return true;
        std::vector<std::string> hits;
        for (const auto& u : images_in_blob(ctx.repo, ch.path, ch.after->oid, ctx.config))
          if (wanted.contains(u.reference)) hits.push_back(u.reference);
        if (hits.empty()) return true;
        std::vector<UsedImage> old_images;
        if (ch.before) old_images = images_in_blob(ctx.repo, ch.path, ch.before->oid, ctx.config);
        for (const auto& h : hits) {
          bool had = std::any_of(old_images.begin(), old_images.end(),
                                 [&](const UsedImage& u) { return u.reference == h; });
          if (had || !wanted.erase(h)) continue;
          found.emplace(h, Introduction{info->id, info->committer_time, false});
        }
        return !wanted.empty();
      });
    }
    current = info->parents.empty() ? std::nullopt : std::optional<git::Oid>(info->parents.front());
    after = before;
  }
  return found;
}

}  // namespace

std::vector<Finding> check_promotion(const PromotionContext& ctx, const std::vector<EnvImages>& changes) {
  std::vector<Finding> out;
  std::optional<git::Oid> base_tree;
  if (ctx.base_commit)
    if (auto t = ctx.repo.commit_tree(*ctx.base_commit)) base_tree = *t;
  for (const auto& change : changes) {
    const policy::Environment& env = *change.env;
    if (!env.promotion) continue;
    const policy::Promotion& promo = *env.promotion;
    auto from = std::find_if(ctx.environments.begin(), ctx.environments.end(),
                             [&](const policy::Environment& e) { return e.name == promo.from; });
    const IdentityIndex* own_index = change.old_env_tree ? ctx.index_for(env, *change.old_env_tree) : nullptr;
    const IdentityIndex* from_index = nullptr;
    if (from != ctx.environments.end() && base_tree)
      if (auto e = ctx.repo.entry_at(*base_tree, from->path); e && *e && (*e)->kind == git::EntryKind::tree)
        from_index = ctx.index_for(*from, (*e)->oid);
    // Looked up in the soak ledger post-receive keeps; else one history walk for every image
    // whose soak must be checked.
    std::unordered_map<std::string, Introduction> introduced;
    bool bounded = false;
    if (promo.soak_ms > 0 && ctx.base_commit && from_index) {
      std::unordered_set<std::string> wanted;
      for (const auto& [image, path] : change.used)
        if (!in_index(own_index, image_key(image.reference), env.path, nullptr) &&
            in_index(from_index, image_key(image.reference), from->path, nullptr))
          wanted.insert(image.reference);
      const SoakLedger* ledger =
          wanted.empty() || !ctx.ledger_for ? nullptr : ctx.ledger_for(*from, *ctx.base_commit);
      for (auto it = wanted.begin(); ledger && it != wanted.end();) {
        if (auto e = ledger->find(*it); e != ledger->end()) {
          introduced.emplace(*it, e->second);
          it = wanted.erase(it);
        } else {
          ++it;
        }
      }
      if (!wanted.empty())
        introduced.merge(introductions(ctx, *from, *ctx.base_commit, std::move(wanted), bounded));
    }
    std::unordered_set<std::string> reported;
    for (const auto& [image, path] : change.used) {
      auto make = [&](std::string rule, std::string message) {
        Finding f;
        f.rule = std::move(rule);
        f.file = path;
        f.line = image.line;
        f.column = image.column;
        f.message = std::move(message);
        return f;
      };
      if (promo.require_digest && manifest::parse_image(image.reference).digest.empty())
        out.push_back(make("promotion.digest-required", "image " + image.reference + " in environment " +
                                                            env.name + " must be pinned by @sha256: digest"));
      // Only images new to the environment need promotion: one it ran before the push, in any
      // file (also one this push changes, say to scale it), is not new.
      if (in_index(own_index, image_key(image.reference), env.path, nullptr)) continue;
      if (!reported.insert(image.reference).second) continue;
      if (!in_index(from_index, image_key(image.reference), from_index ? from->path : std::string(),
                    nullptr)) {
        out.push_back(make("promotion.not-promoted", "image " + image.reference + " is not in " + promo.from +
                                                         " on the target ref; promote through " + promo.from +
                                                         " first"));
        continue;
      }
      if (promo.soak_ms > 0 && ctx.base_commit) {
        auto intro = introduced.find(image.reference);
        if (intro == introduced.end()) {
          out.push_back(make("promotion.soak",
                             "cannot tell how long image " + image.reference + " has been in " + promo.from +
                                 (bounded ? ": the history walk stopped at " +
                                                std::to_string(k_soak_history_limit) + " commits"
                                          : ": no commit in its history brought it there")));
          continue;
        }
        std::int64_t age = ctx.now - intro->second.time;
        std::int64_t need = promo.soak_ms / 1000;
        if (age < need)
          out.push_back(make("promotion.soak", "image " + image.reference + " has been in " + promo.from +
                                                   " for " + duration_text(std::max<std::int64_t>(age, 0)) +
                                                   " (since commit " + intro->second.commit.short_hex() +
                                                   (intro->second.at_or_before ? " or earlier" : "") + "); " +
                                                   env.name + " requires " + duration_text(need)));
      }
    }
  }
  return out;
}

}  // namespace portcullis::hooks
