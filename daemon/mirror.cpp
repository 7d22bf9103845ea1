#include "daemon/mirror.hpp"

#include <git2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "daemon/log.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/parallel.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace fs = std::filesystem;

namespace {

struct Callbacks {
  const RepositoryConfig* config;
  bool offered_key = false;
  bool offered_password = false;
};

// Sets libgit2's error message (what fetch() reports) and returns GIT_EUSER.
int refuse(int klass, const std::string& message) {
  git_error_set_str(klass, message.c_str());
  return GIT_EUSER;
}

int credentials_cb(git_credential** out, const char* /*url*/, const char* username_from_url, unsigned int allowed,
                   void* payload) {
  auto* c = static_cast<Callbacks*>(payload);
  const RepositoryConfig& rc = *c->config;
  std::string user = !rc.username.empty() ? rc.username : (username_from_url ? username_from_url : "git");
  // ssh:// without a user name in the URL: libgit2 asks for the name first.
  if (allowed == GIT_CREDENTIAL_USERNAME) return git_credential_username_new(out, user.c_str());
  // Asked again for what was already offered: the server refused it.  Stop here, with a message
  // that names the setting (never its content), instead of sending the same credentials again.
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !rc.ssh_key_file.empty()) {
    if (c->offered_key)
      return refuse(GIT_ERROR_SSH, "authentication failed: the server refused the key in sshKeyFile " +
                                       rc.ssh_key_file.string() + " for user " + user);
    c->offered_key = true;
    return git_credential_ssh_key_new(out, user.c_str(), nullptr, rc.ssh_key_file.c_str(), nullptr);
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !rc.password_file.empty()) {
    if (c->offered_password)
      return refuse(GIT_ERROR_HTTP, "authentication failed: the server refused user " + user +
                                        " with the password in passwordFile " + rc.password_file.string());
    auto password = util::read_file(rc.password_file, 64 << 10);
    if (!password)
      return refuse(GIT_ERROR_OS, "cannot read passwordFile " + rc.password_file.string() + ": " +
                                      password.error().message);
    c->offered_password = true;
    std::string p(util::trim(*password));
    int rc_new = git_credential_userpass_plaintext_new(out, user.c_str(), p.c_str());
    OPENSSL_cleanse(p.data(), p.size());
    OPENSSL_cleanse(password->data(), password->size());
    return rc_new;
  }
  return refuse(GIT_ERROR_NET, "authentication required by " + rc.url + ", and no " +
                                   (allowed & GIT_CREDENTIAL_SSH_KEY ? "sshKeyFile" : "username/passwordFile") +
                                   " is configured");
}

// --- ssh:// host keys against knownHostsFile ------------------------------------------------

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char ch : in) {
    int v = value(ch);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | unsigned(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((buffer >> bits) & 0xff);
    }
  }
  return out;
}

std::string base64_encode_unpadded(const unsigned char* data, std::size_t size) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 63];
  return out;
}

// OpenSSH's pattern syntax in known_hosts host fields: '*' and '?'.
bool glob_match(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (std::size_t i = 0; i <= text.size(); ++i)
      if (glob_match(pattern.substr(1), text.substr(i))) return true;
    return false;
  }
  if (text.empty()) return false;
  if (pattern[0] != '?' && std::tolower(static_cast<unsigned char>(pattern[0])) != std::tolower(static_cast<unsigned char>(text[0])))
    return false;
  return glob_match(pattern.substr(1), text.substr(1));
}

// A hashed name: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
bool hashed_match(std::string_view entry, std::string_view name) {
  if (!entry.starts_with("|1|")) return false;
  entry.remove_prefix(3);
  auto bar = entry.find('|');
  if (bar == std::string_view::npos) return false;
  auto salt = base64_decode(entry.substr(0, bar));
  auto want = base64_decode(entry.substr(bar + 1));
  if (!salt || !want || want->size() != 20) return false;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha1(), salt->data(), int(salt->size()), reinterpret_cast<const unsigned char*>(name.data()),
            name.size(), md, &len) || len != 20)
    return false;
  return CRYPTO_memcmp(md, want->data(), 20) == 0;
}

