#pragma once
// Independent work items spread over a few threads.
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace portcullis::util {

// Calls fn(worker, i) for every i in [0, n) on up to `threads` threads, the caller's being
// worker 0, and returns when every call has. Items are claimed in increasing order. An
// exception stops the claiming and is rethrown here once every thread has finished.
template <typename F>
void parallel_for(std::size_t n, std::size_t threads, F&& fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto run = [&](std::size_t worker) {
    try {
      for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(worker, i);
    } catch (...) {
      next.store(n, std::memory_order_relaxed);
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> extra;
    for (std::size_t t = 1; t < threads && t < n; ++t) extra.emplace_back(run, t);
    run(0);
  }
  if (failure) std::rethrow_exception(failure);
}

// Threads worth using for CPU-bound work: the machine's, at most `cap`.
inline std::size_t cpu_threads(std::size_t cap = 4) {
  std::size_t n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n < cap ? n : cap;
}

}  // namespace portcullis::util
