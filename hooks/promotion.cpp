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
    // A source environment rendered by kustomize runs what its render runs.
    std::optional<std::vector<std::string>> from_rendered;
    if (from != ctx.environments.end() && base_tree) {
      from_rendered = rendered_images(ctx.repo, *base_tree, from->path);
      if (auto e = ctx.repo.entry_at(*base_tree, from->path);
          !from_rendered && e && *e && (*e)->kind == git::EntryKind::tree)
        from_index = ctx.index_for(*from, (*e)->oid);
    }
    auto contains = [](const std::optional<std::vector<std::string>>& images, const std::string& reference) {
      return images && std::find(images->begin(), images->end(), reference) != images->end();
    };
    // When each image came to the source environment on this ref, by the server's clock.
    const SoakLedger* ledger =
        promo.soak_ms > 0 && (from_index || from_rendered) && ctx.ledger_for ? ctx.ledger_for(*from) : nullptr;
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
      if (change.old_rendered ? contains(change.old_rendered, image.reference)
                              : in_index(own_index, image_key(image.reference), env.path, nullptr))
        continue;
      if (!reported.insert(image.reference).second) continue;
      if (!contains(from_rendered, image.reference) &&
          !in_index(from_index, image_key(image.reference), from_index ? from->path : std::string(),
                    nullptr)) {
        out.push_back(make("promotion.not-promoted", "image " + image.reference + " is not in " + promo.from +
                                                         " on the target ref; promote through " + promo.from +
                                                         " first"));
        continue;
      }
      if (promo.soak_ms > 0) {
        auto arrival = ledger ? ledger->find(image.reference) : SoakLedger::const_iterator{};
        if (!ledger || arrival == ledger->end()) {
          out.push_back(
              make("promotion.soak", "cannot tell how long image " + image.reference + " has been in " +
                                         promo.from + " on " + ctx.ledger_ref +
                                         ": the Git server has no record of its arrival (post-receive keeps "
                                         "one for every push; the soak counts from the next push to " +
                                         ctx.ledger_ref + ")"));
          continue;
        }
        std::int64_t age = ctx.now - arrival->second.time;
        std::int64_t need = promo.soak_ms / 1000;
        if (age < need)
          out.push_back(make("promotion.soak",
                             "image " + image.reference + " has been in " + promo.from + " for " +
                                 duration_text(std::max<std::int64_t>(age, 0)) + " (since the push of " +
                                 arrival->second.commit.short_hex() + ", by the Git server's clock); " +
                                 env.name + " requires " + duration_text(need)));
      }
    }
  }
  return out;
}

}  // namespace portcullis::hooks
