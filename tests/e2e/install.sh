#!/usr/bin/env bash
# End to end: `portcullis install` prepares bare repositories, idempotently and carefully.
source "$(dirname "$0")/lib.sh"

test_install_writes_both_hooks_and_enables_push_options() {
  local repo=$SUITE_TMP/$CURRENT_TEST/srv.git
  git init -q --bare "$repo"
  run "$PORTCULLIS" install --repo "$repo"
  expect_status 0
  expect_output "installed  $repo/hooks/pre-receive"
  expect_output "installed  $repo/hooks/post-receive"
  [[ -x $repo/hooks/pre-receive && -x $repo/hooks/post-receive ]] || fail "hooks are not executable"
  grep -q "hook pre-receive" "$repo/hooks/pre-receive" || fail "pre-receive does not run portcullis"
  [[ $(git -C "$repo" config receive.advertisePushOptions) == true ]] || fail "push options not advertised"
  run "$PORTCULLIS" install --repo "$repo"
  expect_status 0
  expect_output "unchanged  $repo/hooks/pre-receive"
}

test_install_refuses_a_foreign_hook_unless_forced() {
  local repo=$SUITE_TMP/$CURRENT_TEST/srv.git
  git init -q --bare "$repo"
  printf '#!/bin/sh\necho theirs\n' >"$repo/hooks/pre-receive"
  chmod +x "$repo/hooks/pre-receive"
  run "$PORTCULLIS" install --repo "$repo"
  expect_status 2
  expect_output "exists and was not written by Portcullis; refusing to replace it"
  grep -q theirs "$repo/hooks/pre-receive" || fail "the foreign hook was changed"
  [[ ! -e $repo/hooks/post-receive ]] || fail "a refused install still wrote post-receive"
  run "$PORTCULLIS" install --repo "$repo" --force
  expect_status 0
  expect_output "kept       $repo/hooks/pre-receive.portcullis-backup"
  grep -q theirs "$repo/hooks/pre-receive.portcullis-backup" || fail "backup lacks the old hook"
  grep -q "portcullis-managed-hook" "$repo/hooks/pre-receive" || fail "hook not replaced"
}

test_install_validates_the_server_config_and_quotes_paths() {
  local dir="$SUITE_TMP/$CURRENT_TEST/it's here"
  mkdir -p "$dir"
  git init -q --bare "$dir/srv.git"
  printf 'timeBudget: soon\n' >"$dir/bad.yaml"
  run "$PORTCULLIS" install --repo "$dir/srv.git" --config "$dir/bad.yaml"
  expect_status 2
  expect_output "bad.yaml:1:13: invalid server config: timeBudget: \"soon\" does not match"
  [[ ! -e $dir/srv.git/hooks/pre-receive ]] || fail "installed despite a bad config"
  printf 'timeBudget: 3s\nfailMode: closed\n' >"$dir/good.yaml"
  run "$PORTCULLIS" install --repo "$dir/srv.git" --config "$dir/good.yaml"
  expect_status 0
  # The quoted path survives the shell: a push runs the hook with that config.
  local clone
  clone=$(new_clone "$dir/srv.git")
  configmap a | put "$clone" environments/dev/a.yaml
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_accepted
  expect_output "portcullis: push accepted"
}

test_install_fails_clearly_without_a_repository() {
  run "$PORTCULLIS" install --repo "$SUITE_TMP/nowhere"
  expect_status 2
  expect_output "cannot open a Git repository"
  run "$PORTCULLIS" install
  expect_status 2
  expect_output "--repo is required"
}

test_every_command_has_help() {
  for c in "" install hook check schemas "schemas import" version; do
    # shellcheck disable=SC2086
    run "$PORTCULLIS" $c --help
    expect_status 0
    expect_output "Usage:"
  done
  run "$PORTCULLIS" version
  expect_status 0
  expect_output "portcullis 0."
  run "$PORTCULLIS" frobnicate
  expect_status 2
}

run_suite "$@"
