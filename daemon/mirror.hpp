#pragma once
// The daemon's bare mirror of the config repository (file://, ssh://, https://), fetched with
// libgit2; trees are read from it directly, never checked out.
#include <filesystem>
#include <memory>

#include "daemon/config.hpp"
#include "shared/git/repository.hpp"

namespace portcullis::daemon {

class Mirror {
 public:
  // Opens or creates the mirror under `state_dir`.
  static util::Result<Mirror> open(const RepositoryConfig& config, const std::filesystem::path& state_dir);
  ~Mirror();
  Mirror(Mirror&&) noexcept;
  Mirror& operator=(Mirror&&) noexcept;

  // Fetches the branch; returns the commit it points at. Errors name the URL and the cause
  // (unreachable, authentication, host key) and never carry secrets.
  util::Result<git::Oid> fetch();
  // The commit of the branch as last fetched, if any.
  std::optional<git::Oid> last() const;
  // Read access to the mirror's objects.
  git::Repository& repository();

 private:
  struct Impl;
  explicit Mirror(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
