#pragma once
// Alerts: conditions of targets (a sync failing, OutOfSync or drift lasting, a self-heal loop,
// a blocked prune) and one-off events (drift corrected, a break-glass push) sent to webhook,
// Slack-compatible and PagerDuty Events v2-compatible providers. raise() and resolve() only
// queue: delivery runs on the alerter's own thread, with retries, and never blocks a sync.
// An open condition is sent once (again after repeatInterval at most) and resolved once.
//
// Delivery, per provider: only the kinds in its `events` (resolutions follow their kind); at
// most maxPerMinute admitted in any minute of the clock, the rest dropped; the informational
// kind (driftCorrected) only while the minute holds fewer than maxPerMinute of any kind, the
// others (conditions, break-glass) while it holds fewer of their own, so that informational
// alerts never crowd them out (a condition dropped so is sent at a later raise; a resolution is
// never dropped, and goes only where its firing went); a FIFO of at most 1000, the oldest
// informational delivery dropped (the oldest of any kind when there is none); 5xx, 429 and transport failures retried
// 1 s, 2 s, 4 s, 8 s, 16 s apart (6 attempts), other statuses not; 5 s per request. A provider
// in backoff holds back only its own queue. Webhooks are signed as push events are
// (shared/notify/event.hpp). Secrets (secretFile, routingKeyFile) are read at each delivery and
// never logged, nor URLs (a Slack URL is a credential).
// Metrics: portcullis_alerts_sent_total{provider,kind,result="ok|rejected|failed|error"},
// portcullis_alerts_dropped_total{provider,reason="rate|queue|shutdown"}.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/metrics.hpp"

namespace portcullis::daemon {

enum class AlertKind {
  sync_failed,
  out_of_sync,
  drift_corrected,
  self_heal_loop,
  prune_blocked,
  break_glass,
  source_unavailable,
  break_glass_follow_up,
  image_update_rejected,  // the gate refused the image bot's commit (target: "policy/environment")
  registry_unavailable    // a registry failed for images.registryUnavailableAfter (target: its host)
};

// "syncFailed", "outOfSync", "driftCorrected", "selfHealLoop", "pruneBlocked", "breakGlass",
// "sourceUnavailable", "breakGlassFollowUp", "imageUpdateRejected", "registryUnavailable"
std::string_view alert_kind_name(AlertKind kind);
std::optional<AlertKind> alert_kind_from(std::string_view name);
// Conditions stay open until resolved; the others are one-off.
bool is_condition(AlertKind kind);

struct Alert {
  AlertKind kind = AlertKind::sync_failed;
  std::string target;
  std::string revision;
  std::string summary;               // one line a person can act on
  std::vector<std::string> objects;  // "apps/v1 Deployment ns/name", at most a few dozen
  std::string actor;                 // the pusher (break-glass) or "portcullisd"
  std::string reason;                // break-glass reason, or the error
};

class Alerter {
 public:
  // The wall clock (default: system_clock::now), injectable for tests: rate limits, repeat
  // intervals, the payloads' time and the signatures' timestamp. Called from the delivery
  // thread too, so it must be thread-safe. Backoff and deadlines use the steady clock.
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // `metrics` must outlive the alerter. Starts the delivery thread.
  Alerter(AlertsConfig config, Metrics& metrics, Clock clock = {});
  // Delivers what is queued within 2 s (a provider that fails then is not retried), drops and
  // counts the rest, then stops.
  ~Alerter();
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;

  // A condition holds (de-duplicated by kind and target while open), or a one-off event.
  void raise(Alert alert);
  // The condition `kind` of `target` cleared: sends its resolution if it was open.
  void resolve(AlertKind kind, const std::string& target);
  bool is_open(AlertKind kind, const std::string& target) const;

  // Blocks until the queue is empty and no delivery is in flight, or `timeout`; for tests
  // and shutdown. True when drained.
  bool drain(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
