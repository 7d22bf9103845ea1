#include "daemon/desk.hpp"

#include <algorithm>
#include <ctime>
#include <mutex>
#include <set>

#include "daemon/access.hpp"
#include "daemon/log.hpp"
#include "shared/notify/event.hpp"
#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

BreakGlassDesk::Answer error_answer(int status, const std::string& message) {
  return {status, util::dump(util::Json{{"error", message}}) + "\n"};
}

std::string change_key(const std::string& id, const std::string& object, const std::string& fields, const std::string& manager) {
  return id + '\n' + object + '\n' + fields + '\n' + manager;
}

}  // namespace

struct BreakGlassDesk::Impl {
  const Config& config;
  Alerter& alerter;
  std::function<void(const std::string&)> audit;
  std::function<void()> wake;
  mutable std::mutex mutex;
  std::optional<WindowStore> store;
  std::set<std::string> recorded;  // change_key of every change recorded

  const TargetConfig* target_of(const std::string& name) const {
    for (const auto& t : config.targets)
      if (t.name == name) return &t;
    return nullptr;
  }

  // Saves the store; a failure is logged (the window stays in memory and is saved again at the
  // next change).
  void save() {
    if (auto r = store->save(); !r)
      log(LogLevel::error, "cannot write the break-glass windows", {{"error", r.error().message}});
  }

  void write_audit(const std::string& event, const Window& w, util::Json extra) {
    util::Json line{{"time", util::rfc3339_utc(std::time(nullptr))}, {"event", event}, {"window", w.id}, {"target", w.target},
                    {"actor", w.actor},  {"reason", w.reason}};
    for (auto& [k, v] : extra.items()) line[k] = v;
    audit(util::dump(line) + "\n");
  }

  void revoke(Window& w) {
    if (w.service_account.empty()) return;
    const TargetConfig* t = target_of(w.target);
    if (!t || !t->break_glass || !t->break_glass->access) return;
    if (auto r = revoke_access(*t->break_glass->access, w.service_account, w.access_namespace, w.bindings); !r) {
      log(LogLevel::error, "cannot revoke break-glass access; retried at the next check",
          {{"target", w.target}, {"window", w.id}, {"error", r.error().message}});
      return;
    }
    w.service_account.clear();
    w.bindings.clear();
  }

  // Open -> closed (revert) or follow-up. Caller holds the lock.
  void end(Window& w, const std::string& outcome, const std::string& by, bool revert, std::int64_t now) {
    revoke(w);
    w.closed = now;
    w.closed_by = by;
    w.outcome = outcome;
    w.state = revert ? WindowState::closed : WindowState::follow_up;
    save();
  }

  Answer open(const Authorized& a, std::int64_t now);
  Answer close(const Authorized& a, std::int64_t now);
  Answer list(const Authorized& a) const;
};

BreakGlassDesk::Answer BreakGlassDesk::Impl::open(const Authorized& a, std::int64_t now) {
  const auto& r = a.request;
  const TargetConfig& t = *target_of(r.target);  // authorize() checked it
  std::unique_lock lock(mutex);
  if (Window* w = store->holding(r.target))
    return error_answer(409, "target " + r.target + " is already held by break-glass window " + w->id + " (" +
                                 std::string(window_state_name(w->state)) + ")");
  Window w;
  w.id = notify::new_event_id().substr(0, 16);
  w.target = r.target;
  w.actor = a.actor;
  w.fingerprint = a.fingerprint;
  w.reason = r.reason;
  w.opened = now;
  w.expires = now + r.for_seconds;
  std::string kubeconfig;
  if (t.break_glass->access) {
    auto g = grant_access(*t.break_glass->access, t, w.id, r.for_seconds);
    if (!g) {
      log(LogLevel::error, "break-glass access could not be granted", {{"target", r.target}, {"error", g.error().message}});
      return error_answer(502, "cannot grant access: " + g.error().message);
    }
    w.service_account = g->service_account;
    w.access_namespace = g->namespace_;
    w.bindings = g->bindings;
    kubeconfig = std::move(g->kubeconfig);
  }
  store->windows().push_back(w);
  if (auto s = store->save(); !s) {
    store->windows().pop_back();
    revoke(w);
    return error_answer(503, "cannot record the window: " + s.error().message);
  }
  lock.unlock();
  log(LogLevel::warn, "break-glass window opened",
      {{"target", w.target}, {"window", w.id}, {"actor", w.actor}, {"reason", w.reason}, {"expires", util::rfc3339_utc(w.expires)}});
  write_audit("break-glass-open", w,
              {{"fingerprint", w.fingerprint}, {"expires", util::rfc3339_utc(w.expires)}, {"serviceAccount", w.service_account},
               {"bindings", w.bindings}});
  alerter.raise(Alert{AlertKind::break_glass, w.target, {},
                      "break-glass window opened on " + w.target + " by " + w.actor + " until " + util::rfc3339_utc(w.expires) + ": " +
                          w.reason,
                      {}, w.actor, w.reason});
  wake();
  util::Json body = util::Json::parse(window_json(w));
  if (!kubeconfig.empty()) body["kubeconfig"] = kubeconfig;
  return {201, util::dump(body) + "\n"};
}

