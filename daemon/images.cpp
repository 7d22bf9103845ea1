#include "daemon/images.hpp"

#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "daemon/bot.hpp"
#include "daemon/faults.hpp"
#include "daemon/log.hpp"
#include "shared/git/repository.hpp"
#include "shared/imagepolicy/markers.hpp"
#include "shared/imagepolicy/policy.hpp"
#include "shared/policy/policy.hpp"
#include "shared/registry/registry.hpp"
#include "shared/util/json.hpp"
#include "shared/render/environment.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int k_push_attempts = 3;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string labels(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += ",";
    out += std::string(k) + "=\"" + label_value(v) + "\"";
  }
  return out;
}

// What the repository at one commit asks for.
struct Declared {
  std::vector<policy::Environment> environments;
  std::vector<imagepolicy::Policy> policies;
};

util::Result<Declared> read_declared(const git::Repository& repo, const git::Oid& tree) {
  Declared d;
  auto entry = repo.entry_at(tree, policy::k_policy_file);
  if (!entry) return util::fail(entry.error());
  if (!*entry) return d;
  auto text = repo.read_blob((*entry)->oid, 1 << 20);
  if (!text) return util::fail(text.error());
  auto p = policy::parse_policy(*text, policy::k_policy_file);
  if (!p) return util::fail(p.error());
  d.environments = render::environments_of(repo, *p, tree);
  auto policies = imagepolicy::parse_policies(std::string_view(*text), policy::k_policy_file);
  if (!policies) return util::fail(policies.error());
  d.policies = std::move(*policies);
  return d;
}

// One (policy, environment) the mirror's tree is behind on.
struct Pending {
  std::size_t status;          // index into statuses
  imagepolicy::Policy policy;  // as declared
  imagepolicy::Choice choice;
};

// Every policy, as if it named only `environment`: a plan of one environment then reads every
// marker there as known, and leaves the policies without a choice alone.
std::vector<imagepolicy::Policy> narrow(const std::vector<imagepolicy::Policy>& policies,
                                        const std::string& environment) {
  std::vector<imagepolicy::Policy> out = policies;
  for (auto& p : out) p.environments = {environment};
  return out;
}

struct Chosen {
  std::optional<imagepolicy::Choice> choice;
  std::string why;  // when there is none although tags were listed
};

struct EnvPlan {
  std::string key;               // the tree and the choices it was made for
  std::set<std::string> behind;  // policies whose targets there differ from their choice
  std::string problems, error;
};

struct Registry {
  RegistryConfig config;
  std::optional<registry::Client> client;
  std::filesystem::file_time_type credentials_time{};  // a rotated credentials file makes a new client
  std::string client_error;
  std::optional<Clock::time_point> failing_since;
  RegistryState state;
};

}  // namespace

struct ImageWatcher::Impl {
  const Config& config;
  Metrics& metrics;
  Alerter& alerter;
  std::map<std::string, Registry> registries;  // by host
  std::optional<BotRepository> bot;

  mutable std::mutex mutex;  // guards statuses, stopping
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;
  std::vector<ImageStatus> statuses;
  std::map<std::string, ImageStatus> previous;  // by "policy/environment": what persists across polls

  Impl(const Config& c, Metrics& m, Alerter& a) : config(c), metrics(m), alerter(a) {}

  registry::Client* client_for(Registry& r);
  util::Result<registry::TagList> list(const std::string& image, std::string& host_out);
  util::Result<std::string> digest_of(const std::string& image, const std::string& tag);
  void record_registry(const std::string& host, const util::Result<registry::TagList>& r);
  std::map<std::string, EnvPlan> plans;  // by environment
  std::map<std::string, util::Result<registry::TagList>> list_all(const Declared& d);
  Chosen choose(const imagepolicy::Policy& p, const util::Result<registry::TagList>& tags);
  const EnvPlan& plan_environment(const git::Repository& repo, const git::Oid& tree, const Declared& d,
                                  const policy::Environment& env, const std::vector<Chosen>& chosen);
  std::vector<Pending> evaluate(const git::Repository& repo, const git::Oid& tree, const Declared& d,
                                std::vector<ImageStatus>& out);
  void apply(std::vector<Pending>& pending, std::vector<ImageStatus>& out);
  bool land(Pending& p, ImageStatus& s, std::string& tip);
};

