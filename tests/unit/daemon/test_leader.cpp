#include <catch2/catch.hpp>

#include <string>

#include "daemon/leader.hpp"
#include "shared/util/json.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

TEST_CASE("a Lease body round-trips through parse_lease", "[leader]") {
  LeaseRecord r{"replica-1", 15, "2026-12-07T04:00:00.000001Z", "2026-12-07T04:00:02.500000Z", 3};
  std::string body = lease_body("portcullis-system", "portcullisd", r, "4711");
  auto doc = util::Json::parse(body);
  CHECK(doc["apiVersion"] == "coordination.k8s.io/v1");
  CHECK(doc["kind"] == "Lease");
  CHECK(doc["metadata"]["namespace"] == "portcullis-system");
  CHECK(doc["metadata"]["resourceVersion"] == "4711");
  CHECK(doc["spec"]["leaseDurationSeconds"] == 15);
  auto parsed = parse_lease(body);
  REQUIRE(parsed);
  CHECK(parsed->first == r);
  CHECK(parsed->second == "4711");
}

TEST_CASE("a create has no resourceVersion; a released lease has no holder", "[leader]") {
  LeaseRecord released{"", 1, "", "", 2};
  auto doc = util::Json::parse(lease_body("ns", "l", released, ""));
  CHECK_FALSE(doc["metadata"].contains("resourceVersion"));
  CHECK(doc["spec"]["holderIdentity"] == "");
  CHECK_FALSE(doc["spec"].contains("acquireTime"));
}

TEST_CASE("parse_lease refuses what is not a Lease with a resourceVersion", "[leader]") {
  const char* cases[] = {
      "",
      "not json",
      "[]",
      R"({"metadata": {}, "spec": {"holderIdentity": "a"}})",
      R"({"metadata": "x", "spec": {}})",
  };
  for (const char* c : cases) {
    INFO(c);
    CHECK_FALSE(parse_lease(c));
  }
  // Fields of the wrong type read as absent, not as a crash.
  auto odd = parse_lease(R"({"metadata": {"resourceVersion": "1"}, "spec": {"holderIdentity": 7, "leaseTransitions": "x"}})");
  REQUIRE(odd);
  CHECK(odd->first.holder.empty());
  CHECK(odd->first.transitions == 0);
}
