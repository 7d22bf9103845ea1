#!/usr/bin/env bash
# End to end: the time budget and the fail mode.
source "$(dirname "$0")/lib.sh"

setup_slow_push() {
  local mode=$1
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'timeBudget: 1ms\nfailMode: %s\nauditLog: audit.jsonl\n' "$mode" >"$CONFIG"
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  for i in $(seq 1 400); do configmap "cm-$i" | put "$CLONE" "environments/dev/cm-$i.yaml"; done
  commit "$CLONE"
}

# many_configmaps DIR N: N ConfigMaps of 40 keys in files under DIR of $CLONE (written by the
# shell alone: thousands of files in a second).
many_configmaps() {
  local dir=$CLONE/$1 i k
  KEYS=
  for ((k = 1; k <= 40; k++)); do KEYS+="  key-$k: \"value $k\""$'\n'; done
  mkdir -p "$dir"
  for ((i = 1; i <= $2; i++)); do
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n%s' "$i" "$KEYS" >"$dir/cm-$i.yaml"
  done
  git -C "$CLONE" add -A -- "$1"
}

# A push that takes longer to judge than a 400 ms budget (20,000 files of 40 keys: some 2 s of
# parsing), but is quick to classify: a few tree reads, and every file read once for a spelling of
# Secret (some 100 ms), which a push must pass before it may fail open.
setup_slow_but_classifiable() {
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'timeBudget: 400ms\nfailMode: open\nauditLog: audit.jsonl\n' >"$CONFIG"
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  configmap base | put "$CLONE" environments/prod/base.yaml
  commit "$CLONE" "initial"
  push "$CLONE" origin HEAD:main
  expect_accepted
  many_configmaps environments/dev 20000
  commit "$CLONE" "slow"
}

test_budget_exceeded_fails_closed() {
  setup_slow_push closed
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "did not finish within the time budget of 1 ms"
  expect_ref "$SERVER" refs/heads/main absent
  local last
  last=$(tail -n 1 "$SUITE_TMP/$CURRENT_TEST/audit.jsonl")
  [[ $(jq -r .decision <<<"$last") == rejected ]] || fail "audit: $last"
  [[ $(jq -r '.rules[0]' <<<"$last") == gate.budget ]] || fail "audit rule: $last"
}

test_budget_exceeded_fails_open_when_configured() {
  setup_slow_but_classifiable
  push "$CLONE" origin HEAD:refs/heads/feature
  expect_accepted
  expect_output "ACCEPTED"
  expect_output "failMode"
  local last
  last=$(tail -n 1 "$SUITE_TMP/$CURRENT_TEST/audit.jsonl")
  [[ $(jq -r .failOpen <<<"$last") == true ]] || fail "audit does not say failOpen: $last"
}

# A pusher can make any push slow: failMode open never lets an unjudged push into a protected
# ref or environment.
test_fail_open_never_covers_protected_refs_or_environments() {
  setup_slow_but_classifiable
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "did not finish within the time budget of 400 ms"
  expect_no_output "ACCEPTED"
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "slow, and into prod"
  push "$CLONE" origin HEAD:refs/heads/feature
  expect_rejected
  expect_no_output "ACCEPTED"
  expect_ref "$SERVER" refs/heads/feature absent
  local last
  last=$(tail -n 1 "$SUITE_TMP/$CURRENT_TEST/audit.jsonl")
  [[ $(jq -r .failOpen <<<"$last") == false ]] || fail "audit says failOpen: $last"
}

test_fail_open_never_accepts_policy_violations() {
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'failMode: open\n' >"$CONFIG"
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
}

test_a_broken_server_config_fails_closed() {
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'failMode: open\n' >"$CONFIG"
  SERVER=$(new_server server "$CONFIG")
  printf 'failMode: [\n' >"$CONFIG"
  CLONE=$(new_clone "$SERVER")
  configmap a | put "$CLONE" environments/dev/a.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "the server config cannot be read"
}

test_a_missing_schema_store_follows_the_fail_mode() {
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'schemaStore: /nonexistent/store\n' >"$CONFIG"
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  configmap a | put "$CLONE" environments/dev/a.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [gate.internal] the schema store cannot be used: no schema store at /nonexistent/store"
  printf 'schemaStore: /nonexistent/store\nfailMode: open\n' >"$CONFIG"
  push "$CLONE" origin HEAD:main  # main is protected: never accepted unjudged
  expect_rejected
  expect_output "error [gate.internal] the schema store cannot be used"
  push "$CLONE" origin HEAD:refs/heads/feature
  expect_accepted
  expect_output "warning [gate.internal]"
}

run_suite "$@"
