#pragma once
// File system helpers with error values instead of exceptions.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

#include "shared/util/error.hpp"

namespace portcullis::util {

// Reads a whole file; fails when it is larger than `max_bytes`.
Result<std::string> read_file(const std::filesystem::path& path, std::uint64_t max_bytes = 64ull << 20);

// A whole file mapped read-only (private), unmapped when destroyed: for files read in place
// (caches of large trees and indexes, the schema store), whose pages then come from the page
// cache instead of being copied into fresh memory. An empty file maps to no bytes.
class MappedFile {
 public:
  // Fails when `path` cannot be opened or mapped, or is larger than `max_bytes`.
  static Result<MappedFile> open(const std::filesystem::path& path, std::uint64_t max_bytes = 1ull << 30);
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {static_cast<const char*>(m_base), m_size}; }

 private:
  void* m_base = nullptr;
  std::size_t m_size = 0;
};

// Whether write_file waits for the content to reach the disk before it renames: a cache whose
// entries are checked when read (and may be lost) need not.
enum class Sync { yes, no };

// Writes `content` atomically: a temporary file beside `path`, flushed, then renamed over it.
Result<void> write_file(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644,
                        Sync sync = Sync::yes);
// The same with the content in parts, written one after another (a header and the bytes it
// describes, without copying them into one buffer first).
Result<void> write_file(const std::filesystem::path& path, std::initializer_list<std::string_view> parts,
                        unsigned mode = 0644, Sync sync = Sync::yes);

// Appends `line` (which must end in '\n') with one write(2) on an O_APPEND descriptor, so
// concurrent writers never interleave lines; fsyncs before returning. Creates the file (and
// its directory) when missing.
Result<void> append_line(const std::filesystem::path& path, std::string_view line);

// Removes the oldest files of `dir` whose names end in `extension` (".idx"), by modification
// time, so that `keep` are left, `written` (just written) among them whatever the clock says
// about the others; and write_file's temporaries of such files older than
// `k_stale_temporary` (a writer killed mid-write: a hook past its budget). Best effort: what
// cannot be listed or removed is left.
inline constexpr std::chrono::minutes k_stale_temporary{10};
void keep_newest(const std::filesystem::path& dir, std::string_view extension, std::size_t keep,
                 const std::filesystem::path& written);

// Creates a fresh directory `parent/prefixXXXXXX`.
Result<std::filesystem::path> make_temp_dir(const std::filesystem::path& parent, std::string_view prefix);

// Moves directory `from` to `to`, replacing what is there; the old tree is removed after
// the swap so readers see either the old or the new directory.
Result<void> replace_directory(const std::filesystem::path& from, const std::filesystem::path& to);

// Removes a directory tree when it goes out of scope, unless released.
class TempDirGuard {
 public:
  explicit TempDirGuard(std::filesystem::path path) : m_path(std::move(path)) {}
  ~TempDirGuard();
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  void release() { m_path.clear(); }

 private:
  std::filesystem::path m_path;
};

// errno as text.
std::string errno_text(int err);

}  // namespace portcullis::util