ImageWatcher::ImageWatcher(const Config& config, Metrics& metrics, Alerter& alerter)
    : m_impl(std::make_unique<Impl>(config, metrics, alerter)) {
  for (const auto& rc : config.images.registries) {
    Registry r;
    r.config = rc;
    r.state.host = rc.host;
    m_impl->registries.emplace(rc.host, std::move(r));
  }
  metrics.describe("portcullis_image_polls_total", "counter", "Image automation poll rounds.");
  metrics.describe("portcullis_image_registry_requests_total", "counter",
                   "Tag lists asked of a registry, by result (ok, failed).");
  metrics.describe("portcullis_image_registry_up", "gauge",
                   "1 when the registry's last tag list succeeded, 0 while it fails.");
  metrics.describe("portcullis_image_registry_last_success_timestamp_seconds", "gauge",
                   "Unix time of the registry's last successful tag list.");
  metrics.describe(
      "portcullis_image_updates_total", "counter",
      "Image updates by policy, environment and result (committed, rejected by the gate, failed).");
  metrics.describe("portcullis_image_policies", "gauge", "(policy, environment) pairs the watcher follows.");
}

ImageWatcher::~ImageWatcher() {
  stop();
}

void ImageWatcher::start(std::function<bool()> gate) {
  m_impl->thread = std::thread([impl = m_impl.get(), this, gate = std::move(gate)] {
    while (true) {
      {
        std::lock_guard lock(impl->mutex);
        if (impl->stopping) return;
      }
      // Nothing a registry or the repository holds may end the daemon: a poll that throws is
      // logged and the next one runs as usual.
      try {
        if (!gate || gate()) poll_once();
      } catch (const std::exception& e) {
        log(LogLevel::error, "image poll failed", {{"error", e.what()}});
      }
      std::unique_lock lock(impl->mutex);
      if (impl->cv.wait_for(lock, impl->config.images.poll_interval, [&] { return impl->stopping; })) return;
    }
  });
}

void ImageWatcher::signal_stop() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->cv.notify_all();
}

void ImageWatcher::stop() {
  signal_stop();
  if (m_impl->thread.joinable()) m_impl->thread.join();
}

std::vector<ImageStatus> ImageWatcher::status() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->statuses;
}

std::vector<RegistryState> ImageWatcher::registries() const {
  std::lock_guard lock(m_impl->mutex);
  std::vector<RegistryState> out;
  for (const auto& [host, r] : m_impl->registries) out.push_back(r.state);
  return out;
}

registry::Client* ImageWatcher::Impl::client_for(Registry& r) {
  std::error_code ec;
  auto mtime = r.config.credentials_file.empty() ? std::filesystem::file_time_type{}
                                                 : std::filesystem::last_write_time(r.config.credentials_file, ec);
  if (r.client && mtime == r.credentials_time) return &*r.client;
  r.client.reset();
  r.credentials_time = mtime;
  registry::Options o;
  o.url = r.config.url;
  o.ca_file = r.config.ca_file;
  o.timeout = r.config.timeout;
  o.requests_per_second = r.config.requests_per_second;
  o.max_tags = config.images.max_tags;
  if (!r.config.credentials_file.empty()) {
    auto creds = registry::read_credentials(r.config.credentials_file);
    if (!creds) {
      r.client_error = creds.error().message;
      return nullptr;
    }
    o.username = creds->first;
    o.password = creds->second;
  }
  auto c = registry::Client::connect(std::move(o));
  if (!c) {
    r.client_error = c.error().message;
    return nullptr;
  }
  r.client.emplace(std::move(*c));
  return &*r.client;
}

util::Result<registry::TagList> ImageWatcher::Impl::list(const std::string& image, std::string& host) {
  auto split = registry::split_image(image);
  if (!split) return util::fail(split.error());
  host = split->first;
  auto it = registries.find(host);
  if (it == registries.end())
    return util::fail("no registry is configured for " + host + " (images.registries of the daemon config)");
  registry::Client* client = client_for(it->second);
  if (!client) return util::fail(it->second.client_error);
  return client->tags(split->second);
}

util::Result<std::string> ImageWatcher::Impl::digest_of(const std::string& image, const std::string& tag) {
  auto split = registry::split_image(image);
  if (!split) return util::fail(split.error());
  auto it = registries.find(split->first);
  if (it == registries.end() || !it->second.client)
    return util::fail("no registry client for " + split->first);
  return it->second.client->digest(split->second, tag);
}

