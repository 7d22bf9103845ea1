#include "daemon/statuspage.hpp"

#include <algorithm>
#include <fstream>

#include "shared/util/json.hpp"

namespace portcullis::daemon {

namespace {

constexpr std::size_t k_objects_shown = 200;
constexpr std::size_t k_audit_tail_bytes = 256 << 10;
constexpr std::size_t k_gate_decisions = 30;
constexpr std::size_t k_list_items = 20;

bool is_hex_id(std::string_view s) {
  return (s.size() == 40 || s.size() == 64) &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// At most k_list_items strings of `value` (an array of strings, or of anything: dumped).
util::Json string_list(const util::Json& value) {
  util::Json out = util::Json::array();
  if (!value.is_array()) return out;
  for (const auto& v : value) {
    if (out.size() >= k_list_items) break;
    out.push_back(v.is_string() ? v.get<std::string>() : util::dump(v));
  }
  return out;
}

std::string string_of(const util::Json& line, const char* key) {
  auto it = line.find(key);
  return it != line.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A gate decision from one audit line ("event":"push"), or null for other lines.
util::Json gate_decision(const util::Json& line) {
  if (!line.is_object() || string_of(line, "event") != "push") return nullptr;
  util::Json refs = util::Json::array();
  if (auto r = line.find("refs"); r != line.end() && r->is_array())
    for (const auto& ref : *r)
      if (ref.is_object() && refs.size() < k_list_items) refs.push_back({{"ref", string_of(ref, "ref")}, {"new", string_of(ref, "new")}});
  util::Json out{{"time", string_of(line, "time")},
                 {"repository", string_of(line, "repository")},
                 {"pusher", string_of(line, "pusher")},
                 {"decision", string_of(line, "decision")},
                 {"refs", refs},
                 {"rules", string_list(line.value("rules", util::Json::array()))},
                 {"errors", string_list(line.value("errors", util::Json::array()))}};
  if (auto bg = line.find("breakGlass"); bg != line.end() && bg->is_object()) out["breakGlass"] = string_of(*bg, "reason");
  return out;
}

util::Json target_json(const Service& service, const TargetStatus& t, std::string_view commit_url) {
  util::Json syncs = util::Json::array();
  for (const auto& r : t.recent_syncs)
    syncs.push_back({{"time", r.time},
                     {"revision", r.revision},
                     {"revisionUrl", commit_link(commit_url, r.revision)},
                     {"state", state_name(r.state)},
                     {"durationMs", r.duration_ms},
                     {"applied", r.applied},
                     {"pruned", r.pruned},
                     {"appliedObjects", r.applied_objects},
                     {"prunedObjects", r.pruned_objects},
                     {"error", r.error}});
  std::vector<DriftItem> drift = service.drifted(t.name);
  util::Json objects = util::Json::array();
  for (const auto& o : service.objects(t.name, k_objects_shown)) {
    util::Json entry{{"object", o.what}, {"health", health_name(o.health.status)}, {"reason", o.health.reason}};
    auto d = std::find_if(drift.begin(), drift.end(), [&](const DriftItem& i) { return i.key == o.key; });
    if (d != drift.end())
      entry["drift"] = {{"fields", d->pointers}, {"deleted", d->deleted}, {"changedBy", d->manager}};
    objects.push_back(std::move(entry));
  }
  return {{"name", t.name},
          {"path", t.path},
          {"cluster", t.cluster},
          {"clusterUp", t.cluster_up},
          {"state", state_name(t.state)},
          {"health", t.health},
          {"healthReason", t.health_reason},
          {"driftMode", t.drift_mode},
          {"drifted", t.drifted},
          {"drift", t.drift},
          {"healed", t.healed},
          {"selfHealLoop", t.self_heal_loop},
          {"desiredRevision", t.desired_revision},
          {"desiredUrl", commit_link(commit_url, t.desired_revision)},
          {"appliedRevision", t.applied_revision},
          {"appliedUrl", commit_link(commit_url, t.applied_revision)},
          {"lastError", t.last_error},
          {"pruneBlocked", t.prune_blocked},
          {"objectCount", t.objects},
          {"lastSyncTime", t.last_sync_time},
          {"lastFetchTime", t.last_fetch_time},
          {"recentSyncs", syncs},
          {"objects", objects}};
}

// Break-glass uses in the daemon's audit log (push events) and the gate's decisions.
util::Json break_glass(const std::vector<util::Json>& daemon_lines, const util::Json& gate) {
  util::Json out = util::Json::array();
  for (const auto& line : daemon_lines)
    if (line.is_object() && string_of(line, "event") == "break-glass")
      out.push_back({{"time", string_of(line, "time")},
                     {"actor", string_of(line, "actor")},
                     {"reason", string_of(line, "reason")},
                     {"revision", string_of(line, "revision")},
                     {"refs", string_list(line.value("refs", util::Json::array()))},
                     {"source", "daemon"}});
  for (const auto& g : gate)
    if (g.contains("breakGlass"))
      out.push_back({{"time", g["time"]}, {"actor", g["pusher"]}, {"reason", g["breakGlass"]}, {"revision", ""},
                     {"refs", util::Json::array()}, {"source", "gate"}});
  return out;
}

std::vector<util::Json> parsed(const std::vector<std::string>& lines) {
  std::vector<util::Json> out;
  for (const auto& l : lines) {
    auto j = util::Json::parse(l, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

std::vector<std::string> tail_lines(const std::filesystem::path& path, std::size_t max_bytes, std::size_t max_lines) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(std::max<std::streamoff>(in.tellg(), 0));
  std::size_t start = size > max_bytes ? size - max_bytes : 0;
  std::string text(size - start, '\0');
  in.seekg(static_cast<std::streamoff>(start));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  std::size_t pos = 0;
  if (start > 0) pos = text.find('\n') == std::string::npos ? text.size() : text.find('\n') + 1;  // a cut line
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) break;  // a line still being written
    if (end > pos) out.emplace_back(text, pos, end - pos);
    pos = end + 1;
  }
  if (out.size() > max_lines) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(max_lines));
  return out;
}

std::string commit_link(std::string_view url_template, std::string_view revision) {
  auto at = url_template.find("{commit}");
  if (at == std::string_view::npos || !is_hex_id(revision)) return {};
  return std::string(url_template.substr(0, at)) + std::string(revision) + std::string(url_template.substr(at + 8));
}

std::string status_document(const Service& service) {
  const LeaderView leader = service.leader_view();
  const Config& config = service.config();
  util::Json targets = util::Json::array();
  for (const auto& t : service.status()) targets.push_back(target_json(service, t, config.status_page.commit_url));
  util::Json gate = util::Json::array();
  for (const auto& line : parsed(tail_lines(config.status_page.gate_audit_log, k_audit_tail_bytes, 4 * k_gate_decisions)))
    if (auto d = gate_decision(line); !d.is_null()) gate.push_back(std::move(d));
  std::reverse(gate.begin(), gate.end());  // newest first
  if (gate.size() > k_gate_decisions) gate.erase(gate.begin() + k_gate_decisions, gate.end());
  util::Json glass = break_glass(parsed(tail_lines(config.audit_path(), k_audit_tail_bytes, 200)), gate);
  return util::dump(util::Json{{"targets", targets},
                               {"gateDecisions", gate},
                               {"gateAuditLog", !config.status_page.gate_audit_log.empty()},
                               {"breakGlass", glass},
                               {"leader", {{"role", leader.role}, {"identity", leader.identity}, {"holder", leader.holder}}},
                               {"ready", service.ready()}});
}

}  // namespace portcullis::daemon
