#pragma once
// Fault points for the crash tests (tests/e2e/reconcile.sh): named places in a sync where a
// test stops the daemon, to kill -9 it exactly there. Inert unless the environment sets
// PORTCULLIS_TEST_PAUSE_AT=NAME[:N]: the Nth time (default 1) NAME is reached, the daemon logs
// "paused at fault point" and stops itself (SIGSTOP, every thread); or
// PORTCULLIS_TEST_DELAY_AT=NAME:MS: every time NAME is reached, the thread sleeps MS (1-60000)
// milliseconds, so that syncs last long enough for a test to act while one runs
// (tests/e2e/shards.sh). Never set in production.
//
// Points: "intent" (the write-ahead inventory is stored), "apply" (an object was applied),
// "inventory" (every object is applied, the inventory not yet stored), "prune" (an object was
// deleted), "shard" (an inventory's new shards are written, its first ConfigMap not yet),
// "image-push" (the image bot made its commit and is about to push it).
#include <cstddef>
#include <string_view>

namespace portcullis::daemon {

void fault_point(std::string_view name);

// PORTCULLIS_TEST_SHARD_BYTES: bytes of inventory entries per ConfigMap, so that a test shards an
// inventory of a few objects (0: not set).
std::size_t test_shard_bytes();

}  // namespace portcullis::daemon
