#include "daemon/faults.hpp"

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <chrono>

#include "daemon/log.hpp"

namespace portcullis::daemon {

namespace {

struct Armed {
  std::string name;  // "" : no fault point armed
  long long at = 1;
  std::atomic<long long> hits{0};

  Armed() {
    const char* spec = std::getenv("PORTCULLIS_TEST_PAUSE_AT");
    if (!spec || !*spec) return;
    std::string_view s(spec);
    auto colon = s.find(':');
    name = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos) {
      auto digits = s.substr(colon + 1);
      if (std::from_chars(digits.data(), digits.data() + digits.size(), at).ec != std::errc{} || at < 1) at = 1;
    }
  }
};

Armed& armed() {
  static Armed a;
  return a;
}

// PORTCULLIS_TEST_DELAY_AT=NAME:MS, parsed once.
struct Delay {
  std::string name;
  long long ms = 0;
  Delay() {
    const char* spec = std::getenv("PORTCULLIS_TEST_DELAY_AT");
    if (!spec || !*spec) return;
    std::string_view s(spec);
    auto colon = s.find(':');
    if (colon == std::string_view::npos) return;
    auto digits = s.substr(colon + 1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), ms).ec != std::errc{} || ms < 1 || ms > 60'000) return;
    name = std::string(s.substr(0, colon));
  }
};

}  // namespace

void fault_point(std::string_view name) {
  static Delay delay;
  if (!delay.name.empty() && delay.name == name) std::this_thread::sleep_for(std::chrono::milliseconds(delay.ms));
  Armed& a = armed();
  if (a.name.empty() || a.name != name) return;
  if (a.hits.fetch_add(1) + 1 != a.at) return;
  log(LogLevel::warn, "paused at fault point", {{"point", name}, {"hit", std::to_string(a.at)}});
  std::raise(SIGSTOP);
}

std::size_t test_shard_bytes() {
  const char* spec = std::getenv("PORTCULLIS_TEST_SHARD_BYTES");
  if (!spec || !*spec) return 0;
  std::size_t bytes = 0;
  std::string_view s(spec);
  if (std::from_chars(s.data(), s.data() + s.size(), bytes).ec != std::errc{}) return 0;
  return bytes;
}

}  // namespace portcullis::daemon