void ImageWatcher::Impl::record_registry(const std::string& host, const util::Result<registry::TagList>& r) {
  auto it = registries.find(host);
  if (it == registries.end()) return;
  Registry& reg = it->second;
  std::string l = labels({{"registry", host}});
  metrics.add("portcullis_image_registry_requests_total",
              labels({{"registry", host}, {"result", r ? "ok" : "failed"}}));
  std::lock_guard lock(mutex);
  if (r) {
    reg.failing_since.reset();
    reg.state.up = true;
    reg.state.last_error.clear();
    reg.state.last_success_time = util::rfc3339_utc(std::time(nullptr));
    metrics.set("portcullis_image_registry_up", l, 1);
    metrics.set("portcullis_image_registry_last_success_timestamp_seconds", l, unix_now());
    alerter.resolve(AlertKind::registry_unavailable, host);
    return;
  }
  if (!reg.failing_since) reg.failing_since = Clock::now();
  reg.state.up = false;
  reg.state.last_error = r.error().message;
  metrics.set("portcullis_image_registry_up", l, 0);
  if (Clock::now() - *reg.failing_since >= config.images.registry_unavailable_after)
    alerter.raise(Alert{
        AlertKind::registry_unavailable,
        host,
        {},
        "registry " + host + " has failed since " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - *reg.failing_since).count()) +
            " s ago: " + r.error().message,
        {},
        "portcullisd",
        r.error().message});
}

std::map<std::string, util::Result<registry::TagList>> ImageWatcher::Impl::list_all(const Declared& d) {
  // One tag list per image per poll; a registry is up when any list it gave succeeded.
  std::map<std::string, util::Result<registry::TagList>> lists;
  std::map<std::string, util::Result<registry::TagList>*> by_host;
  for (const auto& p : d.policies) {
    if (lists.contains(p.image)) continue;
    std::string host;
    auto l = list(p.image, host);
    if (!l) log(LogLevel::warn, "image tag list failed", {{"image", p.image}, {"error", l.error().message}});
    auto& kept = lists.emplace(p.image, std::move(l)).first->second;
    if (auto [it, added] = by_host.emplace(host, &kept); !added && kept) it->second = &kept;
  }
  for (const auto& [host, result] : by_host) record_registry(host, *result);
  return lists;
}

Chosen ImageWatcher::Impl::choose(const imagepolicy::Policy& p, const util::Result<registry::TagList>& tags) {
  Chosen c;
  if (!tags) return c;
  std::vector<imagepolicy::Candidate> candidates;
  bool follows_digest = p.strategy == imagepolicy::Strategy::digest;
  for (const auto& t : tags->tags)
    if (!follows_digest || t == p.tag) candidates.push_back({t, {}});
  if (follows_digest && !candidates.empty()) {
    auto dg = digest_of(p.image, p.tag);
    if (dg)
      candidates.front().digest = *dg;
    else
      c.why = dg.error().message;
  }
  c.choice = imagepolicy::choose(p, candidates);
  if (c.choice && p.pin == imagepolicy::Pin::digest && c.choice->digest.empty()) {
    if (auto dg = digest_of(p.image, c.choice->tag))
      c.choice->digest = *dg;
    else
      c.why = dg.error().message, c.choice.reset();
  }
  return c;
}

// One plan per environment, with every policy's choice: which policies its files are behind on.
// Kept while the tree and the choices stay the same (a steady state plans nothing).
const EnvPlan& ImageWatcher::Impl::plan_environment(const git::Repository& repo, const git::Oid& tree,
                                                    const Declared& d, const policy::Environment& env,
                                                    const std::vector<Chosen>& chosen) {
  std::map<std::string, imagepolicy::Choice> choices;
  std::string key = tree.hex();
  for (std::size_t i = 0; i < d.policies.size(); ++i) {
    const auto& p = d.policies[i];
    if (!chosen[i].choice ||
        std::find(p.environments.begin(), p.environments.end(), env.name) == p.environments.end())
      continue;
    choices.emplace(p.name, *chosen[i].choice);
    key += "\n" + p.name + "=" + chosen[i].choice->tag + "@" + chosen[i].choice->digest;
  }
  EnvPlan& cached = plans[env.name];
  if (cached.key == key) return cached;
  cached = EnvPlan{key, {}, {}, {}};
  auto source = imagepolicy::git_source(repo, tree);
  if (!source) return cached.error = "cannot read the mirror's tree", cached;
  auto narrowed = narrow(d.policies, env.name);
  auto plan = imagepolicy::plan(*source, std::span(&env, 1), narrowed, choices);
  if (!plan) return cached.error = plan.error().describe(), cached;
  for (const auto& f : plan->files)
    for (const auto& u : f.updates) cached.behind.insert(u.policy);
  for (const auto& problem : plan->problems)
    cached.problems += (cached.problems.empty() ? "" : "; ") + problem;
  return cached;
}

