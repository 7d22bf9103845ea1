#pragma once
// The break-glass desk: acts on authorized requests (daemon/breakglass.hpp) and keeps the
// windows of every target. While a window is open its target is held in detect-only and every
// object changed is recorded (audit line, alert, the window's record); at close (or expiry,
// as breakGlass.onExpiry says) the minted access is revoked and the target stays held until
// Git matches the live objects (the follow-up: an alert condition until done) unless the
// close asked for --revert, which lets self-heal resume at once. Thread-safe.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/alerts.hpp"
#include "daemon/breakglass.hpp"
#include "daemon/config.hpp"
#include "daemon/monitor.hpp"

namespace portcullis::daemon {

class BreakGlassDesk {
 public:
  // `audit` appends one JSON line (already serialised) to the audit log; `wake` wakes the heal
  // thread (a hold ended). Both are called without the desk's lock held.
  BreakGlassDesk(const Config& config, Alerter& alerter, std::function<void(const std::string&)> audit,
                 std::function<void()> wake);
  ~BreakGlassDesk();

  // Loads the windows from <stateDir>/break-glass.json; fails when the file is damaged.
  util::Result<void> load();

  struct Answer {
    int status = 200;
    std::string body;  // JSON; an open's carries the kubeconfig (a secret)
  };
  Answer handle(const Authorized& request, std::int64_t now);

  // Whether drift of `target` is only recorded (a window open or its follow-up pending).
  bool held(const std::string& target) const;
  // Whether new commits of `target` wait (an open window with breakGlass.syncs: hold).
  bool holds_syncs(const std::string& target) const;

  // The heal thread's view of `target`'s drift now. `settled`: a sync has completed and the
  // watches have listed, so that no drift means Git matches the live objects.
  void observe(const TargetConfig& target, const std::vector<DriftItem>& items, bool settled, std::int64_t now);
  // Ends the windows whose time is up; the seconds until the next one ends, if any is open.
  std::optional<std::int64_t> expire(std::int64_t now);

  // A window of `target` whose follow-up commit is to be written now (closed, not yet tried):
  // marked tried (once per window; again after a restart that stopped it before it was
  // recorded) and returned; nullopt otherwise.
  std::optional<Window> follow_up_due(const std::string& target);
  // Records the follow-up of window `id` (daemon/followup.hpp): branch, commit and notes, or
  // `error`; audit line and alert.
  void follow_up_written(const std::string& id, const std::string& branch, const std::string& commit,
                         const std::vector<std::string>& notes, const std::string& error);

  // One line for status: "open by alice until ...: reason", "followUp ...", or "".
  std::string summary(const std::string& target) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