BreakGlassDesk::Answer BreakGlassDesk::Impl::close(const Authorized& a, std::int64_t now) {
  const auto& r = a.request;
  std::unique_lock lock(mutex);
  Window* w = store->holding(r.target);
  if (!w) return error_answer(409, "target " + r.target + " has no break-glass window open");
  if (w->state == WindowState::follow_up && !r.revert)
    return error_answer(409, "window " + w->id + " is closed; its follow-up is pending (merge it, or close --revert)");
  const bool was_open = w->state == WindowState::open;
  if (was_open) end(*w, r.revert ? "reverted" : "closed", a.actor, r.revert, now);
  else {
    w->state = WindowState::closed;
    w->outcome = "reverted";
    save();
  }
  Window copy = *w;
  lock.unlock();
  log(LogLevel::warn, "break-glass window closed", {{"target", copy.target}, {"window", copy.id}, {"by", a.actor},
                                                    {"outcome", copy.outcome}});
  write_audit("break-glass-close", copy,
              {{"closedBy", a.actor}, {"outcome", copy.outcome}, {"changes", copy.changes.size()}});
  alerter.raise(Alert{AlertKind::break_glass, copy.target, {},
                      "break-glass window on " + copy.target + " closed by " + a.actor + " (" + copy.outcome + ", " +
                          std::to_string(copy.changes.size()) + " changes recorded)",
                      {}, a.actor, copy.reason});
  if (copy.state == WindowState::follow_up)
    alerter.raise(Alert{AlertKind::break_glass_follow_up, copy.target, {},
                        "break-glass follow-up of " + copy.target + " open: Git must be made to match what was changed (" +
                            copy.reason + "), or close --revert",
                        {}, "portcullisd", copy.reason});
  else
    alerter.resolve(AlertKind::break_glass_follow_up, copy.target);
  wake();
  return {200, window_json(copy) + "\n"};
}

BreakGlassDesk::Answer BreakGlassDesk::Impl::list(const Authorized& a) const {
  std::lock_guard lock(mutex);
  std::string out = "{\"windows\":[";
  bool first = true;
  for (const auto& w : store->windows()) {
    if (!a.request.target.empty() && w.target != a.request.target) continue;
    // Only windows of targets the signer may open break-glass on.
    const TargetConfig* t = target_of(w.target);
    if (!t || !t->break_glass ||
        std::find(t->break_glass->allowed.begin(), t->break_glass->allowed.end(), a.actor) == t->break_glass->allowed.end())
      continue;
    out += (first ? "" : ",") + window_json(w);
    first = false;
  }
  return {200, out + "]}\n"};
}

BreakGlassDesk::BreakGlassDesk(const Config& config, Alerter& alerter, std::function<void(const std::string&)> audit,
                               std::function<void()> wake)
    : m_impl(std::make_unique<Impl>(config, alerter, std::move(audit), std::move(wake))) {}

BreakGlassDesk::~BreakGlassDesk() = default;

