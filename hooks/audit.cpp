#include "hooks/audit.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <random>
#include <set>

#include "shared/util/strings.hpp"

namespace portcullis::hooks {

std::string new_push_id() {
  std::random_device rd;
  std::uniform_int_distribution<int> d(0, 15);
  std::string s;
  for (int i = 0; i < 16; ++i) s += "0123456789abcdef"[d(rd)];
  return s;
}

std::string pusher_from_env(std::span<const std::string> variables) {
  for (const auto& v : variables)
    if (const char* value = std::getenv(v.c_str()); value && *value) return value;
  return {};
}

std::string audit_line(const AuditContext& ctx, const Report& report, std::string_view decision) {
  using util::json_escape;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string out = "{\"time\":\"" + std::string(stamp) + "\",\"event\":\"push\",\"pushId\":\"" +
                    json_escape(ctx.push_id) + "\",\"repository\":\"" + json_escape(ctx.repository) + "\",\"pusher\":";
  out += ctx.pusher.empty() ? "null" : "\"" + json_escape(ctx.pusher) + "\"";
  out += ",\"decision\":\"" + std::string(decision) + "\",\"failOpen\":" + (report.fail_open ? "true" : "false");
  out += ",\"refs\":[";
  for (std::size_t i = 0; i < ctx.updates.size(); ++i) {
    const auto& u = ctx.updates[i];
    if (i) out += ',';
    out += "{\"ref\":\"" + json_escape(u.ref) + "\",\"old\":\"" + u.old_oid.hex() + "\",\"new\":\"" + u.new_oid.hex() + "\"}";
  }
  std::set<std::string> rules;
  for (const auto& f : report.findings)
    if (f.level != Level::notice) rules.insert(f.rule);
  out += "],\"rules\":[";
  bool first = true;
  for (const auto& r : rules) {
    if (!first) out += ',';
    first = false;
    out += "\"" + json_escape(r) + "\"";
  }
  out += "]";
  if (!report.break_glass.empty()) {
    out += ",\"breakGlass\":{\"reason\":\"" + json_escape(report.break_glass) + "\",\"bypassed\":[";
    for (std::size_t i = 0; i < report.bypassed.size(); ++i) out += (i ? ",\"" : "\"") + json_escape(report.bypassed[i]) + "\"";
    out += "]}";
  }
  out += ",\"errors\":" + std::to_string(report.errors()) + ",\"warnings\":" + std::to_string(report.warnings()) +
         ",\"files\":" + std::to_string(report.stats.files) + ",\"objects\":" + std::to_string(report.stats.objects) +
         ",\"durationMs\":" + std::to_string(report.stats.duration_ms) + "}\n";
  return out;
}

}  // namespace portcullis::hooks
