#pragma once
// Enforces the hook's time budget even when a check is stuck somewhere it cannot poll the
// deadline: at the deadline, unless disarmed first, runs `on_expiry` (which must end the
// process) on its own thread.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace portcullis::hooks {

class Watchdog {
 public:
  Watchdog(std::chrono::steady_clock::time_point deadline, std::function<void()> on_expiry);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Stops the watchdog. Returns false when it has already fired (the process is ending).
  bool disarm();

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_disarmed = false;
  bool m_fired = false;
  std::thread m_thread;
};

}  // namespace portcullis::hooks
