#include "hooks/promotion.hpp"

#include <algorithm>

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
  if (seconds >= 3600) return std::to_string(seconds / 3600) + "h" + (seconds % 3600 >= 60 ? std::to_string((seconds % 3600) / 60) + "m" : "");
  if (seconds >= 60) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

// The most recent first-parent commit from `tip` that brought `image` into `env` (a changed
// file gained it). nullopt when not found within the limit; `bounded` tells whether the
// limit was hit.
std::optional<git::Repository::CommitInfo> introduced_by(const PromotionContext& ctx, const policy::Environment& env,
                                                         const git::Oid& tip, const std::string& image, bool& bounded) {
  bounded = false;
  auto history = ctx.repo.first_parent_history(tip, k_soak_history_limit + 1);
  if (!history) return std::nullopt;
  if (history->size() > k_soak_history_limit) {
    bounded = true;
    history->resize(k_soak_history_limit);
  }
  for (const auto& c : *history) {
    auto info = ctx.repo.commit_info(c);
    if (!info) return std::nullopt;
    auto tree = ctx.repo.commit_tree(c);
    if (!tree) return std::nullopt;
    auto env_tree = ctx.repo.entry_at(*tree, env.path);
    std::optional<git::Oid> after, before;
    if (env_tree && *env_tree && (*env_tree)->kind == git::EntryKind::tree) after = (*env_tree)->oid;
    if (!info->parents.empty()) {
      auto ptree = ctx.repo.commit_tree(info->parents.front());
      if (ptree)
        if (auto pe = ctx.repo.entry_at(*ptree, env.path); pe && *pe && (*pe)->kind == git::EntryKind::tree) before = (*pe)->oid;
    }
    if (!after) continue;
    bool gained = false;
    (void)ctx.repo.diff(before, after, env.path, [&](const git::Change& ch) {
      if (!ch.after) return true;
      auto now_images = images_in_blob(ctx.repo, ch.path, ch.after->oid, ctx.config);
      bool has_now = std::any_of(now_images.begin(), now_images.end(), [&](const UsedImage& u) { return u.reference == image; });
      if (!has_now) return true;
      bool had = false;
      if (ch.before) {
        auto old_images = images_in_blob(ctx.repo, ch.path, ch.before->oid, ctx.config);
        had = std::any_of(old_images.begin(), old_images.end(), [&](const UsedImage& u) { return u.reference == image; });
      }
      gained = !had;
      return !gained;
    });
    if (gained) return *info;
  }
  return std::nullopt;
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
        out.push_back(make("promotion.digest-required", "image " + image.reference + " in environment " + env.name +
                                                            " must be pinned by @sha256: digest"));
      // Only images new to the environment need promotion: one it ran before the push, in any
      // file (also one this push changes, say to scale it), is not new.
      if (in_index(own_index, image_key(image.reference), env.path, nullptr)) continue;
      if (!reported.insert(image.reference).second) continue;
      if (!in_index(from_index, image_key(image.reference), from_index ? from->path : std::string(), nullptr)) {
        out.push_back(make("promotion.not-promoted", "image " + image.reference + " is not in " + promo.from +
                                                         " on the target ref; promote through " + promo.from + " first"));
        continue;
      }
      if (promo.soak_ms > 0 && ctx.base_commit) {
        bool bounded = false;
        auto intro = introduced_by(ctx, *from, *ctx.base_commit, image.reference, bounded);
        if (!intro) {
          out.push_back(make("promotion.soak",
                             "cannot tell how long image " + image.reference + " has been in " + promo.from +
                                 (bounded ? ": the history walk stopped at " + std::to_string(k_soak_history_limit) + " commits"
                                          : ": no commit in its history brought it there")));
          continue;
        }
        std::int64_t age = ctx.now - intro->committer_time;
        std::int64_t need = promo.soak_ms / 1000;
        if (age < need)
          out.push_back(make("promotion.soak", "image " + image.reference + " has been in " + promo.from + " for " +
                                                   duration_text(std::max<std::int64_t>(age, 0)) + " (since commit " +
                                                   intro->id.short_hex() + "); " + env.name + " requires " +
                                                   duration_text(need)));
      }
    }
  }
  return out;
}

}  // namespace portcullis::hooks
