# shellcheck shell=bash
# Shared by the reconciler suites (reconcile.sh, drift.sh): a real kube-apiserver with the
# reconciler's RBAC, and helpers that start portcullisd on a target of a fresh bare repository.
# Source it after lib.sh.
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"
PORTCULLISD=${PORTCULLISD_BIN:-${PORTCULLISD_BUILD_BIN:-$ROOT/build/daemon/portcullisd}}
[[ -x $PORTCULLISD ]] || { echo "FATAL: no portcullisd at $PORTCULLISD"; exit 2; }

KDIR=$SUITE_TMP/kube
mkdir -p "$KDIR"
kube_build || { echo "FATAL: cannot build kube-apiserver"; exit 1; }
DAEMON_PIDS=()
suite_teardown() {
  local p
  for p in "${DAEMON_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  kube_stop "$KDIR"
}
trap suite_teardown EXIT
kube_start "$KDIR" || { echo "FATAL: kube-apiserver did not start"; exit 1; }
export KUBECONFIG=$KDIR/kubeconfig
# The reconciler's rights here: one identity (user portcullisd) for every target of every test,
# in every namespace (a real cluster gives each target its own: install/kubernetes).
"$ROOT/install/kubernetes/rbac-for-kinds.sh" --user portcullisd v1/services v1/serviceaccounts apps/deployments \
  apps/statefulsets apps/daemonsets apiextensions.k8s.io/v1/customresourcedefinitions 2>/dev/null | kubectl apply -f - >/dev/null ||
  { echo "FATAL: cannot apply RBAC"; exit 1; }
SECRET=$SUITE_TMP/notify.secret
printf 'e2e-%s' "$RANDOM$RANDOM" >"$SECRET"

# A free loopback port (below the ephemeral range, not in use).
free_port() { kube_free_port; }

# new_daemon TARGETS: a fresh bare repository whose post-receive notifies (NOTIFY_URL, default
# the daemon) a fresh portcullisd, not yet started, that reconciles it into TARGETS (the items
# of daemon.yaml's `targets:`, indented by two). POLL: its pollInterval; DAEMON_EXTRA: more
# top-level keys. Sets PORT, DAEMON_URL, SERVER, DAEMON_CONFIG, DAEMON_LOG and CLONE.
new_daemon() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  PORT=$(free_port)
  DAEMON_URL=http://127.0.0.1:$PORT
  cat >"$dir/server.yaml" <<YAML
notify:
  targets:
    - url: ${NOTIFY_URL:-$DAEMON_URL/v1/events}
      secretFile: $SECRET
YAML
  SERVER=$(new_server server "$dir/server.yaml")
  cat >"$dir/daemon.yaml" <<YAML
listen: 127.0.0.1:$PORT
secretFile: $SECRET
stateDir: $dir/state
pollInterval: ${POLL:-60s}
repository:
  url: file://$SERVER
  branch: main
targets:
$1
${DAEMON_EXTRA:-}
YAML
  DAEMON_CONFIG=$dir/daemon.yaml
  DAEMON_LOG=$dir/daemon.log
  CLONE=$(new_clone "$SERVER")
}

# setup_target NAME: a bare repository with Portcullis' hooks notifying a fresh portcullisd that
# reconciles environments/NAME into namespace NAME with the reconciler's own credentials.
# TARGET_EXTRA: more keys of the target (YAML lines); DAEMON_EXTRA: more top-level keys.
setup_target() {
  TARGET=$1
  NS=$1
  new_daemon "  - name: $TARGET
    path: environments/$TARGET
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $NS
$(printf '%s\n' "${TARGET_EXTRA:-}" | sed 's/^/    /')"
  put "$CLONE" "environments/$TARGET/namespace.yaml" "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS")"
}

# start_daemon: starts portcullisd on $DAEMON_CONFIG and waits until it answers; launch_daemon
# only starts it (for a daemon that may stop itself at a fault point before it answers).
launch_daemon() {
  "$PORTCULLISD" --config "$DAEMON_CONFIG" >>"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  disown "$DAEMON_PID"  # killed on purpose by some tests: no job-control noise
  DAEMON_PIDS+=("$DAEMON_PID")
}

