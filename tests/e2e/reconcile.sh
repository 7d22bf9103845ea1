#!/usr/bin/env bash
# End to end: portcullisd against a real kube-apiserver with its own least-privilege
# credentials, notified by the real post-receive hook of a real bare repository.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

test_a_push_is_applied_and_reported() {
  setup_target shop
  start_daemon
  configmap settings | put "$CLONE" environments/shop/settings.yaml
  deployment web nginx:1.25.3 | put "$CLONE" environments/shop/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  [[ $(kubectl get configmap settings -n shop -o jsonpath='{.data.key}') == value ]] || fail "ConfigMap not applied"
  [[ $(kubectl get deployment web -n shop -o jsonpath='{.spec.template.spec.containers[0].image}') == nginx:1.25.3 ]] ||
    fail "Deployment not applied"
  [[ $(kubectl get deployment web -n shop -o jsonpath='{.metadata.annotations.portcullis\.io/owned-by}') == shop/apps/Deployment/shop/web ]] ||
    fail "ownership annotation missing"
  [[ $(kubectl get configmap portcullis-inventory-shop -n portcullis-system -o jsonpath='{.data.revision}') == "$(git -C "$SERVER" rev-parse main)" ]] ||
    fail "inventory not written"
  # The repository is on this machine (file://): the first fetch copied its object files.
  grep -q '"msg":"mirror seeded from a repository on this machine"' "$DAEMON_LOG" ||
    fail "the first fetch did not copy the local repository's objects: $(grep -m1 mirror "$DAEMON_LOG")"
  # The sync's log line says where its time went.
  grep -q '"msg":"sync of shop at [0-9a-f]*: Synced".*"renderMs":"[0-9]*","applyMs":"[0-9]*","pruneMs":"[0-9]*","inventoryMs":"[0-9]*"' "$DAEMON_LOG" ||
    fail "no sync log line with phase timings: $(grep -m1 '"sync of shop' "$DAEMON_LOG")"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_status 0
  expect_output "shop            Synced"
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output 'portcullis_syncs_total{target="shop",result="Synced"}'
  expect_output "portcullis_objects_applied_total"
  expect_output "portcullis_notify_latency_seconds_count"
  run curl -fsS "$DAEMON_URL/readyz"
  expect_output ready
  # A change of one object applies exactly one.
  deployment web nginx:1.25.4 | put "$CLONE" environments/shop/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  [[ $(kubectl get deployment web -n shop -o jsonpath='{.spec.template.spec.containers[0].image}') == nginx:1.25.4 ]] ||
    fail "update not applied"
  grep -q '"applied":\["apps/v1 Deployment shop/web"\]' "$SUITE_TMP/$CURRENT_TEST/state/audit.jsonl" ||
    fail "the audit log does not show exactly one applied object"
}

test_an_inventory_changed_out_of_band_is_read_again() {
  setup_target ledger
  start_daemon
  configmap settings | put "$CLONE" environments/ledger/settings.yaml
  configmap other | put "$CLONE" environments/ledger/other.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  # The daemon keeps the inventory it wrote; deleted behind its back, the next sync (Git
  # unchanged under the target) must notice and apply everything again, writing it anew.
  kubectl delete configmap portcullis-inventory-ledger -n portcullis-system >/dev/null
  kubectl delete configmap other -n ledger >/dev/null
  put "$CLONE" README.md "notes"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  [[ $(kubectl get configmap portcullis-inventory-ledger -n portcullis-system -o jsonpath='{.data.revision}' 2>/dev/null) == "$(git -C "$SERVER" rev-parse main)" ]] ||
    fail "the inventory was not written again"
  kubectl get configmap other -n ledger >/dev/null 2>&1 || fail "the objects were not applied again"
  # Edited behind its back: someone hands "other" over (drops its line). Read whole again, the
  # inventory no longer lists it, so removing it from Git does not prune it.
  kubectl get configmap portcullis-inventory-ledger -n portcullis-system -o json |
    jq '.data.objects |= (split("\n") | map(select(contains("\tother\t") | not)) | join("\n"))' |
    kubectl replace -f - >/dev/null || fail "cannot edit the inventory"
  git -C "$CLONE" rm -q environments/ledger/other.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  kubectl get configmap other -n ledger >/dev/null 2>&1 || fail "pruned an object the inventory no longer lists (a stale inventory)"
  return 0
}

