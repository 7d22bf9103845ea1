#!/usr/bin/env bash
# End to end: attacks on the reconciler by someone who may push to environments/dev and owns
# nothing in prod, and by someone who can reach the daemon's API, against a real
# kube-apiserver, real git pushes through the real hooks, and a real portcullisd. Each attack
# must fail. Two targets share one daemon and one cluster identity that may write anywhere:
# what stops dev here is the daemon's confinement alone (the RBAC of each target's own
# identity is tested by kubernetes.sh).
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"
command -v python3 >/dev/null || { echo "FATAL: python3 is missing (the slow-client attack needs it)"; exit 2; }

SEQ=0

# setup_pair: a fresh bare repository whose post-receive notifies a fresh portcullisd (not yet
# started) with two targets, DEV (environments/dev, namespace $DEV) and PROD (environments/prod,
# namespace $PROD), named anew for each test (the cluster is the suite's). DEV_EXTRA, PROD_EXTRA:
# more keys of each target (flow-mapping entries); DAEMON_EXTRA: top-level keys; NOTIFY_URL:
# where post-receive sends its events (default the daemon). The clone holds each target's
# Namespace and prod's app.
setup_pair() {
  SEQ=$((SEQ + 1))
  DEV=dev$SEQ PROD=prod$SEQ
  new_daemon "  - {name: $DEV, path: environments/dev, kubeconfig: $KDIR/kubeconfig-portcullisd, namespace: $DEV${DEV_EXTRA:+, $DEV_EXTRA}}
  - {name: $PROD, path: environments/prod, kubeconfig: $KDIR/kubeconfig-portcullisd, namespace: $PROD${PROD_EXTRA:+, $PROD_EXTRA}}"
  put "$CLONE" environments/dev/namespace.yaml "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$DEV")"
  put "$CLONE" environments/prod/namespace.yaml "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$PROD")"
  deployment web registry.example.com/shop:1.0.0 | sed "s/^  name: web\$/  name: web\n  namespace: $PROD/" |
    put "$CLONE" environments/prod/web.yaml
  configmap settings "$PROD" | put "$CLONE" environments/prod/settings.yaml
  configmap settings "$DEV" | put "$CLONE" environments/dev/settings.yaml
}

