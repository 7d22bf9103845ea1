#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "daemon/lease.hpp"
#include "shared/kube/client.hpp"
#include "tests/unit/support/fake_leases.hpp"
#include "tests/unit/support/poll.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using namespace std::chrono_literals;
using Attempt = LeaseLock::Attempt;
using Clock = std::chrono::steady_clock;

namespace {

LeaderElectionConfig timing(const test::FakeLeases& api, const test::TempDir& tmp) {
  LeaderElectionConfig t;
  t.kubeconfig = api.kubeconfig(tmp);
  t.lease_duration = 400ms;
  t.renew_deadline = 250ms;
  t.retry_period = 50ms;
  return t;
}

}  // namespace

TEST_CASE("a Lease is created, renewed, taken only once expired, and released", "[lease]") {
  test::FakeLeases api;
  test::TempDir tmp;
  auto t = timing(api, tmp);
  auto ca = lease_client(t, "test");
  auto cb = lease_client(t, "test");
  REQUIRE(ca);
  REQUIRE(cb);
  LeaseLock a("ns", "l", "a", t), b("ns", "l", "b", t);

  CHECK(a.try_acquire_or_renew(*ca) == Attempt::acquired);  // created
  CHECK(api.holder("l") == "a");
  CHECK(a.renewed_in_time());
  CHECK(b.try_acquire_or_renew(*cb) == Attempt::held);
  CHECK(b.holder() == "a");
  CHECK_FALSE(b.renewed_in_time());

  // While a renews, b never takes it, however long that lasts.
  auto until = Clock::now() + 2 * t.lease_duration;
  while (Clock::now() < until) {
    CHECK(a.try_acquire_or_renew(*ca) == Attempt::acquired);
    CHECK(b.try_acquire_or_renew(*cb) == Attempt::held);
  }
  CHECK(api.transitions("l") == 0);

  // a stops renewing: b takes it leaseDuration after it last saw the record change.
  auto last_seen = Clock::now();
  CHECK(b.try_acquire_or_renew(*cb) == Attempt::held);
  REQUIRE(test::eventually([&] { return b.try_acquire_or_renew(*cb) == Attempt::acquired; }, 2s));
  CHECK(Clock::now() - last_seen >= t.lease_duration);
  CHECK(api.holder("l") == "b");
  CHECK(api.transitions("l") == 1);
  CHECK_FALSE(a.renewed_in_time());  // past renewDeadline already
  CHECK(a.try_acquire_or_renew(*ca) == Attempt::held);
  CHECK(a.holder() == "b");

  // The fence: only the holder in the transition it acquired passes.
  CHECK(b.confirm(cb->connection()));
  CHECK_FALSE(a.confirm(ca->connection()));

  // Released: the next candidate takes it at once, without waiting for expiry.
  b.release(*cb);
  CHECK(api.holder("l").empty());
  CHECK_FALSE(b.renewed_in_time());
  CHECK_FALSE(b.confirm(cb->connection()));
  CHECK(a.try_acquire_or_renew(*ca) == Attempt::acquired);
  CHECK(api.transitions("l") == 2);
}

TEST_CASE("a holder that cannot renew stops being in time after renewDeadline", "[lease]") {
  test::FakeLeases api;
  test::TempDir tmp;
  auto t = timing(api, tmp);
  auto c = lease_client(t, "test");
  REQUIRE(c);
  LeaseLock a("ns", "l", "a", t);
  REQUIRE(a.try_acquire_or_renew(*c) == Attempt::acquired);
  auto renewed = Clock::now();
  api.set_down(true);
  CHECK(a.try_acquire_or_renew(*c) == Attempt::failed);
  REQUIRE(test::eventually([&] { return !a.renewed_in_time(); }, 2s));
  CHECK(Clock::now() - renewed >= t.renew_deadline);
  CHECK_FALSE(a.confirm(c->connection()));
  api.set_down(false);
  CHECK(a.try_acquire_or_renew(*c) == Attempt::acquired);  // nobody took it: renewed, same transition
  CHECK(a.renewed_in_time());
  CHECK(api.transitions("l") == 0);
}
