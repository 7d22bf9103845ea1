#pragma once
// Structured logs: one JSON object per line on stderr, through spdlog.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace portcullis::daemon {

enum class LogLevel { debug, info, warn, error };

// {"time":"...","level":"info","msg":"...","target":"prod",...}; field values are strings.
void log(LogLevel level, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});

}  // namespace portcullis::daemon
