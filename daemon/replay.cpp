#include "daemon/replay.hpp"

#include <charconv>

#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

// Lines since the last rewrite after which the file is written whole again (without the ids
// that expired).
constexpr std::size_t k_rewrite_after = 4096;

}  // namespace

ReplayGuard::ReplayGuard(std::filesystem::path file, std::int64_t keep_seconds, std::int64_t now)
    : m_file(std::move(file)), m_keep(keep_seconds) {
  if (m_file.empty()) return;
  auto text = util::read_file(m_file, 64 << 20);
  if (!text) return;  // none yet
  for (auto line : util::split(*text, '\n')) {
    auto space = line.find(' ');
    if (space == std::string_view::npos) continue;
    std::int64_t when = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + space, when);
    if (ec != std::errc{} || end != line.data() + space) continue;
    m_seen.emplace(std::string(line.substr(space + 1)), when);
  }
  forget_before(now - m_keep);
  (void)rewrite();
}

void ReplayGuard::forget_before(std::int64_t when) {
  std::erase_if(m_seen, [&](const auto& kv) { return kv.second < when; });
}

util::Result<void> ReplayGuard::rewrite() {
  std::string text;
  for (const auto& [id, when] : m_seen) text += std::to_string(when) + " " + id + "\n";
  m_appended = 0;
  return util::write_file(m_file, text, 0600);
}

util::Result<ReplayGuard::Use> ReplayGuard::use(std::string_view id, std::int64_t now) {
  std::lock_guard lock(m_mutex);
  forget_before(now - m_keep);
  if (m_seen.contains(id)) return Use::replay;
  if (!m_file.empty()) {
    if (++m_appended > k_rewrite_after) {
      m_seen.emplace(std::string(id), now);
      if (auto r = rewrite(); !r) {
        m_seen.erase(m_seen.find(id));
        return util::fail(r.error());
      }
      return Use::first;
    }
    if (auto r = util::append_line(m_file, std::to_string(now) + " " + std::string(id) + "\n"); !r)
      return util::fail(r.error());
  }
  m_seen.emplace(std::string(id), now);
  return Use::first;
}

std::size_t ReplayGuard::size() const {
  std::lock_guard lock(m_mutex);
  return m_seen.size();
}

}  // namespace portcullis::daemon
