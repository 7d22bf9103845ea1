#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "hooks/watchdog.hpp"

using namespace portcullis::hooks;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Polls `condition` until it holds or `limit` passes; true when it held.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return condition();
}

// Polls until `until`, requiring `condition` to stay false the whole time.
bool never_before(const std::function<bool()>& condition, Clock::time_point until) {
  while (Clock::now() < until) {
    if (condition()) return false;
    std::this_thread::sleep_for(1ms);
  }
  return !condition();
}

}  // namespace

TEST_CASE("the watchdog fires at its deadline, once", "[watchdog]") {
  for (auto delay : {-1000ms, 0ms, 30ms}) {
    INFO("deadline in " << delay.count() << " ms");
    std::atomic<int> fired{0};
    auto deadline = Clock::now() + delay;
    std::atomic<Clock::time_point::rep> fired_at{0};
    Watchdog w(deadline, [&] {
      fired_at = Clock::now().time_since_epoch().count();
      ++fired;
    });
    REQUIRE(eventually([&] { return fired.load() == 1; }));
    CHECK(Clock::time_point(Clock::duration(fired_at.load())) >= deadline);
    CHECK_FALSE(w.disarm());
    CHECK_FALSE(w.disarm());
    CHECK(fired == 1);
  }
}

TEST_CASE("a watchdog disarmed in time never fires", "[watchdog]") {
  std::atomic<bool> fired{false};
  auto deadline = Clock::now() + 100ms;
  {
    Watchdog w(deadline, [&] { fired = true; });
    CHECK(w.disarm());
    CHECK(w.disarm());  // disarming twice is harmless
    CHECK(never_before([&] { return fired.load(); }, deadline + 150ms));
  }
  CHECK_FALSE(fired);
}

TEST_CASE("the destructor disarms and joins without waiting for the deadline", "[watchdog]") {
  std::atomic<bool> fired{false};
  auto started = Clock::now();
  {
    Watchdog w(started + 1h, [&] { fired = true; });
  }
  CHECK(Clock::now() - started < 10s);
  CHECK_FALSE(fired);
}

TEST_CASE("the destructor waits for a callback that is running", "[watchdog]") {
  std::atomic<bool> started{false}, release{false}, finished{false};
  auto w = std::make_unique<Watchdog>(Clock::now(), [&] {
    started = true;
    while (!release) std::this_thread::yield();
    finished = true;
  });
  REQUIRE(eventually([&] { return started.load(); }));
  // Whenever the releaser runs, the destructor cannot return before the callback has ended.
  std::thread releaser([&] { release = true; });
  w.reset();
  CHECK(finished);
  releaser.join();
}

TEST_CASE("disarm while the callback runs reports that the watchdog fired", "[watchdog]") {
  std::atomic<bool> started{false}, release{false};
  Watchdog w(Clock::now(), [&] {
    started = true;
    while (!release) std::this_thread::yield();
  });
  REQUIRE(eventually([&] { return started.load(); }));
  std::thread releaser([&] { release = true; });
  CHECK_FALSE(w.disarm());  // blocks until the callback ends: the expiry output is never cut short
  releaser.join();
}