util::Result<void> BreakGlassDesk::load() {
  auto s = WindowStore::load(m_impl->config.state_dir.empty() ? std::filesystem::path()
                                                               : m_impl->config.state_dir / "break-glass.json");
  if (!s) return util::fail(s.error());
  std::lock_guard lock(m_impl->mutex);
  m_impl->store = std::move(*s);
  // A follow-up begun but not recorded (the daemon stopped meanwhile) is tried again.
  for (auto& w : m_impl->store->windows())
    if (w.state == WindowState::follow_up && w.follow_up_attempted && w.follow_up_branch.empty() && w.follow_up_error.empty())
      w.follow_up_attempted = false;
  for (const auto& w : m_impl->store->windows())
    for (const auto& c : w.changes) m_impl->recorded.insert(change_key(w.id, c.object, c.fields, c.manager));
  for (const auto& w : m_impl->store->windows())
    if (w.state == WindowState::follow_up)
      m_impl->alerter.raise(Alert{AlertKind::break_glass_follow_up, w.target, {},
                                  "break-glass follow-up of " + w.target + " open: Git must be made to match what was changed (" +
                                      w.reason + "), or close --revert",
                                  {}, "portcullisd", w.reason});
  return {};
}

BreakGlassDesk::Answer BreakGlassDesk::handle(const Authorized& a, std::int64_t now) {
  if (!m_impl->store) return error_answer(503, "the break-glass windows are not loaded");
  if (a.request.action == "open") return m_impl->open(a, now);
  if (a.request.action == "close") return m_impl->close(a, now);
  return m_impl->list(a);
}

bool BreakGlassDesk::held(const std::string& target) const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->store && m_impl->store->holding(target);
}

bool BreakGlassDesk::holds_syncs(const std::string& target) const {
  const TargetConfig* t = m_impl->target_of(target);
  std::lock_guard lock(m_impl->mutex);
  if (!t || !t->break_glass || !t->break_glass->hold_syncs || !m_impl->store) return false;
  const Window* w = m_impl->store->holding(target);
  return w && w->state == WindowState::open;
}

void BreakGlassDesk::observe(const TargetConfig& target, const std::vector<DriftItem>& items, bool settled, std::int64_t now) {
  std::vector<std::pair<Window, WindowChange>> news;
  std::optional<Window> done;
  {
    std::lock_guard lock(m_impl->mutex);
    Window* w = m_impl->store ? m_impl->store->holding(target.name) : nullptr;
    if (!w) return;
    if (w->state == WindowState::open) {
      for (const auto& item : items) {
        WindowChange c{util::rfc3339_utc(now), item.what, item.deleted ? "deleted" : item.pointer_list(), item.manager};
        if (!m_impl->recorded.insert(change_key(w->id, c.object, c.fields, c.manager)).second) continue;
        w->changes.push_back(c);
        news.emplace_back(*w, c);
      }
      if (!news.empty()) m_impl->save();
    } else if (settled && items.empty()) {
      w->state = WindowState::closed;
      w->outcome = "followUpDone";
      m_impl->save();
      done = *w;
    }
  }
  for (const auto& [w, c] : news) {
    m_impl->write_audit("break-glass-change", w, {{"object", c.object}, {"fields", c.fields}, {"manager", c.manager}});
    m_impl->alerter.raise(Alert{AlertKind::break_glass, w.target, {},
                                "changed during break-glass on " + w.target + ": " + c.object + " " + c.fields +
                                    (c.manager.empty() ? "" : " by " + c.manager),
                                {c.object}, c.manager, w.reason});
  }
  if (done) {
    log(LogLevel::info, "break-glass follow-up done: Git matches the live objects", {{"target", done->target}, {"window", done->id}});
    m_impl->write_audit("break-glass-follow-up-done", *done, {});
    m_impl->alerter.resolve(AlertKind::break_glass_follow_up, done->target);
  }
}

