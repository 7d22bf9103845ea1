#include "hooks/index_cache.hpp"

#include <algorithm>

#include "hooks/checks.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/hash.hpp"
#include "shared/util/strings.hpp"

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

namespace {

constexpr const char* k_kustomized_file = "kustomized";
constexpr std::size_t k_kustomized_kept = 256;  // lines: the newest environment trees

// `<tree hex> <0|1>` lines, newest first; a damaged line is skipped (asked again).
std::map<std::string, bool> load_kustomized(const std::filesystem::path& file, std::vector<std::string>& order) {
  std::map<std::string, bool> out;
  auto text = util::read_file(file, 1 << 20);
  if (!text) return out;
  for (auto line : util::split(*text, '\n')) {
    if (line.size() != 42 || line[40] != ' ' || (line[41] != '0' && line[41] != '1')) continue;
    std::string hex(line.substr(0, 40));
    if (!git::Oid::from_hex(hex) || out.contains(hex)) continue;
    out.emplace(hex, line[41] == '1');
    order.push_back(std::move(hex));
  }
  return out;
}

}  // namespace

util::Result<bool> IndexCache::is_kustomized(const git::Oid& root, const std::string& env_path) {
  auto entry = m_repo.entry_at(root, env_path);
  if (!entry) return util::fail(entry.error());
  if (!*entry || (*entry)->kind != git::EntryKind::tree) return render::is_kustomized(m_repo, root, env_path);
  const std::string tree = (*entry)->oid.hex();
  std::vector<std::string> order;
  if (!m_kustomized) m_kustomized = load_kustomized(m_dir / k_kustomized_file, order);
  if (auto it = m_kustomized->find(tree); it != m_kustomized->end()) return it->second;
  auto answer = render::is_kustomized(m_repo, root, env_path);
  if (!answer) return answer;
  m_kustomized->emplace(tree, *answer);
  // Rewritten whole (atomically), the new answer first; concurrent runs may lose each other's
  // lines, which only costs the next run a read.
  if (order.empty()) (void)load_kustomized(m_dir / k_kustomized_file, order);
  std::string text = tree + (*answer ? " 1\n" : " 0\n");
  for (std::size_t i = 0; i < order.size() && i + 1 < k_kustomized_kept; ++i)
    if (order[i] != tree)
      if (auto it = m_kustomized->find(order[i]); it != m_kustomized->end())
        text += order[i] + (it->second ? " 1\n" : " 0\n");
  (void)util::write_file(m_dir / k_kustomized_file, text);  // a cache: failing to store costs only time
  return answer;
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
