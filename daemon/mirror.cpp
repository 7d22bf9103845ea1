#include "daemon/mirror.hpp"

#include <git2.h>

#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace fs = std::filesystem;

namespace {

struct Credentials {
  const RepositoryConfig* config;
  int attempts = 0;
};

int credentials_cb(git_credential** out, const char* /*url*/, const char* username_from_url, unsigned int allowed,
                   void* payload) {
  auto* c = static_cast<Credentials*>(payload);
  if (++c->attempts > 3) return GIT_EUSER;  // wrong credentials: stop instead of looping
  const RepositoryConfig& rc = *c->config;
  std::string user = !rc.username.empty() ? rc.username : (username_from_url ? username_from_url : "git");
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !rc.ssh_key_file.empty())
    return git_credential_ssh_key_new(out, user.c_str(), nullptr, rc.ssh_key_file.c_str(), nullptr);
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !rc.password_file.empty()) {
    auto password = util::read_file(rc.password_file, 64 << 10);
    if (!password) return GIT_EUSER;
    std::string p(util::trim(*password));
    return git_credential_userpass_plaintext_new(out, user.c_str(), p.c_str());
  }
  return GIT_PASSTHROUGH;
}

std::string last_error(std::string_view what) {
  const ::git_error* e = git_error_last();
  return std::string(what) + ": " + (e && e->message ? e->message : "unknown error");
}

}  // namespace

struct Mirror::Impl {
  RepositoryConfig config;
  fs::path path;
  git_repository* repo = nullptr;
  std::optional<git::Repository> reader;
  std::optional<git::Oid> last;
  ~Impl() {
    if (repo) git_repository_free(repo);
  }
};

Mirror::Mirror(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Mirror::~Mirror() = default;
Mirror::Mirror(Mirror&&) noexcept = default;
Mirror& Mirror::operator=(Mirror&&) noexcept = default;

util::Result<Mirror> Mirror::open(const RepositoryConfig& config, const fs::path& state_dir) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->path = state_dir / "mirror.git";
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  // The reader initialises libgit2 for this process.
  if (!fs::exists(impl->path / "HEAD", ec)) {
    git_libgit2_init();
    int rc = git_repository_init(&impl->repo, impl->path.c_str(), 1);
    git_libgit2_shutdown();
    if (rc != 0) return util::fail(last_error("cannot create the mirror at " + impl->path.string()));
    git_repository_free(impl->repo);
    impl->repo = nullptr;
  }
  auto reader = git::Repository::open(impl->path);
  if (!reader) return util::fail(reader.error());
  impl->reader = std::move(*reader);
  if (git_repository_open_bare(&impl->repo, impl->path.c_str()) != 0)
    return util::fail(last_error("cannot open the mirror"));
  if (!config.ca_file.empty())
    git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, config.ca_file.c_str(), nullptr);
  Mirror m(std::move(impl));
  if (auto head = m.m_impl->reader->resolve_commit("refs/heads/" + config.branch)) m.m_impl->last = *head;
  return m;
}

util::Result<git::Oid> Mirror::fetch() {
  const RepositoryConfig& rc = m_impl->config;
  git_remote* remote = nullptr;
  if (git_remote_create_anonymous(&remote, m_impl->repo, rc.url.c_str()) != 0)
    return util::fail(last_error("cannot use the repository URL " + rc.url));
  Credentials creds{&rc};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.credentials = credentials_cb;
  opts.callbacks.payload = &creds;
  opts.prune = GIT_FETCH_NO_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  std::string refspec = "+refs/heads/" + rc.branch + ":refs/heads/" + rc.branch;
  char* specs[] = {refspec.data()};
  git_strarray refspecs{specs, 1};
  int rc_fetch = git_remote_fetch(remote, &refspecs, &opts, "portcullisd fetch");
  std::string err = rc_fetch != 0 ? last_error("cannot fetch " + rc.branch + " from " + rc.url) : "";
  git_remote_free(remote);
  if (rc_fetch != 0) return util::fail(err);
  auto head = m_impl->reader->resolve_commit("refs/heads/" + rc.branch);
  if (!head) return util::fail("branch " + rc.branch + " does not exist in " + rc.url);
  m_impl->last = *head;
  return *head;
}

std::optional<git::Oid> Mirror::last() const { return m_impl->last; }

git::Repository& Mirror::repository() { return *m_impl->reader; }

}  // namespace portcullis::daemon
