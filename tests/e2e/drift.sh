#!/usr/bin/env bash
# End to end: drift detection by watch and self-heal against a real kube-apiserver (and a real
# kube-controller-manager for health): kubectl scale, edit, set image, delete and field
# takeovers are noticed and corrected, or only reported (detectOnly), or ignored by rule;
# unmanaged objects are never touched; a watch survives an apiserver restart and a daemon
# restart without missing a drift.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

kube_start_controller_manager "$KDIR" || { echo "FATAL: kube-controller-manager did not start"; exit 1; }

audit_file() { echo "$SUITE_TMP/$CURRENT_TEST/state/audit.jsonl"; }

# json_field EXPR: a jq expression over our target in /v1/targets.
json_field() { curl -fsS "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r ".targets[0] | $1"; }

# jsonpath_is KIND/NAME PATH VALUE: the live object's field has VALUE.
jsonpath_is() { [[ $(kubectl get "$1" -n "$NS" -o "jsonpath=$2" 2>/dev/null) == "$3" ]]; }

# expect_back KIND/NAME PATH VALUE [TIMEOUT]: the field returns to VALUE (the daemon corrected it).
expect_back() {
  poll_until "${4:-20}" jsonpath_is "$1" "$2" "$3" ||
    fail "$1 $2 is $(kubectl get "$1" -n "$NS" -o "jsonpath=$2" 2>&1), expected $3 back; status: $(curl -fsS "$DAEMON_URL/v1/targets"); log: $(tail -3 "$DAEMON_LOG")"
}

# watching: the daemon's watches have listed our objects (health is known for every object).
watching() { [[ $(json_field .health) != Unknown ]]; }

# start_synced: start the daemon on what was pushed and wait until it is Synced and watching.
start_synced() {
  start_daemon
  wait_synced
  poll_until 20 watching || fail "health never became known: $(curl -fsS "$DAEMON_URL/v1/targets")"
}

# A Deployment with replicas 0: the controller manager rolls it out for real without a kubelet.
idle_deployment() { deployment "$1" "$2" | sed 's/replicas: 2/replicas: 0/'; }

push_app() {
  configmap settings | put "$CLONE" "environments/$TARGET/settings.yaml"
  idle_deployment web nginx:1.25.3 | put "$CLONE" "environments/$TARGET/web.yaml"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_scale_edit_set_image_and_delete_are_corrected() {
  setup_target heal
  push_app
  start_synced
  # Server-added defaults (strategy, terminationMessagePath, ...) are not drift.
  [[ $(json_field .drifted) == 0 && $(json_field .healed) == 0 ]] ||
    fail "drift right after a sync: $(curl -fsS "$DAEMON_URL/v1/targets")"
  kubectl create configmap bystander -n heal --from-literal=k=v >/dev/null
  # The watches select this daemon's targets only, in the target's namespace: the labelled
  # objects the earlier tests' daemons left in the cluster are not listed (nor the inventory
  # ConfigMaps).
  grep -q '"msg":"watch listed","resource":"/api/v1/configmaps","namespace":"heal","objects":"1","undeclared":"0"' "$DAEMON_LOG" ||
    fail "the ConfigMap watch listed more than the target's one: $(grep 'watch listed' "$DAEMON_LOG")"

  kubectl scale deployment web -n heal --replicas=3 >/dev/null
  expect_back deployment/web '{.spec.replicas}' 0
  kubectl patch configmap settings -n heal --type merge -p '{"data":{"key":"edited"}}' >/dev/null
  expect_back configmap/settings '{.data.key}' value
  kubectl set image deployment/web -n heal web=nginx:9.9 >/dev/null
  expect_back deployment/web '{.spec.template.spec.containers[0].image}' nginx:1.25.3
  kubectl label configmap settings -n heal portcullis.io/target- >/dev/null
  expect_back configmap/settings '{.metadata.labels.portcullis\.io/target}' heal
  local uid
  uid=$(kubectl get configmap settings -n heal -o jsonpath='{.metadata.uid}')
  kubectl delete configmap settings -n heal >/dev/null
  expect_back configmap/settings '{.data.key}' value
  [[ $(kubectl get configmap settings -n heal -o jsonpath='{.metadata.uid}') != "$uid" ]] || fail "not recreated"

  # Unmanaged objects are not touched.
  kubectl patch configmap bystander -n heal --type merge -p '{"data":{"k":"changed"}}' >/dev/null
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq .targets[0].drifted) == 0 ]]" || fail "drift left over"
  jsonpath_is configmap/bystander '{.data.k}' changed || fail "an unmanaged object was changed"

  # Audited, counted, shown.
  grep -q '"event":"self-heal".*"apps/v1 Deployment heal/web: /spec/replicas' "$(audit_file)" ||
    fail "no self-heal audit line for the scale: $(grep self-heal "$(audit_file)" | head -3)"
  grep -q '"event":"self-heal".*ConfigMap heal/settings (deleted)' "$(audit_file)" || fail "no audit line for the delete"
  (($(json_field .healed) >= 5)) || fail "healed count $(json_field .healed), expected >= 5"
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output 'portcullis_drift_corrected_total{target="heal"}'
  expect_output 'portcullis_drift_correction_seconds_count{target="heal"}'
  expect_output 'portcullis_drift_detected_total{target="heal"}'

  # The recreated object carries its new UID in the inventory: removing it from Git prunes it.
  git -C "$CLONE" rm -q environments/heal/settings.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  kubectl get configmap settings -n heal >/dev/null 2>&1 && fail "the recreated object was not pruned (stale UID)"
  kubectl get configmap bystander -n heal >/dev/null 2>&1 || fail "the bystander was deleted"
}