// Whether a known_hosts host field (comma-separated patterns, '!' negates) names `name`.
bool hosts_match(std::string_view field, std::string_view name) {
  bool matched = false;
  for (std::string_view pattern : util::split(field, ',')) {
    bool negated = pattern.starts_with('!');
    if (negated) pattern.remove_prefix(1);
    bool hit = pattern.starts_with("|1|") ? hashed_match(pattern, name) : glob_match(pattern, name);
    if (hit && negated) return false;
    matched = matched || hit;
  }
  return matched;
}

// The port of an ssh:// URL (22 when it names none).
int ssh_port(std::string_view url) {
  if (!url.starts_with("ssh://")) return 22;
  std::string_view authority = url.substr(6);
  authority = authority.substr(0, authority.find('/'));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return 22;
    authority.remove_prefix(close + 1);
  }
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) return 22;
  int port = 22;
  auto digits = authority.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  return ec == std::errc() && end == digits.data() + digits.size() && port > 0 && port < 65536 ? port : 22;
}

// certificate_check: for ssh://, the server's host key must be one knownHostsFile lists for the
// host (and port), compared by SHA-256 of the key blob; unknown, mismatched and @revoked keys
// are refused.  libgit2's own check against ~/.ssh/known_hosts (its `valid`) is not consulted
// when knownHostsFile is set.  TLS certificates and ssh without knownHostsFile keep libgit2's
// checks (the CA store; ~/.ssh/known_hosts).
int certificate_check_cb(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  const RepositoryConfig& rc = *static_cast<Callbacks*>(payload)->config;
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2 || rc.known_hosts_file.empty()) return GIT_PASSTHROUGH;
  const auto* key = reinterpret_cast<const git_cert_hostkey*>(cert);
  unsigned char server[32];
  if (key->type & GIT_CERT_SSH_SHA256) {
    std::copy(std::begin(key->hash_sha256), std::end(key->hash_sha256), server);
  } else if ((key->type & GIT_CERT_SSH_RAW) && key->hostkey && key->hostkey_len > 0) {
    unsigned int len = 0;
    EVP_Digest(key->hostkey, key->hostkey_len, server, &len, EVP_sha256(), nullptr);
  } else {
    return refuse(GIT_ERROR_SSH, "the ssh server sent no SHA-256 host key fingerprint; refusing to connect");
  }
  std::string fingerprint = "SHA256:" + base64_encode_unpadded(server, sizeof server);
  // known_hosts lists a server on another port than 22 as "[host]:port".
  int port = ssh_port(rc.url);
  std::string name = host ? host : "";
  if (port != 22) name = "[" + name + "]:" + std::to_string(port);
  auto text = util::read_file(rc.known_hosts_file, 16 << 20);
  if (!text)
    return refuse(GIT_ERROR_SSH, "cannot read knownHostsFile " + rc.known_hosts_file.string() + ": " +
                                     text.error().message + "; refusing to connect to " + name);
  bool listed = false;
  for (std::string_view line : util::split(*text, '\n')) {
    line = util::trim(line);
    if (line.empty() || line.starts_with('#')) continue;
    std::vector<std::string_view> fields;  // separated by spaces or tabs
    for (std::size_t i = 0; i < line.size();) {
      std::size_t end = line.find_first_of(" \t", i);
      if (end == std::string_view::npos) end = line.size();
      if (end > i) fields.push_back(line.substr(i, end - i));
      i = end + 1;
    }
    std::string_view marker;
    if (!fields.empty() && fields[0].starts_with('@')) {
      marker = fields[0];
      fields.erase(fields.begin());
    }
    if (fields.size() < 3 || marker == "@cert-authority" || !hosts_match(fields[0], name)) continue;
    auto blob = base64_decode(fields[2]);
    if (!blob) continue;
    unsigned char listed_hash[32];
    unsigned int len = 0;
    EVP_Digest(blob->data(), blob->size(), listed_hash, &len, EVP_sha256(), nullptr);
    bool same = CRYPTO_memcmp(listed_hash, server, sizeof server) == 0;
    if (same && marker == "@revoked")
      return refuse(GIT_ERROR_SSH, "the host key of " + name + " (" + fingerprint + ") is @revoked in knownHostsFile " +
                                       rc.known_hosts_file.string() + "; refusing to connect");
    if (same && marker.empty()) return 0;
    listed = listed || marker.empty();
  }
  if (listed)
    return refuse(GIT_ERROR_SSH, "host key mismatch: " + name + " presented " + fingerprint +
                                     ", which is not the key knownHostsFile " + rc.known_hosts_file.string() +
                                     " lists for it; refusing to connect (the server may be an impostor)");
  return refuse(GIT_ERROR_SSH, "unknown host key: knownHostsFile " + rc.known_hosts_file.string() + " has no entry for " +
                                   name + " (it presented " + fingerprint + "); refusing to connect");
}

