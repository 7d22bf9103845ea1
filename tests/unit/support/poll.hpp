#pragma once
// Waiting for something another thread or process does, without sleeping a guessed time.
#include <chrono>
#include <functional>
#include <thread>

namespace portcullis::test {

// Polls `condition` (every 10 ms) until it holds or `limit` passes; true when it held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace portcullis::test