test_a_crd_and_its_custom_resources_in_one_push() {
  # A cluster-scoped kind beyond Namespaces: the target must list it.
  TARGET_EXTRA="clusterKinds: [Namespace, apiextensions.k8s.io/CustomResourceDefinition]" setup_target crds
  # The reconciler's RBAC, extended for the custom kind (as a user would for their CRDs).
  kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "portcullis:reconciler:backups"}
rules: [{apiGroups: [example.com], resources: [backups], verbs: [get, create, patch, delete]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "portcullis:reconciler:backups"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "portcullis:reconciler:backups"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: portcullisd}]
YAML
  start_daemon
  cp "$ROOT/tests/fixtures/manifests/crd/crd.yaml" "$CLONE/environments/crds/crd.yaml"
  sed 's/namespace: default/namespace: crds/' "$ROOT/tests/fixtures/manifests/crd/good-cr.yaml" >"$CLONE/environments/crds/backup.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced 60
  [[ $(kubectl get backups.example.com nightly -n crds -o jsonpath='{.spec.retainDays}') == 30 ]] ||
    fail "the custom resource was not applied after its CRD"
}

test_prune_deletes_only_what_the_target_owns() {
  # Detect-only: with self-heal, the hand-deleted cm-c would be recreated by the daemon.
  TARGET_EXTRA="detectOnly: true" setup_target prune
  start_daemon
  for n in a b c d; do configmap "cm-$n" | put "$CLONE" "environments/prune/$n.yaml"; done
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  # Out of band: an object with the target's label and a copy of cm-a's annotations, and
  # cm-c deleted and recreated by hand (a new UID), and cm-d marked prune: disabled.
  kubectl create configmap foreign -n prune --from-literal=k=v >/dev/null
  kubectl label configmap foreign -n prune portcullis.io/target=prune >/dev/null
  kubectl annotate configmap foreign -n prune portcullis.io/owned-by=prune//ConfigMap/prune/cm-a >/dev/null
  kubectl delete configmap cm-c -n prune >/dev/null
  kubectl create configmap cm-c -n prune --from-literal=by=hand >/dev/null
  kubectl annotate configmap cm-c -n prune portcullis.io/owned-by=prune//ConfigMap/prune/cm-c >/dev/null
  kubectl annotate configmap cm-d -n prune portcullis.io/prune=disabled >/dev/null
  git -C "$CLONE" rm -q environments/prune/b.yaml environments/prune/c.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  kubectl get configmap cm-b -n prune >/dev/null 2>&1 && fail "cm-b was not pruned"
  kubectl get configmap cm-c -n prune >/dev/null 2>&1 || fail "the hand-made cm-c (new UID) was deleted"
  kubectl get configmap foreign -n prune >/dev/null 2>&1 || fail "an object with copied labels was deleted"
  kubectl get configmap cm-a -n prune >/dev/null 2>&1 || fail "cm-a was deleted"
  git -C "$CLONE" rm -q environments/prune/d.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  kubectl get configmap cm-d -n prune >/dev/null 2>&1 || fail "cm-d (prune: disabled) was deleted"
}

