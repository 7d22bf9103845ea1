#include "shared/kustomize/source.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kustomize {

namespace {

std::filesystem::path on_disk(const std::filesystem::path& root, std::string_view path) {
  return path.empty() ? root : root / std::filesystem::path(std::string(path));
}

util::Error source_error(std::string message, std::string_view path) {
  util::Error e{std::move(message), "kustomize.read", std::string(path), 0, 0};
  return e;
}

}  // namespace

util::Result<std::string> join_path(std::string_view base, std::string_view relative) {
  if (!relative.empty() && relative.front() == '/')
    return util::fail("absolute path '" + std::string(relative) +
                          "' is not allowed: paths in a kustomization are relative to its directory",
                      "kustomize.outside");
  std::vector<std::string_view> parts;
  auto push = [&](std::string_view text) -> bool {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('/', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view part = text.substr(start, end - start);
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      start = end + 1;
    }
    return true;
  };
  if (!push(base) || !push(relative))
    return util::fail("path '" + std::string(relative) + "' (from '/" + std::string(base) +
                          "') climbs above the root of the build",
                      "kustomize.outside");
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

bool is_within(std::string_view dir, std::string_view path) {
  if (dir.empty()) return true;
  if (path.size() < dir.size() || path.substr(0, dir.size()) != dir) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

util::Result<EntryType> DiskSource::type(std::string_view path) const {
  struct stat st {};
  if (::lstat(on_disk(m_root, path).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return EntryType::missing;
    return util::fail(source_error("cannot stat: " + util::errno_text(errno), path));
  }
  if (S_ISREG(st.st_mode)) return EntryType::file;
  if (S_ISDIR(st.st_mode)) return EntryType::directory;
  return EntryType::other;
}

util::Result<std::string> DiskSource::read(std::string_view path, std::uint64_t max_bytes) const {
  struct stat st {};
  if (::lstat(on_disk(m_root, path).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return util::fail(source_error("not a regular file", path));
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    util::Error e = source_error("file is " + std::to_string(st.st_size) + " bytes; the limit is " +
                                     std::to_string(max_bytes),
                                 path);
    e.rule = "file.too-large";
    return util::fail(std::move(e));
  }
  auto text = util::read_file(on_disk(m_root, path), max_bytes);
  if (!text) {
    util::Error e = text.error();
    e.file = std::string(path);
    return util::fail(std::move(e));
  }
  return text;
}

util::Result<std::vector<std::string>> DiskSource::list(std::string_view path) const {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(on_disk(m_root, path), ec);
  if (ec) return util::fail(source_error("cannot list: " + ec.message(), path));
  for (const auto& entry : it) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

util::Result<EntryType> GitSource::type(std::string_view path) const {
  auto entry = m_repo.entry_at(m_tree, path);
  if (!entry) return util::fail(entry.error());
  if (!*entry) return EntryType::missing;
  switch ((*entry)->kind) {
    case git::EntryKind::blob:
    case git::EntryKind::executable: return EntryType::file;
    case git::EntryKind::tree: return EntryType::directory;
    default: return EntryType::other;
  }
}

util::Result<std::string> GitSource::read(std::string_view path, std::uint64_t max_bytes) const {
  auto entry = m_repo.entry_at(m_tree, path);
  if (!entry) return util::fail(entry.error());
  if (!*entry || ((*entry)->kind != git::EntryKind::blob && (*entry)->kind != git::EntryKind::executable))
    return util::fail(source_error("not a regular file", path));
  auto blob = m_repo.read_blob((*entry)->oid, max_bytes);
  if (!blob) {
    util::Error e = blob.error();
    e.file = std::string(path);
    return util::fail(std::move(e));
  }
  return blob;
}

util::Result<std::vector<std::string>> GitSource::list(std::string_view path) const {
  auto entry = m_repo.entry_at(m_tree, path);
  if (!entry) return util::fail(entry.error());
  if (!*entry || (*entry)->kind != git::EntryKind::tree) return util::fail(source_error("not a directory", path));
  auto entries = m_repo.entries((*entry)->oid);
  if (!entries) return util::fail(entries.error());
  std::vector<std::string> names;
  for (auto& [name, e] : *entries) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace portcullis::kustomize
