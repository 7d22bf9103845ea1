#include "hooks/watchdog.hpp"

namespace portcullis::hooks {

Watchdog::Watchdog(std::chrono::steady_clock::time_point deadline, std::function<void()> on_expiry) {
  m_thread = std::thread([this, deadline, on_expiry = std::move(on_expiry)] {
    std::unique_lock lock(m_mutex);
    if (m_cv.wait_until(lock, deadline, [this] { return m_disarmed; })) return;
    m_fired = true;
    on_expiry();  // holds the lock: disarm() cannot race the expiry output
  });
}

bool Watchdog::disarm() {
  {
    std::lock_guard lock(m_mutex);
    if (m_fired) return false;
    m_disarmed = true;
  }
  m_cv.notify_all();
  return true;
}

Watchdog::~Watchdog() {
  disarm();
  if (m_thread.joinable()) m_thread.join();
}

}  // namespace portcullis::hooks
