#include "hooks/index_cache.hpp"

#include "hooks/checks.hpp"
#include "shared/util/hash.hpp"

namespace portcullis::hooks {

std::filesystem::path IndexCache::index_dir(const policy::Environment& env,
                                            const render::Selection& selection) const {
  // Keys depend on the environment's default namespace, and what is read on the selection (whose
  // globs match repository paths, so on where the environment is too): all are in the location.
  std::filesystem::path dir = env.namespace_.empty() ? m_dir : m_dir / ("ns-" + env.namespace_);
  if (selection.key().empty()) return dir;
  return dir / ("sel-" + selection.key() + "-" + util::sha256_hex(env.path).substr(0, 8));
}

const IdentityIndex* IndexCache::index_for(const policy::Environment& env, const git::Oid& tree,
                                           const render::Selection& selection) {
  auto key = tree.hex() + "\n" + env.namespace_ + "\n" + env.path + "\n" + selection.key();
  if (auto it = m_indexes.find(key); it != m_indexes.end()) return &it->second;
  std::filesystem::path dir = index_dir(env, selection);
  auto loaded = IdentityIndex::load(dir, tree);
  if (!loaded) {
    std::vector<IndexRecord> records;
    // Paths are relative to the environment: environments with equal trees share the file.
    auto walked = m_repo.walk(tree, "", [&](const std::string& path, const git::TreeEntry& e) {
      auto rs = index_records(m_repo, path, e, env, m_config, m_store, selection);
      records.insert(records.end(), std::make_move_iterator(rs.begin()), std::make_move_iterator(rs.end()));
      return !m_deadline.expired();
    });
    if (!walked || m_deadline.expired()) return nullptr;
    (void)IdentityIndex::store(dir, tree, std::move(records));  // a cache: failing to store costs only time
    loaded = IdentityIndex::load(dir, tree);
    if (!loaded) return nullptr;
  }
  return &m_indexes.emplace(key, std::move(*loaded)).first->second;
}

const SoakLedger* IndexCache::ledger_for(const std::string& ref, const policy::Environment& env,
                                         const git::Oid& commit) {
  auto key = ref + "\n" + env.path + "\n" + commit.hex();
  auto it = m_ledgers.find(key);
  if (it == m_ledgers.end())
    it = m_ledgers.emplace(key, load_soak_ledger(m_dir, ref, env.path, commit)).first;
  return it->second ? &*it->second : nullptr;
}

}  // namespace portcullis::hooks
