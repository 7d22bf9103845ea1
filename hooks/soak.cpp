#include "hooks/soak.hpp"

#include <algorithm>
#include <vector>

#include "hooks/checks.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_magic = "PCSOAK1\n";
constexpr std::size_t k_keep_files = 64;

// One directory per environment: its path with '/' and '%' escaped.
fs::path ledger_dir(const fs::path& dir, std::string_view env_path) {
  std::string name;
  for (char c : env_path)
    name += c == '/' ? std::string("%2F") : c == '%' ? std::string("%25") : std::string(1, c);
  return dir / "soak" / name;
}

fs::path file_of(const fs::path& dir, std::string_view env_path, const git::Oid& commit) {
  return ledger_dir(dir, env_path) / (commit.hex() + ".soak");
}

// "image \t commit \t time \t a|b" lines, sorted by image, after the magic line.
std::string encode(const SoakLedger& ledger) {
  std::vector<const SoakLedger::value_type*> entries;
  for (const auto& e : ledger) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string out(k_magic);
  for (const auto* e : entries)
    out += e->first + "\t" + e->second.commit.hex() + "\t" + std::to_string(e->second.time) + "\t" +
           (e->second.at_or_before ? "b" : "a") + "\n";
  return out;
}

std::optional<SoakLedger> decode(std::string_view text) {
  if (!text.starts_with(k_magic)) return std::nullopt;
  text.remove_prefix(k_magic.size());
  SoakLedger out;
  for (auto line : util::split(text, '\n')) {
    if (line.empty()) continue;
    auto f = util::split(line, '\t');
    if (f.size() != 4 || f[0].empty() || (f[3] != "a" && f[3] != "b")) return std::nullopt;
    auto commit = git::Oid::from_hex(f[1]);
    if (!commit) return std::nullopt;
    std::int64_t time = 0;
    for (char c : f[2]) {
      if (c < '0' || c > '9') return std::nullopt;
      time = time * 10 + (c - '0');
    }
    out[std::string(f[0])] = Introduction{*commit, time, f[3] == "b"};
  }
  return out;
}

std::optional<git::Oid> env_tree_of(const git::Repository& repo, const git::Oid& commit,
                                    std::string_view env_path) {
  auto tree = repo.commit_tree(commit);
  if (!tree) return std::nullopt;
  auto e = repo.entry_at(*tree, env_path);
  if (e && *e && (*e)->kind == git::EntryKind::tree) return (*e)->oid;
  return std::nullopt;
}

void trim(const fs::path& dir, const fs::path& written) {
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".soak" && e.path() != written)
      files.emplace_back(e.last_write_time(ec), e.path());
  if (files.size() + 1 <= k_keep_files) return;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = k_keep_files - 1; i < files.size(); ++i) fs::remove(files[i].second, ec);
}

}  // namespace

std::optional<SoakLedger> load_soak_ledger(const fs::path& dir, std::string_view env_path,
                                           const git::Oid& commit) {
  auto text = util::read_file(file_of(dir, env_path, commit));
  if (!text) return std::nullopt;
  return decode(*text);
}

util::Result<void> update_soak_ledger(const git::Repository& repo, const policy::ServerConfig& config,
                                      const fs::path& dir, std::string_view env_path, const git::Oid& commit,
                                      const std::function<bool()>& expired) {
  fs::path target = file_of(dir, env_path, commit);
  std::error_code ec;
  if (fs::exists(target, ec)) return {};
  // Back along the first parents to a commit with a ledger, the root, or the limit.
  std::vector<git::Repository::CommitInfo> chain;  // newest first
  std::optional<SoakLedger> ledger;
  std::optional<git::Oid> current = commit;
  while (current) {
    if (expired()) return util::fail("out of time building the soak ledger of " + std::string(env_path));
    if (*current != commit)
      if ((ledger = load_soak_ledger(dir, env_path, *current))) break;
    if (chain.size() == k_soak_history_limit) break;
    auto info = repo.commit_info(*current);
    if (!info) return util::fail(info.error());
    current = info->parents.empty() ? std::nullopt : std::optional<git::Oid>(info->parents.front());
    chain.push_back(std::move(*info));
  }
  if (!ledger) {
    ledger.emplace();
    if (current) {
      // The limit: what the environment ran at the oldest commit reached has been there since then.
      auto info = repo.commit_info(*current);
      if (!info) return util::fail(info.error());
      if (auto tree = env_tree_of(repo, *current, env_path)) {
        auto walked = repo.walk(*tree, env_path, [&](const std::string& path, const git::TreeEntry& e) {
          if (e.kind == git::EntryKind::blob || e.kind == git::EntryKind::executable)
            for (const auto& u : images_in_blob(repo, path, e.oid, config))
              (*ledger)[u.reference] = Introduction{*current, info->committer_time, true};
          return !expired();
        });
        if (!walked) return util::fail(walked.error());
      }
    }
  }
  // Forward, oldest first: a commit whose change gives a file an image it lacked brought it.
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (expired()) return util::fail("out of time building the soak ledger of " + std::string(env_path));
    std::optional<git::Oid> before;
    if (!it->parents.empty()) before = env_tree_of(repo, it->parents.front(), env_path);
    std::optional<git::Oid> after = env_tree_of(repo, it->id, env_path);
    if (!after || before == after) continue;
    auto diffed = repo.diff(before, after, env_path, [&](const git::Change& ch) {
      if (!ch.after) return true;
      auto gained = images_in_blob(repo, ch.path, ch.after->oid, config);
      if (gained.empty()) return true;
      std::vector<UsedImage> had;
      if (ch.before) had = images_in_blob(repo, ch.path, ch.before->oid, config);
      for (const auto& g : gained)
        if (std::none_of(had.begin(), had.end(),
                         [&](const UsedImage& u) { return u.reference == g.reference; }))
          (*ledger)[g.reference] = Introduction{it->id, it->committer_time, false};
      return true;
    });
    if (!diffed) return util::fail(diffed.error());
  }
  fs::create_directories(target.parent_path(), ec);
  if (auto w = util::write_file(target, encode(*ledger), 0644); !w) return w;
  trim(target.parent_path(), target);
  return {};
}

}  // namespace portcullis::hooks
