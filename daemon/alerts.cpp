#include "daemon/alerts.hpp"

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "daemon/log.hpp"
#include "shared/notify/event.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"
#include "shared/util/tls.hpp"
#include "shared/util/url.hpp"

namespace portcullis::daemon {

namespace {

using SystemTime = std::chrono::system_clock::time_point;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t k_queue_capacity = 1000;  // per provider; the oldest is dropped beyond it
constexpr int k_max_attempts = 6;               // 1 + 5 retries: 1s, 2s, 4s, 8s, 16s apart
constexpr milliseconds k_first_backoff{1000};
constexpr milliseconds k_max_backoff{30'000};
constexpr milliseconds k_request_timeout{5000};
constexpr milliseconds k_shutdown_deadline{2000};
constexpr std::chrono::seconds k_rate_window{60};
constexpr std::size_t k_slack_objects = 10;

constexpr std::string_view k_sent_metric = "portcullis_alerts_sent_total";
constexpr std::string_view k_dropped_metric = "portcullis_alerts_dropped_total";

struct KindInfo {
  AlertKind kind;
  std::string_view name;
  bool condition;
  std::string_view severity;  // PagerDuty
  std::string_view emoji;     // Slack
  std::string_view title;     // "[prod] <title> at abc1234: <summary>"
  std::string_view cleared;   // "[prod] recovered: <cleared>"
};

constexpr KindInfo k_kinds[] = {
    {AlertKind::sync_failed, "syncFailed", true, "critical", ":rotating_light:", "sync failed",
     "sync succeeds again"},
    {AlertKind::out_of_sync, "outOfSync", true, "warning", ":warning:", "out of sync", "in sync again"},
    {AlertKind::drift_corrected, "driftCorrected", false, "info", ":wrench:", "drift corrected", ""},
    {AlertKind::self_heal_loop, "selfHealLoop", true, "error", ":repeat:", "self-heal loop",
     "self-heal loop ended"},
    {AlertKind::prune_blocked, "pruneBlocked", true, "error", ":no_entry:", "prune blocked",
     "prune no longer blocked"},
    {AlertKind::break_glass, "breakGlass", false, "warning", ":fire_engine:", "break-glass push", ""},
    {AlertKind::source_unavailable, "sourceUnavailable", true, "error", ":satellite_antenna:", "repository unavailable",
     "the repository is fetched again"},
    {AlertKind::break_glass_follow_up, "breakGlassFollowUp", true, "warning", ":memo:", "break-glass follow-up open",
     "break-glass follow-up done"},
    {AlertKind::image_update_rejected, "imageUpdateRejected", true, "warning", ":hourglass:", "image update rejected by the gate",
     "image update landed"},
    {AlertKind::registry_unavailable, "registryUnavailable", true, "error", ":satellite_antenna:", "registry unavailable",
     "the registry answers again"},
};
static_assert([] {
  for (std::size_t i = 0; i < std::size(k_kinds); ++i)
    if (static_cast<std::size_t>(k_kinds[i].kind) != i) return false;
  return true;
}());

const KindInfo& info(AlertKind kind) {
  return k_kinds[static_cast<std::size_t>(kind)];
}

// Worth telling, never worth losing a condition for: drift corrected.
bool informational(AlertKind kind) { return info(kind).severity == "info"; }

enum class Status { firing, resolved, event };

std::string_view status_name(Status s) {
  switch (s) {
    case Status::firing: return "firing";
    case Status::resolved: return "resolved";
    case Status::event: return "event";
  }
  return "event";
}

// One message, the same for every provider it goes to (and through every retry).
struct Notification {
  Alert alert;
  Status status = Status::event;
  std::string id;  // 32 hex digits
  SystemTime time;
};

struct Delivery {
  std::shared_ptr<const Notification> note;
  std::string body;  // rendered at the first attempt
  int attempts = 0;
  Steady::time_point next;
};

struct ProviderState {
  AlertProvider config;
  unsigned kinds = 0;  // bit per AlertKind
  std::deque<Delivery> queue;
  std::deque<SystemTime> window;     // deliveries admitted in the last minute
  std::deque<SystemTime> important;  // of those, the ones that are not informational
  bool limited = false;           // dropping for the rate (logged once per episode)
  bool overflowing = false;       // dropping for the queue (logged once per episode)
};

struct OpenCondition {
  std::vector<std::optional<SystemTime>> sent;  // per provider: the last firing admitted
};

std::string rfc3339(SystemTime t) {
  return util::rfc3339_utc(std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t)));
}

std::int64_t unix_seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// At most `max` bytes, cut at a UTF-8 character boundary, "…" marking the cut.
std::string clip(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max > 3 ? max - 3 : 0;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "…";
}

// Slack mrkdwn treats <...> as links and mentions (<!channel>): text from Git is escaped.
std::string slack_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::string_view actor_of(const Alert& a) {
  return a.actor.empty() ? std::string_view("portcullisd") : a.actor;
}

// "[prod] sync failed at abc1234: <summary>", "[prod] break-glass push by alice at abc1234: <summary>",
// "[prod] recovered: sync succeeds again".
std::string one_liner(const Notification& n) {
  const Alert& a = n.alert;
  const KindInfo& k = info(a.kind);
  if (n.status == Status::resolved) return "[" + a.target + "] recovered: " + std::string(k.cleared);
  std::string s = "[" + a.target + "] " + std::string(k.title);
  if (!a.actor.empty() && a.actor != "portcullisd") s += " by " + a.actor;
  if (!a.revision.empty()) s += " at " + a.revision.substr(0, 7);
  if (!a.summary.empty()) s += ": " + a.summary;
  return s;
}

std::string webhook_body(const Notification& n) {
  const Alert& a = n.alert;
  return util::dump(util::Json{{"version", 1},
                               {"id", n.id},
                               {"kind", info(a.kind).name},
                               {"status", status_name(n.status)},
                               {"target", std::string(a.target)},
                               {"revision", std::string(a.revision)},
                               {"summary", std::string(a.summary)},
                               {"objects", a.objects},
                               {"actor", std::string(actor_of(a))},
                               {"reason", std::string(a.reason)},
                               {"time", rfc3339(n.time)}});
}

util::Json mrkdwn_section(std::string text) {
  return {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", std::string(text)}}}};
}

std::string slack_body(const Notification& n) {
  const Alert& a = n.alert;
  std::string emoji(n.status == Status::resolved ? ":white_check_mark:" : info(a.kind).emoji);
  std::string text = emoji + " " + slack_escape(clip(one_liner(n), 2500));
  util::Json blocks = util::Json::array({mrkdwn_section(text)});
  if (!a.objects.empty()) {
    std::string list;
    for (std::size_t i = 0; i < a.objects.size() && i < k_slack_objects; ++i)
      list += "• " + slack_escape(clip(a.objects[i], 200)) + "\n";
    if (a.objects.size() > k_slack_objects)
      list += "… and " + std::to_string(a.objects.size() - k_slack_objects) + " more\n";
    list.pop_back();
    blocks.push_back(mrkdwn_section(list));
  }
  util::Json context = util::Json::array();
  if (!a.revision.empty())
    context.push_back({{"type", "mrkdwn"}, {"text", std::string("revision " + slack_escape(clip(a.revision, 100)))}});
  if (!a.reason.empty())
    context.push_back({{"type", "mrkdwn"}, {"text", std::string("reason: " + slack_escape(clip(a.reason, 1000)))}});
  if (!context.empty()) blocks.push_back({{"type", "context"}, {"elements", context}});
  return util::dump(util::Json{{"text", std::string(text)}, {"blocks", blocks}});
}

std::string pagerduty_body(const Notification& n, std::string_view routing_key) {
  const Alert& a = n.alert;
  std::string dedup = "portcullis/" + a.target + "/" + std::string(info(a.kind).name);
  if (n.status == Status::event) dedup += "/" + n.id;  // one-off: an incident of its own
  util::Json body{{"routing_key", std::string(routing_key)},
                  {"event_action", n.status == Status::resolved ? "resolve" : "trigger"},
                  {"dedup_key", std::string(dedup)}};
  if (n.status == Status::resolved) return util::dump(body);
  body["payload"] = {{"summary", std::string(clip(one_liner(n), 1024))},
                     {"source", "portcullisd"},
                     {"severity", info(a.kind).severity},
                     {"component", std::string(a.target)},
                     {"timestamp", rfc3339(n.time)},
                     {"custom_details",
                      {{"id", n.id},
                       {"kind", info(a.kind).name},
                       {"target", std::string(a.target)},
                       {"revision", std::string(a.revision)},
                       {"summary", std::string(a.summary)},
                       {"objects", a.objects},
                       {"actor", std::string(actor_of(a))},
                       {"reason", std::string(a.reason)}}}};
  return util::dump(body);
}

// A secret file's content, trimmed; never empty. The message names the file, not the content.
util::Result<std::string> read_secret(const std::filesystem::path& path, std::string_view what) {
  auto text = util::read_file(path, 64 << 10);
  if (!text) return util::fail("cannot read the " + std::string(what) + ": " + text.error().message);
  std::string s(util::trim(*text));
  if (s.empty()) return util::fail("the " + std::string(what) + " file " + path.string() + " is empty");
  return s;
}

util::Result<std::string> render(const AlertProvider& p, const Notification& n) {
  switch (p.type) {
    case AlertProviderType::webhook: return webhook_body(n);
    case AlertProviderType::slack: return slack_body(n);
    case AlertProviderType::pagerduty: {
      auto key = read_secret(p.routing_key_file, "PagerDuty routing key");
      if (!key) return util::fail(key.error());
      return pagerduty_body(n, *key);
    }
  }
  return util::fail("unknown provider type");
}

// A client for the provider's URL and the path to POST to, TLS verified (against `caFile`
// when set). Errors are configuration errors, which retrying does not heal; their messages
// never hold the URL: a Slack webhook URL is itself a credential.
struct Endpoint {
  std::unique_ptr<httplib::ClientImpl> client;
  std::string path;
};

util::Result<Endpoint> connect(const AlertProvider& p, milliseconds timeout) {
  auto url = util::parse_url(p.url);
  if (!url) return util::fail("the provider's url is not a valid http(s) URL");
  Endpoint e;
  // The path verbatim (parse_url drops a trailing '/', which some receivers route on).
  std::string_view rest = std::string_view(p.url).substr(p.url.find("://") + 3);
  auto slash = rest.find('/');
  e.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url->scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(url->host, url->port);
    ssl->enable_server_certificate_verification(p.ca_file.empty());  // else OpenSSL verifies: util::trust_only
    if (!p.ca_file.empty()) {
      auto pem = util::read_file(p.ca_file, 1 << 20);
      if (!pem) return util::fail("cannot read the CA: " + pem.error().message);
      X509_STORE* store = util::make_ca_store(*pem);
      if (!store) return util::fail("the CA " + p.ca_file.string() + " is not valid PEM");
      util::trust_only(ssl->ssl_context(), store, url->host);  // that CA alone, with the host name checked
    }
    e.client = std::move(ssl);
  } else {
    e.client = std::make_unique<httplib::ClientImpl>(url->host, url->port);
  }
  auto ms = timeout.count();
  e.client->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  e.client->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  e.client->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
  return e;
}

enum class Outcome { ok, retry, rejected, error };

struct Attempt {
  Outcome outcome = Outcome::error;
  std::string detail;  // "HTTP 503", or the transport or configuration error
};

Attempt attempt(const AlertProvider& p, Delivery& d, SystemTime now, milliseconds timeout) {
  ++d.attempts;
  if (d.body.empty()) {
    auto body = render(p, *d.note);
    if (!body) return {Outcome::error, body.error().message};
    d.body = std::move(*body);
  }
  auto endpoint = connect(p, timeout);
  if (!endpoint) return {Outcome::error, endpoint.error().message};
  httplib::Headers headers{{"User-Agent", "portcullis"}};
  if (p.type == AlertProviderType::webhook) {
    // Signed as push events are (shared/notify), for this method and path: receivers reuse one
    // verifier.
    std::int64_t ts = unix_seconds(now);
    headers.emplace(std::string(notify::k_event_id_header), d.note->id);
    headers.emplace(std::string(notify::k_timestamp_header), std::to_string(ts));
    if (!p.secret_file.empty()) {
      auto secret = read_secret(p.secret_file, "webhook secret");
      if (!secret) return {Outcome::error, secret.error().message};
      std::string_view path = std::string_view(endpoint->path).substr(0, endpoint->path.find('?'));
      headers.emplace(std::string(notify::k_signature_header),
                      notify::sign(*secret, ts, {"POST", path, d.note->id, d.body}));
    }
  }
  auto res = endpoint->client->Post(endpoint->path, headers, d.body, "application/json");
  if (!res)
    return {Outcome::retry, "request failed: " + httplib::to_string(res.error())};  // refused, timed out, TLS
  std::string detail = "HTTP " + std::to_string(res->status);
  if (res->status >= 200 && res->status < 300) return {Outcome::ok, detail};
  if (res->status == 429 || res->status >= 500) return {Outcome::retry, detail};
  return {Outcome::rejected, detail};
}

milliseconds backoff(int attempts) {
  auto wait = k_first_backoff * (1LL << std::min(attempts - 1, 16));
  return std::min<milliseconds>(wait, k_max_backoff);
}

std::string labels(std::string_view provider, std::string_view kind, std::string_view result) {
  return "provider=\"" + label_value(provider) + "\",kind=\"" + std::string(kind) + "\",result=\"" +
         std::string(result) + "\"";
}

std::string drop_labels(std::string_view provider, std::string_view reason) {
  return "provider=\"" + label_value(provider) + "\",reason=\"" + std::string(reason) + "\"";
}

}  // namespace