# A Deployment that sets every zero value a pod template allows (what rendered Helm charts are
# full of): the apiserver omits or defaults them. Watched for a minute while the controller
# manager rolls it out: no drift, no write, no alert.
zero_values_deployment() {
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: zeros
  namespace: $NS
spec:
  replicas: 0
  minReadySeconds: 0
  paused: false
  revisionHistoryLimit: 0
  selector:
    matchLabels: {app: zeros}
  template:
    metadata:
      labels: {app: zeros}
    spec:
      hostNetwork: false
      hostPID: false
      hostIPC: false
      shareProcessNamespace: false
      automountServiceAccountToken: false
      enableServiceLinks: false
      serviceAccountName: ""
      nodeName: ""
      schedulerName: ""
      dnsPolicy: ""
      restartPolicy: ""
      priorityClassName: ""
      hostname: ""
      subdomain: ""
      terminationGracePeriodSeconds: 0
      securityContext:
        runAsNonRoot: false
        runAsUser: 0
        fsGroup: 0
      initContainers:
        - name: init
          image: busybox:1.36
          command: ["true"]
          workingDir: ""
          stdin: false
          tty: false
      containers:
        - name: app
          image: nginx:1.25.3
          imagePullPolicy: ""
          workingDir: ""
          stdin: false
          stdinOnce: false
          tty: false
          terminationMessagePath: ""
          terminationMessagePolicy: ""
          args: [""]
          env:
            - name: EMPTY
              value: ""
            - name: ZERO
              value: "0"
          ports:
            - containerPort: 80
              hostPort: 0
              hostIP: ""
              protocol: TCP
          resources: {}
          volumeMounts:
            - name: scratch
              mountPath: /scratch
              readOnly: false
              subPath: ""
          securityContext:
            privileged: false
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: false
            runAsUser: 0
      volumes:
        - name: scratch
          emptyDir:
            medium: ""
      tolerations: []
YAML
}

# drift_or_write: the target shows drift, or something was applied again since the sync.
drift_or_write() {
  [[ $(json_field .drifted) != 0 || $(json_field .healed) != 0 ]] && return 0
  grep -q '"event":"self-heal"' "$(audit_file)" 2>/dev/null
}

