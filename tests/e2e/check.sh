#!/usr/bin/env bash
# End to end: `portcullis check` on ranges in a clone, as CI and pre-push hooks run it.
source "$(dirname "$0")/lib.sh"

setup_clone() {
  CLONE=$SUITE_TMP/$CURRENT_TEST/clone
  git init -q "$CLONE"
  configmap base | put "$CLONE" environments/dev/base.yaml
  commit "$CLONE" initial
  git -C "$CLONE" tag base
}

test_check_exit_codes() {
  setup_clone
  run "$PORTCULLIS" check --repo "$CLONE"
  expect_status 0
  expect_output "portcullis: push accepted: 0 errors"
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  run "$PORTCULLIS" check --repo "$CLONE" --base base
  expect_status 1
  expect_output "environments/dev/bad.yaml:2:1: error [yaml.syntax]"
  expect_output "(1 file, 0 objects in 1 ref"
  run "$PORTCULLIS" check --repo "$CLONE" --base no-such-rev
  expect_status 2
  expect_output "unknown revision no-such-rev"
  run "$PORTCULLIS" check --repo "$SUITE_TMP/nowhere"
  expect_status 2
  run "$PORTCULLIS" check --repo "$CLONE" --schemas "$SUITE_TMP/no-store"
  expect_status 2
  expect_output "no schema store at"
  run "$PORTCULLIS" check --repo "$CLONE" --format yaml
  expect_status 2
  # A verdict that could not be written is not a success (SIGPIPE is ignored, so a closed
  # pipe or a full disk would otherwise end 0 with the output lost); a rejection stays 1.
  git -C "$CLONE" reset -q --hard HEAD~1
  OUT=$("$PORTCULLIS" check --repo "$CLONE" 2>&1 >/dev/full)
  STATUS=$?
  expect_status 2
  expect_output "portcullis: the output could not be written (No space left on device)"
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  "$PORTCULLIS" check --repo "$CLONE" --base base >/dev/full 2>&1
  STATUS=$?
  expect_status 1
}

test_check_with_base_reads_only_the_range() {
  setup_clone
  put "$CLONE" environments/dev/old-bad.yaml $'a: [\n'
  commit "$CLONE"
  git -C "$CLONE" tag with-bad
  configmap fine | put "$CLONE" environments/dev/fine.yaml
  commit "$CLONE"
  run "$PORTCULLIS" check --repo "$CLONE" --base with-bad
  expect_status 0
  expect_output "(1 file, 1 object"
  run "$PORTCULLIS" check --repo "$CLONE"
  expect_status 1
}

test_check_json() {
  setup_clone
  put "$CLONE" environments/prod/web.yaml "$(deployment web nginx:latest)"
  commit "$CLONE"
  run "$PORTCULLIS" check --repo "$CLONE" --base base --format json
  expect_status 1
  [[ $(jq -r .decision <<<"$OUT") == rejected ]] || fail "decision: $OUT"
  [[ $(jq -r '.findings[0].rule' <<<"$OUT") == content.image-latest ]] || fail "rule: $OUT"
  [[ $(jq -r '.findings[0].line' <<<"$OUT") == 15 ]] || fail "line: $OUT"
}

test_check_as_a_pre_push_hook() {
  setup_clone
  local server=$SUITE_TMP/$CURRENT_TEST/plain.git
  git init -q --bare "$server"
  git -C "$CLONE" remote add origin "$server"
  git -C "$CLONE" push -q origin HEAD:main
  cat >"$CLONE/.git/hooks/pre-push" <<HOOK
#!/bin/sh
# pre-push: check what is about to be pushed against the remote's tip.
while read local_ref local_sha remote_ref remote_sha; do
  [ "\$local_sha" = 0000000000000000000000000000000000000000 ] && continue
  base=\$remote_sha
  [ "\$base" = 0000000000000000000000000000000000000000 ] && base=
  exec '$PORTCULLIS' check --head "\$local_sha" \${base:+--base "\$base"}
done
HOOK
  chmod +x "$CLONE/.git/hooks/pre-push"
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  [[ $STATUS -ne 0 ]] || fail "pre-push did not stop the push"
  expect_output "environments/dev/bad.yaml:2:1: error [yaml.syntax]"
}

run_suite "$@"
