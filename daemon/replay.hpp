#pragma once
// Ids of the signed requests already acted on (push events, allow-prune), so that each is
// acted on once: a captured request sent again is refused. Ids are kept for as long as their
// signature can be valid (twice the timestamp window), in memory and in a file under the state
// directory, so that a restart does not forget them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "shared/util/error.hpp"

namespace portcullis::daemon {

class ReplayGuard {
 public:
  // `file` empty: kept in memory only. Ids recorded in `file` less than `keep_seconds` before
  // `now` are loaded; the file is written again without the older ones.
  ReplayGuard(std::filesystem::path file, std::int64_t keep_seconds, std::int64_t now);

  enum class Use { first, replay };
  // Records `id` at `now`. Fails (and records nothing) when the file cannot be appended to:
  // an id that a restart would forget must not be acted on.
  util::Result<Use> use(std::string_view id, std::int64_t now);

  std::size_t size() const;

 private:
  std::filesystem::path m_file;
  std::int64_t m_keep;
  mutable std::mutex m_mutex;
  std::map<std::string, std::int64_t, std::less<>> m_seen;  // id -> when first used
  std::size_t m_appended = 0;                                // lines since the file was last written whole

  void forget_before(std::int64_t when);
  util::Result<void> rewrite();
};

}  // namespace portcullis::daemon