std::string last_error(std::string_view what) {
  const ::git_error* e = git_error_last();
  return std::string(what) + ": " + (e && e->message ? e->message : "unknown error");
}

// --- Seeding a mirror from a repository on this machine ---------------------------------------
// libgit2 fetches from a file:// URL as from a server: it packs every wanted object, with a
// delta search and a zlib stream per object (0.3 s of both CPUs for a repository of 1,000
// manifests, before the first sync can start). A first fetch copies the object files instead;
// the fetch that follows finds the branch's commit present and transfers nothing.

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The objects directory of a repository named by a file:// URL or an absolute path, when a
// copy of its files is a complete copy: it borrows no objects (alternates) and is not a
// partial clone (promisor packs).
std::optional<fs::path> local_objects(const std::string& url) {
  std::string path;
  if (url.starts_with("file://"))
    path = url.substr(7);
  else
    path = url;
  // file://host/... and %-escaped URLs are left to libgit2.
  if (!path.starts_with("/") || path.find('%') != std::string::npos) return std::nullopt;
  std::error_code ec;
  for (const fs::path& objects : {fs::path(path) / "objects", fs::path(path) / ".git" / "objects"}) {
    if (!fs::is_directory(objects / "pack", ec)) continue;
    if (fs::exists(objects / "info" / "alternates", ec)) return std::nullopt;
    for (const auto& e : fs::directory_iterator(objects / "pack", ec))
      if (e.path().extension() == ".promisor") return std::nullopt;
    return objects;
  }
  return std::nullopt;
}

// Puts `from` at `to`: a hard link, else a copy written beside it and renamed, so that libgit2
// never reads half a file. False when neither works (the fetch transfers what is missing).
bool place(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (::link(from.c_str(), to.c_str()) == 0 || errno == EEXIST) return true;
  if (fs::exists(to, ec)) return true;
  fs::path tmp = to.parent_path() / ("tmp_seed_" + to.filename().string() + ".tmp");
  fs::remove(tmp, ec);
  if (!fs::copy_file(from, tmp, ec) || (fs::rename(tmp, to, ec), ec)) {
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

// Copies the packs (each .pack before its .idx, which is what makes libgit2 load it) and the
// loose objects of `from` into `to`; returns how many files are now shared or copied.
std::size_t seed_objects(const fs::path& from, const fs::path& to) {
  std::size_t placed = 0;
  std::error_code ec;
  fs::create_directories(to / "pack", ec);
  for (const auto& e : fs::directory_iterator(from / "pack", ec)) {
    const fs::path& idx = e.path();
    if (idx.extension() != ".idx" || !idx.filename().string().starts_with("pack-")) continue;
    fs::path pack = fs::path(idx).replace_extension(".pack");
    if (!fs::exists(pack, ec)) continue;  // being written or removed
    if (place(pack, to / "pack" / pack.filename()) && place(idx, to / "pack" / idx.filename())) placed += 2;
  }
  // Loose objects: their 256 directories shared out between two threads (a link is a system
  // call of some 20 us; a first sync waits for them).
  std::vector<std::string> dirs;
  for (const auto& d : fs::directory_iterator(from, ec)) {
    std::string name = d.path().filename().string();
    if (name.size() == 2 && is_hex(name) && d.is_directory(ec)) dirs.push_back(std::move(name));
  }
  std::atomic<std::size_t> loose{0};
  util::parallel_for(dirs.size(), 2, [&](std::size_t, std::size_t i) {
    std::error_code e;
    bool made = false;
    for (const auto& f : fs::directory_iterator(from / dirs[i], e)) {
      std::string object = f.path().filename().string();
      if (object.size() != 38 || !is_hex(object)) continue;
      if (!made) fs::create_directories(to / dirs[i], e), made = true;
      if (place(f.path(), to / dirs[i] / object)) loose.fetch_add(1, std::memory_order_relaxed);
    }
  });
  return placed + loose.load();
}

std::string hex(const git_oid& id) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &id);
  return buf;
}

