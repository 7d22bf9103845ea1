#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "daemon/shards.hpp"
#include "tests/unit/support/fake_leases.hpp"
#include "tests/unit/support/poll.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> assignment(std::size_t shards, const std::vector<std::string>& members) {
  std::vector<std::string> out;
  for (std::size_t s = 0; s < shards; ++s) out.push_back(owner_of(s, members));
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

TEST_CASE("targets map to shards by a hash that every replica and version agrees on", "[shards]") {
  // Fixed values: a change of the hash would move targets between replicas of mixed versions.
  const std::pair<const char*, std::size_t> cases[] = {
      {"prod", 0}, {"staging", 2}, {"t01", 8}, {"t02", 5}, {"t03", 10}, {"t12", 8},
  };
  for (auto [name, shard] : cases) {
    INFO(name);
    CHECK(shard_of(name, 12) == shard);
  }
  CHECK(shard_of("anything", 1) == 0);
  CHECK(shard_of("prod", 0) == 0);  // no shards: no division by zero
  std::map<std::size_t, int> per_shard;
  for (int t = 0; t < 12'000; ++t) ++per_shard[shard_of("target-" + std::to_string(t), 12)];
  REQUIRE(per_shard.size() == 12);
  for (auto [shard, n] : per_shard) CHECK((n > 800 && n < 1200));
}

TEST_CASE("rendezvous hashing: a member added takes only its share, a member lost gives only its own",
          "[shards]") {
  struct Case {
    const char* what;
    std::vector<std::string> before, after;
    std::size_t shards;
    std::size_t moved;  // shards whose owner changes (fixed: the e2e suite counts the same)
  };
  const Case cases[] = {
      {"first member takes all", {}, {"r1"}, 12, 12},
      {"second member", {"r1"}, {"r1", "r2"}, 12, 8},
      {"third member", {"r1", "r2"}, {"r1", "r2", "r3"}, 12, 1},
      {"fourth member", {"r1", "r2", "r3"}, {"r1", "r2", "r3", "r4"}, 12, 3},
      {"r2 lost of three", {"r1", "r2", "r3"}, {"r1", "r3"}, 12, 7},
      {"r4 joins r1 and r3 (e2e)", {"r1", "r3"}, {"r1", "r3", "r4"}, 12, 4},
      {"same members, other order", {"r3", "r1", "r2"}, {"r1", "r2", "r3"}, 12, 0},
      {"one of four lost", {"a", "b", "c", "d"}, {"a", "b", "c"}, 12, 5},
      {"last member lost", {"r1"}, {}, 12, 12},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto before = assignment(c.shards, c.before);
    auto after = assignment(c.shards, c.after);
    std::size_t moved = 0;
    for (std::size_t s = 0; s < c.shards; ++s) {
      if (before[s] == after[s]) continue;
      ++moved;
      INFO("shard " << s << ": " << before[s] << " -> " << after[s]);
      // Minimal disruption: a shard moves only to a member that joined or away from one that left.
      CHECK((!contains(c.before, after[s]) || !contains(c.after, before[s])));
    }
    CHECK(moved == c.moved);
    for (const auto& owner : after) CHECK((c.after.empty() ? owner.empty() : contains(c.after, owner)));
  }
}

TEST_CASE("rendezvous hashing spreads many shards evenly", "[shards]") {
  const std::vector<std::string> members{"portcullisd-0_1", "portcullisd-1_1", "portcullisd-2_1"};
  std::map<std::string, int> held;
  for (std::size_t s = 0; s < 3000; ++s) ++held[owner_of(s, members)];
  REQUIRE(held.size() == 3);
  for (auto [m, n] : held) {
    INFO(m);
    CHECK((n > 850 && n < 1150));
  }
  // Adding a fourth moves about a quarter, all to it.
  auto four = members;
  four.push_back("portcullisd-3_1");
  int moved = 0;
  for (std::size_t s = 0; s < 3000; ++s)
    if (owner_of(s, members) != owner_of(s, four)) {
      ++moved;
      CHECK(owner_of(s, four) == "portcullisd-3_1");
    }
  CHECK((moved > 600 && moved < 900));
}

TEST_CASE("a member's Lease name is a DNS name whatever its identity", "[shards]") {
  const char* identities[] = {"host_42", "Pod.Name/with slashes", "", "a"};
  for (const char* id : identities) {
    std::string name = member_lease_name("portcullisd", 12, id);
    INFO(name);
    CHECK(name.starts_with("portcullisd-member-12-"));
    CHECK(name.size() == std::string("portcullisd-member-12-").size() + 16);
    CHECK(std::all_of(name.begin(), name.end(),
                      [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }));
  }
  CHECK(member_lease_name("p", 12, "host_42") != member_lease_name("p", 12, "host_43"));
  CHECK(member_lease_name("p", 12, "host_42") != member_lease_name("p", 16, "host_42"));
}

namespace {

// A ShardManager on its own thread, with a shard that the test says is busy (a sync runs).
struct Replica {
  Metrics metrics;
  ShardManager manager;
  std::atomic<int> busy{-1};
  std::atomic<int> acquired{0};
  std::thread thread;
  Replica(ShardingConfig c, const std::string& identity)
      : manager(
            [&] {
              c.lease.identity = identity;
              return c;
            }(),
            "inventory", metrics) {
    ShardManager::Hooks hooks{[this](std::size_t) { ++acquired; },
                              [this](std::size_t s) { return static_cast<int>(s) != busy; }, [] {}};
    thread = std::thread([this, hooks] { REQUIRE(manager.run(hooks)); });
  }
  ~Replica() { stop(); }
  void stop() {
    manager.stop();
    if (thread.joinable()) thread.join();
  }
  std::size_t held() const {
    std::size_t n = 0;
    for (std::size_t s = 0; s < manager.shards(); ++s) n += manager.may_sync(s) ? 1 : 0;
    return n;
  }
};

ShardingConfig sharding(const test::FakeLeases& api, const test::TempDir& tmp) {
  ShardingConfig c;
  c.enabled = true;
  c.shards = 8;
  c.lease.kubeconfig = api.kubeconfig(tmp);
  c.lease.namespace_ = "ns";
  c.lease.lease_name = "p";
  // Rounds against the fake take longer than against kube-apiserver (plain HTTP: small writes
  // wait for delayed ACKs), so the deadlines are generous.
  c.lease.lease_duration = 4s;
  c.lease.renew_deadline = 3s;
  c.lease.retry_period = 100ms;
  return c;
}

// Each shard held by its rendezvous owner among `members`, and only by it.
bool as_rendezvous_says(const std::vector<Replica*>& replicas, const std::vector<std::string>& members) {
  for (std::size_t s = 0; s < 8; ++s)
    for (Replica* r : replicas)
      if (r->manager.may_sync(s) != (owner_of(s, members) == r->manager.identity())) return false;
  return true;
}

}  // namespace

TEST_CASE("replicas split the shards as rendezvous says; a leaving one hands its own over at once",
          "[shards]") {
  test::FakeLeases api;
  test::TempDir tmp;
  auto c = sharding(api, tmp);
  Replica a(c, "a");
  Replica b(c, "b");
  REQUIRE(test::eventually([&] { return as_rendezvous_says({&a, &b}, {"a", "b"}); }, 10s));
  CHECK(a.held() + b.held() == 8);
  CHECK(api.exists(member_lease_name("p", 8, "a")));

  // b stops: it releases its shards and its member Lease, so a holds all well within a lease.
  auto stopped = std::chrono::steady_clock::now();
  b.stop();
  CHECK(api.holder(member_lease_name("p", 8, "b")).empty());
  REQUIRE(test::eventually([&] { return a.held() == 8; }, 10s));
  CHECK(std::chrono::steady_clock::now() - stopped < c.lease.lease_duration);
  CHECK(b.held() == 0);
}

TEST_CASE("a shard wanted elsewhere is released only once no sync of it runs", "[shards]") {
  test::FakeLeases api;
  test::TempDir tmp;
  auto c = sharding(api, tmp);
  Replica a(c, "a");
  REQUIRE(test::eventually([&] { return a.held() == 8; }, 10s));
  // The first shard that a newcomer "c" wins is busy on a.
  int moving = -1;
  for (std::size_t s = 0; s < 8 && moving < 0; ++s)
    if (owner_of(s, {"a", "c"}) == "c") moving = static_cast<int>(s);
  REQUIRE(moving >= 0);
  a.busy = moving;
  Replica newcomer(c, "c");
  // Every other shard c wins moves; the busy one stays with a, which starts nothing new on it
  // (may_sync false) while the running sync may still write (may_write true).
  REQUIRE(test::eventually(
      [&] {
        for (std::size_t s = 0; s < 8; ++s)
          if (static_cast<int>(s) != moving &&
              newcomer.manager.may_sync(s) != (owner_of(s, {"a", "c"}) == "c"))
            return false;
        return !a.manager.may_sync(static_cast<std::size_t>(moving));
      },
      10s));
  CHECK(a.manager.may_write(static_cast<std::size_t>(moving)));
  CHECK_FALSE(newcomer.manager.may_sync(static_cast<std::size_t>(moving)));
  CHECK(api.holder("p-shard-" + std::to_string(moving)) == "a");
  // The sync ends: a releases it and c takes it.
  a.busy = -1;
  REQUIRE(test::eventually([&] { return newcomer.manager.may_sync(static_cast<std::size_t>(moving)); }, 10s));
  CHECK_FALSE(a.manager.may_write(static_cast<std::size_t>(moving)));
  CHECK(as_rendezvous_says({&a, &newcomer}, {"a", "c"}));
  CHECK(newcomer.acquired == static_cast<int>(newcomer.held()));
}

TEST_CASE("a replica counting other shards takes none while the other is live", "[shards]") {
  test::FakeLeases api;
  test::TempDir tmp;
  auto c = sharding(api, tmp);
  Replica a(c, "a");
  REQUIRE(test::eventually([&] { return a.held() == 8; }, 10s));
  auto other = c;
  other.shards = 4;
  Replica b(other, "b");
  REQUIRE(test::eventually([&] { return api.exists(member_lease_name("p", 4, "b")); }, 10s));
  // Several rounds of b, sampled every 10 ms: it takes nothing, and a keeps everything.
  auto until = std::chrono::steady_clock::now() + 10 * c.lease.retry_period;
  while (std::chrono::steady_clock::now() < until) {
    CHECK(b.held() == 0);
    CHECK(a.held() == 8);
    std::this_thread::sleep_for(10ms);
  }
  a.stop();
  REQUIRE(test::eventually([&] { return b.held() == 4; }, 10s));
}
