#!/usr/bin/env bash
# End to end: break-glass in the cluster against a real kube-apiserver and
# kube-controller-manager (ServiceAccounts, TokenRequest). `portcullis break-glass open` signs
# with a real SSH key; the kubeconfig it prints works for the allowed verbs and namespaces and
# nothing else; scale and set image with it are recorded, not reverted; close revokes it and
# the target stays held until Git matches the live objects (then Synced, no drift), or
# `close --revert` lets self-heal revert; an expired window reverts or holds as configured;
# forged, replayed, stale and misdirected requests are refused; a daemon restart keeps the
# window and its record.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

kube_start_controller_manager "$KDIR" || { echo "FATAL: kube-controller-manager did not start"; exit 1; }

KEYS=$SUITE_TMP/keys
mkdir -p "$KEYS"
for who in alice bob mallory; do
  ssh-keygen -q -N '' -t ed25519 -C "$who" -f "$KEYS/$who" || { echo "FATAL: ssh-keygen"; exit 1; }
done
SIGNERS=$KEYS/allowed_signers
printf 'alice %s\nbob %s\n' "$(cut -d' ' -f1,2 "$KEYS/alice.pub")" "$(cut -d' ' -f1,2 "$KEYS/bob.pub")" >"$SIGNERS"

audit_file() { echo "$SUITE_TMP/$CURRENT_TEST/state/audit.jsonl"; }
json_field() { curl -fsS "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r ".targets[0] | $1"; }
jsonpath_is() { [[ $(kubectl get "$1" -n "$NS" -o "jsonpath=$2" 2>/dev/null) == "$3" ]]; }
expect_back() {
  poll_until "${4:-20}" jsonpath_is "$1" "$2" "$3" ||
    fail "$1 $2 is $(kubectl get "$1" -n "$NS" -o "jsonpath=$2" 2>&1), expected $3 back; status: $(curl -fsS "$DAEMON_URL/v1/targets")"
}
watching() { [[ $(json_field .health) != Unknown ]]; }
start_synced() {
  start_daemon
  wait_synced
  poll_until 20 watching || fail "health never became known: $(curl -fsS "$DAEMON_URL/v1/targets")"
}

# setup_bg NAME [ON_EXPIRY]: a target NAME (namespace NAME) whose break-glass alice may open,
# with access (edit in its namespace) and alerts to a real receiver; the app pushed.
setup_bg() {
  start_receiver
  TARGET_EXTRA="breakGlass:
  allowed: [alice]
  maxDuration: 1h
  onExpiry: ${2:-hold}
  syncs: ${SYNCS:-apply}
  access:
    kubeconfig: $KDIR/kubeconfig
    clusterRole: edit"
  DAEMON_EXTRA="breakGlass:
  allowedSignersFile: $SIGNERS
  daemonId: e2e-daemon
alerts:
  providers:
    - name: ops
      type: webhook
      url: $RECEIVER_URL/webhook"
  setup_target "$1"
  kubectl create namespace "$1-other" >/dev/null 2>&1
  # The gate's own break-glass (the push option), for the listing of both kinds.
  printf 'identity:\n  breakGlass: [tester]\n' >>"$SUITE_TMP/$CURRENT_TEST/server.yaml"
  git -C "$SERVER" config receive.advertisePushOptions true
  [[ ${KUSTOMIZED:-} ]] && return
  configmap settings | put "$CLONE" "environments/$TARGET/settings.yaml"
  { echo "# The web tier (this comment and the layout stay through the follow-up)"; deployment web nginx:1.25.3 | sed 's/replicas: 2/replicas: 0  # scaled by HPA later/'; } |
    put "$CLONE" "environments/$TARGET/web.yaml"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# bg ACTION ARGS...: portcullis break-glass as alice against our daemon (OUT, STATUS).
bg() {
  local action=$1
  shift
  run "$PORTCULLIS" break-glass "$action" --daemon "$DAEMON_URL" --daemon-id e2e-daemon --key "$KEYS/${KEY:-alice}" "$@"
}

# open_window [FOR]: opens a window on our target; KC is its kubeconfig.
open_window() {
  KC=$SUITE_TMP/$CURRENT_TEST/break-glass.kubeconfig
  local t0=$EPOCHREALTIME
  bg open --target "$TARGET" --reason "INC-1234: checkout down" --for "${1:-30m}" --kubeconfig-out "$KC"
  [[ $STATUS == 0 ]] || fail "open failed ($STATUS): $OUT"
  echo "    figure: open (sign, verify, ServiceAccount, RoleBinding, TokenRequest) $(((${EPOCHREALTIME/./} - ${t0/./}) / 1000)) ms"
}

# recorded OBJECT FIELDS: the audit log holds a break-glass-change line for it.
recorded() { grep -q "\"event\":\"break-glass-change\".*\"object\":\"$1\",\"fields\":\"$2\"" "$(audit_file)" 2>/dev/null; }
expect_recorded() {
  poll_until 20 recorded "$1" "$2" || fail "no break-glass-change for $1 $2: $(grep break-glass "$(audit_file)" | tail -3)"
}

# can KUBECTL-AUTH-ARGS: `kubectl auth can-i` with the break-glass kubeconfig says yes.
can() { [[ $(KUBECONFIG=$KC kubectl auth can-i "$@" 2>/dev/null) == yes ]]; }
kc_works() { KUBECONFIG=$KC kubectl get deployment web -n "$NS" -o name >/dev/null 2>&1; }
kc_refused() { ! kc_works; }

# rendered_matches_live REV: every object the render of our environment at REV declares is, field
# by field, in the live object (what the drift monitor compares). OUT: the fields that differ.
rendered_matches_live() {
  local file=$SUITE_TMP/$CURRENT_TEST/rendered.json
  "$PORTCULLIS" render --repo "$SERVER" --rev "$1" --env "environments/$TARGET" --format json >"$file" || return 1
  OUT=$(python3 - "$file" "$NS" <<'PY'
import json, subprocess, sys
def subset(d, l, path):
    if isinstance(d, dict):
        if not isinstance(l, dict): return [path]
        return [p for k, v in d.items() for p in (subset(v, l[k], path + "/" + k) if k in l else [path + "/" + k])]
    if isinstance(d, list):
        if not isinstance(l, list) or len(l) < len(d): return [path]
        return [p for i, v in enumerate(d) for p in subset(v, l[i], "%s/%d" % (path, i))]
    return [] if d == l else [path]
bad = []
for o in json.load(open(sys.argv[1])):
    kind, name = o["kind"], o["metadata"]["name"]
    args = ["kubectl", "get", kind + "/" + name, "-o", "json"]
    if kind != "Namespace": args += ["-n", o["metadata"].get("namespace", sys.argv[2])]
    live = json.loads(subprocess.check_output(args))
    bad += [kind + "/" + name + p for p in subset(o, live, "")]
print(" ".join(bad))
sys.exit(1 if bad else 0)
PY
)
}

test_open_access_scale_close_follow_up_merge() {
  setup_bg bgflow
  start_synced
  open_window 30m
  # The window holds the target; status and the API say so.
  [[ $(json_field .breakGlass) == *"open by alice"*"INC-1234"* ]] || fail "status: $(json_field .breakGlass)"
  [[ $(json_field .driftMode) == detectOnly ]] || fail "driftMode $(json_field .driftMode) while held"
  expect_received /webhook '.kind == "breakGlass" and .actor == "alice" and (.summary | contains("opened"))' "open alert"
  grep -q '"event":"break-glass-open".*"actor":"alice","reason":"INC-1234: checkout down"' "$(audit_file)" ||
    fail "open not audited: $(cat "$(audit_file)")"

  # The kubeconfig: the allowed verbs in the target's namespace, nothing else.
  [[ -s $KC && $(stat -c %a "$KC") == 600 ]] || fail "kubeconfig missing or not 0600"
  can patch deployments -n "$NS" || fail "cannot patch deployments in $NS"
  can update deployments --subresource=scale -n "$NS" || fail "cannot scale in $NS"
  can patch deployments -n "$NS-other" && fail "may patch deployments in another namespace"
  can get secrets -n kube-system && fail "may read kube-system secrets"
  can create clusterroles && fail "may create ClusterRoles"
  can create rolebindings -n "$NS" && fail "may create RoleBindings (escalation)"
  can delete namespaces && fail "may delete namespaces"
  KUBECONFIG=$KC kubectl get configmaps -n "$NS-other" >/dev/null 2>&1 && fail "listed ConfigMaps of another namespace"
  KUBECONFIG=$KC kubectl get nodes >/dev/null 2>&1 && fail "listed nodes"

  # Scale and set image with it: recorded with manager and fields, not reverted.
  KUBECONFIG=$KC kubectl scale deployment web -n "$NS" --replicas=2 >/dev/null || fail "scale with the break-glass kubeconfig failed"
  KUBECONFIG=$KC kubectl set image deployment/web -n "$NS" web=nginx:1.25.4 >/dev/null || fail "set image failed"
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas,/spec/template/spec/containers/0/image"
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "the scale was reverted during the window"
  jsonpath_is deployment/web '{.spec.template.spec.containers[0].image}' nginx:1.25.4 || fail "set image reverted"
  expect_received /webhook '.kind == "breakGlass" and (.summary | contains("changed during break-glass"))' "change alert"
  [[ $(json_field .healed) == 0 ]] || fail "self-heal ran during the window"
  bg list --target "$TARGET"
  [[ $STATUS == 0 && $OUT == *"open"*"by alice"* ]] || fail "list: $OUT"

  # New commits still sync during the window (syncs: apply); the held drift stays.
  configmap settings | sed 's/value/during-the-incident/' | put "$CLONE" "environments/$TARGET/settings.yaml"
  commit "$CLONE" "INC-1234: a push-option break-glass during the window"
  push "$CLONE" -o "break-glass=INC-1234: config hotfix" origin HEAD:main
  expect_accepted
  poll_until 20 jsonpath_is configmap/settings '{.data.key}' during-the-incident || fail "a commit did not sync during the window"
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "the sync during the window reverted the scale"

  # Close: access revoked, drift kept, follow-up pending (alert, status, audit).
  local t0=$EPOCHREALTIME
  bg close --target "$TARGET"
  [[ $STATUS == 0 ]] || fail "close failed: $OUT"
  poll_until 20 kc_refused || fail "the kubeconfig still works after close"
  kubectl get serviceaccounts,rolebindings -n "$NS" -l portcullis.io/break-glass -o name | grep -q . &&
    fail "break-glass ServiceAccount or RoleBinding left after close"
  [[ $(json_field .breakGlass) == *"follow-up pending"* ]] || fail "status after close: $(json_field .breakGlass)"
  expect_received /webhook '.kind == "breakGlassFollowUp" and .status == "firing"' "follow-up alert"
  run "$PORTCULLIS" status --daemon "$DAEMON_URL"
  [[ $OUT == *"follow-up pending"* ]] || fail "portcullis status does not show the follow-up: $OUT"
  run "$PORTCULLIS" audit --open-break-glass --repo "$SERVER" --daemon-log "$(audit_file)"
  [[ $STATUS == 1 && $OUT == *"BREAK-GLASS: INC-1234: config hotfix"* && $OUT == *"FOLLOW-UP PENDING"*"INC-1234: checkout down"* ]] ||
    fail "audit --open-break-glass does not show both kinds ($STATUS): $OUT"
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "reverted at close"

  # The follow-up commit: on break-glass/<id>, through the gate, only the changed fields, and its
  # render is what runs live.
  local id branch
  id=$(jq -r 'select(.event == "break-glass-open") | .window' "$(audit_file)")
  branch=break-glass/$id
  poll_until 30 git -C "$SERVER" rev-parse -q --verify "refs/heads/$branch" >/dev/null ||
    fail "no follow-up branch $branch: $(grep follow-up "$DAEMON_LOG" | tail -2)"
  echo "    figure: close to follow-up branch pushed through the gate $(((${EPOCHREALTIME/./} - ${t0/./}) / 1000)) ms"
  poll_until 10 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[0].breakGlass') == *'merge branch $branch'* ]]" ||
    fail "status does not name the branch: $(json_field .breakGlass)"
  git -C "$SERVER" log -1 --format=%B "$branch" | grep -q "INC-1234: checkout down" || fail "the commit message lacks the reason"
  jq -e --arg r "refs/heads/$branch" 'select(.event == "push" and .decision == "accepted" and any(.refs[]; .ref == $r))' \
    "$SERVER/portcullis/audit.jsonl" >/dev/null || fail "the follow-up was not pushed through the gate"
  run git -C "$SERVER" diff main "$branch"
  [[ $(grep -c '^[-+][^-+]' <<<"$OUT") == 4 ]] || fail "the follow-up changes more than replicas and image: $OUT"
  [[ $OUT == *"+  replicas: 2  # scaled by HPA later"* && $OUT == *"+        image: nginx:1.25.4"* ]] ||
    fail "not edited in place: $OUT"
  git -C "$SERVER" show "$branch:environments/$TARGET/web.yaml" | head -1 | grep -q '^# The web tier' || fail "comment lost"
  rendered_matches_live "$branch" || fail "the branch's render differs from the live objects: $OUT"
  rendered_matches_live main && fail "main's render already matched the live objects (the comparison proves nothing)"

  # Merged: Git matches the live objects; the target is Synced with no drift, the follow-up done.
  git -C "$CLONE" pull -q --no-rebase origin "$branch" || fail "cannot merge $branch"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[0].breakGlass') == '' ]]" ||
    fail "follow-up not done after the merge: $(curl -fsS "$DAEMON_URL/v1/targets")"
  [[ $(json_field .drifted) == 0 && $(json_field .state) == Synced ]] || fail "not Synced without drift: $(curl -fsS "$DAEMON_URL/v1/targets")"
  expect_received /webhook '.kind == "breakGlassFollowUp" and .status == "resolved"' "follow-up resolution"
  run "$PORTCULLIS" audit --open-break-glass --repo "$SERVER" --daemon-log "$(audit_file)"
  [[ $STATUS == 0 ]] || fail "audit still shows an open break-glass: $OUT"
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "the merge changed the live object"
}

# A kustomize environment: the replicas come from a patch. The follow-up edits the patch for
# them and the resource for the image, each checked by building the environment again.
test_kustomize_follow_up_edits_where_the_field_comes_from() {
  KUSTOMIZED=1 setup_bg bgkust
  put "$CLONE" "environments/$TARGET/kustomization.yaml" "$(printf 'resources:\n- namespace.yaml\n- web.yaml\npatches:\n- path: replicas.yaml\n')"
  deployment web nginx:1.25.3 | sed 's/replicas: 2/replicas: 1/' | put "$CLONE" "environments/$TARGET/web.yaml"
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 0  # incidents scale here\n' |
    put "$CLONE" "environments/$TARGET/replicas.yaml"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  start_synced
  jsonpath_is deployment/web '{.spec.replicas}' 0 || fail "the patch was not applied"
  open_window 30m
  KUBECONFIG=$KC kubectl scale deployment web -n "$NS" --replicas=2 >/dev/null || fail "scale failed"
  KUBECONFIG=$KC kubectl set image deployment/web -n "$NS" web=nginx:1.25.4 >/dev/null || fail "set image failed"
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas,/spec/template/spec/containers/0/image"
  bg close --target "$TARGET"
  [[ $STATUS == 0 ]] || fail "close failed: $OUT"
  local branch
  branch=break-glass/$(jq -r 'select(.event == "break-glass-open") | .window' "$(audit_file)")
  poll_until 30 git -C "$SERVER" rev-parse -q --verify "refs/heads/$branch" >/dev/null ||
    fail "no follow-up branch: $(grep -i follow-up "$DAEMON_LOG" | tail -2)"
  run git -C "$SERVER" diff main "$branch"
  [[ $OUT == *"+  replicas: 2  # incidents scale here"* && $OUT == *"+        image: nginx:1.25.4"* ]] || fail "diff: $OUT"
  [[ $(grep -c '^[-+][^-+]' <<<"$OUT") == 4 ]] || fail "more than the two fields changed: $OUT"
  rendered_matches_live "$branch" || fail "the branch's build differs from the live objects: $OUT"
  git -C "$CLONE" pull -q --no-rebase origin "$branch" || fail "cannot merge $branch"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  poll_until 20 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[0].breakGlass') == '' ]]" ||
    fail "follow-up not done after the merge: $(curl -fsS "$DAEMON_URL/v1/targets")"
}

test_syncs_hold_keeps_new_commits_until_the_window_closes() {
  SYNCS=hold setup_bg bgsyncs
  start_synced
  open_window 30m
  configmap settings | sed 's/value/held-commit/' | put "$CLONE" "environments/$TARGET/settings.yaml"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  poll_until 20 grep -q '"msg":"sync held: a break-glass window is open' "$DAEMON_LOG" || fail "the sync was not held"
  jsonpath_is configmap/settings '{.data.key}' value || fail "a commit synced although syncs: hold"
  bg close --target "$TARGET" --revert
  [[ $STATUS == 0 ]] || fail "close: $OUT"
  poll_until 20 jsonpath_is configmap/settings '{.data.key}' held-commit || fail "the held commit did not sync at close"
}

test_close_revert_resumes_self_heal() {
  setup_bg bgrevert
  start_synced
  open_window 30m
  kubectl scale deployment web -n "$NS" --replicas=3 >/dev/null
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas"
  jsonpath_is deployment/web '{.spec.replicas}' 3 || fail "reverted during the window"
  bg close --target "$TARGET" --revert
  [[ $STATUS == 0 && $OUT == *"reverted"* ]] || fail "close --revert: $OUT"
  expect_back deployment/web '{.spec.replicas}' 0
  [[ $(json_field .breakGlass) == "" ]] || fail "still held after --revert"
}

test_expired_window_reverts_when_configured() {
  setup_bg bgexprev revert
  start_synced
  open_window 4s
  kubectl scale deployment web -n "$NS" --replicas=3 >/dev/null
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas"
  expect_back deployment/web '{.spec.replicas}' 0 30
  poll_until 10 kc_refused || fail "the kubeconfig works after expiry"
  grep -q '"event":"break-glass-close".*"outcome":"expired","then":"revert"' "$(audit_file)" || fail "expiry not audited"
}

test_expired_window_holds_by_default() {
  setup_bg bgexphold
  start_synced
  open_window 4s
  kubectl scale deployment web -n "$NS" --replicas=3 >/dev/null
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas"
  poll_until 30 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[0].breakGlass') == *'follow-up pending (expired)'* ]]" ||
    fail "no follow-up after expiry: $(json_field .breakGlass)"
  poll_until 10 kc_refused || fail "the kubeconfig works after expiry"
  jsonpath_is deployment/web '{.spec.replicas}' 3 || fail "reverted although onExpiry is hold"
  [[ $(json_field .healed) == 0 ]] || fail "self-heal ran"
  # Held until Git matches, or until someone chooses --revert: then self-heal reverts.
  bg close --target "$TARGET"
  [[ $STATUS == 1 && $OUT == *"follow-up is pending"* ]] || fail "a second close without --revert: ($STATUS) $OUT"
  bg close --target "$TARGET" --revert
  [[ $STATUS == 0 ]] || fail "close --revert of the follow-up: $OUT"
  expect_back deployment/web '{.spec.replicas}' 0
  [[ $(json_field .breakGlass) == "" ]] || fail "still held after --revert"
}

# signed_post KEY JSON: the request signed by KEY posted raw (BODY kept for a replay).
signed_post() {
  local sig
  sig=$(printf '%s' "$2" | ssh-keygen -q -Y sign -f "$KEYS/$1" -n "${SIGN_NS:-portcullis-break-glass}")
  BODY=$(jq -cn --arg r "${SENT_TEXT:-$2}" --arg s "$sig" '{request: $r, signature: $s}')
  post_raw "$BODY"
}
post_raw() {
  STATUS=$(curl -s -o "$SUITE_TMP/$CURRENT_TEST/answer.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "$1" "$DAEMON_URL/v1/break-glass")
}
request_json() {  # request_json ACTION TARGET [DAEMON [TIMESTAMP [FOR]]]
  jq -cn --arg a "$1" --arg t "$2" --arg d "${3:-e2e-daemon}" --argjson ts "${4:-$(date +%s)}" --argjson f "${5:-600}" \
    --arg n "e2e-$RANDOM$RANDOM$RANDOM$RANDOM" '{action: $a, target: $t, daemon: $d, nonce: $n, timestamp: $ts, reason: "INC-9", forSeconds: $f}'
}
expect_refused() {  # expect_refused STATUS RULE WHAT
  if [[ $STATUS != "$1" ]] || ! jq -e --arg r "$2" '.rule == $r' "$SUITE_TMP/$CURRENT_TEST/answer.json" >/dev/null; then
    fail "$3: HTTP $STATUS $(cat "$SUITE_TMP/$CURRENT_TEST/answer.json"), expected $1 $2"
  fi
}

test_forged_replayed_and_misdirected_requests_are_refused() {
  setup_bg bgattack
  start_synced
  local req
  signed_post mallory "$(request_json open "$TARGET")"
  expect_refused 401 break-glass.unknown-key "unknown key"
  signed_post bob "$(request_json open "$TARGET")"
  expect_refused 403 break-glass.not-allowed "allowed key, not for this target"
  signed_post alice "$(request_json open "$TARGET" e2e-daemon $(($(date +%s) - 400)))"
  expect_refused 401 break-glass.stale "stale timestamp"
  signed_post alice "$(request_json open "$TARGET" other-daemon)"
  expect_refused 403 break-glass.wrong-daemon "another daemon"
  signed_post alice "$(request_json open "$TARGET" e2e-daemon "$(date +%s)" 7200)"
  expect_refused 403 break-glass.too-long "--for beyond maxDuration"
  signed_post alice "$(request_json open other-target)"
  expect_refused 404 break-glass.unknown-target "another target"
  req=$(request_json open "$TARGET")
  SENT_TEXT=${req/INC-9/INC-9 and more} signed_post alice "$req"
  expect_refused 401 break-glass.bad-signature "body altered after signing"
  SIGN_NS=git signed_post alice "$req"
  expect_refused 401 break-glass.bad-signature "signed for another namespace"
  # A forged signature: alice's signature of another request.
  local other sig
  other=$(request_json open "$TARGET")
  sig=$(printf '%s' "$other" | ssh-keygen -q -Y sign -f "$KEYS/alice" -n portcullis-break-glass)
  post_raw "$(jq -cn --arg r "$req" --arg s "$sig" '{request: $r, signature: $s}')"
  expect_refused 401 break-glass.bad-signature "forged signature"
  # Nothing of the refused requests opened anything.
  [[ $(json_field .breakGlass) == "" ]] || fail "a refused request opened a window"
  kubectl get serviceaccounts -n "$NS" -l portcullis.io/break-glass -o name | grep -q . && fail "a refused request minted access"
  # A genuine request is acted on once; its replay is refused, also after a restart.
  signed_post alice "$(request_json open "$TARGET")"
  [[ $STATUS == 201 ]] || fail "the genuine open answered $STATUS: $(cat "$SUITE_TMP/$CURRENT_TEST/answer.json")"
  local captured=$BODY
  post_raw "$captured"
  expect_refused 409 break-glass.replay "replayed open"
  kill -9 "$DAEMON_PID"
  start_daemon
  post_raw "$captured"
  expect_refused 409 break-glass.replay "replayed open after a restart"
  run curl -fsS "$DAEMON_URL/metrics"
  [[ $OUT == *'portcullis_break_glass_requests_total{action="-",result="replay"}'* ]] || fail "replays not counted"
}

test_restart_during_the_window_keeps_it_and_its_record() {
  setup_bg bgrestart
  start_synced
  open_window 30m
  local id
  id=$(jq -r 'select(.event == "break-glass-open") | .window' "$(audit_file)")
  kubectl scale deployment web -n "$NS" --replicas=2 >/dev/null
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas"
  kill -9 "$DAEMON_PID"
  # Held, so OutOfSync (the drift is there), not Synced.
  local rev
  rev=$(git -C "$SERVER" rev-parse main)
  start_daemon
  poll_until 30 bash -c "[[ \$(curl -fsS $DAEMON_URL/v1/targets | jq -r '.targets[0].state') == OutOfSync ]]" ||
    fail "not OutOfSync after the restart: $(curl -fsS "$DAEMON_URL/v1/targets")"
  [[ $(json_field .appliedRevision) == "$rev" ]] || fail "not synced at $rev after the restart"
  [[ $(json_field .breakGlass) == *"$id open by alice"* ]] || fail "the window was lost: $(json_field .breakGlass)"
  kc_works || fail "the kubeconfig stopped working across the restart"
  # A change after the restart is recorded too; by then the earlier drift was seen and held.
  KUBECONFIG=$KC kubectl set image deployment/web -n "$NS" web=nginx:1.25.4 >/dev/null
  expect_recorded "apps/v1 Deployment $NS/web" "/spec/replicas,/spec/template/spec/containers/0/image"
  jsonpath_is deployment/web '{.spec.replicas}' 2 || fail "reverted after the restart"
  bg list --target "$TARGET" --json
  [[ $(jq -r ".windows[] | select(.id == \"$id\") | .changes | length" <<<"$OUT") == 2 ]] ||
    fail "the window's record lost changes: $OUT"
  bg close --target "$TARGET" --revert
  expect_back deployment/web '{.spec.replicas}' 0
}

run_suite "$@"
