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
kubectl apply -f "$ROOT/install/kubernetes/portcullisd-rbac.yaml" >/dev/null || { echo "FATAL: cannot apply RBAC"; exit 1; }
SECRET=$SUITE_TMP/notify.secret
printf 'e2e-%s' "$RANDOM$RANDOM" >"$SECRET"

# A free loopback port (below the ephemeral range, not in use).
free_port() { kube_free_port; }

# setup_target NAME: a bare repository with Portcullis' hooks notifying a fresh portcullisd that
# reconciles environments/NAME into namespace NAME with the reconciler's own credentials.
# TARGET_EXTRA: more keys of the target (YAML lines); DAEMON_EXTRA: more top-level keys.
setup_target() {
  TARGET=$1
  NS=$1
  local dir=$SUITE_TMP/$CURRENT_TEST
  PORT=$(free_port)
  DAEMON_URL=http://127.0.0.1:$PORT
  cat >"$dir/server.yaml" <<YAML
notify:
  targets:
    - url: $DAEMON_URL/v1/events
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
  - name: $TARGET
    path: environments/$TARGET
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $NS
$(printf '%s\n' "${TARGET_EXTRA:-}" | sed 's/^/    /')
${DAEMON_EXTRA:-}
YAML
  DAEMON_CONFIG=$dir/daemon.yaml
  DAEMON_LOG=$dir/daemon.log
  CLONE=$(new_clone "$SERVER")
  put "$CLONE" "environments/$TARGET/namespace.yaml" "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS")"
}

start_daemon() {
  "$PORTCULLISD" --config "$DAEMON_CONFIG" >>"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  disown "$DAEMON_PID"  # killed on purpose by some tests: no job-control noise
  DAEMON_PIDS+=("$DAEMON_PID")
  poll_until 10 curl -fsS -o /dev/null "$DAEMON_URL/healthz" 2>/dev/null || fail "portcullisd did not start: $(tail -5 "$DAEMON_LOG")"
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

# post_signed PATH BODY [TIMESTAMP]: a request signed like the hook's; sets STATUS (HTTP code).
post_signed() {
  local path=$1 body=$2 ts=${3:-$(date +%s)} sig
  sig=sha256=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$(cat "$SECRET")" -r | cut -d' ' -f1)
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" \
    -H "X-Portcullis-Signature: $sig" -H "X-Portcullis-Timestamp: $ts" --data-binary "$body" "$DAEMON_URL$path")
}