std::string_view alert_kind_name(AlertKind kind) {
  return info(kind).name;
}

std::optional<AlertKind> alert_kind_from(std::string_view name) {
  for (const auto& k : k_kinds)
    if (k.name == name) return k.kind;
  return std::nullopt;
}

bool is_condition(AlertKind kind) {
  return info(kind).condition;
}

struct Alerter::Impl {
  AlertsConfig config;
  Metrics& metrics;
  Clock clock;

  mutable std::mutex mutex;
  std::condition_variable wake;  // the delivery thread: work queued, or stopping
  std::condition_variable idle;  // drain(): queues empty, nothing in flight
  std::vector<ProviderState> providers;
  std::map<std::pair<AlertKind, std::string>, OpenCondition> open;
  bool in_flight = false;
  bool stopping = false;
  Steady::time_point stop_deadline;
  std::thread thread;

  Impl(AlertsConfig c, Metrics& m, Clock now) : config(std::move(c)), metrics(m), clock(std::move(now)) {
    if (!clock) clock = [] { return std::chrono::system_clock::now(); };
    for (const auto& p : config.providers) {
      ProviderState state;
      state.config = p;
      for (const auto& e : p.events) {
        if (auto k = alert_kind_from(e))
          state.kinds |= 1u << static_cast<unsigned>(*k);
        else
          log(LogLevel::warn, "alert provider lists an unknown event kind",
              {{"provider", p.name}, {"event", e}});
      }
      if (p.events.empty()) state.kinds = ~0u;
      if (!util::parse_url(p.url))
        log(LogLevel::error, "alert provider url is not a valid http(s) URL; its alerts will fail",
            {{"provider", p.name}});
      if (p.type == AlertProviderType::webhook && p.secret_file.empty())
        log(LogLevel::warn, "webhook alert provider has no secretFile: its alerts are not signed",
            {{"provider", p.name}});
      providers.push_back(std::move(state));
    }
  }