# field TARGET JQ: a field of TARGET in /v1/targets.
field() { curl -fsS "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r --arg t "$1" ".targets[] | select(.name == \$t) | $2"; }
synced() { [[ $(field "$1" .appliedRevision) == "$(git -C "$SERVER" rev-parse main)" && $(field "$1" .state) == Synced ]]; }
# refused TARGET TEXT: TARGET failed at the server's main with TEXT in its error.
refused() {
  [[ $(field "$1" .desiredRevision) == "$(git -C "$SERVER" rev-parse main)" && $(field "$1" .state) == Failed &&
    $(field "$1" .lastError) == *"$2"* ]]
}

push_main() {
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# start_pair: pushes what the clone holds, starts the daemon and waits until both targets are Synced.
start_pair() {
  push_main
  start_daemon
  poll_until 60 synced "$DEV" && poll_until 30 synced "$PROD" ||
    fail "the targets did not sync: $(curl -fsS "$DAEMON_URL/v1/targets"); log: $(tail -3 "$DAEMON_LOG")"
}

# expect_refused TEXT: after the push just made, dev fails with TEXT and prod stays Synced.
expect_refused() {
  poll_until 60 refused "$DEV" "$1" ||
    fail "dev was not refused ($1): $(field "$DEV" '"\(.state): \(.lastError)"'); log: $(tail -3 "$DAEMON_LOG")"
  poll_until 30 synced "$PROD" || fail "prod is not Synced any more: $(field "$PROD" '"\(.state): \(.lastError)"')"
}

# live KIND NAME [NAMESPACE] JSONPATH
live() { kubectl get "$1" "$2" ${3:+-n "$3"} -o jsonpath="$4" 2>/dev/null; }

test_a_dev_push_into_prods_namespace_is_refused() {
  setup_pair
  start_pair
  local uid
  uid=$(live deployment web "$PROD" '{.metadata.uid}')
  # Over prod's Deployment, and a new object beside it.
  deployment web registry.example.com/evil:6.6.6 | sed "s/^  name: web\$/  name: web\n  namespace: $PROD/" |
    put "$CLONE" environments/dev/takeover.yaml
  configmap planted "$PROD" | put "$CLONE" environments/dev/planted.yaml
  push_main
  expect_refused "namespace \"$PROD\" is not among the allowed namespaces ($DEV)"
  [[ $(field "$DEV" .lastError) == *"add it to \`namespaces\`"* ]] || fail "the message does not say what to configure"
  [[ $(live deployment web "$PROD" '{.spec.template.spec.containers[0].image}') == registry.example.com/shop:1.0.0 ]] ||
    fail "prod's Deployment was changed: $(live deployment web "$PROD" '{.spec.template.spec.containers[0].image}')"
  [[ $(live deployment web "$PROD" '{.metadata.uid}') == "$uid" ]] || fail "prod's Deployment was replaced"
  [[ $(live deployment web "$PROD" '{.metadata.labels.portcullis\.io/target}') == "$PROD" ]] || fail "prod's Deployment changed hands"
  kubectl get configmap planted -n "$PROD" >/dev/null 2>&1 && fail "dev planted a ConfigMap in prod's namespace"
  # A refused sync prunes nothing: dev's own objects stay.
  kubectl get configmap settings -n "$DEV" >/dev/null 2>&1 || fail "dev's own ConfigMap was pruned"
}

test_kube_system_and_the_inventory_namespace_are_refused_even_to_a_glob() {
  DEV_EXTRA='namespaces: ["*"]' setup_pair
  start_pair
  local inventory_rv
  inventory_rv=$(live configmap "portcullis-inventory-$PROD" portcullis-system '{.metadata.resourceVersion}')
  [[ -n $inventory_rv ]] || fail "prod has no inventory"
  configmap planted kube-system | put "$CLONE" environments/dev/kube-system.yaml
  push_main
  expect_refused "namespace \"kube-system\" is reserved"
  kubectl get configmap planted -n kube-system >/dev/null 2>&1 && fail "dev wrote into kube-system"
  git -C "$CLONE" rm -q environments/dev/kube-system.yaml
  configmap planted kube-public | put "$CLONE" environments/dev/kube-public.yaml
  push_main
  expect_refused "namespace \"kube-public\" is reserved"
  git -C "$CLONE" rm -q environments/dev/kube-public.yaml
  # Over prod's inventory: it would make prod forget, or prune, what it owns.
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: portcullis-inventory-%s\n  namespace: portcullis-system\ndata:\n  objects: ""\n' "$PROD" |
    put "$CLONE" environments/dev/inventory.yaml
  push_main
  expect_refused "namespace \"portcullis-system\" holds the inventories"
  [[ $(live configmap "portcullis-inventory-$PROD" portcullis-system '{.metadata.resourceVersion}') == "$inventory_rv" ]] ||
    fail "prod's inventory was written"
  # The Namespace object of kube-system, relabelled.
  git -C "$CLONE" rm -q environments/dev/inventory.yaml
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n  labels: {owner: dev}\n' |
    put "$CLONE" environments/dev/ns-kube-system.yaml
  push_main
  expect_refused "Namespace \"kube-system\""
  [[ -z $(live namespace kube-system "" '{.metadata.labels.owner}') ]] || fail "dev relabelled kube-system"
}

test_cluster_scoped_kinds_are_refused_unless_listed() {
  setup_pair
  start_pair
  cat <<YAML | put "$CLONE" environments/dev/pwn.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: $DEV-pwn
  namespace: $DEV   # a namespace does not make a cluster-scoped kind namespaced
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}]
YAML
  push_main
  expect_refused "rbac.authorization.k8s.io/ClusterRoleBinding is not among the allowed cluster kinds (Namespace)"
  kubectl get clusterrolebinding "$DEV-pwn" >/dev/null 2>&1 && fail "dev bound cluster-admin"
  # Another target's Namespace object.
  git -C "$CLONE" rm -q environments/dev/pwn.yaml
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {owner: dev}\n' "$PROD" | put "$CLONE" environments/dev/prod-ns.yaml
  push_main
  expect_refused "Namespace \"$PROD\""
  [[ -z $(live namespace "$PROD" "" '{.metadata.labels.owner}') ]] || fail "dev relabelled prod's Namespace"
  # A CRD: cluster-scoped too.
  git -C "$CLONE" rm -q environments/dev/prod-ns.yaml
  sed "s/backups.example.com/backups$SEQ.example.com/; s/plural: backups/plural: backups$SEQ/" \
    "$ROOT/tests/fixtures/manifests/crd/crd.yaml" | put "$CLONE" environments/dev/crd.yaml
  push_main
  expect_refused "apiextensions.k8s.io/CustomResourceDefinition is not among the allowed cluster kinds"
  kubectl get crd "backups$SEQ.example.com" >/dev/null 2>&1 && fail "dev installed a CRD"
}

