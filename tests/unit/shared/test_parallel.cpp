#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "shared/util/parallel.hpp"

using portcullis::util::parallel_for;

TEST_CASE("parallel_for calls every item once, on at most the threads asked for", "[parallel]") {
  struct Case {
    std::size_t n, threads;
  };
  for (const Case c : {Case{0, 4}, Case{1, 4}, Case{3, 1}, Case{5, 8}, Case{1000, 2}, Case{1000, 7}}) {
    INFO(c.n << " items, " << c.threads << " threads");
    std::vector<std::atomic<int>> calls(c.n);
    std::mutex m;
    std::set<std::size_t> workers;
    std::set<std::thread::id> ids;
    parallel_for(c.n, c.threads, [&](std::size_t worker, std::size_t i) {
      ++calls[i];
      std::lock_guard lock(m);
      workers.insert(worker);
      ids.insert(std::this_thread::get_id());
    });
    for (std::size_t i = 0; i < c.n; ++i) CHECK(calls[i] == 1);
    CHECK(workers.size() <= std::max<std::size_t>(1, std::min(c.n, c.threads)));
    CHECK(ids.size() == workers.size());  // one worker index per thread
    for (std::size_t w : workers) CHECK(w < c.threads);
  }
}

TEST_CASE("parallel_for rethrows an item's exception after every thread has stopped", "[parallel]") {
  std::atomic<int> running{0};
  CHECK_THROWS_WITH(parallel_for(500, 4,
                                 [&](std::size_t, std::size_t i) {
                                   ++running;
                                   if (i == 10) throw std::runtime_error("item 10");
                                   --running;
                                 }),
                    "item 10");
  CHECK(running == 1);  // only the item that threw did not finish; the others had all returned
}
