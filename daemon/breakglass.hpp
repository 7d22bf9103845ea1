#pragma once
// Break-glass in the cluster (issue 19): the signed requests that open, close and list
// time-limited windows during which a target is held in detect-only, and the windows
// themselves, persisted under the state directory so that a restart keeps them.
//
// A request is {"request": "<JSON text>", "signature": "<armored SSHSIG over that text>"}; the
// text holds action, target, daemon, nonce, timestamp, reason, forSeconds and revert. It is
// accepted when the signature verifies for namespace `portcullis-break-glass` against the
// allowed signers of the daemon config, a principal of the signing key is allowed on the target,
// the daemon is this one, the timestamp is within 5 minutes of the daemon's clock, and
// forSeconds is within the target's maxDuration. The nonce is then used once (the caller's
// ReplayGuard): a replayed request is refused, also after a restart.
#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "shared/signing/allowed_signers.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

inline constexpr std::string_view k_break_glass_namespace = "portcullis-break-glass";
inline constexpr std::int64_t k_break_glass_skew = 300;  // seconds a request's timestamp may be off

struct BreakGlassRequest {
  std::string action;  // "open", "close" or "list"
  std::string target;  // may be empty for list
  std::string daemon;  // the daemonId it is meant for
  std::string nonce;   // 16-128 of [A-Za-z0-9._-]
  std::int64_t timestamp = 0;  // Unix seconds
  std::string reason;          // open: required
  std::int64_t for_seconds = 0;  // open: the window's length
  bool revert = false;           // close: self-heal resumes at once (no follow-up)
};

enum class Refusal { malformed, bad_signature, unknown_key, stale, wrong_daemon, unknown_target, not_allowed, too_long, replay };

struct Refused {
  Refusal why = Refusal::malformed;
  std::string message;
};
// "break-glass.malformed", "break-glass.bad-signature", ...
std::string_view refusal_rule(Refusal why);
// The HTTP status a refusal is answered with (400, 401, 403, 404, 409).
int refusal_status(Refusal why);

struct Authorized {
  BreakGlassRequest request;
  std::string actor;        // the principal allowed on the target (list: the first principal)
  std::string fingerprint;  // of the signing key
};

// Checks `body` as the header describes, at Unix time `now`, except the nonce's first use.
std::expected<Authorized, Refused> authorize(std::string_view body, const Config& config,
                                             const signing::AllowedSigners& signers, std::int64_t now);

// The text a client signs for `request` (compact JSON, members in a fixed order).
std::string request_text(const BreakGlassRequest& request);

enum class WindowState { open, follow_up, closed };
std::string_view window_state_name(WindowState state);  // "open", "followUp", "closed"

struct WindowChange {
  std::string time;     // RFC 3339
  std::string object;   // "apps/v1 Deployment ns/name"
  std::string fields;   // "/spec/replicas,..." or "deleted"
  std::string manager;  // who changed it, from managedFields
};

struct Window {
  std::string id;  // 16 hex digits
  std::string target, actor, fingerprint, reason;
  std::int64_t opened = 0, expires = 0, closed = 0;  // Unix seconds
  WindowState state = WindowState::open;
  std::string outcome;  // once past open: "closed", "expired", "reverted", "followUpDone"
  std::string closed_by;
  // Access minted for it (empty without breakGlass.access): the ServiceAccount (in
  // access_namespace) and the namespaces of its RoleBindings, deleted at close.
  std::string service_account, access_namespace;
  std::vector<std::string> bindings;
  std::vector<WindowChange> changes;
  // The follow-up commit (daemon/followup.hpp), written once after the close: its branch and
  // commit, the notes of what it could not edit, or why it failed.
  bool follow_up_attempted = false;
  std::string follow_up_branch, follow_up_commit, follow_up_error;
  std::vector<std::string> follow_up_notes;
};

// The windows of every target, in `file` (JSON, written atomically after each change).
class WindowStore {
 public:
  // Loads `file` when it exists; an unreadable or damaged file is an error (fail closed:
  // a window that a restart forgot would silently resume self-heal).
  static util::Result<WindowStore> load(std::filesystem::path file);
  util::Result<void> save() const;

  std::vector<Window>& windows() { return m_windows; }
  const std::vector<Window>& windows() const { return m_windows; }
  // The window of `target` that holds it (open or follow-up), or nullptr.
  Window* holding(std::string_view target);

 private:
  std::filesystem::path m_file;
  std::vector<Window> m_windows;
};

// A window as JSON for the API (what `portcullis break-glass list` prints).
std::string window_json(const Window& window);

}  // namespace portcullis::daemon
