#!/usr/bin/env bash
# End to end: one portcullisd, targets on two real kube-apiservers (A and B), one worker thread
# per cluster. B stopped (SIGSTOP: its connections stay open and nothing answers): pushes are
# applied on A at once, not after B's timeouts; B's three targets show Failed with an error
# naming B (all within one timeout and the check after it, not one timeout each), and
# portcullis_cluster_up{cluster=B} is 0; the status stays answerable. B continued: it catches
# up and nothing is pruned. B killed (connections refused), then restarted: the same.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

# Cluster B: a second apiserver (its own etcd, ports, CA and tokens) beside daemon_lib's A.
KDIR_B=$SUITE_TMP/kube-b
mkdir -p "$KDIR_B"
suite_teardown() {
  local p
  for p in "${DAEMON_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  [[ -f $KDIR_B/kube-apiserver.pid ]] && kill -CONT "$(cat "$KDIR_B/kube-apiserver.pid")" 2>/dev/null
  kube_stop "$KDIR_B"
  kube_stop "$KDIR"
}
trap suite_teardown EXIT
A_URL=$KUBE_API_URL
kube_start "$KDIR_B" || { echo "FATAL: the second kube-apiserver did not start"; exit 1; }
B_URL=$KUBE_API_URL
[[ $A_URL != "$B_URL" ]] || { echo "FATAL: both apiservers answer at $A_URL"; exit 1; }
export KUBECONFIG=$KDIR/kubeconfig
kb() { KUBECONFIG=$KDIR_B/kubeconfig kubectl "$@"; }
"$ROOT/install/kubernetes/rbac-for-kinds.sh" --user portcullisd v1/services v1/serviceaccounts apps/deployments \
  apps/statefulsets apps/daemonsets apiextensions.k8s.io/v1/customresourcedefinitions 2>/dev/null | kb apply -f - >/dev/null ||
  { echo "FATAL: cannot apply RBAC on B"; exit 1; }

# Far above what a sync on A takes (well under a second), far below B's request timeout.
A_BOUND=4
B_TIMEOUT=10