std::vector<Pending> ImageWatcher::Impl::evaluate(const git::Repository& repo, const git::Oid& tree,
                                                  const Declared& d, std::vector<ImageStatus>& out) {
  auto lists = list_all(d);
  std::vector<Chosen> chosen;
  for (const auto& p : d.policies) chosen.push_back(choose(p, lists.at(p.image)));
  std::vector<Pending> pending;
  for (std::size_t i = 0; i < d.policies.size(); ++i) {
    const auto& p = d.policies[i];
    const auto& tags = lists.at(p.image);
    const auto& choice = chosen[i].choice;
    for (const auto& env_name : p.environments) {
      ImageStatus s;
      s.policy = p.name;
      s.image = p.image;
      s.environment = env_name;
      s.last_poll_time = util::rfc3339_utc(std::time(nullptr));
      if (auto prev = previous.find(p.name + "/" + env_name); prev != previous.end()) {
        s.last_commit = prev->second.last_commit;
        s.last_commit_time = prev->second.last_commit_time;
      }
      if (tags) s.tags_seen = tags->tags.size(), s.tags_rejected = tags->rejected;
      if (choice) s.chosen = choice->digest.empty() ? choice->tag : choice->tag + "@" + choice->digest;
      const policy::Environment* env = nullptr;
      for (const auto& e : d.environments)
        if (e.name == env_name) env = &e;
      if (!tags) {
        s.state = "RegistryUnavailable", s.reason = tags.error().message;
      } else if (!choice) {
        s.state = "NoCandidate";
        s.reason = chosen[i].why.empty()
                       ? "no tag of the " + std::to_string(tags->tags.size()) + " listed qualifies"
                       : chosen[i].why;
      } else if (!env) {
        s.state = "Invalid", s.reason = "environment " + env_name + " is not one of the repository's";
      } else {
        const EnvPlan& plan = plan_environment(repo, tree, d, *env, chosen);
        if (!plan.error.empty()) {
          s.state = "Failed", s.reason = plan.error;
        } else if (!plan.behind.contains(p.name)) {
          s.state = "UpToDate", s.reason = plan.problems;  // a malformed marker anywhere there is shown
          alerter.resolve(AlertKind::image_update_rejected, p.name + "/" + env_name);
        } else {
          pending.push_back(Pending{out.size(), p, *choice});
          s.state = "Pending";
        }
      }
      out.push_back(std::move(s));
    }
  }
  return pending;
}

// Commits and pushes one update on `tip`; true when it landed (tip moves to it).
bool ImageWatcher::Impl::land(Pending& p, ImageStatus& s, std::string& tip) {
  std::string key = s.policy + "/" + s.environment;
  auto count = [&](std::string_view result) {
    metrics.add("portcullis_image_updates_total",
                labels({{"policy", s.policy}, {"environment", s.environment}, {"result", result}}));
  };
  for (int attempt = 0; attempt < k_push_attempts; ++attempt) {
    auto repo = git::Repository::open(bot->dir());
    if (!repo) return s.state = "Failed", s.reason = repo.error().message, false;
    auto oid = git::Oid::from_hex(tip);
    auto tree = oid ? repo->commit_tree(*oid) : util::Result<git::Oid>(util::fail("bad tip"));
    if (!tree) return s.state = "Failed", s.reason = tree.error().message, false;
    auto source = imagepolicy::git_source(*repo, *tree);
    auto declared = read_declared(*repo, *tree);
    if (!declared) return s.state = "Invalid", s.reason = declared.error().describe(), false;
    const policy::Environment* e = nullptr;
    for (const auto& x : declared->environments)
      if (x.name == s.environment) e = &x;
    if (!e || !source)
      return s.state = "Invalid", s.reason = "environment " + s.environment + " is gone at the tip", false;
    auto narrowed = narrow(declared->policies, s.environment);
    auto plan = imagepolicy::plan(*source, std::span(e, 1), narrowed, {{p.policy.name, p.choice}});
    if (!plan) return s.state = "Failed", s.reason = plan.error().describe(), false;
    if (plan->empty()) return s.state = "UpToDate", s.reason.clear(), true;  // a person did it already
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& f : plan->files) files.emplace_back(f.path, f.new_text);
    std::string message = imagepolicy::commit_message(*plan);
    if (message.empty()) message = "Update " + p.policy.image + " to " + s.chosen + " in " + s.environment;
    message += "\n\nImage-Policy: " + p.policy.name + "\nEnvironment: " + s.environment + "\n";
    auto commit = bot->commit(tip, files, message);
    if (!commit) return count("failed"), s.state = "Failed", s.reason = commit.error().message, false;
    fault_point("image-push");
    PushResult pushed = bot->push(*commit);
    switch (pushed.outcome) {
      case PushOutcome::accepted:
        count("committed");
        tip = *commit;
        s.state = "Committed", s.reason.clear(), s.last_commit = *commit, s.last_commit_time = util::rfc3339_utc(std::time(nullptr));
        alerter.resolve(AlertKind::image_update_rejected, key);
        log(LogLevel::info, "image update pushed",
            {{"policy", s.policy},
             {"environment", s.environment},
             {"image", s.image},
             {"version", s.chosen},
             {"commit", *commit}});
        return true;
      case PushOutcome::moved: {
        log(LogLevel::info, "image update: the branch moved; planning again on its new tip",
            {{"policy", s.policy}});
        auto fresh = bot->fetch();
        if (!fresh) return count("failed"), s.state = "Failed", s.reason = fresh.error().message, false;
        tip = *fresh;
        continue;
      }
      case PushOutcome::rejected:
        count("rejected");
        s.state = "Rejected", s.reason = pushed.reason;
        alerter.raise(Alert{AlertKind::image_update_rejected,
                            key,
                            *commit,
                            "the gate refused " + s.image + ":" + s.chosen + " for " + s.environment +
                                " (retried every poll)",
                            {},
                            "portcullisd",
                            pushed.reason});
        log(LogLevel::warn, "image update rejected by the gate",
            {{"policy", s.policy},
             {"environment", s.environment},
             {"version", s.chosen},
             {"reason", pushed.reason}});
        return false;
      case PushOutcome::failed:
        count("failed");
        s.state = "Failed", s.reason = pushed.reason;
        return false;
    }
  }
  count("failed");
  s.state = "Failed", s.reason = "the branch kept moving (" + std::to_string(k_push_attempts) + " attempts)";
  return false;
}