  bool quiet() const {
    return !in_flight &&
           std::all_of(providers.begin(), providers.end(), [](const auto& p) { return p.queue.empty(); });
  }

  bool wants(const ProviderState& p, AlertKind kind) const {
    return p.kinds & (1u << static_cast<unsigned>(kind));
  }

  // Sliding windows over the injectable clock. Informational alerts (drift corrected) are
  // admitted while the minute holds fewer than maxPerMinute deliveries of any kind; the others
  // (conditions, break-glass) while it holds fewer than maxPerMinute of their own: informational
  // ones never crowd them out. A clock that went back restarts the windows.
  bool admit(ProviderState& p, SystemTime now, AlertKind kind) {
    for (auto* w : {&p.window, &p.important}) {
      if (!w->empty() && w->back() > now) w->clear();
      while (!w->empty() && w->front() <= now - k_rate_window) w->pop_front();
    }
    const bool important = !informational(kind);
    const std::size_t limit = static_cast<std::size_t>(std::max(config.max_per_minute, 1));
    if ((important ? p.important : p.window).size() >= limit) {
      metrics.add(std::string(k_dropped_metric), drop_labels(p.config.name, "rate"));
      if (!p.limited)
        log(LogLevel::warn, "alert rate limit reached; alerts are dropped",
            {{"provider", p.config.name}, {"maxPerMinute", std::to_string(config.max_per_minute)}});
      p.limited = true;
      return false;
    }
    p.limited = false;
    p.window.push_back(now);
    if (important) p.important.push_back(now);
    return true;
  }