// The first object under the commit (itself, its trees and blobs) that `repo` lacks.
std::optional<std::string> missing_in(git_repository* repo, const git_oid& commit_id) {
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo) != 0) return "object database (" + last_error("cannot open it") + ")";
  git_commit* commit = nullptr;
  if (git_commit_lookup(&commit, repo, &commit_id) != 0) {
    git_odb_free(odb);
    return "commit " + hex(commit_id);
  }
  std::optional<std::string> out;
  std::vector<git_oid> todo{*git_commit_tree_id(commit)};
  std::unordered_set<std::string> seen;
  while (!todo.empty() && !out) {
    git_oid id = todo.back();
    todo.pop_back();
    if (!seen.insert(std::string(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ)).second) continue;
    git_tree* tree = nullptr;
    if (git_tree_lookup(&tree, repo, &id) != 0) {
      out = "tree " + hex(id);
      break;
    }
    for (std::size_t i = 0, n = git_tree_entrycount(tree); i < n && !out; ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree, i);
      if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
        todo.push_back(*git_tree_entry_id(e));
      else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && !git_odb_exists(odb, git_tree_entry_id(e)))
        out = "blob " + hex(*git_tree_entry_id(e));
      // submodule commits live in other repositories
    }
    git_tree_free(tree);
  }
  git_commit_free(commit);
  git_odb_free(odb);
  return out;
}

}  // namespace

std::optional<std::string> missing_object(const fs::path& repo_path, const std::string& commit_hex) {
  git_libgit2_init();
  std::optional<std::string> out;
  git_repository* repo = nullptr;
  git_oid id;
  if (git_oid_fromstr(&id, commit_hex.c_str()) != 0)
    out = "commit " + commit_hex + " (not an object id)";
  else if (git_repository_open_bare(&repo, repo_path.c_str()) != 0)
    out = "repository " + repo_path.string();
  else
    out = missing_in(repo, id);
  git_repository_free(repo);
  git_libgit2_shutdown();
  return out;
}

struct Mirror::Impl {
  RepositoryConfig config;
  MirrorOptions options;
  fs::path path;
  git_repository* repo = nullptr;
  // Created once and reused by every fetch (recreated after a failed one). Made without
  // url.*.insteadOf rewriting: the URL of daemon.yaml is used as written, whatever the service
  // user's git config says, and libgit2 1.5.1 leaks the pcre2 match data of every config entry
  // its insteadOf lookup does not match (~0.25 MB a remote; fixed upstream by PR #6382, in 1.6).
  git_remote* remote = nullptr;
  std::optional<git::Repository> reader;
  std::optional<git::Oid> last;
  FetchReport report;
  ~Impl() { close(); }

  void close() {
    if (remote) git_remote_free(remote);
    if (repo) git_repository_free(repo);
    remote = nullptr;
    repo = nullptr;
    reader.reset();
    last.reset();
  }

  // Opens the mirror at `path`, creating it first when it is not there.
  util::Result<void> open() {
    std::error_code ec;
    // The reader keeps libgit2 initialised for this process; until it is open, this does (an
    // init after a shutdown would set libgit2 up again, its TLS certificates included).
    if (git_libgit2_init() < 0) return util::fail(last_error("cannot initialise libgit2"));
    struct Release {
      ~Release() { git_libgit2_shutdown(); }
    } release;
    if (!fs::exists(path / "HEAD", ec)) {
      int rc = git_repository_init(&repo, path.c_str(), 1);
      if (rc != 0) return util::fail(last_error("cannot create the mirror at " + path.string()));
      git_repository_free(repo);
      repo = nullptr;
    }
    auto r = git::Repository::open(path);
    if (!r) return util::fail(r.error());
    reader = std::move(*r);
    if (git_repository_open_bare(&repo, path.c_str()) != 0) return util::fail(last_error("cannot open the mirror"));
    if (auto head = reader->resolve_commit("refs/heads/" + config.branch)) last = *head;
    return {};
  }

  // Copies the object files of the local repository at `objects` into the mirror.
  std::size_t seed(const fs::path& objects) {
    std::size_t n = seed_objects(objects, path / "objects");
    if (options.after_seed) options.after_seed(path / "objects");
    return n;
  }

