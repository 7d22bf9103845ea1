#include "daemon/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "shared/util/strings.hpp"

namespace portcullis::daemon {

namespace {

spdlog::logger& logger() {
  static auto l = [] {
    auto lg = spdlog::stderr_logger_mt("portcullisd");
    // spdlog stamps time and level; the message is the rest of the JSON object.
    lg->set_pattern("{\"time\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",%v}", spdlog::pattern_time_type::utc);
    lg->set_level(spdlog::level::debug);
    lg->flush_on(spdlog::level::debug);
    return lg;
  }();
  return *l;
}

}  // namespace

void log(LogLevel level, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string line = "\"msg\":\"" + util::json_escape(message) + "\"";
  for (const auto& [k, v] : fields) line += ",\"" + util::json_escape(k) + "\":\"" + util::json_escape(v) + "\"";
  switch (level) {
    case LogLevel::debug: logger().debug(line); break;
    case LogLevel::info: logger().info(line); break;
    case LogLevel::warn: logger().warn(line); break;
    case LogLevel::error: logger().error(line); break;
  }
}

}  // namespace portcullis::daemon
