#include "hooks/audit.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <random>
#include <set>

#include "shared/util/json.hpp"
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
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  util::Json refs = util::Json::array();
  for (const auto& u : ctx.updates)
    refs.push_back({{"ref", std::string(u.ref)}, {"old", u.old_oid.hex()}, {"new", u.new_oid.hex()}});
  std::set<std::string> rules;
  for (const auto& f : report.findings)
    if (f.level != Level::notice) rules.insert(f.rule);
  util::Json line{{"time", stamp},
                  {"event", "push"},
                  {"pushId", std::string(ctx.push_id)},
                  {"repository", std::string(ctx.repository)},
                  {"pusher", ctx.pusher.empty() ? util::Json(nullptr) : util::Json(std::string(ctx.pusher))},
                  {"decision", decision},
                  {"failOpen", report.fail_open},
                  {"refs", refs},
                  {"rules", rules}};
  if (!report.break_glass.empty()) {
    line["breakGlass"] = {{"reason", report.break_glass}, {"bypassed", report.bypassed}};
  }
  line["errors"] = report.errors();
  line["warnings"] = report.warnings();
  line["files"] = report.stats.files;
  line["objects"] = report.stats.objects;
  line["durationMs"] = report.stats.duration_ms;
  return util::dump(line) + "\n";
}

}  // namespace portcullis::hooks
