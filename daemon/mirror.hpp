#pragma once
// The daemon's bare mirror of the config repository (file://, ssh://, https://), fetched with
// libgit2; trees are read from it directly, never checked out.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "daemon/config.hpp"
#include "shared/git/repository.hpp"

namespace portcullis::daemon {

struct MirrorOptions {
  // A repository named by a file:// URL or a path is on this machine: the first fetch copies
  // its object files (hard links where allowed) instead of having libgit2 pack every object
  // with a delta search. Off: every fetch goes through libgit2's transport.
  bool seed_local = true;
  // Tests: called after each copy with the mirror's objects directory (a push landing during
  // the copy is simulated by removing a file there).
  std::function<void(const std::filesystem::path&)> after_seed;
};

// What the last fetch did, for logs and tests.
struct FetchReport {
  std::size_t seeded_files = 0;  // object files copied from a local repository (0: not seeded)
  bool recreated = false;        // the copy missed objects: the mirror was made anew and fetched
};

// The first object under `commit`'s tree (the commit, trees, blobs) that `repo` lacks, as
// "<kind> <id>"; nullopt when every one is there.
std::optional<std::string> missing_object(const std::filesystem::path& repo, const std::string& commit_hex);

class Mirror {
 public:
  // Opens or creates the mirror under `state_dir`.
  static util::Result<Mirror> open(const RepositoryConfig& config, const std::filesystem::path& state_dir,
                                   MirrorOptions options = {});
  ~Mirror();
  Mirror(Mirror&&) noexcept;
  Mirror& operator=(Mirror&&) noexcept;

  // Fetches the branch; returns the commit it points at. Errors name the URL and the cause
  // (unreachable, authentication, host key) and never carry secrets.
  util::Result<git::Oid> fetch();
  // The commit of the branch as last fetched, if any.
  std::optional<git::Oid> last() const;
  const FetchReport& last_fetch() const;
  // Read access to the mirror's objects.
  git::Repository& repository();

 private:
  struct Impl;
  explicit Mirror(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