test_zero_values_are_not_drift() {
  start_receiver
  DAEMON_EXTRA="alerts:
  providers:
    - {name: ops, type: webhook, url: \"$RECEIVER_URL/webhook\"}
  outOfSyncAfter: 5s" setup_target zeros
  zero_values_deployment | put "$CLONE" environments/zeros/zeros.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  start_synced
  local ours
  ours() { kubectl get deployment zeros -n zeros -o json --show-managed-fields | jq -c '.metadata.managedFields[] | select(.manager == "portcullis-zeros")'; }
  local applied
  applied=$(ours)
  [[ -n $applied ]] || fail "the Deployment has no apply entry of portcullis-zeros"
  # The controller manager writes the Deployment (revision annotation, status, ReplicaSet).
  poll_until 20 bash -c "[[ -n \$(kubectl get deployment zeros -n zeros -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}') ]]" ||
    fail "the controller manager did not roll the Deployment out"
  # A minute of watching: neither drift nor a correction, at any moment.
  poll_until 60 drift_or_write && fail "zero values read as drift: $(curl -fsS "$DAEMON_URL/v1/targets"); audit: $(grep self-heal "$(audit_file)" | head -2)"
  [[ $(ours) == "$applied" ]] || fail "the Deployment was applied again: $(ours)"
  [[ $(json_field .state) == Synced ]] || fail "state $(json_field .state)"
  [[ ! -s $RECEIVED ]] || fail "alerts were sent: $(jq -c .body "$RECEIVED" | head -3)"
  # Still watched: a real change to one of those fields is drift, corrected.
  kubectl patch deployment zeros -n zeros --type json -p '[{"op":"add","path":"/spec/template/spec/containers/0/tty","value":true}]' >/dev/null
  expect_back deployment/zeros '{.spec.template.spec.containers[0].tty}' ""
  grep -q '"event":"self-heal".*Deployment zeros/zeros: /spec/template/spec/containers/0/tty' "$(audit_file)" ||
    fail "the change of tty was not corrected as drift: $(grep self-heal "$(audit_file)" | head -2)"
}

test_a_field_taken_over_by_another_manager_is_taken_back() {
  setup_target takeover
  push_app
  start_synced
  # Another manager's server-side apply, forced: it owns data.key now, with its value.
  configmap settings takeover | sed 's/key: value/key: intruded/' |
    kubectl apply --server-side --force-conflicts --field-manager=intruder -f - >/dev/null
  expect_back configmap/settings '{.data.key}' value
  poll_until 20 bash -c "kubectl get configmap settings -n takeover -o json --show-managed-fields | jq -e '.metadata.managedFields[] | select(.manager==\"portcullis-takeover\") | .fieldsV1.\"f:data\".\"f:key\"' >/dev/null" ||
    fail "portcullis-takeover did not take data.key back: $(kubectl get configmap settings -n takeover -o json --show-managed-fields | jq -c .metadata.managedFields)"
  grep -q '"event":"self-heal".*ConfigMap takeover/settings: /data/key by intruder' "$(audit_file)" ||
    fail "the takeover was not reported as drift of /data/key: $(grep self-heal "$(audit_file)")"
}

test_detect_only_reports_without_touching() {
  TARGET_EXTRA="detectOnly: true" setup_target watchonly
  push_app
  start_synced
  kubectl scale deployment web -n watchonly --replicas=4 >/dev/null
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r .targets[0].state) == OutOfSync ]]" ||
    fail "drift not reported: $(curl -fsS "$DAEMON_URL/v1/targets")"
  [[ $(json_field '.drift[0]') == "apps/v1 Deployment watchonly/web: /spec/replicas" ]] || fail "drift detail: $(json_field .drift)"
  [[ $(json_field .driftMode) == detectOnly ]] || fail "driftMode $(json_field .driftMode)"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_status 1
  expect_output "drift: apps/v1 Deployment watchonly/web: /spec/replicas"
  # A later sync (Git unchanged for the Deployment) does not revert it either.
  configmap other | put "$CLONE" environments/watchonly/other.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  poll_until 30 bash -c "kubectl get configmap other -n watchonly >/dev/null 2>&1" || fail "the push was not applied"
  jsonpath_is deployment/web '{.spec.replicas}' 4 || fail "detectOnly reverted the scale"
  [[ $(json_field .healed) == 0 ]] || fail "detectOnly healed"
  ! grep -q '"event":"self-heal"' "$(audit_file)" || fail "detectOnly wrote a self-heal"
}

test_ignored_fields_are_neither_compared_nor_applied() {
  TARGET_EXTRA=$'ignore:\n  - {group: apps, kind: Deployment, name: "w*", jsonPointers: [/spec/replicas]}' setup_target hpa
  push_app
  start_synced
  kubectl scale deployment web -n hpa --replicas=2 >/dev/null
  # Still corrected: the image. Not corrected: the replicas an autoscaler would set.
  kubectl set image deployment/web -n hpa web=nginx:9.9 >/dev/null
  expect_back deployment/web '{.spec.template.spec.containers[0].image}' nginx:1.25.3
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "an ignored field was reverted"
  # A change in Git to the Deployment does not apply the ignored field either.
  idle_deployment web nginx:1.25.4 | put "$CLONE" environments/hpa/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  jsonpath_is deployment/web '{.spec.template.spec.containers[0].image}' nginx:1.25.4 || fail "the push was not applied"
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "the ignored field was applied"
  [[ $(json_field .drifted) == 0 ]] || fail "an ignored field counted as drift: $(json_field .drift)"
}

