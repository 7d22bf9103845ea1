#pragma once
// What the gate keeps between pushes beside the repository: identity indexes (one per
// environment tree, namespace default and selection) and soak ledgers, loaded when present and
// built from Git when missing. One cache per hook run.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "hooks/index.hpp"
#include "hooks/soak.hpp"
#include "hooks/update.hpp"
#include "shared/policy/policy.hpp"
#include "shared/render/environment.hpp"
#include "shared/schema/program.hpp"

namespace portcullis::hooks {

class IndexCache {
 public:
  IndexCache(const git::Repository& repo, const policy::ServerConfig& config, const schema::Program* store,
             std::filesystem::path dir, const Deadline& deadline)
      : m_repo(repo), m_config(config), m_store(store), m_dir(std::move(dir)), m_deadline(deadline) {}

  // The identity index of the environment `tree` as the render reads it under `selection`:
  // loaded, or built from Git and stored. nullptr when it cannot be built in time.
  const IdentityIndex* index_for(const policy::Environment& env, const git::Oid& tree,
                                 const render::Selection& selection);
  // Where the indexes of `env` under `selection` are stored.
  std::filesystem::path index_dir(const policy::Environment& env, const render::Selection& selection) const;
  // The soak ledger of `env` on `ref` at `commit`, as post-receive left it; nullptr when none.
  const SoakLedger* ledger_for(const std::string& ref, const policy::Environment& env,
                               const git::Oid& commit);
  // Whether the environment at `env_path` of `root` is a kustomization (render::is_kustomized).
  // That depends on the environment directory's entries only, so the answer is remembered by
  // that tree's id in `<dir>/kustomized` across hook runs: a push that does not change an
  // environment of 20,000 files does not read its directory for it.
  util::Result<bool> is_kustomized(const git::Oid& root, const std::string& env_path);
  const std::filesystem::path& dir() const { return m_dir; }

 private:
  const git::Repository& m_repo;
  const policy::ServerConfig& m_config;
  const schema::Program* m_store;
  std::filesystem::path m_dir;
  const Deadline& m_deadline;
  std::map<std::string, IdentityIndex> m_indexes;
  std::map<std::string, std::optional<SoakLedger>> m_ledgers;
  std::optional<std::map<std::string, bool>> m_kustomized;  // by tree id, loaded on first use
};

}  // namespace portcullis::hooks