test_an_existing_object_made_by_an_admin_is_not_adopted() {
  setup_pair
  start_pair
  kubectl create configmap admin-made -n "$DEV" --from-literal=owner=admin >/dev/null || fail "cannot make the admin's ConfigMap"
  configmap admin-made "$DEV" | put "$CLONE" environments/dev/admin-made.yaml
  push_main
  expect_refused "exists and was not created by target \"$DEV\""
  [[ $(field "$DEV" .lastError) == *"adopt: true"* ]] || fail "the message does not say what to configure"
  [[ $(live configmap admin-made "$DEV" '{.data.owner}') == admin ]] || fail "the admin's ConfigMap was changed"
  [[ -z $(live configmap admin-made "$DEV" '{.metadata.labels.portcullis\.io/target}') ]] || fail "the admin's ConfigMap was stamped"
  # A removal of it afterwards prunes nothing: it was never the target's.
  git -C "$CLONE" rm -q environments/dev/admin-made.yaml
  push_main
  poll_until 60 synced "$DEV" || fail "dev did not recover: $(field "$DEV" .lastError)"
  kubectl get configmap admin-made -n "$DEV" >/dev/null 2>&1 || fail "the admin's ConfigMap was pruned"
}

test_adopt_true_takes_over_an_unowned_object_and_says_so() {
  DEV_EXTRA='adopt: true' setup_pair
  start_pair
  kubectl create configmap admin-made -n "$DEV" --from-literal=key=old >/dev/null || fail "cannot make the admin's ConfigMap"
  configmap admin-made "$DEV" | put "$CLONE" environments/dev/admin-made.yaml
  push_main
  poll_until 60 synced "$DEV" || fail "dev did not adopt: $(field "$DEV" .lastError)"
  [[ $(live configmap admin-made "$DEV" '{.metadata.labels.portcullis\.io/target}') == "$DEV" ]] || fail "not adopted"
  grep -q "\"event\":\"sync\",\"target\":\"$DEV\".*\"adopted\":\[\"v1 ConfigMap $DEV/admin-made\"\]" "$SUITE_TMP/$CURRENT_TEST/state/audit.jsonl" ||
    fail "the adoption is not in the audit log: $(grep "\"target\":\"$DEV\"" "$SUITE_TMP/$CURRENT_TEST/state/audit.jsonl" | tail -2)"
  grep -q "portcullis_objects_adopted_total{target=\"$DEV\"} 1" <(curl -fsS "$DAEMON_URL/metrics") || fail "the adoption is not counted"
}

