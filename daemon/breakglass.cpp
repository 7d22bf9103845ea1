#include "daemon/breakglass.hpp"

#include <algorithm>

#include "shared/signing/sshsig.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/json.hpp"

namespace portcullis::daemon {

namespace {

std::unexpected<Refused> refuse(Refusal why, std::string message) { return std::unexpected(Refused{why, std::move(message)}); }

bool valid_nonce(std::string_view n) {
  return n.size() >= 16 && n.size() <= 128 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

std::string string_of(const util::Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t int_of(const util::Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// The request text parsed, with its form checked (not its authority).
std::expected<BreakGlassRequest, Refused> parse_request(std::string_view text) {
  auto j = util::Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return refuse(Refusal::malformed, "the signed request is not a JSON object");
  BreakGlassRequest r;
  r.action = string_of(j, "action");
  r.target = string_of(j, "target");
  r.daemon = string_of(j, "daemon");
  r.nonce = string_of(j, "nonce");
  r.timestamp = int_of(j, "timestamp");
  r.reason = string_of(j, "reason");
  r.for_seconds = int_of(j, "forSeconds");
  if (auto it = j.find("revert"); it != j.end() && it->is_boolean()) r.revert = it->get<bool>();
  if (r.action != "open" && r.action != "close" && r.action != "list")
    return refuse(Refusal::malformed, "action must be open, close or list");
  if (r.action != "list" && r.target.empty()) return refuse(Refusal::malformed, "the request names no target");
  if (!valid_nonce(r.nonce)) return refuse(Refusal::malformed, "nonce must be 16-128 of [A-Za-z0-9._-]");
  if (r.timestamp <= 0) return refuse(Refusal::malformed, "the request has no timestamp");
  if (r.action == "open") {
    if (r.reason.empty() || r.reason.size() > 1000) return refuse(Refusal::malformed, "open needs a reason (at most 1000 bytes)");
    if (r.for_seconds <= 0) return refuse(Refusal::malformed, "open needs forSeconds > 0");
  }
  return r;
}

const TargetConfig* find_target(const Config& config, std::string_view name) {
  for (const auto& t : config.targets)
    if (t.name == name) return &t;
  return nullptr;
}

// The first principal of the signing key's line that `allowed` lists.
std::string allowed_principal(const std::vector<std::string>& principals, const std::vector<std::string>& allowed) {
  for (const auto& p : principals)
    if (std::find(allowed.begin(), allowed.end(), p) != allowed.end()) return p;
  return {};
}

}  // namespace

std::string_view refusal_rule(Refusal why) {
  switch (why) {
    case Refusal::malformed: return "break-glass.malformed";
    case Refusal::bad_signature: return "break-glass.bad-signature";
    case Refusal::unknown_key: return "break-glass.unknown-key";
    case Refusal::stale: return "break-glass.stale";
    case Refusal::wrong_daemon: return "break-glass.wrong-daemon";
    case Refusal::unknown_target: return "break-glass.unknown-target";
    case Refusal::not_allowed: return "break-glass.not-allowed";
    case Refusal::too_long: return "break-glass.too-long";
    case Refusal::replay: return "break-glass.replay";
  }
  return "break-glass.malformed";
}

int refusal_status(Refusal why) {
  switch (why) {
    case Refusal::malformed: return 400;
    case Refusal::bad_signature:
    case Refusal::unknown_key:
    case Refusal::stale: return 401;
    case Refusal::wrong_daemon:
    case Refusal::not_allowed:
    case Refusal::too_long: return 403;
    case Refusal::unknown_target: return 404;
    case Refusal::replay: return 409;
  }
  return 400;
}

std::string request_text(const BreakGlassRequest& r) {
  util::Json j{{"action", r.action}, {"target", r.target}, {"daemon", r.daemon}, {"nonce", r.nonce},
               {"timestamp", r.timestamp}};
  if (r.action == "open") {
    j["reason"] = r.reason;
    j["forSeconds"] = r.for_seconds;
  }
  if (r.revert) j["revert"] = true;
  return util::dump(j);
}

std::expected<Authorized, Refused> authorize(std::string_view body, const Config& config,
                                             const signing::AllowedSigners& signers, std::int64_t now) {
  auto envelope = util::Json::parse(body, nullptr, false);
  if (envelope.is_discarded() || !envelope.is_object())
    return refuse(Refusal::malformed, "the body must be {\"request\": ..., \"signature\": ...}");
  std::string text = string_of(envelope, "request"), signature = string_of(envelope, "signature");
  if (text.empty() || signature.empty()) return refuse(Refusal::malformed, "request and signature are required");
  // The signature first: nothing of an unsigned request is looked at beyond its form.
  auto verified = signing::verify(signature, text, k_break_glass_namespace, signers, std::chrono::system_clock::from_time_t(now));
  if (!verified) {
    auto f = signing::failure_of(verified.error());
    if (f == signing::Failure::unknown_key)
      return refuse(Refusal::unknown_key, "the signing key is not in breakGlass.allowedSignersFile");
    if (f == signing::Failure::malformed_signature) return refuse(Refusal::malformed, verified.error().message);
    return refuse(Refusal::bad_signature, "signature refused: " + verified.error().message);
  }
  auto request = parse_request(text);
  if (!request) return std::unexpected(request.error());
  const auto& r = *request;
  if (r.daemon != config.break_glass.daemon_id)
    return refuse(Refusal::wrong_daemon, "the request is for daemon \"" + r.daemon + "\", not this one");
  if (r.timestamp < now - k_break_glass_skew || r.timestamp > now + k_break_glass_skew)
    return refuse(Refusal::stale, "the request's timestamp is more than 5 minutes from the daemon's clock");
  Authorized out{r, {}, verified->fingerprint};
  if (r.action == "list" && r.target.empty()) {
    for (const auto& t : config.targets)
      if (t.break_glass && out.actor.empty()) out.actor = allowed_principal(verified->principals, t.break_glass->allowed);
    if (out.actor.empty()) return refuse(Refusal::not_allowed, "the signer may open break-glass on no target");
    return out;
  }
  const TargetConfig* target = find_target(config, r.target);
  if (!target) return refuse(Refusal::unknown_target, "no target \"" + r.target + "\"");
  if (!target->break_glass) return refuse(Refusal::not_allowed, "target \"" + r.target + "\" has no breakGlass");
  out.actor = allowed_principal(verified->principals, target->break_glass->allowed);
  if (out.actor.empty())
    return refuse(Refusal::not_allowed, "the signer is not in breakGlass.allowed of target \"" + r.target + "\"");
  if (r.action == "open" && r.for_seconds > target->break_glass->max_duration.count())
    return refuse(Refusal::too_long, "--for is longer than the target's breakGlass.maxDuration (" +
                                         std::to_string(target->break_glass->max_duration.count()) + "s)");
  return out;
}

std::string_view window_state_name(WindowState state) {
  switch (state) {
    case WindowState::open: return "open";
    case WindowState::follow_up: return "followUp";
    case WindowState::closed: return "closed";
  }
  return "closed";
}

namespace {

util::Json to_json(const Window& w) {
  util::Json changes = util::Json::array();
  for (const auto& c : w.changes)
    changes.push_back({{"time", c.time}, {"object", c.object}, {"fields", c.fields}, {"manager", c.manager}});
  return util::Json{{"id", w.id},
                    {"target", w.target},
                    {"actor", w.actor},
                    {"fingerprint", w.fingerprint},
                    {"reason", w.reason},
                    {"opened", w.opened},
                    {"expires", w.expires},
                    {"closed", w.closed},
                    {"state", std::string(window_state_name(w.state))},
                    {"outcome", w.outcome},
                    {"closedBy", w.closed_by},
                    {"serviceAccount", w.service_account},
                    {"accessNamespace", w.access_namespace},
                    {"bindings", w.bindings},
                    {"changes", changes},
                    {"followUp", {{"attempted", w.follow_up_attempted},
                                  {"branch", w.follow_up_branch},
                                  {"commit", w.follow_up_commit},
                                  {"error", w.follow_up_error},
                                  {"notes", w.follow_up_notes}}}};
}

Window from_json(const util::Json& j) {
  Window w;
  w.id = string_of(j, "id");
  w.target = string_of(j, "target");
  w.actor = string_of(j, "actor");
  w.fingerprint = string_of(j, "fingerprint");
  w.reason = string_of(j, "reason");
  w.opened = int_of(j, "opened");
  w.expires = int_of(j, "expires");
  w.closed = int_of(j, "closed");
  auto state = string_of(j, "state");
  w.state = state == "open" ? WindowState::open : state == "followUp" ? WindowState::follow_up : WindowState::closed;
  w.outcome = string_of(j, "outcome");
  w.closed_by = string_of(j, "closedBy");
  w.service_account = string_of(j, "serviceAccount");
  w.access_namespace = string_of(j, "accessNamespace");
  if (auto b = j.find("bindings"); b != j.end() && b->is_array())
    for (const auto& ns : *b)
      if (ns.is_string()) w.bindings.push_back(ns.get<std::string>());
  if (auto c = j.find("changes"); c != j.end() && c->is_array())
    for (const auto& x : *c)
      if (x.is_object())
        w.changes.push_back({string_of(x, "time"), string_of(x, "object"), string_of(x, "fields"), string_of(x, "manager")});
  if (auto f = j.find("followUp"); f != j.end() && f->is_object()) {
    if (auto a = f->find("attempted"); a != f->end() && a->is_boolean()) w.follow_up_attempted = a->get<bool>();
    w.follow_up_branch = string_of(*f, "branch");
    w.follow_up_commit = string_of(*f, "commit");
    w.follow_up_error = string_of(*f, "error");
    if (auto n = f->find("notes"); n != f->end() && n->is_array())
      for (const auto& x : *n)
        if (x.is_string()) w.follow_up_notes.push_back(x.get<std::string>());
  }
  return w;
}

}  // namespace

std::string window_json(const Window& window) { return util::dump(to_json(window)); }

util::Result<WindowStore> WindowStore::load(std::filesystem::path file) {
  WindowStore store;
  store.m_file = std::move(file);
  std::error_code ec;
  if (store.m_file.empty() || !std::filesystem::exists(store.m_file, ec)) return store;
  auto text = util::read_file(store.m_file, 64 << 20);
  if (!text) return util::fail("cannot read the break-glass windows: " + text.error().message);
  auto j = util::Json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("windows") || !j["windows"].is_array())
    return util::fail("the break-glass windows file " + store.m_file.string() + " is damaged; fix or remove it");
  for (const auto& w : j["windows"])
    if (w.is_object()) store.m_windows.push_back(from_json(w));
  return store;
}

util::Result<void> WindowStore::save() const {
  if (m_file.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(m_file.parent_path(), ec);  // the state directory, before the first sync made it
  util::Json list = util::Json::array();
  for (const auto& w : m_windows) list.push_back(to_json(w));
  return util::write_file(m_file, util::dump(util::Json{{"windows", list}}) + "\n", 0600);
}

Window* WindowStore::holding(std::string_view target) {
  for (auto& w : m_windows)
    if (w.target == target && w.state != WindowState::closed) return &w;
  return nullptr;
}

}  // namespace portcullis::daemon