  // Beyond the queue's capacity the oldest informational delivery goes (the oldest of any kind
  // when there is none).
  void enqueue(ProviderState& p, const std::shared_ptr<const Notification>& note) {
    if (p.queue.size() >= k_queue_capacity) {
      auto victim = std::find_if(p.queue.begin(), p.queue.end(), [](const Delivery& d) {
        return d.note->status == Status::event && informational(d.note->alert.kind);
      });
      p.queue.erase(victim == p.queue.end() ? p.queue.begin() : victim);
      metrics.add(std::string(k_dropped_metric), drop_labels(p.config.name, "queue"));
      if (!p.overflowing)
        log(LogLevel::warn, "alert queue is full; the oldest alerts are dropped",
            {{"provider", p.config.name}});
      p.overflowing = true;
    } else if (p.queue.size() < k_queue_capacity / 2) {
      p.overflowing = false;
    }
    p.queue.push_back(Delivery{note, {}, 0, Steady::now()});
  }

  std::shared_ptr<Notification> note(Alert alert, Status status, SystemTime now) {
    auto n = std::make_shared<Notification>();
    n->alert = std::move(alert);
    n->status = status;
    n->id = notify::new_event_id();
    n->time = now;
    return n;
  }

  void raise(Alert alert) {
    SystemTime now = clock();
    AlertKind kind = alert.kind;
    std::shared_ptr<Notification> n;
    {
      std::lock_guard lock(mutex);
      if (!is_condition(kind)) {
        n = note(std::move(alert), Status::event, now);
        for (auto& p : providers)
          if (wants(p, kind) && admit(p, now, kind)) enqueue(p, n);
      } else {
        auto [it, opened] = open.try_emplace({kind, alert.target});
        auto& sent = it->second.sent;
        if (opened) sent.resize(providers.size());
        for (std::size_t i = 0; i < providers.size(); ++i) {
          ProviderState& p = providers[i];
          if (!wants(p, kind)) continue;
          if (sent[i] && *sent[i] > now) sent[i] = now;  // the clock went back
          if (sent[i] && now - *sent[i] < config.repeat_interval) continue;
          if (!admit(p, now, kind)) continue;  // sent at a later raise, when the rate allows
          if (!n) n = note(std::move(alert), Status::firing, now);
          enqueue(p, n);
          sent[i] = now;
        }
      }
    }
    if (n) wake.notify_one();
  }