test_prune_guards_block_and_can_be_lifted() {
  setup_target guard
  start_daemon
  for n in 1 2 3 4 5 6; do configmap "cm-$n" | put "$CLONE" "environments/guard/$n.yaml"; done
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  # Removing 5 of 7 objects exceeds the default 50%.
  git -C "$CLONE" rm -q environments/guard/{1,2,3,4,5}.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  poll_until 30 bash -c "curl -fsS $DAEMON_URL/v1/targets | grep -q 'exceeds maxPruneShare'" || fail "prune not blocked"
  [[ $(count_configmaps) -eq 6 ]] || fail "a blocked prune deleted objects"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_status 1
  expect_output "OutOfSync"
  expect_output "allow-prune"
  grep -q 'portcullis_prune_blocked_total{target="guard"}' <(curl -fsS "$DAEMON_URL/metrics") || fail "no prune-blocked metric"
  post_signed /v1/targets/guard/allow-prune '{}'
  [[ $STATUS == 200 ]] || fail "allow-prune answered $STATUS"
  wait_synced
  [[ $(count_configmaps) -eq 1 ]] || fail "the allowed prune did not happen: $(count_configmaps) left"
  # Emptying a target is refused without allowEmpty.
  git -C "$CLONE" rm -q -r environments/guard
  put "$CLONE" README.md "empty"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  poll_until 30 bash -c "curl -fsS $DAEMON_URL/v1/targets | grep -q 'would become empty'" || fail "emptying not blocked"
  [[ $(count_configmaps) -eq 1 ]] || fail "emptying deleted objects"
}

test_kill_9_mid_sync_then_restart_converges() {
  setup_target crash
  configmap keep-me | put "$CLONE" environments/crash/keep.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced
  kubectl create configmap bystander -n crash --from-literal=k=v >/dev/null
  local i
  for i in $(seq 1 500); do configmap "bulk-$i"; echo '---'; done >"$CLONE/environments/crash/bulk.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  poll_until 60 bash -c "(( \$(kubectl get configmaps -n crash -o name | wc -l) > 30 ))" || fail "the bulk sync never started"
  kill -9 "$DAEMON_PID"
  local partial
  partial=$(count_configmaps)
  ((partial < 501)) || echo "    note: the sync finished before the kill ($partial objects)"
  start_daemon
  wait_synced 120
  [[ $(count_configmaps) -eq 501 ]] || fail "expected 501 managed ConfigMaps after the restart, found $(count_configmaps)"
  kubectl get configmap bystander -n crash >/dev/null 2>&1 || fail "an unmanaged object was deleted"
}

# many NAME FROM TO: ConfigMaps NAME-FROM..NAME-TO as one file's documents.
many() {
  local i
  for i in $(seq "$2" "$3"); do configmap "$1-$i"; echo '---'; done
}

# paused PID: the process stopped itself (at a fault point).
paused() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]; }

# The labelled ConfigMaps of the target, and the ConfigMaps its inventory lists, sorted.
live_names() { kubectl get configmaps -n "$NS" -l "portcullis.io/target=$TARGET" -o name | sed 's|.*/||' | sort; }
inventory_names() {
  kubectl get configmaps -n portcullis-system -l "portcullis.io/target=$TARGET" -o json |
    jq -r '.items[].data.objects // empty' | awk -F'\t' '$2 == "ConfigMap" {print $4}' | sort
}

# crash_at POINT: a sync that deletes 20 objects and creates 60 is killed -9 at POINT; Git then
# drops 30 of the new ones and adds another; after a restart the cluster is exactly what Git
# says, the inventory lists exactly that, and the unmanaged ConfigMap is untouched.
crash_at() {
  local point=$1
  TARGET_EXTRA="maxPruneShare: 1" setup_target "crash-${point%%:*}"
  { configmap keep; echo '---'; many old 1 20; } >"$CLONE/environments/$TARGET/base.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced
  kubectl create configmap bystander -n "$NS" --from-literal=k=v >/dev/null
  kill -9 "$DAEMON_PID"
  configmap keep >"$CLONE/environments/$TARGET/base.yaml"
  many bulk 1 60 >"$CLONE/environments/$TARGET/bulk.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  PORTCULLIS_TEST_PAUSE_AT=$point launch_daemon
  poll_until 60 paused "$DAEMON_PID" || { fail "$point: the daemon never reached the fault point: $(tail -3 "$DAEMON_LOG")"; return; }
  grep -q "\"msg\":\"paused at fault point\",\"point\":\"${point%%:*}\"" "$DAEMON_LOG" || fail "$point: paused elsewhere"
  kill -9 "$DAEMON_PID"
  many bulk 31 60 | put "$CLONE" "environments/$TARGET/bulk.yaml"
  configmap after | put "$CLONE" "environments/$TARGET/after.yaml"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced 120
  local want
  want=$({ echo keep; echo after; seq 31 60 | sed 's/^/bulk-/'; } | sort)
  [[ $(live_names) == "$want" ]] ||
    fail "$point: the cluster is not what Git says: $(diff <(echo "$want") <(live_names) | grep '^[<>]' | head -5 | tr '\n' ' ')"
  [[ $(inventory_names) == "$want" ]] ||
    fail "$point: the inventory is not what Git says: $(diff <(echo "$want") <(inventory_names) | grep '^[<>]' | head -5 | tr '\n' ' ')"
  [[ $(kubectl get configmap bystander -n "$NS" -o jsonpath='{.data.k}') == v ]] || fail "$point: the unmanaged ConfigMap was touched"
  kill -9 "$DAEMON_PID"
}