test_a_fight_is_damped_and_reported() {
  start_receiver
  # Three alerts a minute: the fight's corrections fill the minute, yet the loop is sent.
  DAEMON_EXTRA="alerts:
  providers:
    - {name: ops, type: webhook, url: \"$RECEIVER_URL/webhook\"}
  maxPerMinute: 3" setup_target fight
  push_app
  start_synced
  # Something keeps scaling web back to 3 (an HPA Portcullis was not told about).
  local i
  for i in $(seq 1 60); do
    kubectl scale deployment web -n fight --replicas=3 >/dev/null 2>&1
    [[ -n $(json_field .selfHealLoop) ]] && break
  done
  [[ $(json_field .selfHealLoop) == *"apps/v1 Deployment fight/web was corrected"* ]] ||
    fail "no self-heal loop reported: $(curl -fsS "$DAEMON_URL/v1/targets")"
  # Damped: the next change stays until the backoff ends.
  kubectl scale deployment web -n fight --replicas=3 >/dev/null
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r .targets[0].state) == OutOfSync ]]" ||
    fail "a damped drift is not shown"
  grep -q 'portcullis_self_heal_loops_total{target="fight"}' <(curl -fsS "$DAEMON_URL/metrics") || fail "no loop metric"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  expect_output "was corrected"
  expect_received /webhook '.kind == "selfHealLoop" and .status == "firing"' "selfHealLoop alert"
  (($(jq -c 'select(.path == "/webhook") | .body | fromjson | select(.kind == "driftCorrected")' "$RECEIVED" | wc -l) == 3)) ||
    fail "expected 3 driftCorrected alerts (the rate), got: $(jq -c '.body | fromjson | .kind' "$RECEIVED" | tr '\n' ' ')"
  grep -q 'portcullis_alerts_dropped_total{provider="ops",reason="rate"}' <(curl -fsS "$DAEMON_URL/metrics") ||
    fail "no driftCorrected was dropped for the rate"
}

test_watches_survive_an_apiserver_restart() {
  setup_target outlast
  push_app
  start_synced
  kube_stop_apiserver "$KDIR"
  kube_restart_apiserver "$KDIR" || fail "the apiserver did not come back"
  # Changed at once, before the watches are back: seen when they resume.
  kubectl delete configmap settings -n outlast >/dev/null
  kubectl scale deployment web -n outlast --replicas=5 >/dev/null
  expect_back configmap/settings '{.data.key}' value 60
  expect_back deployment/web '{.spec.replicas}' 0 60
  curl -fsS "$DAEMON_URL/healthz" >/dev/null || fail "the daemon stopped serving"
}

test_drift_while_the_daemon_is_down_is_corrected_at_start() {
  setup_target restart
  push_app
  start_synced
  kill -9 "$DAEMON_PID"
  kubectl delete configmap settings -n restart >/dev/null
  kubectl scale deployment web -n restart --replicas=2 >/dev/null
  start_daemon
  expect_back configmap/settings '{.data.key}' value
  expect_back deployment/web '{.spec.replicas}' 0
}

# health_of NAME: the health of target NAME in /v1/targets, with its reason.
health_of() { curl -fsS "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r --arg n "$1" '.targets[] | select(.name == $n) | "\(.health) \(.healthReason)"'; }
healthy() { [[ $(health_of "$1") == "Healthy "* ]]; }

test_objects_added_later_and_a_shared_namespace_are_watched() {
  setup_target shared
  # A second target writes into the same namespace. The Namespace is the first target's (the
  # second may not take it over: tests/e2e/attacks-daemon.sh); both targets' objects are
  # watched by the watches they share.
  sed -i "/^targets:/a\\  - {name: shared-b, path: environments/shared-b, kubeconfig: $KDIR/kubeconfig-portcullisd, namespace: shared}" "$DAEMON_CONFIG"
  configmap b-settings | put "$CLONE" environments/shared-b/settings.yaml
  push_app
  start_synced
  poll_until 30 healthy shared || fail "target shared: $(health_of shared)"
  poll_until 30 healthy shared-b || fail "target shared-b: $(health_of shared-b)"
  # Objects a later sync creates are reported by the watch before the sync declares them.
  configmap later | put "$CLONE" environments/shared/later.yaml
  configmap b-later | put "$CLONE" environments/shared-b/later.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  poll_until 30 healthy shared || fail "after a push adding an object, target shared: $(health_of shared)"
  poll_until 30 healthy shared-b || fail "after a push adding an object, target shared-b: $(health_of shared-b)"
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq '[.targets[].drifted] | add') == 0 ]]" ||
    fail "drift on a shared object: $(curl -fsS "$DAEMON_URL/v1/targets")"
  # Still watched: the new object's drift is corrected.
  kubectl patch configmap later -n shared --type merge -p '{"data":{"key":"edited"}}' >/dev/null
  expect_back configmap/later '{.data.key}' value
}