  void resolve(AlertKind kind, const std::string& target) {
    if (!is_condition(kind)) return;
    SystemTime now = clock();
    std::shared_ptr<Notification> n;
    {
      std::lock_guard lock(mutex);
      auto it = open.find({kind, target});
      if (it == open.end()) return;
      for (std::size_t i = 0; i < providers.size(); ++i) {
        // Only where the firing went; a resolution is never rate-limited away (an incident
        // left open is worse than one message over the rate), but it counts.
        if (!it->second.sent[i]) continue;
        if (!n) {
          Alert cleared;
          cleared.kind = kind;
          cleared.target = target;
          cleared.summary = std::string(info(kind).cleared);
          cleared.actor = "portcullisd";
          n = note(std::move(cleared), Status::resolved, now);
        }
        providers[i].window.push_back(now);
        providers[i].important.push_back(now);
        enqueue(providers[i], n);
      }
      open.erase(it);
    }
    if (n) wake.notify_one();
  }

  // After an attempt: metrics, logs, and the retry (under the lock).
  void settle(ProviderState& p, Delivery d, const Attempt& a) {
    const Alert& alert = d.note->alert;
    std::string kind(info(alert.kind).name);
    std::string status(status_name(d.note->status));
    auto count = [&](std::string_view result) {
      metrics.add(std::string(k_sent_metric), labels(p.config.name, kind, result));
    };
    switch (a.outcome) {
      case Outcome::ok:
        count("ok");
        log(LogLevel::debug, "alert delivered",
            {{"provider", p.config.name},
             {"kind", kind},
             {"status", status},
             {"target", alert.target},
             {"id", d.note->id}});
        return;
      case Outcome::rejected:
        count("rejected");
        log(LogLevel::error, "alert provider rejected the alert; not retried",
            {{"provider", p.config.name}, {"kind", kind}, {"target", alert.target}, {"error", a.detail}});
        return;
      case Outcome::error:
        count("error");
        log(LogLevel::error, "alert not sent",
            {{"provider", p.config.name}, {"kind", kind}, {"target", alert.target}, {"error", a.detail}});
        return;
      case Outcome::retry: break;
    }
    if (d.attempts >= k_max_attempts || stopping) {
      count("failed");
      log(LogLevel::error, "alert delivery failed; giving up",
          {{"provider", p.config.name},
           {"kind", kind},
           {"target", alert.target},
           {"error", a.detail},
           {"attempts", std::to_string(d.attempts)}});
      // Shutting down, a provider that fails is not waited for.
      if (stopping) {
        drop_for_shutdown(p, p.queue.size());
        p.queue.clear();
      }
      return;
    }
    auto wait = backoff(d.attempts);
    log(LogLevel::warn, "alert delivery failed; retrying",
        {{"provider", p.config.name},
         {"kind", kind},
         {"target", alert.target},
         {"error", a.detail},
         {"attempt", std::to_string(d.attempts)},
         {"retryInMs", std::to_string(wait.count())}});
    d.next = Steady::now() + wait;
    p.queue.push_front(std::move(d));  // keeps the provider's order: a resolution never overtakes its firing
  }