# kill -9 at each point of a sync where state could be lost: after the write-ahead of the
# inventory, in the middle of the applies, between the applies and the inventory, in the middle
# of the prune, and between an inventory's shards and its first ConfigMap.
test_kill_9_at_every_point_of_a_sync_then_a_git_change() {
  local point
  for point in intent apply:25 inventory prune:5; do crash_at "$point"; done
  PORTCULLIS_TEST_SHARD_BYTES=1500 crash_at shard
}

# The upgrade from a daemon that applied every target as field manager "portcullis": the
# first sync applies everything as portcullis-TARGET and releases the old entry, so that a
# field Git no longer declares goes (the old entry would otherwise keep it for ever).
test_an_upgrade_from_the_shared_field_manager_releases_its_fields() {
  setup_target upgrade
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  kept: "1"\n  dropped: "2"\n' |
    put "$CLONE" environments/upgrade/settings.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced
  kill -TERM "$DAEMON_PID"
  poll_until 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null" || fail "portcullisd did not stop"
  # As the older daemon left it: its fields held by "portcullis" alone, an inventory naming no
  # field manager.
  kubectl get configmap settings -n upgrade -o json | jq '{apiVersion, kind, metadata: (.metadata | {name, namespace, labels, annotations}), data}' |
    kubectl apply --server-side --force-conflicts --field-manager=portcullis -f - >/dev/null || fail "cannot apply as portcullis"
  local only_old
  only_old=$(kubectl get configmap settings -n upgrade -o json --show-managed-fields |
    jq -c '{metadata: {managedFields: [.metadata.managedFields[] | select(.manager == "portcullis")]}}')
  kubectl patch configmap settings -n upgrade --type merge -p "$only_old" >/dev/null || fail "cannot rewrite managedFields"
  [[ $(kubectl get configmap settings -n upgrade -o json --show-managed-fields | jq -r '[.metadata.managedFields[].manager] | join(",")') == portcullis ]] ||
    fail "the old state is not as an older daemon left it: $(kubectl get configmap settings -n upgrade -o json --show-managed-fields | jq -c .metadata.managedFields)"
  kubectl patch configmap portcullis-inventory-upgrade -n portcullis-system --type json \
    -p '[{"op": "remove", "path": "/data/fieldManager"}]' >/dev/null || fail "cannot make the inventory an old one"
  # Git drops a key; the upgraded daemon starts.
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  kept: "1"\n' | put "$CLONE" environments/upgrade/settings.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced
  local live
  live=$(kubectl get configmap settings -n upgrade -o json --show-managed-fields)
  [[ $(jq -c .data <<<"$live") == '{"kept":"1"}' ]] || fail "the dropped key stayed: $(jq -c .data <<<"$live")"
  [[ $(jq -r '[.metadata.managedFields[] | select(.operation == "Apply") | .manager] | join(",")' <<<"$live") == portcullis-upgrade ]] ||
    fail "managers after the upgrade: $(jq -c '[.metadata.managedFields[] | {manager, operation}]' <<<"$live")"
  [[ $(kubectl get configmap portcullis-inventory-upgrade -n portcullis-system -o jsonpath='{.data.fieldManager}') == portcullis-upgrade ]] ||
    fail "the inventory does not record the manager"
}