test_watch_false_neither_watches_nor_heals() {
  TARGET_EXTRA="watch: false" setup_target unwatched
  push_app
  start_daemon
  wait_synced
  [[ $(json_field .driftMode) == off ]] || fail "driftMode $(json_field .driftMode)"
  [[ $(json_field .healthReason) == "not watched (watch: false)" ]] || fail "health: $(json_field .health) $(json_field .healthReason)"
  # No watch runs (so no drift is noticed between syncs)...
  [[ $(curl -fsS "$DAEMON_URL/metrics" | awk '$1 == "portcullis_watches" {print $2}') == 0 ]] ||
    fail "watches: $(curl -fsS "$DAEMON_URL/metrics" | grep portcullis_watches)"
  [[ $(json_field .drifted) == 0 ]] || fail "drift reported without a watch"
  # ... and a sync that changes the object applies every field it manages.
  kubectl scale deployment web -n unwatched --replicas=3 >/dev/null
  idle_deployment web nginx:1.25.4 | put "$CLONE" environments/unwatched/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  jsonpath_is deployment/web '{.spec.replicas}' 0 || fail "the sync did not apply the replicas"
}

test_health_from_real_controllers_and_written_status() {
  setup_target health
  # A Deployment that can never become available (no kubelet): Progressing, then Degraded at its
  # progress deadline; an idle one the controller rolls out: Healthy.
  deployment stuck nginx:1.25.3 | sed 's/^spec:/spec:\n  progressDeadlineSeconds: 5/' | put "$CLONE" environments/health/stuck.yaml
  idle_deployment idle nginx:1.25.3 | put "$CLONE" environments/health/idle.yaml
  cat <<'YAML' | put "$CLONE" environments/health/job.yaml
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: once, image: busybox:1.36}
YAML
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "portcullis:reconciler:jobs"}
rules: [{apiGroups: [batch], resources: [jobs], verbs: [get, list, watch, create, patch, delete]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "portcullis:reconciler:jobs"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "portcullis:reconciler:jobs"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: portcullisd}]
YAML
  start_synced
  poll_until 30 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r .targets[0].health) == Degraded ]]" ||
    fail "the stuck Deployment never made the target Degraded: $(curl -fsS "$DAEMON_URL/v1/targets")"
  [[ $(json_field .healthReason) == *"Deployment health/stuck"*"ProgressDeadlineExceeded"* ]] ||
    fail "health reason: $(json_field .healthReason)"
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output 'portcullis_objects_by_health{target="health",health="Degraded"} 1'
  expect_output 'portcullis_objects_by_health{target="health",health="Healthy"}'
  # The Job runs nowhere; its status is written as a kubelet and the job controller would.
  git -C "$CLONE" rm -q environments/health/stuck.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r .targets[0].health) == Progressing ]]" ||
    fail "a running Job is not Progressing: $(curl -fsS "$DAEMON_URL/v1/targets")"
  kubectl patch job once -n health --subresource=status --type merge -p \
    '{"status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}' >/dev/null ||
    fail "cannot write the Job's status"
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r .targets[0].health) == Degraded ]]" ||
    fail "a failed Job is not Degraded: $(curl -fsS "$DAEMON_URL/v1/targets")"
  [[ $(json_field .healthReason) == *"Job health/once"*"BackoffLimitExceeded"* ]] || fail "reason: $(json_field .healthReason)"
}

