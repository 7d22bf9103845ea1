#!/usr/bin/env bash
# End to end: leader election with a coordination.k8s.io/v1 Lease on a real kube-apiserver.
# Two portcullisd replicas with the same config: one leads and syncs, the other stands by
# (serves the status page and readiness, writes nothing). kill -9 of the leader mid-sync (a
# fault point stops it between two applies): the standby takes the lease within the lease
# duration and finishes the sync; nothing is applied twice in conflict, nothing pruned
# wrongly. A deposed leader that wakes up after its lease was taken writes nothing and exits 3.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

# The reconciler's user may keep its Lease (install/kubernetes gives the same to the pod).
kubectl create namespace portcullis-system >/dev/null 2>&1
kubectl create role portcullisd-leases -n portcullis-system --verb=get,create,update \
  --resource=leases.coordination.k8s.io >/dev/null &&
  kubectl create rolebinding portcullisd-leases -n portcullis-system --role=portcullisd-leases \
    --user=portcullisd >/dev/null || { echo "FATAL: cannot grant leases"; exit 1; }

LEASE_SECONDS=4
COUNT=5

lease() { kubectl get lease "$1" -n portcullis-system -o json 2>/dev/null; }
lease_field() { lease "$1" | jq -r ".spec.$2"; }
holder_is() { [[ $(lease_field "$1" holderIdentity) == "$2" ]]; }

# two_replicas NAME: a target NAME and two replicas of one daemon (identities a and b, each
# its own port and state directory; the lease NAME), not started. A is DAEMON_*, B is B_*.
two_replicas() {
  POLL=2s DAEMON_EXTRA="leaderElection:
  kubeconfig: $KDIR/kubeconfig-portcullisd
  leaseName: $1
  leaseDuration: ${LEASE_SECONDS}s
  renewDeadline: 3s
  retryPeriod: 500ms" setup_target "$1"
  local dir=$SUITE_TMP/$CURRENT_TEST
  B_PORT=$(free_port)
  B_URL=http://127.0.0.1:$B_PORT
  B_CONFIG=$dir/daemon-b.yaml
  B_LOG=$dir/daemon-b.log
  sed -e "s|^listen: .*|listen: 127.0.0.1:$B_PORT|" -e "s|^stateDir: .*|stateDir: $dir/state-b|" \
    -e "s|^leaderElection:|leaderElection:\n  identity: b|" "$DAEMON_CONFIG" >"$B_CONFIG"
  sed -i "s|^leaderElection:|leaderElection:\n  identity: a|" "$DAEMON_CONFIG"
}

start_b() {
  "$PORTCULLISD" --config "$B_CONFIG" >>"$B_LOG" 2>&1 &
  B_PID=$!
  disown "$B_PID"
  DAEMON_PIDS+=("$B_PID")
  poll_until 10 curl -fsS --max-time 2 -o /dev/null "$B_URL/healthz" 2>/dev/null || fail "replica b did not start: $(tail -5 "$B_LOG")"
}