# A ConfigMap holds 1 MiB: the inventory of 8,000 objects (~140 bytes each) continues in a
# shard ConfigMap, which a restarted daemon reads back to prune by.
test_an_inventory_beyond_one_configmap_spans_shards() {
  setup_target huge
  local f i
  for f in $(seq 1 8); do
    for i in $(seq $(((f - 1) * 1000 + 1)) $((f * 1000))); do configmap "o-$i"; echo '---'; done \
      >"$CLONE/environments/huge/part-$f.yaml"
  done
  configmap extra | put "$CLONE" environments/huge/extra.yaml
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  start_daemon
  wait_synced 300
  [[ $(count_configmaps) -eq 8001 ]] || fail "expected 8001 managed ConfigMaps, found $(count_configmaps)"
  local inv=portcullis-inventory-huge shards generation
  shards=$(kubectl get configmap "$inv" -n portcullis-system -o jsonpath='{.data.shards}')
  generation=$(kubectl get configmap "$inv" -n portcullis-system -o jsonpath='{.data.generation}')
  [[ $shards == 1 && -n $generation ]] || fail "expected the inventory in 1 shard beside $inv, found shards '$shards' generation '$generation'"
  kubectl get configmap "$inv-$generation-1" -n portcullis-system >/dev/null || fail "shard $inv-$generation-1 is missing"
  # Every object is in head or shard: 8002 lines in all (the Namespace too).
  local lines
  lines=$(kubectl get configmaps -n portcullis-system -l "portcullis.io/target=huge" -o json |
    jq -r '.items[].data.objects' | grep -c $'\t')
  ((lines == 8002)) || fail "the inventory holds $lines entries, expected 8002"

  kill -9 "$DAEMON_PID"
  git -C "$CLONE" rm -q environments/huge/extra.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced 300
  kubectl get configmap extra -n huge >/dev/null 2>&1 && fail "the removed object was not pruned after the restart"
  [[ $(count_configmaps) -eq 8000 ]] || fail "expected 8000 managed ConfigMaps, found $(count_configmaps)"
  local now
  now=$(kubectl get configmap "$inv" -n portcullis-system -o jsonpath='{.data.generation}')
  [[ -n $now && $now != "$generation" ]] || fail "the inventory was not stored anew (generation '$now')"
  poll_until 30 bash -c "! kubectl get configmap $inv-$generation-1 -n portcullis-system >/dev/null 2>&1" ||
    fail "the old generation's shard was not deleted"
  [[ $(kubectl get configmaps -n portcullis-system -l "portcullis.io/target=huge,portcullis.io/inventory-shard=true" -o name | wc -l) -eq 1 ]] ||
    fail "expected one shard of the new generation"
}

test_apiserver_restart_during_a_sync() {
  setup_target outage
  start_daemon
  local i
  for i in $(seq 1 300); do configmap "x-$i"; echo '---'; done >"$CLONE/environments/outage/x.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  poll_until 60 bash -c "(( \$(kubectl get configmaps -n outage -o name 2>/dev/null | wc -l) > 20 ))" ||
    fail "the sync never started"
  kube_stop_apiserver "$KDIR"
  poll_until 30 bash -c "curl -fsS $DAEMON_URL/v1/targets | jq -e '.targets[0].state == \"Failed\"' >/dev/null" ||
    echo "    note: the sync finished before the apiserver stopped"
  kube_restart_apiserver "$KDIR" || fail "the apiserver did not come back"
  wait_synced 120
  [[ $(count_configmaps) -eq 300 ]] || fail "expected 300 ConfigMaps, found $(count_configmaps)"
  curl -fsS "$DAEMON_URL/healthz" >/dev/null || fail "the daemon stopped serving"
}