test_an_object_another_target_owns_is_never_taken_over() {
  # Both may write into a shared namespace; dev may even adopt.
  SEQ_NEXT=$((SEQ + 1))
  DEV_EXTRA="namespaces: [dev$SEQ_NEXT, shared$SEQ_NEXT], adopt: true" PROD_EXTRA="namespaces: [prod$SEQ_NEXT, shared$SEQ_NEXT]" setup_pair
  kubectl create namespace "shared$SEQ" >/dev/null || fail "cannot make the shared namespace"
  configmap common "shared$SEQ" | put "$CLONE" environments/prod/common.yaml
  start_pair
  local uid
  uid=$(live configmap common "shared$SEQ" '{.metadata.uid}')
  configmap common "shared$SEQ" | sed 's/key: value/key: dev-wins/' | put "$CLONE" environments/dev/common.yaml
  push_main
  expect_refused "owned by target \"$PROD\""
  [[ $(live configmap common "shared$SEQ" '{.data.key}') == value ]] || fail "dev changed prod's object"
  [[ $(live configmap common "shared$SEQ" '{.metadata.labels.portcullis\.io/target}') == "$PROD" ]] || fail "prod's object changed hands"
  [[ $(live configmap common "shared$SEQ" '{.metadata.uid}') == "$uid" ]] || fail "prod's object was replaced"
  # Forged marks in Git do not help: they are the daemon's to write.
  configmap common "shared$SEQ" | sed "s/^  name: common\$/  name: common\n  labels: {portcullis.io\/target: $PROD}\n  annotations: {portcullis.io\/owned-by: $PROD\/\/ConfigMap\/shared$SEQ\/common}/" |
    put "$CLONE" environments/dev/common.yaml
  push_main
  expect_refused "owned by target \"$PROD\""
  # Dev's own objects carry dev's marks, whatever Git says.
  configmap forged "$DEV" | sed "s/^  name: forged\$/  name: forged\n  labels: {portcullis.io\/target: $PROD}/" |
    put "$CLONE" environments/dev/forged.yaml
  git -C "$CLONE" rm -q environments/dev/common.yaml
  push_main
  poll_until 60 synced "$DEV" || fail "dev did not sync: $(field "$DEV" .lastError)"
  [[ $(live configmap forged "$DEV" '{.metadata.labels.portcullis\.io/target}') == "$DEV" ]] || fail "a forged label survived"
  # Dev tried to write it (its inventory held it as pending, in case the apply had gone
  # through): dropping it from dev's Git prunes nothing of prod's.
  [[ $(live configmap common "shared$SEQ" '{.metadata.uid}') == "$uid" ]] || fail "dev's removal pruned prod's object"
}

test_a_removal_never_prunes_outside_the_targets_confinement() {
  DEV_EXTRA='maxPruneShare: 1' setup_pair
  configmap doomed "$DEV" | put "$CLONE" environments/dev/doomed.yaml
  start_pair
  # What an older daemon, or a hand with write access to portcullis-system, could have left in
  # dev's inventory: an admin's ConfigMap in kube-system it had adopted, prod's inventory and
  # prod's app, each marked as dev's.
  kubectl create configmap admin-settings -n kube-system --from-literal=k=v >/dev/null
  kubectl label configmap admin-settings -n kube-system "portcullis.io/target=$DEV" >/dev/null
  kubectl annotate configmap admin-settings -n kube-system "portcullis.io/owned-by=$DEV//ConfigMap/kube-system/admin-settings" >/dev/null
  local extra="" kind ns name uid api
  while read -r api kind ns name; do
    uid=$(kubectl get "$kind" "$name" -n "$ns" -o jsonpath='{.metadata.uid}')
    [[ -n $uid ]] || fail "no $kind $ns/$name"
    # As declared in the file the removal deletes: candidates for its prune.
    extra+=$(printf '%s\t%s\t%s\t%s\t%s\th\tdoomed.yaml\n' "$api" "$kind" "$ns" "$name" "$uid")$'\n'
  done <<EOF
v1 ConfigMap kube-system admin-settings
v1 ConfigMap portcullis-system portcullis-inventory-$PROD
apps/v1 Deployment $PROD web
EOF
  local objects
  objects=$(kubectl get configmap "portcullis-inventory-$DEV" -n portcullis-system -o json | jq -r '.data.objects')
  kubectl get configmap "portcullis-inventory-$DEV" -n portcullis-system -o json |
    jq --arg o "$objects"$'\n'"$extra" '.data.objects = $o' | kubectl replace -f - >/dev/null || fail "cannot tamper with dev's inventory"
  # A removal: dev prunes what it no longer declares.
  git -C "$CLONE" rm -q environments/dev/doomed.yaml
  push_main
  poll_until 60 synced "$DEV" || fail "dev did not sync: $(field "$DEV" .lastError)"
  kubectl get configmap doomed -n "$DEV" >/dev/null 2>&1 && fail "dev did not prune its own object"
  kubectl get configmap admin-settings -n kube-system >/dev/null 2>&1 || fail "dev pruned the admin's ConfigMap in kube-system"
  kubectl get configmap "portcullis-inventory-$PROD" -n portcullis-system >/dev/null 2>&1 || fail "dev pruned prod's inventory"
  kubectl get deployment web -n "$PROD" >/dev/null 2>&1 || fail "dev pruned prod's Deployment"
  grep -q "kube-system/admin-settings: not pruned, outside the confinement of target \\\\\"$DEV\\\\\"" "$DAEMON_LOG" ||
    fail "no warning for the kube-system ConfigMap: $(grep 'not pruned' "$DAEMON_LOG" | head -3)"
  poll_until 30 synced "$PROD" || fail "prod is not Synced: $(field "$PROD" .lastError)"
  kubectl delete configmap admin-settings -n kube-system >/dev/null
}