# configmaps VALUE: COUNT ConfigMaps with data.key VALUE, committed and pushed.
configmaps() {
  local i
  for ((i = 1; i <= COUNT; i++)); do
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%s\ndata:\n  key: %s\n' "$i" "$1" |
      put "$CLONE" "environments/$TARGET/cm-$i.yaml"
  done
  commit "$CLONE" "configmaps at $1"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

all_values_are() {
  local i
  for ((i = 1; i <= COUNT; i++)); do
    [[ $(kubectl get configmap "cm-$i" -n "$NS" -o jsonpath='{.data.key}' 2>/dev/null) == "$1" ]] || return 1
  done
}

# The replica at URL reports this role and holder on its status page's document.
role_is() { [[ $(curl -fsS "$1/v1/status" 2>/dev/null | jq -r '.leader.role + " " + .leader.holder') == "$2" ]]; }

b_synced_at() {
  local t
  t=$(curl -fsS "$B_URL/v1/targets" 2>/dev/null) || return 1
  [[ $(jq -r '.targets[0].appliedRevision' <<<"$t") == "$1" && $(jq -r '.targets[0].state' <<<"$t") == Synced ]]
}

test_standby_takes_over_when_the_leader_is_killed_mid_sync() {
  two_replicas lead
  configmaps v1
  # The first sync applies the Namespace and COUNT ConfigMaps; A stops at the second apply of
  # the next sync.
  PORTCULLIS_TEST_PAUSE_AT=apply:$((COUNT + 3)) start_daemon
  wait_synced
  holder_is lead a || fail "a does not hold the lease: $(lease lead)"
  [[ $(lease_field lead leaseDurationSeconds) == "$LEASE_SECONDS" ]] || fail "leaseDurationSeconds: $(lease lead)"
  start_b
  poll_until 10 role_is "$B_URL" "standby a" || fail "b is not a standby of a: $(curl -sS "$B_URL/v1/status" | jq -c .leader)"
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$B_URL/readyz") == 200 ]] || fail "the standby is not ready"
  role_is "$DAEMON_URL" "leader a" || fail "a does not say it leads"
  ! grep -q '"msg":"sync of' "$B_LOG" || fail "the standby synced: $(grep '"msg":"sync of' "$B_LOG")"

  configmaps v2
  poll_until 20 grep -q 'paused at fault point' "$DAEMON_LOG" || fail "a did not stop mid-sync: $(tail -3 "$DAEMON_LOG")"
  kill -9 "$DAEMON_PID"
  local killed took
  killed=$(date +%s%3N)
  poll_until $((LEASE_SECONDS + 4)) holder_is lead b || fail "b did not take the lease: $(lease lead)"
  took=$(($(date +%s%3N) - killed))
  # client-go's bound: leaseDuration after b last saw the record change (at most one jittered
  # retry period, 2.2 x 500 ms, after a's last renewal), then up to one more retry period to
  # try, plus the time to read the lease here (kubectl).
  ((took <= LEASE_SECONDS * 1000 + 2 * 1100 + 500)) || fail "b took ${took} ms to take over (lease ${LEASE_SECONDS}s)"
  echo "    takeover ${took} ms after kill -9 (leaseDuration ${LEASE_SECONDS}s)"
  [[ $(lease_field lead leaseTransitions) == 1 ]] || fail "leaseTransitions is not 1: $(lease lead)"
  local head
  head=$(git -C "$SERVER" rev-parse main)
  poll_until 30 b_synced_at "$head" || fail "b did not sync: $(curl -sS "$B_URL/v1/targets"); $(tail -3 "$B_LOG")"
  all_values_are v2 || fail "not every ConfigMap is at v2"
  # One field manager, the target's: the two replicas never applied against each other.
  local i managers
  for ((i = 1; i <= COUNT; i++)); do
    managers=$(kubectl get configmap "cm-$i" -n "$NS" --show-managed-fields -o json | jq -r '[.metadata.managedFields[].manager] | unique | join(",")')
    [[ $managers == "portcullis-$TARGET" ]] || fail "cm-$i has managers $managers"
  done
  # Nothing pruned: every object is there and the audit logs prune nothing.
  [[ $(kubectl get configmaps -n "$NS" -l "portcullis.io/target=$TARGET" -o name | wc -l) == "$COUNT" ]] ||
    fail "objects were lost: $(kubectl get configmaps -n "$NS" -o name)"
  ! jq -e 'select(.pruned != null and (.pruned | length) > 0)' "$SUITE_TMP/$CURRENT_TEST/state-b/audit.jsonl" >/dev/null 2>&1 ||
    fail "b pruned: $(cat "$SUITE_TMP/$CURRENT_TEST/state-b/audit.jsonl")"
  kill -TERM "$B_PID"
  poll_until 10 bash -c "! kill -0 $B_PID 2>/dev/null" || fail "b did not stop"
  # It gave the lease up on the way out (client-go's ReleaseOnCancel).
  holder_is lead "" || fail "b did not release the lease: $(lease lead)"
}

test_deposed_leader_writes_nothing_and_exits() {
  two_replicas deposed
  configmaps v1
  # a is a child of this shell (not disowned): its exit status is read with wait.
  PORTCULLIS_TEST_PAUSE_AT=apply:$((COUNT + 3)) "$PORTCULLISD" --config "$DAEMON_CONFIG" >>"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  DAEMON_PIDS+=("$DAEMON_PID")
  poll_until 10 curl -fsS --max-time 2 -o /dev/null "$DAEMON_URL/healthz" 2>/dev/null || fail "a did not start"
  wait_synced
  configmaps v2
  poll_until 20 grep -q 'paused at fault point' "$DAEMON_LOG" || fail "a did not stop mid-sync"
  # While a is stopped (not killed), b takes the lease and syncs v2, then v3.
  start_b
  poll_until $((LEASE_SECONDS + 6)) holder_is deposed b || fail "b did not take the lease: $(lease deposed)"
  configmaps v3
  local head
  head=$(git -C "$SERVER" rev-parse main)
  poll_until 30 b_synced_at "$head" || fail "b did not sync v3: $(curl -sS "$B_URL/v1/targets")"
  all_values_are v3 || fail "b did not apply v3"
  local inventory_rv
  inventory_rv=$(kubectl get configmap -n portcullis-system "$(kubectl get configmaps -n portcullis-system -l portcullis.io/target=deposed -o name | head -1 | cut -d/ -f2)" -o jsonpath='{.metadata.resourceVersion}')
  # a wakes up in the middle of its v2 sync: its lease is gone; it must write nothing and exit 3.
  kill -CONT "$DAEMON_PID"
  poll_until 15 bash -c "! ps -o stat= -p $DAEMON_PID | grep -qv Z" || { fail "the deposed leader did not exit"; kill -9 "$DAEMON_PID"; }
  local rc=0
  wait "$DAEMON_PID" || rc=$?
  [[ $rc == 3 ]] || fail "the deposed leader exited $rc, expected 3 (lost the leadership)"
  grep -q '"msg":"stopped leading"' "$DAEMON_LOG" || fail "a did not log that it stopped leading: $(tail -5 "$DAEMON_LOG")"
  all_values_are v3 || fail "the deposed leader wrote: $(kubectl get configmaps -n "$NS" -o json | jq -c '[.items[] | {(.metadata.name): .data.key}]')"
  local after
  after=$(kubectl get configmap -n portcullis-system "$(kubectl get configmaps -n portcullis-system -l portcullis.io/target=deposed -o name | head -1 | cut -d/ -f2)" -o jsonpath='{.metadata.resourceVersion}')
  [[ $after == "$inventory_rv" ]] || fail "the deposed leader wrote the inventory"
  grep -q 'not the leader' "$DAEMON_LOG" || fail "a's fenced writes are not logged as such: $(tail -5 "$DAEMON_LOG")"
  holder_is deposed b || fail "the lease left b: $(lease deposed)"
}

run_suite "$@"
