#include "hooks/soak.hpp"

#include <algorithm>
#include <vector>

#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks {

namespace fs = std::filesystem;

namespace {

// 2: arrivals by the server's clock, per ref (1 held committer dates per commit).
constexpr std::string_view k_magic = "PCSOAK2\n";
constexpr std::size_t k_keep_files = 64;

// A path component: '/' and '%' escaped.
std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '/' ? std::string("%2F") : c == '%' ? std::string("%25") : std::string(1, c);
  return out;
}

fs::path file_of(const fs::path& dir, std::string_view ref, std::string_view env_path,
                 const git::Oid& commit) {
  return dir / "soak" / escape(ref) / escape(env_path) / (commit.hex() + ".soak");
}

// "image \t commit \t time" lines, sorted by image, after the magic line.
std::string encode(const SoakLedger& ledger) {
  std::vector<const SoakLedger::value_type*> entries;
  for (const auto& e : ledger) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string out(k_magic);
  for (const auto* e : entries)
    out += e->first + "\t" + e->second.commit.hex() + "\t" + std::to_string(e->second.time) + "\n";
  return out;
}

std::optional<SoakLedger> decode(std::string_view text) {
  if (!text.starts_with(k_magic)) return std::nullopt;
  text.remove_prefix(k_magic.size());
  SoakLedger out;
  for (auto line : util::split(text, '\n')) {
    if (line.empty()) continue;
    auto f = util::split(line, '\t');
    if (f.size() != 3 || f[0].empty() || f[2].empty() || f[2].size() > 18) return std::nullopt;
    auto commit = git::Oid::from_hex(f[1]);
    if (!commit) return std::nullopt;
    std::int64_t time = 0;
    for (char c : f[2]) {
      if (c < '0' || c > '9') return std::nullopt;
      time = time * 10 + (c - '0');
    }
    out[std::string(f[0])] = Arrival{time, *commit};
  }
  return out;
}

}  // namespace

std::optional<SoakLedger> load_soak_ledger(const fs::path& dir, std::string_view ref,
                                           std::string_view env_path, const git::Oid& commit) {
  auto text = util::read_file(file_of(dir, ref, env_path, commit));
  if (!text) return std::nullopt;
  return decode(*text);
}

SoakLedger next_soak_ledger(const std::optional<SoakLedger>& previous, const std::vector<std::string>& images,
                            const git::Oid& commit, std::int64_t now) {
  SoakLedger out;
  for (const auto& image : images) {
    if (previous)
      if (auto it = previous->find(image); it != previous->end()) {
        out.emplace(image, it->second);
        continue;
      }
    out.emplace(image, Arrival{now, commit});
  }
  return out;
}

util::Result<void> store_soak_ledger(const fs::path& dir, std::string_view ref, std::string_view env_path,
                                     const git::Oid& commit, const SoakLedger& ledger) {
  fs::path target = file_of(dir, ref, env_path, commit);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (auto w = util::write_file(target, encode(ledger), 0644); !w) return w;
  util::keep_newest(target.parent_path(), ".soak", k_keep_files, target);
  return {};
}

}  // namespace portcullis::hooks