  void drop_for_shutdown(ProviderState& p, std::size_t n) {
    if (!n) return;
    metrics.add(std::string(k_dropped_metric), drop_labels(p.config.name, "shutdown"),
                static_cast<double>(n));
    log(LogLevel::warn, "alerts not delivered before shutdown",
        {{"provider", p.config.name}, {"count", std::to_string(n)}});
  }

  // The delivery thread: the ready delivery with the earliest time first; a provider in
  // backoff holds back only its own queue.
  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      auto now = Steady::now();
      if (stopping && now >= stop_deadline) break;
      ProviderState* next = nullptr;
      for (auto& p : providers)
        if (!p.queue.empty() && (!next || p.queue.front().next < next->queue.front().next)) next = &p;
      if (!next) {
        if (stopping) break;
        wake.wait(lock);
        continue;
      }
      auto when = next->queue.front().next;
      if (stopping && when > stop_deadline) {
        next->queue.pop_front();
        drop_for_shutdown(*next, 1);
        idle.notify_all();
        continue;
      }
      if (when > now) {
        wake.wait_until(lock, when);
        continue;
      }
      Delivery d = std::move(next->queue.front());
      next->queue.pop_front();
      in_flight = true;
      milliseconds timeout = k_request_timeout;
      if (stopping)
        timeout = std::clamp(std::chrono::duration_cast<milliseconds>(stop_deadline - now), milliseconds(100),
                             k_request_timeout);
      lock.unlock();
      Attempt a;
      try {
        a = attempt(next->config, d, clock(), timeout);
      } catch (const std::exception& e) {
        a = {Outcome::error, e.what()};
      }
      lock.lock();
      in_flight = false;
      settle(*next, std::move(d), a);
      if (quiet()) idle.notify_all();
    }
    for (auto& p : providers) {
      drop_for_shutdown(p, p.queue.size());
      p.queue.clear();
    }
    idle.notify_all();
  }
};

Alerter::Alerter(AlertsConfig config, Metrics& metrics, Clock clock)
    : m_impl(std::make_unique<Impl>(std::move(config), metrics, std::move(clock))) {
  metrics.describe(
      std::string(k_sent_metric), "counter",
      "Alert deliveries by provider, kind and result (ok, rejected, failed after retries, error).");
  metrics.describe(std::string(k_dropped_metric), "counter",
                   "Alerts not delivered, by provider and reason (rate, queue, shutdown).");
  m_impl->thread = std::thread([impl = m_impl.get()] { impl->run(); });
}

Alerter::~Alerter() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
    m_impl->stop_deadline = Steady::now() + k_shutdown_deadline;
  }
  m_impl->wake.notify_all();
  m_impl->thread.join();
}

void Alerter::raise(Alert alert) {
  m_impl->raise(std::move(alert));
}

void Alerter::resolve(AlertKind kind, const std::string& target) {
  m_impl->resolve(kind, target);
}

bool Alerter::is_open(AlertKind kind, const std::string& target) const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->open.contains({kind, target});
}

bool Alerter::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_impl->mutex);
  return m_impl->idle.wait_for(lock, timeout, [&] { return m_impl->quiet(); });
}

}  // namespace portcullis::daemon