void ImageWatcher::Impl::apply(std::vector<Pending>& pending, std::vector<ImageStatus>& out) {
  if (!bot) {
    auto b = BotRepository::open(config.state_dir / "images" / "work.git", config.images.bot,
                                 config.repository.branch);
    if (!b) {
      for (auto& p : pending) out[p.status].state = "Failed", out[p.status].reason = b.error().message;
      return;
    }
    bot.emplace(std::move(*b));
  }
  auto tip = bot->fetch();
  if (!tip) {
    for (auto& p : pending) out[p.status].state = "Failed", out[p.status].reason = tip.error().message;
    return;
  }
  for (auto& p : pending) land(p, out[p.status], *tip);
}

void ImageWatcher::poll_once() {
  Impl& m = *m_impl;
  m.metrics.add("portcullis_image_polls_total", "");
  auto repo = git::Repository::open(m.config.state_dir / "mirror.git");
  if (!repo) return;  // not fetched yet
  auto commit = repo->resolve_commit("refs/heads/" + m.config.repository.branch);
  if (!commit) return;
  auto tree = repo->commit_tree(*commit);
  if (!tree) return;
  std::vector<ImageStatus> out;
  auto declared = read_declared(*repo, *tree);
  if (!declared) {
    ImageStatus s;
    s.state = "Invalid";
    s.reason = declared.error().describe();
    out.push_back(std::move(s));
  } else {
    auto pending = m.evaluate(*repo, *tree, *declared, out);
    if (!pending.empty()) m.apply(pending, out);
  }
  m.metrics.set("portcullis_image_policies", "", static_cast<double>(out.size()));
  std::lock_guard lock(m.mutex);
  m.previous.clear();
  for (const auto& s : out) m.previous[s.policy + "/" + s.environment] = s;
  m.statuses = std::move(out);
}

std::string images_json(const std::vector<ImageStatus>& images,
                        const std::vector<RegistryState>& registries) {
  util::Json list = util::Json::array();
  for (const auto& s : images)
    list.push_back(util::Json{{"policy", s.policy},
                              {"image", s.image},
                              {"environment", s.environment},
                              {"state", s.state},
                              {"reason", s.reason},
                              {"tagsSeen", s.tags_seen},
                              {"tagsRejected", s.tags_rejected},
                              {"chosen", s.chosen},
                              {"lastCommit", s.last_commit},
                              {"lastPollTime", s.last_poll_time},
                              {"lastCommitTime", s.last_commit_time}});
  util::Json regs = util::Json::array();
  for (const auto& r : registries)
    regs.push_back(util::Json{{"host", r.host},
                              {"up", r.up},
                              {"lastError", r.last_error},
                              {"lastSuccessTime", r.last_success_time}});
  return util::dump(util::Json{{"images", list}, {"registries", regs}}) + "\n";
}

}  // namespace portcullis::daemon
