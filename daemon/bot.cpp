#include "daemon/bot.hpp"

#include <openssl/evp.h>

#include <system_error>

#include "shared/util/fs.hpp"
#include "shared/util/process.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace fs = std::filesystem;

namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// A path for a shell-interpreted git setting (core.sshCommand), single-quoted; paths holding a
// quote or a newline are refused when the configuration is loaded... and here again.
std::optional<std::string> quoted(const fs::path& p) {
  std::string s = p.string();
  if (s.find_first_of("'\n\r") != std::string::npos) return std::nullopt;
  return "'" + s + "'";
}

std::string last_lines(std::string_view text, std::size_t n) {
  auto lines = util::split(util::trim(text), '\n');
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += util::trim(lines[i]);
  }
  return out;
}

}  // namespace

std::string remote_lines(std::string_view err, std::size_t max_lines) {
  std::string out;
  std::size_t count = 0;
  for (auto line : util::split(err, '\n')) {
    if (!line.starts_with("remote:")) continue;
    line.remove_prefix(7);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (count++ == max_lines) {
      out += "\n...";
      break;
    }
    if (!out.empty()) out += "\n";
    out += line;
  }
  return out;
}

BotRepository::BotRepository(fs::path dir, BotConfig bot, std::string branch)
    : m_dir(std::move(dir)), m_bot(std::move(bot)), m_branch(std::move(branch)) {}

util::Result<BotRepository> BotRepository::open(const fs::path& dir, BotConfig bot, std::string branch) {
  if (!bot.ssh_key_file.empty() && !quoted(bot.ssh_key_file))
    return util::fail("images.bot.sshKeyFile: the path holds a quote or a newline");
  if (!bot.known_hosts_file.empty() && !quoted(bot.known_hosts_file))
    return util::fail("images.bot.knownHostsFile: the path holds a quote or a newline");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return util::fail("cannot create the bot's work repository " + dir.string() + ": " + ec.message());
  BotRepository repo(dir, std::move(bot), std::move(branch));
  // git reads no user or system configuration, only this file of the bot's own: empty, but for
  // a file:// server owned by another user (the Git server's), trusted as configured. (Local
  // pushes run receive-pack without the -c and GIT_CONFIG_* settings; it reads this file.)
  std::string gitconfig;
  if (repo.m_bot.push_url.starts_with("file://")) {
    std::string path = repo.m_bot.push_url.substr(7);
    if (path.find_first_of("\"\\\n") != std::string::npos)
      return util::fail("images.bot.pushUrl: a path with a quote, backslash or newline");
    gitconfig = "[safe]\n\tdirectory = \"" + path + "\"\n";
  }
  if (auto w = util::write_file(dir / "bot.gitconfig", gitconfig, 0600); !w) return util::fail(w.error());
  if (!fs::exists(dir / "HEAD")) {
    auto init = repo.git({"init", "-q", "--bare", "."});
    if (!init)
      return util::fail("cannot create the bot's work repository " + dir.string() + ": " +
                        init.error().message);
  }
  return repo;
}

std::vector<std::pair<std::string, std::string>> BotRepository::environment(bool remote) const {
  std::vector<std::pair<std::string, std::string>> env{
      {"GIT_CONFIG_NOSYSTEM", "1"},
      {"GIT_CONFIG_GLOBAL", (m_dir / "bot.gitconfig").string()},
      {"GIT_TERMINAL_PROMPT", "0"},
      {"GIT_LITERAL_PATHSPECS", "1"},
      {"GIT_INDEX_FILE", (m_dir / "bot-index").string()},
      {"GIT_AUTHOR_NAME", m_bot.name},
      {"GIT_AUTHOR_EMAIL", m_bot.email},
      {"GIT_COMMITTER_NAME", m_bot.name},
      {"GIT_COMMITTER_EMAIL", m_bot.email},
  };
  std::vector<std::pair<std::string, std::string>> config{{"core.hooksPath", "/dev/null"}};
  if (!m_bot.signing_key_file.empty()) {
    config.emplace_back("gpg.format", "ssh");
    config.emplace_back("user.signingKey", m_bot.signing_key_file.string());
  }
  if (remote && m_bot.push_url.starts_with("ssh://")) {
    std::string ssh =
        "ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=10 -o ServerAliveCountMax=3";
    if (!m_bot.ssh_key_file.empty()) ssh += " -o IdentitiesOnly=yes -i " + *quoted(m_bot.ssh_key_file);
    if (!m_bot.known_hosts_file.empty())
      ssh += " -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + *quoted(m_bot.known_hosts_file);
    config.emplace_back("core.sshCommand", ssh);
  }
  if (remote && m_bot.push_url.starts_with("http")) {
    config.emplace_back("http.lowSpeedLimit", "1");
    config.emplace_back("http.lowSpeedTime", "30");
    if (!m_bot.ca_file.empty()) {
      config.emplace_back("http.sslCAInfo", m_bot.ca_file.string());
      env.emplace_back("GIT_SSL_CAINFO", m_bot.ca_file.string());
    }
    if (!m_bot.username.empty() && !m_bot.password_file.empty())
      if (auto pw = util::read_file(m_bot.password_file, 64 << 10))
        config.emplace_back(
            "http.extraHeader",
            "Authorization: Basic " + base64(m_bot.username + ":" + std::string(util::trim(*pw))));
  }
  env.emplace_back("GIT_CONFIG_COUNT", std::to_string(config.size()));
  for (std::size_t i = 0; i < config.size(); ++i) {
    env.emplace_back("GIT_CONFIG_KEY_" + std::to_string(i), config[i].first);
    env.emplace_back("GIT_CONFIG_VALUE_" + std::to_string(i), config[i].second);
  }
  return env;
}