std::optional<std::int64_t> BreakGlassDesk::expire(std::int64_t now) {
  std::vector<Window> expired;
  std::optional<std::int64_t> next;
  {
    std::lock_guard lock(m_impl->mutex);
    if (!m_impl->store) return std::nullopt;
    for (auto& w : m_impl->store->windows()) {
      if (w.state == WindowState::open && w.expires <= now) {
        const TargetConfig* t = m_impl->target_of(w.target);
        bool revert = t && t->break_glass && t->break_glass->on_expiry == OnExpiry::revert;
        m_impl->end(w, "expired", "portcullisd", revert, now);
        expired.push_back(w);
      } else if (w.state == WindowState::open) {
        next = std::min(next.value_or(w.expires - now), w.expires - now);
      }
      // Access whose revocation failed earlier is retried.
      if (w.state != WindowState::open && !w.service_account.empty()) m_impl->revoke(w);
    }
  }
  for (const auto& w : expired) {
    log(LogLevel::warn, "break-glass window expired", {{"target", w.target}, {"window", w.id},
                                                       {"then", w.state == WindowState::closed ? "revert" : "hold"}});
    m_impl->write_audit("break-glass-close", w, {{"closedBy", "portcullisd"}, {"outcome", "expired"},
                                                 {"then", w.state == WindowState::closed ? "revert" : "hold"},
                                                 {"changes", w.changes.size()}});
    m_impl->alerter.raise(Alert{AlertKind::break_glass, w.target, {},
                                "break-glass window on " + w.target + " expired (" +
                                    (w.state == WindowState::closed ? "self-heal reverts" : "drift held until Git matches") + ")",
                                {}, "portcullisd", w.reason});
    if (w.state == WindowState::follow_up)
      m_impl->alerter.raise(Alert{AlertKind::break_glass_follow_up, w.target, {},
                                  "break-glass follow-up of " + w.target + " open: Git must be made to match what was changed (" +
                                      w.reason + "), or close --revert",
                                  {}, "portcullisd", w.reason});
  }
  if (!expired.empty()) m_impl->wake();
  return next;
}

std::optional<Window> BreakGlassDesk::follow_up_due(const std::string& target) {
  std::lock_guard lock(m_impl->mutex);
  Window* w = m_impl->store ? m_impl->store->holding(target) : nullptr;
  if (!w || w->state != WindowState::follow_up || w->follow_up_attempted) return std::nullopt;
  w->follow_up_attempted = true;
  m_impl->save();
  return *w;
}

void BreakGlassDesk::follow_up_written(const std::string& id, const std::string& branch, const std::string& commit,
                                       const std::vector<std::string>& notes, const std::string& error) {
  std::optional<Window> copy;
  {
    std::lock_guard lock(m_impl->mutex);
    for (auto& w : m_impl->store->windows())
      if (w.id == id) {
        w.follow_up_branch = branch;
        w.follow_up_commit = commit;
        w.follow_up_notes = notes;
        w.follow_up_error = error;
        copy = w;
      }
    m_impl->save();
  }
  if (!copy) return;
  m_impl->write_audit("break-glass-follow-up", *copy,
                      {{"branch", branch}, {"commit", commit}, {"notes", notes}, {"error", error}});
  std::string summary = !error.empty() ? "break-glass follow-up of " + copy->target + " could not be written: " + error
                        : commit.empty() ? "break-glass follow-up of " + copy->target + ": nothing could be edited (" +
                                               std::to_string(notes.size()) + " notes); make Git match by hand"
                                         : "break-glass follow-up of " + copy->target + " written: merge branch " + branch +
                                               " (" + commit.substr(0, 12) + ")" +
                                               (notes.empty() ? "" : "; " + std::to_string(notes.size()) + " fields left to do by hand");
  log(error.empty() ? LogLevel::warn : LogLevel::error, summary, {{"target", copy->target}, {"window", copy->id}});
  m_impl->alerter.raise(Alert{AlertKind::break_glass, copy->target, commit, summary, notes, "portcullisd", copy->reason});
}

std::string BreakGlassDesk::summary(const std::string& target) const {
  std::lock_guard lock(m_impl->mutex);
  const Window* w = m_impl->store ? m_impl->store->holding(target) : nullptr;
  if (!w) return {};
  if (w->state == WindowState::open)
    return "break-glass " + w->id + " open by " + w->actor + " until " + util::rfc3339_utc(w->expires) + ": " + w->reason;
  std::string where = !w->follow_up_commit.empty() ? "merge branch " + w->follow_up_branch + " (" + w->follow_up_commit.substr(0, 12) + ")"
                      : !w->follow_up_error.empty() ? "the follow-up commit failed (" + w->follow_up_error + "): make Git match the live objects"
                                                    : "make Git match the live objects";
  return "break-glass " + w->id + " follow-up pending (" + w->outcome + "): " + where + ", or close --revert";
}

}  // namespace portcullis::daemon
