#include "shared/util/fs.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

namespace portcullis::util {

namespace fs = std::filesystem;

std::string errno_text(int err) { return std::strerror(err); }

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<void> write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write " + path.string() + ": " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 8; ++i) s += chars[rng() % 36];
  return s;
}

// Opens `path` for reading into `f`: its size, or why it cannot be read (missing, unreadable,
// larger than `max_bytes`; with `regular_only`, anything but a regular file, opened without
// waiting for a FIFO's writer).
Result<std::uint64_t> open_to_read(Fd& f, const fs::path& path, std::uint64_t max_bytes,
                                   bool regular_only = false) {
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
  if (f.fd < 0) return fail("cannot read " + path.string() + ": " + errno_text(errno));
  struct stat st {};
  if (fstat(f.fd, &st) != 0) return fail("cannot stat " + path.string() + ": " + errno_text(errno));
  if (regular_only && !S_ISREG(st.st_mode))
    return fail("cannot read " + path.string() + ": not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return fail(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace

Result<std::string> read_file(const fs::path& path, std::uint64_t max_bytes) {
  Fd f;
  auto size = open_to_read(f, path, max_bytes);
  if (!size) return fail(size.error());
  // The size fstat gives, plus a byte to see the end (or growth) with; a file that grows while
  // read is read on in doubling steps up to `max_bytes`. Nothing is zero-filled first.
  std::string out;
  std::size_t got = 0;
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, *size + 1));
  while (true) {
    int err = 0;
    out.resize_and_overwrite(want, [&](char* buf, std::size_t) {
      while (got < want) {
        ssize_t n = ::read(f.fd, buf + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = errno;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      return got;
    });
    if (err != 0) return fail("cannot read " + path.string() + ": " + errno_text(err));
    if (got < want || want >= max_bytes) break;
    want = static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, want * 2 + 4096));
  }
  return out;
}

Result<MappedFile> MappedFile::open(const fs::path& path, std::uint64_t max_bytes) {
  Fd f;
  auto size = open_to_read(f, path, max_bytes, true);
  if (!size) return fail(size.error());
  MappedFile m;
  if (*size == 0) return m;  // mmap refuses a length of 0
  void* base = ::mmap(nullptr, static_cast<std::size_t>(*size), PROT_READ, MAP_PRIVATE, f.fd, 0);
  if (base == MAP_FAILED) return fail("cannot map " + path.string() + ": " + errno_text(errno));
  m.m_base = base;
  m.m_size = static_cast<std::size_t>(*size);
  return m;
}

MappedFile::~MappedFile() {
  if (m_base) ::munmap(m_base, m_size);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : m_base(std::exchange(o.m_base, nullptr)), m_size(std::exchange(o.m_size, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (m_base) ::munmap(m_base, m_size);
    m_base = std::exchange(o.m_base, nullptr);
    m_size = std::exchange(o.m_size, 0);
  }
  return *this;
}

Result<void> write_file(const fs::path& path, std::string_view content, unsigned mode, Sync sync) {
  return write_file(path, {content}, mode, sync);
}

Result<void> write_file(const fs::path& path, std::initializer_list<std::string_view> parts, unsigned mode,
                        Sync sync) {
  fs::path tmp = path;
  tmp += ".tmp-" + random_suffix();
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)};
    if (f.fd < 0) return fail("cannot create " + tmp.string() + ": " + errno_text(errno));
    for (std::string_view part : parts) {
      if (auto r = write_all(f.fd, part, tmp); !r) {
        ::unlink(tmp.c_str());
        return r;
      }
    }
    if (::fchmod(f.fd, mode) != 0 || (sync == Sync::yes && ::fsync(f.fd) != 0)) {
      int err = errno;
      ::unlink(tmp.c_str());
      return fail("cannot write " + path.string() + ": " + errno_text(err));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail("cannot rename " + tmp.string() + " to " + path.string() + ": " + errno_text(err));
  }
  return {};
}

void keep_newest(const fs::path& dir, std::string_view extension, std::size_t keep, const fs::path& written) {
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  const std::string temporary = std::string(extension) + ".tmp-";           // write_file's, left by a writer
  const auto stale = fs::file_time_type::clock::now() - k_stale_temporary;  // killed mid-write
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == extension && e.path() != written) {
      files.emplace_back(e.last_write_time(ec), e.path());
    } else if (e.path().filename().string().find(temporary) != std::string::npos) {
      std::error_code time_ec;
      if (auto t = e.last_write_time(time_ec); !time_ec && t < stale) fs::remove(e.path(), ec);
    }
  }
  if (keep == 0 || files.size() + 1 <= keep) return;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = keep - 1; i < files.size(); ++i) fs::remove(files[i].second, ec);
}

Result<void> append_line(const fs::path& path, std::string_view line) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)};
  if (f.fd < 0) return fail("cannot open " + path.string() + ": " + errno_text(errno));
  // One write: O_APPEND makes it atomic with respect to other appenders for regular files.
  ssize_t n;
  do {
    n = ::write(f.fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail("cannot write " + path.string() + ": " + errno_text(errno));
  if (static_cast<std::size_t>(n) != line.size()) {
    // A short write (disk full) leaves a partial line; cut it off so the log stays parseable.
    struct stat st {};
    if (fstat(f.fd, &st) == 0 && st.st_size >= n) (void)::ftruncate(f.fd, st.st_size - n);
    return fail("cannot write " + path.string() + ": no space left (short write)");
  }
  if (::fsync(f.fd) != 0) return fail("cannot flush " + path.string() + ": " + errno_text(errno));
  return {};
}

Result<fs::path> make_temp_dir(const fs::path& parent, std::string_view prefix) {
  std::string tmpl = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) return fail("cannot create a directory in " + parent.string() + ": " + errno_text(errno));
  return fs::path(tmpl);
}

Result<void> replace_directory(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(to, ec)) {
    old = to;
    old += ".old-" + random_suffix();
    if (::rename(to.c_str(), old.c_str()) != 0)
      return fail("cannot move " + to.string() + " aside: " + errno_text(errno));
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    int err = errno;
    if (!old.empty()) (void)::rename(old.c_str(), to.c_str());
    return fail("cannot move " + from.string() + " to " + to.string() + ": " + errno_text(err));
  }
  if (!old.empty()) fs::remove_all(old, ec);
  return {};
}

TempDirGuard::~TempDirGuard() {
  if (m_path.empty()) return;
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

}  // namespace portcullis::util