start_daemon() {
  launch_daemon
  poll_until 10 curl -fsS --max-time 2 -o /dev/null "$DAEMON_URL/healthz" 2>/dev/null || fail "portcullisd did not start: $(tail -5 "$DAEMON_LOG")"
}

# target_field FIELD: a field of our target in /v1/targets.
target_field() { curl -fsS "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r ".targets[0].$1"; }

synced_at() { [[ $(target_field appliedRevision) == "$1" && $(target_field state) == Synced ]]; }

# wait_synced [TIMEOUT]: the daemon reports Synced at the server's main.
wait_synced() {
  local rev
  rev=$(git -C "$SERVER" rev-parse main)
  poll_until "${1:-30}" synced_at "$rev" ||
    fail "not Synced at ${rev:0:12} in time: $(curl -fsS "$DAEMON_URL/v1/targets" 2>&1); log: $(tail -3 "$DAEMON_LOG")"
}

count_configmaps() { kubectl get configmaps -n "$NS" -l "portcullis.io/target=$TARGET" -o name 2>/dev/null | wc -l; }

# signature TIMESTAMP METHOD PATH ID < BODY: the X-Portcullis-Signature of a request
# (shared/notify/event.hpp): HMAC-SHA256 with the notify secret over
# "TIMESTAMP\nMETHOD\nPATH\nID\nBODY".
signature() {
  { printf '%s\n%s\n%s\n%s\n' "$1" "$2" "$3" "$4"; cat; } |
    openssl dgst -sha256 -hmac "$(cat "$SECRET")" -r | cut -d' ' -f1 | sed 's/^/sha256=/'
}

# post_signed PATH BODY [TIMESTAMP [ID]]: a request signed like the hook's, with ID (default:
# the body's id, else a fresh one) in X-Portcullis-Event-Id; sets STATUS (HTTP code) and
# SIGNED_ID.
post_signed() {
  local path=$1 body=$2 ts=${3:-$(date +%s)} id=${4:-} sig
  [[ -n $id ]] || id=$(jq -r '.id // empty' <<<"$body" 2>/dev/null) || id=""
  [[ -n $id ]] || id=e2e-$RANDOM$RANDOM$RANDOM
  SIGNED_ID=$id
  sig=$(printf '%s' "$body" | signature "$ts" POST "$path" "$id")
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" \
    -H "X-Portcullis-Signature: $sig" -H "X-Portcullis-Timestamp: $ts" -H "X-Portcullis-Event-Id: $id" \
    --data-binary "$body" "$DAEMON_URL$path")
}

RECEIVER_BIN=${PORTCULLIS_TEST_RECEIVER:-$ROOT/build/tests/unit/portcullis-test-receiver}

# start_receiver: a real HTTP receiver on loopback; sets RECEIVER_URL and RECEIVED (its log).
start_receiver() {
  [[ -x $RECEIVER_BIN ]] || fail "no test receiver at $RECEIVER_BIN"
  local dir=$SUITE_TMP/$CURRENT_TEST
  RECEIVED=$dir/received.jsonl
  : >"$RECEIVED"
  "$RECEIVER_BIN" "$dir/receiver.port" "$RECEIVED" &
  RECEIVER_PID=$!
  DAEMON_PIDS+=("$RECEIVER_PID")
  poll_until 10 test -s "$dir/receiver.port" || fail "the receiver did not start"
  RECEIVER_URL=http://127.0.0.1:$(cat "$dir/receiver.port")
}

# received PATH JQ: some request to PATH has a JSON body for which JQ is true.
received() { jq -e -s --arg p "$1" "any(.[] | select(.path == \$p) | .body | fromjson; $2)" "$RECEIVED" >/dev/null 2>&1; }

# expect_received PATH JQ WHAT
expect_received() {
  poll_until 20 received "$1" "$2" || fail "no $3 at $1; received: $(jq -c '{path, body}' "$RECEIVED" | tail -5)"
}
