#pragma once
// Environment promotion: an image new in an environment must already be applied by the
// environment it is promoted from, on the target ref before the push (and, with a soak, for
// long enough by the server's clock: the soak ledger); requireDigest pins images by digest.
// Images are those of the objects the render yields (not kustomization `images:` entries, not
// excluded files).
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "hooks/checks.hpp"
#include "hooks/index.hpp"
#include "hooks/report.hpp"
#include "hooks/soak.hpp"
#include "shared/git/repository.hpp"
#include "shared/policy/policy.hpp"

namespace portcullis::hooks {

struct EnvImages {
  const policy::Environment* env;
  std::optional<git::Oid> old_env_tree;  // the environment before the push
  std::vector<std::pair<UsedImage, std::string>>
      used;  // images in changed files after the push, with the file
  // For an environment rendered by kustomize: every image its render ran before the push
  // (empty when it did not render before); nullopt for a plain environment (its index says).
  std::optional<std::vector<std::string>> old_rendered;
};

struct PromotionContext {
  const git::Repository& repo;
  const policy::ServerConfig& config;
  const std::vector<policy::Environment>& environments;
  std::optional<git::Oid> base_commit;  // the target before the push
  std::int64_t now;                     // the server's clock, unix seconds
  // The identity index of an environment tree as the render read it at the base (built when
  // missing); nullptr on failure.
  std::function<const IdentityIndex*(const policy::Environment&, const git::Oid&)> index_for;
  // The soak ledger of an environment at the base, as post-receive left it (nullptr when none:
  // the soak cannot be shown to have passed).
  std::function<const SoakLedger*(const policy::Environment&)> ledger_for = {};
  std::string ledger_ref;  // the ref whose ledgers are read, for messages
};

// Findings with rules promotion.not-promoted, promotion.soak and promotion.digest-required.
std::vector<Finding> check_promotion(const PromotionContext& ctx, const std::vector<EnvImages>& changes);

}  // namespace portcullis::hooks