test_alerts_reach_webhook_slack_and_pagerduty() {
  start_receiver
  local dir=$SUITE_TMP/$CURRENT_TEST
  printf 'alert-secret-%s' "$RANDOM" >"$dir/alert.secret"
  printf 'R0UTINGKEY%s' "$RANDOM" >"$dir/pd.key"
  DAEMON_EXTRA="alerts:
  providers:
    - {name: ops, type: webhook, url: \"$RECEIVER_URL/webhook\", secretFile: $dir/alert.secret}
    - {name: chat, type: slack, url: \"$RECEIVER_URL/slack\"}
    - {name: pager, type: pagerduty, url: \"$RECEIVER_URL/pd\", routingKeyFile: $dir/pd.key}" setup_target alerts
  push_app
  start_synced
  # Drift corrected: one-off events to all three.
  kubectl scale deployment web -n alerts --replicas=3 >/dev/null
  expect_back deployment/web '{.spec.replicas}' 0
  expect_received /webhook '.kind == "driftCorrected" and .status == "event" and .target == "alerts" and
    (.objects[0] | startswith("apps/v1 Deployment alerts/web: /spec/replicas"))' "driftCorrected webhook"
  expect_received /slack '.text | test("alerts.*drift corrected")' "driftCorrected Slack message"
  expect_received /pd '.event_action == "trigger" and .payload.severity == "info" and .payload.source == "portcullisd"' \
    "driftCorrected PagerDuty event"
  received /pd ".routing_key == \"$(cat "$dir/pd.key")\"" || fail "the routing key is not in the PagerDuty event"
  # The webhook's signature verifies with the shared secret: HMAC-SHA256 over
  # "<timestamp>\nPOST\n<path>\n<id>\n<body>" (shared/notify/event.hpp).
  local line ts id sig want
  line=$(jq -c 'select(.path == "/webhook")' "$RECEIVED" | head -1)
  ts=$(jq -r '.headers["X-Portcullis-Timestamp"]' <<<"$line")
  id=$(jq -r '.headers["X-Portcullis-Event-Id"]' <<<"$line")
  sig=$(jq -r '.headers["X-Portcullis-Signature"]' <<<"$line")
  want=sha256=$({ printf '%s\nPOST\n/webhook\n%s\n' "$ts" "$id"; jq -j '.body' <<<"$line"; } |
    openssl dgst -sha256 -hmac "$(cat "$dir/alert.secret")" -r | cut -d' ' -f1)
  [[ $sig == "$want" ]] || fail "webhook signature $sig, expected $want"
  # A sync that fails opens an alert; fixing it resolves it, once.
  # (A Role: valid for the gate, forbidden to the reconciler's RBAC.)
  printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: forbidden\nrules: []\n' |
    put "$CLONE" environments/alerts/role.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_received /webhook '.kind == "syncFailed" and .status == "firing"' "syncFailed firing"
  expect_received /pd '.event_action == "trigger" and .dedup_key == "portcullis/alerts/syncFailed" and .payload.severity == "critical"' \
    "syncFailed PagerDuty trigger"
  git -C "$CLONE" rm -q environments/alerts/role.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  wait_synced
  expect_received /webhook '.kind == "syncFailed" and .status == "resolved"' "syncFailed resolution"
  expect_received /pd '.event_action == "resolve" and .dedup_key == "portcullis/alerts/syncFailed"' "PagerDuty resolve"
  expect_received /slack '.text | test("recovered")' "Slack recovery"
  (($(jq -c 'select(.path == "/webhook") | .body | fromjson | select(.kind == "syncFailed" and .status == "firing")' "$RECEIVED" | wc -l) == 1)) ||
    fail "the open syncFailed alert was sent more than once"
  # A break-glass push, from the gate's notification.
  local now event
  now=$(date +%s)
  event='{"id":"bg-1","repository":"config","refs":[{"ref":"refs/heads/main","old":"","new":""}],"pusher":"alice","breakGlass":true,"reason":"INC-1234: outage","time":'$now'}'
  post_signed /v1/events "$event"
  [[ $STATUS == 202 ]] || fail "the break-glass event answered $STATUS"
  expect_received /webhook '.kind == "breakGlass" and .actor == "alice" and (.reason | contains("INC-1234"))' "breakGlass webhook"
  grep -q '"event":"break-glass","actor":"alice","reason":"INC-1234: outage"' "$(audit_file)" || fail "break-glass not audited"
  run curl -fsS "$DAEMON_URL/metrics"
  expect_output 'portcullis_alerts_sent_total{provider="ops",kind="driftCorrected",result="ok"}'
}

run_suite "$@"