# two_clusters: a daemon with targets "<test>-b", "<test>-b2" and "<test>-b3" on B (first: a
# sequential daemon would sync them before A's) and "<test>-a" on A, each into a namespace of its
# name; not started.
two_clusters() {
  TB=${CURRENT_TEST//_/-}-b
  TA=${CURRENT_TEST//_/-}-a
  TB=${TB#test-} TA=${TA#test-}
  B_ALL=("$TB" "${TB}2" "${TB}3")
  local t b_items=""
  for t in "${B_ALL[@]}"; do
    b_items+="  - name: $t
    path: environments/$t
    kubeconfig: $KDIR_B/kubeconfig-portcullisd
    namespace: $t
"
  done
  POLL=5s DAEMON_EXTRA="clusterRequestTimeout: ${B_TIMEOUT}s" new_daemon "$b_items  - name: $TA
    path: environments/$TA
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $TA"
  for t in "$TA" "${B_ALL[@]}"; do
    put "$CLONE" "environments/$t/namespace.yaml" "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$t")"
  done
}

# version V: three ConfigMaps per target with data.key V, committed and pushed.
version() {
  local t i
  for t in "$TA" "${B_ALL[@]}"; do
    for i in 1 2 3; do
      printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%s\ndata:\n  key: %s\n' "$i" "$1" |
        put "$CLONE" "environments/$t/cm-$i.yaml"
    done
  done
  commit "$CLONE" "configmaps at $1"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

targets() { curl -fsS --max-time 2 "$DAEMON_URL/v1/targets" 2>/dev/null; }
field() { targets | jq -r --arg n "$1" ".targets[] | select(.name == \$n) | .$2"; }
synced_at_rev() { [[ $(field "$1" appliedRevision) == "$2" && $(field "$1" state) == Synced ]]; }
failed_naming() { [[ $(field "$1" state) == Failed && $(field "$1" lastError) == *"cluster $2 does not answer"* ]]; }
values_are() {  # values_are KUBECTL NAMESPACE VALUE
  local i
  for i in 1 2 3; do
    [[ $("$1" get configmap "cm-$i" -n "$2" -o jsonpath='{.data.key}' 2>/dev/null) == "$3" ]] || return 1
  done
}
gone() { ! _kube_running "$1"; }
cluster_up() { curl -fsS "$DAEMON_URL/metrics" | grep -F "portcullis_cluster_up{cluster=\"$1\"} $2" >/dev/null; }

# A's target reaches the server's main within A_BOUND seconds of the push.
expect_a_prompt() {
  local rev started=$SECONDS
  rev=$(git -C "$SERVER" rev-parse main)
  poll_until "$A_BOUND" synced_at_rev "$TA" "$rev" ||
    fail "$1: A's target not Synced at ${rev:0:12} within ${A_BOUND}s (B's timeout is ${B_TIMEOUT}s): $(targets)"
  echo "    A synced $1 in $((SECONDS - started))s or less"
  values_are kubectl "$TA" "$1" || fail "$1 not applied on A"
}

# Both synced at v1; B goes away (HOW: stop or kill); v2 and v3 are applied on A at once while
# B's targets fail naming B (the first after the request timeout and a 5 s check, the others at
# once: all within 2.5 timeouts, where waiting one timeout each would take 3.5); B comes back and catches
# up; nothing pruned on either.
isolation() {
  local how=$1 bpid rev t started
  two_clusters
  version v1
  start_daemon
  rev=$(git -C "$SERVER" rev-parse main)
  for t in "${B_ALL[@]}"; do poll_until 60 synced_at_rev "$t" "$rev" || fail "$t not Synced at v1: $(targets)"; done
  poll_until 10 synced_at_rev "$TA" "$rev" || fail "A's target not Synced at v1: $(targets)"
  [[ $(field "$TB" cluster) == "$B_URL" && $(field "$TA" cluster) == "$A_URL" ]] ||
    fail "targets do not name their clusters: $(targets | jq -c '[.targets[] | {name, cluster}]')"
  { cluster_up "$B_URL" 1 && cluster_up "$A_URL" 1; } || fail "clusters not up: $(curl -fsS "$DAEMON_URL/metrics" | grep cluster_up)"

  bpid=$(cat "$KDIR_B/kube-apiserver.pid")
  if [[ $how == stop ]]; then
    kill -STOP "$bpid"
  else
    { kill -KILL "$bpid" && wait "$bpid"; } 2>/dev/null  # our child: reaped quietly
    gone "$bpid" || fail "B's apiserver (pid $bpid) does not die"
  fi
  started=$SECONDS
  version v2
  expect_a_prompt v2
  for t in "${B_ALL[@]}"; do
    poll_until $((started + 5 * B_TIMEOUT / 2 - SECONDS)) failed_naming "$t" "$B_URL" ||
      fail "$t is not Failed naming $B_URL within $((5 * B_TIMEOUT / 2))s of the push: $(targets | jq -c ".targets[] | select(.name == \"$t\")")"
  done
  echo "    B's ${#B_ALL[@]} targets Failed $((SECONDS - started))s after the push"
  [[ $(field "$TB" lastError) != *"not signed"* ]] || fail "B's outage is reported as a certificate problem: $(field "$TB" lastError)"
  [[ $(field "$TB" clusterUp) == false ]] || fail "B's target does not say its cluster is down: $(targets)"
  poll_until 10 cluster_up "$B_URL" 0 || fail "portcullis_cluster_up of B is not 0: $(curl -fsS "$DAEMON_URL/metrics" | grep cluster_up)"
  cluster_up "$A_URL" 1 || fail "portcullis_cluster_up of A is not 1"
  [[ $(curl -fsS --max-time 2 "$DAEMON_URL/v1/status" | jq -r --arg n "$TB" '.targets[] | select(.name == $n) | "\(.cluster) \(.clusterUp)"') == "$B_URL false" ]] ||
    fail "the status page's document does not show B down"
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$DAEMON_URL/readyz") == 200 ]] || fail "not ready while B is down"
  # A second push while B's worker is retrying: A is not held back either.
  version v3
  expect_a_prompt v3
  # Drift on A is corrected as usual while B's worker waits on B.
  kubectl patch configmap cm-1 -n "$TA" --type merge -p '{"data":{"key":"changed-by-hand"}}' >/dev/null ||
    fail "cannot change cm-1 on A"
  poll_until "$A_BOUND" values_are kubectl "$TA" v3 || fail "drift on A not corrected within ${A_BOUND}s while B is down"

  if [[ $how == stop ]]; then kill -CONT "$bpid"; else kube_restart_apiserver "$KDIR_B" || fail "B did not restart"; fi
  rev=$(git -C "$SERVER" rev-parse main)
  for t in "${B_ALL[@]}"; do
    poll_until $((B_TIMEOUT * 6)) synced_at_rev "$t" "$rev" || fail "$t did not catch up: $(targets)"
    values_are kb "$t" v3 || fail "v3 not applied to $t on B"
  done
  poll_until 10 cluster_up "$B_URL" 1 || fail "portcullis_cluster_up of B is not 1 again"
  [[ $(kb get configmaps -n "$TB" -l "portcullis.io/target=$TB" -o name | wc -l) == 3 ]] || fail "B's objects changed in number"
  [[ $(kubectl get configmaps -n "$TA" -l "portcullis.io/target=$TA" -o name | wc -l) == 3 ]] || fail "A's objects changed in number"
  [[ $(field "$TB" objects) == 4 && $(field "$TA" objects) == 4 ]] || fail "objects: $(targets | jq -c '[.targets[] | {name, objects}]')"
  local pruned
  pruned=$(jq -s '[.[] | select(.event == "sync") | .pruned | length] | add // 0' "$(dirname "$DAEMON_CONFIG")/state/audit.jsonl")
  [[ $pruned == 0 ]] || fail "$pruned objects were pruned: $(grep -h '"pruned":\[[^]]' "$(dirname "$DAEMON_CONFIG")/state/audit.jsonl" | head -2)"
}

test_stopped_apiserver_delays_no_other_cluster() { isolation stop; }

test_killed_apiserver_delays_no_other_cluster() { isolation kill; }

# Two targets on one cluster and one identity share one worker and one pool: one cluster is
# reported with two targets.
test_targets_of_one_cluster_share_a_worker() {
  two_clusters
  local more="  - name: ${TA}2
    path: environments/${TA}2
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $TA"
  awk -v more="$more" '{print} /^targets:$/ {print more}' "$DAEMON_CONFIG" >"$DAEMON_CONFIG.new" && mv "$DAEMON_CONFIG.new" "$DAEMON_CONFIG"
  put "$CLONE" "environments/${TA}2/cm.yaml" "$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  key: v\n')"
  version v1
  start_daemon
  poll_until 30 curl -fsS -o /dev/null "$DAEMON_URL/readyz" 2>/dev/null || fail "not ready"
  curl -fsS "$DAEMON_URL/metrics" | grep -F "portcullis_cluster_targets{cluster=\"$A_URL\"} 2" >/dev/null ||
    fail "A does not have two targets: $(curl -fsS "$DAEMON_URL/metrics" | grep cluster_targets)"
  curl -fsS "$DAEMON_URL/metrics" | grep -F "portcullis_cluster_targets{cluster=\"$B_URL\"} 3" >/dev/null ||
    fail "B does not have three targets"
  [[ $(grep -c '"msg":"cluster worker started"' "$DAEMON_LOG") == 2 ]] || fail "not two workers: $(grep 'worker' "$DAEMON_LOG")"
}

run_suite "$@"