util::Result<std::string> BotRepository::git(const std::vector<std::string>& args, bool remote) const {
  std::vector<std::string> argv{"git", "--git-dir=" + m_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = util::run_process(argv, m_dir, environment(remote));
  if (!r) return util::fail("cannot run git: " + r.error().message);
  if (r->status != 0) return util::fail("git " + args.front() + " failed: " + last_lines(r->err, 4));
  return std::string(util::trim(r->out));
}

util::Result<std::string> BotRepository::fetch() {
  std::string tracking = "refs/remotes/origin/" + m_branch;
  auto f = git({"fetch", "-q", "--no-tags", "--no-write-fetch-head", m_bot.push_url,
                "+refs/heads/" + m_branch + ":" + tracking},
               true);
  if (!f) return util::fail("fetching " + m_branch + " from " + m_bot.push_url + ": " + f.error().message);
  return git({"rev-parse", "--verify", "-q", tracking + "^{commit}"});
}

util::Result<std::string> BotRepository::commit(const std::string& parent,
                                                const std::vector<std::pair<std::string, std::string>>& files,
                                                const std::string& message) {
  if (auto r = git({"read-tree", parent}); !r) return util::fail(r.error());
  fs::path scratch = m_dir / "bot-scratch.tmp";
  for (const auto& [path, text] : files) {
    auto entry = git({"ls-tree", "-z", parent, "--", path});
    if (!entry) return util::fail(entry.error());
    if (entry->empty() || !entry->starts_with("100"))
      return util::fail("the file " + path + " is not a regular file in " + parent);
    std::string mode = entry->substr(0, 6);
    if (auto w = util::write_file(scratch, text); !w) return util::fail(w.error());
    auto blob = git({"hash-object", "-w", "--no-filters", scratch.string()});
    if (!blob) return util::fail(blob.error());
    if (auto u = git({"update-index", "--cacheinfo", mode, *blob, path}); !u) return util::fail(u.error());
  }
  auto tree = git({"write-tree"});
  if (!tree) return util::fail(tree.error());
  auto parent_tree = git({"rev-parse", parent + "^{tree}"});
  if (!parent_tree) return util::fail(parent_tree.error());
  if (*tree == *parent_tree) return util::fail("the edits change nothing (no empty commits)");
  if (auto w = util::write_file(m_dir / "bot-message.tmp", message); !w) return util::fail(w.error());
  std::vector<std::string> args{"commit-tree", *tree, "-p",
                                parent,        "-F",  (m_dir / "bot-message.tmp").string()};
  if (!m_bot.signing_key_file.empty()) args.emplace_back("-S");
  return git(args);
}

PushResult BotRepository::push(const std::string& commit) {
  std::vector<std::string> argv{"git",          "--git-dir=" + m_dir.string(),     "push", "--porcelain",
                                m_bot.push_url, commit + ":refs/heads/" + m_branch};
  auto r = util::run_process(argv, m_dir, environment(true));
  if (!r) return {PushOutcome::failed, "cannot run git: " + r.error().message};
  if (r->status == 0) return {PushOutcome::accepted, {}};
  std::string all = r->out + "\n" + r->err;
  if (all.find("[remote rejected]") != std::string::npos || all.find("hook declined") != std::string::npos) {
    std::string why = remote_lines(r->err);
    return {PushOutcome::rejected, why.empty() ? "the server's hook declined the push" : why};
  }
  if (all.find("(fetch first)") != std::string::npos || all.find("(non-fast-forward)") != std::string::npos ||
      all.find("[rejected]") != std::string::npos)
    return {PushOutcome::moved, "the branch moved"};
  return {PushOutcome::failed, "git push to " + m_bot.push_url + " failed: " + last_lines(r->err, 4)};
}

}  // namespace portcullis::daemon