test_an_unreachable_git_server_changes_nothing() {
  start_receiver
  DAEMON_EXTRA="alerts:
  providers:
    - {name: ops, type: webhook, url: \"$RECEIVER_URL/webhook\"}
  sourceUnavailableAfter: 3s" POLL=1s setup_target offline
  configmap a | put "$CLONE" environments/offline/a.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced
  local fetched
  fetched=$(target_field lastFetchTime)
  [[ $fetched == 20* ]] || fail "no lastFetchTime after a fetch: '$fetched'"
  mv "$SERVER" "$SERVER.away"
  # Not known to be in sync: a state of its own, since when, a non-zero status, an alert.
  poll_until 30 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r .targets[0].state) == SourceUnavailable ]]" ||
    fail "the target is not SourceUnavailable: $(curl -fsS "$DAEMON_URL/v1/targets")"
  [[ $(target_field lastError) == "cannot fetch the repository for "*"(last fetched $fetched)"* ]] ||
    fail "the message does not say since when: $(target_field lastError)"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_status 1
  expect_output "offline         SourceUnavailable"
  expect_output "cannot fetch the repository for"
  expect_received /webhook '.kind == "sourceUnavailable" and .status == "firing" and .target == "offline" and
    (.summary | test("cannot be fetched for [0-9]+s \\(last fetched"))' "sourceUnavailable alert"
  received /webhook '.kind == "syncFailed"' && fail "a fetch failure raised syncFailed as well"
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output "portcullis_source_up 0"
  [[ $(count_configmaps) -eq 1 ]] || fail "objects changed while the Git server was unreachable"
  mv "$SERVER.away" "$SERVER"
  poll_until 30 bash -c "curl -fsS $DAEMON_URL/v1/targets | jq -e '.targets[0].lastError == \"\" and .targets[0].state == \"Synced\"' >/dev/null" ||
    fail "the daemon did not recover: $(curl -fsS "$DAEMON_URL/v1/targets")"
  expect_received /webhook '.kind == "sourceUnavailable" and .status == "resolved"' "sourceUnavailable resolution"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_status 0
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output "portcullis_source_up 1"
}

test_bad_notifications_are_refused_and_counted() {
  setup_target events
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  start_daemon
  wait_synced
  local body now
  now=$(date +%s)
  body='{"id":"e2e-event-1","repository":"x","refs":[{"ref":"refs/heads/main","old":"","new":""}],"pusher":null,"breakGlass":false,"reason":"","time":'$now'}'
  post_signed /v1/events "$body"
  [[ $STATUS == 202 ]] || fail "a valid event answered $STATUS"
  post_signed /v1/events "$body"
  [[ $STATUS == 409 ]] || fail "a replayed event answered $STATUS"
  post_signed /v1/events "${body/e2e-event-1/e2e-event-2}" $((now - 600))
  [[ $STATUS == 401 ]] || fail "a stale event answered $STATUS"
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Portcullis-Signature: sha256=$(printf '0%.0s' {1..64})" \
    -H "X-Portcullis-Timestamp: $now" -H "X-Portcullis-Event-Id: e2e-event-1" --data-binary "$body" "$DAEMON_URL/v1/events")
  [[ $STATUS == 401 ]] || fail "a wrong signature answered $STATUS"
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$body" "$DAEMON_URL/v1/events")
  [[ $STATUS == 400 ]] || fail "an unsigned event answered $STATUS"
  post_signed /v1/events '{"id": "e2e-event-3", "refs": [1}'
  [[ $STATUS == 400 ]] || fail "malformed JSON answered $STATUS"
  head -c 2000000 /dev/zero | tr '\0' 'a' >"$SUITE_TMP/$CURRENT_TEST/big"
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$SUITE_TMP/$CURRENT_TEST/big" "$DAEMON_URL/v1/events")
  [[ $STATUS == 413 ]] || fail "an oversized body answered $STATUS"
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output 'portcullis_events_total{result="replay"} 1'
  expect_output 'portcullis_events_total{result="stale"} 1'
  expect_output 'portcullis_events_total{result="bad-signature"} 1'
  curl -fsS "$DAEMON_URL/healthz" >/dev/null || fail "the daemon stopped serving"
}

test_a_daemon_that_is_down_gets_the_event_later() {
  setup_target spool
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "the event is spooled"
  compgen -G "$SERVER/portcullis/spool/*.event" >/dev/null || fail "nothing spooled"
  start_daemon
  run "$PORTCULLIS" notify --flush --config "$SUITE_TMP/$CURRENT_TEST/server.yaml" --repo "$SERVER"
  expect_status 0
  expect_output "delivered 1, still spooled 0"
  wait_synced
}

run_suite "$@"