  util::Result<git::Oid> fetch_once() {
    const RepositoryConfig& rc = config;
    if (!remote) {
      git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
      create.repository = repo;
      create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
      if (git_remote_create_with_opts(&remote, rc.url.c_str(), &create) != 0) {
        remote = nullptr;
        return util::fail(last_error("cannot use the repository URL " + rc.url));
      }
    }
    Callbacks callbacks{&rc};
    git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
    opts.callbacks.credentials = credentials_cb;
    opts.callbacks.certificate_check = certificate_check_cb;
    opts.callbacks.payload = &callbacks;
    opts.prune = GIT_FETCH_NO_PRUNE;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    std::string refspec = "+refs/heads/" + rc.branch + ":refs/heads/" + rc.branch;
    char* specs[] = {refspec.data()};
    git_strarray refspecs{specs, 1};
    if (git_remote_fetch(remote, &refspecs, &opts, "portcullisd fetch") != 0) {
      std::string err = last_error("cannot fetch " + rc.branch + " from " + rc.url);
      git_remote_free(remote);  // a fresh one next time, whatever state the failure left
      remote = nullptr;
      return util::fail(err);
    }
    auto head = reader->resolve_commit("refs/heads/" + rc.branch);
    if (!head) return util::fail("branch " + rc.branch + " does not exist in " + rc.url);
    last = *head;
    return *head;
  }
};

Mirror::Mirror(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Mirror::~Mirror() = default;
Mirror::Mirror(Mirror&&) noexcept = default;
Mirror& Mirror::operator=(Mirror&&) noexcept = default;

util::Result<Mirror> Mirror::open(const RepositoryConfig& config, const fs::path& state_dir, MirrorOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = std::move(options);
  impl->path = state_dir / "mirror.git";
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (auto opened = impl->open(); !opened) return util::fail(opened.error());
  if (!config.ca_file.empty())
    git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, config.ca_file.c_str(), nullptr);
  // A file:// repository is the Git server's, owned by its user, not the daemon's: libgit2
  // would refuse it ("safe.directory"). The daemon only reads objects from it (no hooks, no
  // config that runs programs), so the check protects nothing here.
  git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
  // Each sync reads a tree once (later syncs read what changed): libgit2's object cache would
  // only keep every tree of the first sync (1.3 MB for 2,500 directories) for good.
  git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
  return Mirror(std::move(impl));
}

util::Result<git::Oid> Mirror::fetch() {
  Impl& m = *m_impl;
  m.report = {};
  std::optional<fs::path> source;
  if (m.options.seed_local && !m.last) source = local_objects(m.config.url);
  if (!source) return m.fetch_once();
  auto started = std::chrono::steady_clock::now();
  m.report.seeded_files = m.seed(*source);
  auto head = m.fetch_once();
  if (!head || m.report.seeded_files == 0) return head;
  // Git moves a push's objects in before it moves the branch, so what the fetched branch
  // names was in the source when it was read; a push or a repack during the copy can still
  // leave some of it out. Copy again, and if that is not enough, start over the usual way.
  git_oid tip;
  std::memcpy(tip.id, head->bytes.data(), GIT_OID_RAWSZ);
  auto missing = missing_in(m.repo, tip);
  if (missing) {
    m.seed(*source);
    missing = missing_in(m.repo, tip);
  }
  if (!missing) {
    log(LogLevel::info, "mirror seeded from a repository on this machine",
        {{"url", m.config.url},
         {"files", std::to_string(m.report.seeded_files)},
         {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count())}});
    return head;
  }
  log(LogLevel::warn, "the copy of the local repository lacks objects; making the mirror anew",
      {{"url", m.config.url}, {"missing", *missing}});
  git_libgit2_init();  // keeps libgit2 (and its options) up while no repository is open
  m.close();
  std::error_code ec;
  fs::remove_all(m.path, ec);
  auto reopened = m.open();
  git_libgit2_shutdown();
  if (!reopened) return util::fail(reopened.error());
  m.report.recreated = true;
  return m.fetch_once();
}

std::optional<git::Oid> Mirror::last() const { return m_impl->last; }

const FetchReport& Mirror::last_fetch() const { return m_impl->report; }

git::Repository& Mirror::repository() { return *m_impl->reader; }

}  // namespace portcullis::daemon
