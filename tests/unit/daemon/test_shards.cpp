#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "daemon/shards.hpp"

using namespace portcullis::daemon;

namespace {

std::vector<std::string> assignment(std::size_t shards, const std::vector<std::string>& members) {
  std::vector<std::string> out;
  for (std::size_t s = 0; s < shards; ++s) out.push_back(owner_of(s, members));
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

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

TEST_CASE("rendezvous hashing: a member added takes only its share, a member lost gives only its own", "[shards]") {
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
    CHECK(std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }));
  }
  CHECK(member_lease_name("p", 12, "host_42") != member_lease_name("p", 12, "host_43"));
  CHECK(member_lease_name("p", 12, "host_42") != member_lease_name("p", 16, "host_42"));
}