# guard_blocked: dev declares 4 ConfigMaps more, then drops them: a prune past maxPruneShare.
guard_blocked() {
  local n
  for n in 1 2 3 4; do configmap "cm-$n" "$DEV" | put "$CLONE" "environments/dev/cm-$n.yaml"; done
  push_main
  poll_until 60 synced "$DEV" || fail "dev did not sync: $(field "$DEV" .lastError)"
  git -C "$CLONE" rm -q environments/dev/cm-{1,2,3,4}.yaml
  push_main
  poll_until 60 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[] | select(.name == \"$DEV\") | .pruneBlocked') == *maxPruneShare* ]]" ||
    fail "the prune was not blocked: $(field "$DEV" .pruneBlocked)"
}

# send_captured PATH: sends the request captured in CAPTURED_* to PATH; sets STATUS.
send_captured() {
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" \
    -H "X-Portcullis-Signature: $CAPTURED_SIG" -H "X-Portcullis-Timestamp: $CAPTURED_TS" \
    -H "X-Portcullis-Event-Id: $CAPTURED_ID" --data-binary "$CAPTURED_BODY" "$DAEMON_URL$1")
}

test_an_allow_prune_is_acted_on_once_even_across_a_restart() {
  setup_pair
  start_pair
  guard_blocked
  # One signed allow-prune, captured as it goes.
  CAPTURED_TS=$(date +%s) CAPTURED_ID=allow-$SEQ-1 CAPTURED_BODY='{}'
  CAPTURED_SIG=$(printf '%s' "$CAPTURED_BODY" | signature "$CAPTURED_TS" POST "/v1/targets/$DEV/allow-prune" "$CAPTURED_ID")
  send_captured "/v1/targets/$DEV/allow-prune"
  [[ $STATUS == 200 ]] || fail "the allow-prune answered $STATUS"
  poll_until 60 synced "$DEV" || fail "the allowed prune did not happen: $(field "$DEV" .pruneBlocked)"
  # The same request again, for the next blocked prune: refused, and the guard holds.
  guard_blocked
  send_captured "/v1/targets/$DEV/allow-prune"
  [[ $STATUS == 409 ]] || fail "a replayed allow-prune answered $STATUS"
  # Sent to prod instead: its signature names dev's path.
  send_captured "/v1/targets/$PROD/allow-prune"
  [[ $STATUS == 401 ]] || fail "an allow-prune replayed to another target answered $STATUS"
  # After a restart too (the record of used ids is kept in the state directory).
  kill -TERM "$DAEMON_PID"
  poll_until 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null" || fail "portcullisd did not stop"
  start_daemon
  send_captured "/v1/targets/$DEV/allow-prune"
  [[ $STATUS == 409 ]] || fail "a replayed allow-prune after a restart answered $STATUS"
  poll_until 60 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[] | select(.name == \"$DEV\") | .pruneBlocked') == *maxPruneShare* ]]" ||
    fail "the guard was lifted by a replay"
  [[ $(kubectl get configmaps -n "$DEV" -l "portcullis.io/target=$DEV" -o name | wc -l) -ge 5 ]] || fail "a replay pruned"
  grep -q 'portcullis_allow_prune_total{result="replay"} 1' <(curl -fsS "$DAEMON_URL/metrics") ||
    fail "the replay is not counted: $(curl -fsS "$DAEMON_URL/metrics" | grep allow_prune)"
}

test_a_captured_push_event_is_not_accepted_again_nor_elsewhere() {
  start_receiver
  # The hook's real events go to a receiver, as to an eavesdropper; the daemon polls.
  NOTIFY_URL=$RECEIVER_URL/v1/events POLL=2s setup_pair
  start_pair
  configmap more "$DEV" | put "$CLONE" environments/dev/more.yaml
  push_main
  poll_until 20 bash -c "jq -e -s 'map(select(.path == \"/v1/events\")) | length >= 2' '$RECEIVED' >/dev/null" ||
    { fail "the hook's events were not captured: $(cat "$RECEIVED")"; return; }
  local line
  line=$(jq -c 'select(.path == "/v1/events")' "$RECEIVED" | tail -1)
  CAPTURED_TS=$(jq -r '.headers["X-Portcullis-Timestamp"]' <<<"$line")
  CAPTURED_ID=$(jq -r '.headers["X-Portcullis-Event-Id"]' <<<"$line")
  CAPTURED_SIG=$(jq -r '.headers["X-Portcullis-Signature"]' <<<"$line")
  CAPTURED_BODY=$(jq -j '.body' <<<"$line")
  # To allow-prune: the signature names /v1/events.
  send_captured "/v1/targets/$DEV/allow-prune"
  [[ $STATUS == 401 ]] || fail "the event replayed to allow-prune answered $STATUS"
  # As an event: once (here the first time it reaches the daemon), then never again.
  send_captured /v1/events
  [[ $STATUS == 202 ]] || fail "the captured event answered $STATUS the first time"
  send_captured /v1/events
  [[ $STATUS == 409 ]] || fail "the replayed event answered $STATUS"
  # Its body under another id: the id is signed too.
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Portcullis-Signature: $CAPTURED_SIG" \
    -H "X-Portcullis-Timestamp: $CAPTURED_TS" -H "X-Portcullis-Event-Id: other-id" --data-binary "$CAPTURED_BODY" "$DAEMON_URL/v1/events")
  [[ $STATUS == 401 ]] || fail "the event under a fresh id answered $STATUS"
  grep -q 'portcullis_allow_prune_total{result="bad-signature"} 1' <(curl -fsS "$DAEMON_URL/metrics") ||
    fail "the misdirected replay is not counted"
  # After the daemon is killed and started again, too: the ids it acted on are in its state
  # directory for as long as their signatures are valid.
  kill -9 "$DAEMON_PID"
  poll_until 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null" || fail "portcullisd did not die"
  start_daemon
  send_captured /v1/events
  [[ $STATUS == 409 ]] || fail "the captured event answered $STATUS after a restart"
  grep -q 'portcullis_events_total{result="replay"} 1' <(curl -fsS "$DAEMON_URL/metrics") ||
    fail "the replay after the restart is not counted: $(curl -fsS "$DAEMON_URL/metrics" | grep events_total)"
}

test_slow_header_connections_do_not_starve_healthz() {
  DAEMON_EXTRA=$'api:\n  requestTimeout: 2s' setup_pair
  start_pair
  local dir=$SUITE_TMP/$CURRENT_TEST
  # 30 clients of another address and 10 of the prober's own send headers a line at a time,
  # never ending them. The script prints, per client, how it ended.
  cat >"$dir/slow.py" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + 10
clients = []
for source, count in (("127.0.0.2", 30), ("127.0.0.1", 10)):
    for _ in range(count):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: portcullisd\r\n")
        s.setblocking(False)
        clients.append([s, time.time(), None, b""])
open(sys.argv[2], "w").write("open\n")
while time.time() < deadline and any(c[2] is None for c in clients):
    for c in clients:
        if c[2] is not None:
            continue
        try:
            data = c[0].recv(4096)
            if not data:
                c[2] = "closed %.1f" % (time.time() - c[1])
            else:
                c[3] += data
        except BlockingIOError:
            try:
                c[0].send(b"X-Slow: 1\r\n")
            except OSError:
                c[2] = "reset %.1f" % (time.time() - c[1])
        except OSError:
            c[2] = "reset %.1f" % (time.time() - c[1])
    time.sleep(0.3)
for c in clients:
    print((c[2] or "held") + (" 503" if c[3].startswith(b"HTTP/1.1 503") else ""))
PY
  python3 "$dir/slow.py" "$PORT" "$dir/slow.ready" >"$dir/slow.out" 2>&1 &
  local slow_pid=$!
  poll_until 10 test -s "$dir/slow.ready" || fail "the slow clients did not connect: $(cat "$dir/slow.out")"
  local i t0 code
  for i in 1 2 3 4 5; do
    t0=$(date +%s%N)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$DAEMON_URL/healthz")
    [[ $code == 200 ]] || fail "/healthz answered $code with slow clients holding connections"
    (($(date +%s%N) - t0 < 500000000)) || fail "/healthz took $((($(date +%s%N) - t0) / 1000000)) ms"
  done
  wait "$slow_pid"
  local out
  out=$(cat "$dir/slow.out")
  grep -q held <<<"$out" && fail "slow clients were never cut off: $(sort <<<"$out" | uniq -c)"
  # 14 beyond the per-address cap at once (answered 503, unless the close overtook it), the 26
  # others at the deadline (2 s), not later.
  (($(awk '$2 < 1' <<<"$out" | wc -l) == 14)) || fail "not 14 clients beyond the per-address cap refused at once: $(sort <<<"$out" | uniq -c)"
  (($(awk '$2 >= 1.5 && $2 <= 4' <<<"$out" | wc -l) == 26)) || fail "not 26 clients cut off at the deadline: $(sort <<<"$out" | uniq -c)"
  grep -q ' 503' <<<"$out" || fail "no refused client saw the 503: $(sort <<<"$out" | uniq -c)"
  local metrics
  metrics=$(curl -fsS "$DAEMON_URL/metrics")
  grep -q 'portcullis_api_connections_dropped_total{reason="timeout"} 26' <<<"$metrics" ||
    fail "timeouts not counted: $(grep dropped <<<"$metrics")"
  curl -fsS -o /dev/null --max-time 1 "$DAEMON_URL/healthz" || fail "/healthz does not answer after the attack"
}

test_reads_of_status_and_metrics_need_the_token_off_loopback() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  printf 'reader-%s\n' "$RANDOM$RANDOM" >"$dir/read.token"
  DAEMON_EXTRA="api: {readTokenFile: $dir/read.token}" setup_pair
  # Off loopback without a token: the daemon refuses to start.
  sed 's/^listen: 127.0.0.1:/listen: 0.0.0.0:/; /^api:/d' "$DAEMON_CONFIG" >"$dir/open.yaml"
  run "$PORTCULLISD" --config "$dir/open.yaml" --check-config
  expect_status 2
  expect_output "not a loopback address: set api.readTokenFile"
  push_main
  start_daemon
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$DAEMON_URL/v1/targets") == 401 ]] || fail "status without the token"
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$DAEMON_URL/metrics") == 401 ]] || fail "metrics without the token"
  [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$dir/read.token")" "$DAEMON_URL/v1/targets") == 200 ]] ||
    fail "status with the token"
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$DAEMON_URL/healthz") == 200 ]] || fail "healthz needs no token"
  # portcullis status: refused without the token, a table with it.
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_status 2
  expect_output "HTTP 401"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL" --token-file "$dir/read.token"
  expect_output "TARGET"
}

run_suite "$@"
