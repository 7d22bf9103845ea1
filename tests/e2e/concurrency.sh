#!/usr/bin/env bash
# End to end: many pushes at once through real Git servers -- gitolite behind OpenSSH's sshd, and
# nginx + fcgiwrap + git http-backend (smart HTTP) -- with Portcullis' hooks installed as each
# expects.  At the same moment: 32 pushes to 32 branches and 8 pushes to one branch, half of
# them invalid.  Every accepted ref update lands; every rejected push leaves no ref and none of
# its objects (they stay in git's quarantine, which goes away); each hook decision is audited
# once, in whole lines; and no hook or receive-pack outlives its push.  Needs root: see
# tests/env/gitolite.sh and tests/env/gitserver.sh.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/gitolite.sh
source "$ROOT/tests/env/gitolite.sh"
[[ $(id -u) -eq 0 ]] || { echo "FATAL: concurrency.sh needs root (sshd, gitolite, nginx, a git user)"; exit 2; }

chmod 711 "$SUITE_TMP"
git config --global --add safe.directory '*'
GIT_USER=$(_gs_user)
GL_DIR=$SUITE_TMP/gitolite
HTTP_DIR=$SUITE_TMP/http
suite_teardown() {
  gitolite_stop "$GL_DIR"
  http_git_stop "$HTTP_DIR"
}
trap suite_teardown EXIT
gitolite_start "$GL_DIR" admin || { echo "FATAL: gitolite (sshd) did not start"; exit 1; }
http_git_start "$HTTP_DIR" || { echo "FATAL: nginx + fcgiwrap + git http-backend did not start"; exit 1; }
GL_ALICE=$(gitolite_add_user "$GL_DIR" alice) && gitolite_admin_push "$GL_DIR" "alice" ||
  { echo "FATAL: cannot add the gitolite user"; exit 1; }
HTTP_ALICE=$(http_git_add_user "$HTTP_DIR" alice) || { echo "FATAL: cannot add the HTTP user"; exit 1; }

BRANCHES=32
RACERS=8
# How long all pushes together may take on a busy machine, and the hooks' own budget (not what
# this suite is about: a push rejected for time would make "every valid push lands" fail).
PUSH_DEADLINE=${CONCURRENCY_PUSH_DEADLINE:-240}

server_config() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  chmod 755 "$dir"
  printf 'timeBudget: 300s\n' >"$dir/server.yaml"
  chmod 644 "$dir/server.yaml"
  echo "$dir/server.yaml"
}

# Branch names: b01..b32 push to themselves, r1..r8 push to refs/heads/race. Odd numbers are
# valid, even numbers are not.
names() {
  local i
  for ((i = 1; i <= BRANCHES; i++)); do printf 'b%02d\n' "$i"; done
  for ((i = 1; i <= RACERS; i++)); do printf 'r%d\n' "$i"; done
}
is_valid() { (( 10#${1:1} % 2 == 1 )); }
target_of() { [[ $1 == r* ]] && echo refs/heads/race || echo "refs/heads/$1"; }

declare -A COMMIT BLOB

# prepare CLONE: the base commit on main and race, pushed; then one commit per name on a local
# branch, each a child of the base. An invalid push's file is unique to it (its blob is how we
# look for leftovers).
prepare() {
  local clone=$1 name base
  for env in dev staging prod; do configmap base | put "$clone" "environments/$env/base.yaml"; done
  commit "$clone" "base"
  push "$clone" origin HEAD:main HEAD:race
  expect_accepted
  base=$(git -C "$clone" rev-parse HEAD)
  for name in $(names); do
    git -C "$clone" checkout -q -B "$name" "$base"
    if is_valid "$name"; then
      configmap "cm-$name" | put "$clone" "environments/dev/$name.yaml"
    else
      printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n bad: [\n' "$name" |
        put "$clone" "environments/dev/$name.yaml"
      BLOB[$name]=$(git -C "$clone" rev-parse ":environments/dev/$name.yaml")
    fi
    commit "$clone" "$name"
    COMMIT[$name]=$(git -C "$clone" rev-parse HEAD)
  done
}

# push_all CLONE URL: every push at once (explicit URL: no remote-tracking refs to lock in the
# clone); waits for all of them within PUSH_DEADLINE. Results in $PUSHES/NAME.{out,status}.
push_all() {
  local clone=$1 url=$2 name pids=()
  PUSHES=$SUITE_TMP/$CURRENT_TEST/pushes
  mkdir -p "$PUSHES"
  for name in $(names); do
    (
      git -C "$clone" push "$url" "refs/heads/$name:$(target_of "$name")" >"$PUSHES/$name.out" 2>&1
      echo $? >"$PUSHES/$name.status.tmp" && mv "$PUSHES/$name.status.tmp" "$PUSHES/$name.status"
    ) &
    pids+=($!)
  done
  all_done() {
    local n
    for n in $(names); do [[ -f $PUSHES/$n.status ]] || return 1; done
  }
  if ! poll_until "$PUSH_DEADLINE" all_done; then
    fail "not every push finished within ${PUSH_DEADLINE}s: $(cd "$PUSHES" && ls)"
    local p
    for p in "${pids[@]}"; do kill -- "$p" 2>/dev/null; done
  fi
  wait "${pids[@]}" 2>/dev/null
}

# leftovers REPO CONFIG: processes still working for this server: a Portcullis hook run with
# CONFIG, or anything whose working directory is inside REPO (receive-pack, hooks).
leftovers() {
  local p cmd cwd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    cwd=$(readlink "$p/cwd" 2>/dev/null) || cwd=""
    if [[ $cmd == *"$2"* || $cwd == "$1" || $cwd == "$1"/* ]]; then
      printf '%s %s(cwd %s)\n' "${p#/proc/}" "$cmd" "$cwd"
    fi
  done
}
no_leftovers() { [[ -z $(leftovers "$1" "$2") ]]; }

# verify REPO CONFIG: what landed, what did not, the audit log, and the processes.
verify() {
  local repo=$1 config=$2 name status out got winners=() races=0
  for name in $(names); do
    status=$(<"$PUSHES/$name.status")
    out=$(<"$PUSHES/$name.out")
    got=$(git -C "$repo" rev-parse -q --verify "$(target_of "$name")" 2>/dev/null || echo absent)
    if is_valid "$name"; then
      if [[ $name == b* ]]; then
        [[ $status -eq 0 ]] || fail "valid push $name failed:"$'\n'"$(sed 's/^/      | /' <<<"$out")"
        [[ $got == "${COMMIT[$name]}" ]] || fail "accepted push $name did not land: ref is $got"
      elif [[ $status -eq 0 ]]; then
        winners+=("$name")
        grep -q "portcullis: push accepted" <<<"$out" || fail "racer $name succeeded without the hook's verdict"
      fi
    else
      [[ $status -ne 0 ]] || fail "invalid push $name was accepted"
      [[ $got != "${COMMIT[$name]}" ]] || fail "rejected push $name moved $(target_of "$name")"
      [[ $name == b* && $got != absent ]] && fail "rejected push $name created its branch"
      if [[ $name == b* ]] || grep -q "pre-receive hook declined" <<<"$out"; then
        grep -q "pre-receive hook declined" <<<"$out" || fail "push $name was not declined by the hook: $out"
        grep -qF "environments/dev/$name.yaml:5:2: error [yaml.syntax]" <<<"$out" ||
          fail "push $name lacks the hook's message:"$'\n'"$(sed 's/^/      | /' <<<"$out")"
        [[ $name == r* ]] && races=$((races + 1))
      fi
      git -C "$repo" cat-file -e "${BLOB[$name]}" 2>/dev/null && fail "rejected push $name left its blob ${BLOB[$name]}"
      git -C "$repo" cat-file -e "${COMMIT[$name]}" 2>/dev/null && fail "rejected push $name left its commit"
    fi
  done
  # What happened, for the log: how far each push got.
  local landed=0 declined=0 lost=0 refused=0
  for name in $(names); do
    out=$(<"$PUSHES/$name.out")
    if [[ $(<"$PUSHES/$name.status") -eq 0 ]]; then landed=$((landed + 1))
    elif grep -q "pre-receive hook declined" <<<"$out"; then declined=$((declined + 1))
    elif grep -qE "failed to update ref|cannot lock ref" <<<"$out"; then lost=$((lost + 1))
    else refused=$((refused + 1)); fi
  done
  echo "    $landed landed, $declined declined by the hook, $lost passed the hook but lost the race for the ref," \
    "$refused refused before the hook (fetch first)"
  # Eight pushes from one base to one branch: exactly one valid push wins, and the branch is its.
  if [[ ${#winners[@]} -ne 1 ]]; then
    fail "expected exactly one racer to land on race, got: ${winners[*]:-none}"
  else
    local tip
    tip=$(git -C "$repo" rev-parse refs/heads/race)
    [[ $tip == "${COMMIT[${winners[0]}]}" ]] || fail "race is at $tip, not at the winner ${winners[0]}"
  fi
  if compgen -G "$repo/objects/incoming-*" >/dev/null || compgen -G "$repo/objects/tmp_objdir-*" >/dev/null; then
    fail "a quarantine directory was left behind: $(ls "$repo/objects")"
  fi
  # The audit log: whole JSON lines, one decision per branch push, as expected.
  local log=$repo/portcullis/audit.jsonl
  jq -e . "$log" >/dev/null 2>&1 || fail "the audit log has a line that is not JSON (interleaved writes?)"
  for name in $(names); do
    [[ $name == b* ]] || continue
    local decisions
    decisions=$(jq -r --arg ref "refs/heads/$name" 'select(.refs[0].ref == $ref) | .decision' "$log" | tr '\n' ' ')
    if is_valid "$name"; then
      [[ $decisions == "accepted " ]] || fail "audit for $name: '$decisions', expected one accepted"
    else
      [[ $decisions == "rejected " ]] || fail "audit for $name: '$decisions', expected one rejected"
    fi
  done
  local raced
  raced=$(jq -r 'select(.refs[0].ref == "refs/heads/race") | .decision' "$log" | wc -l)
  ((raced >= races + 1)) || fail "the audit has $raced decisions for race; $races declined racers and the winner make at least $((races + 1))"
  # No hook process outlives the pushes (every client has returned by now).
  poll_until 30 no_leftovers "$repo" "$config" ||
    fail "processes outlived the pushes:"$'\n'"$(leftovers "$repo" "$config" | sed 's/^/      | /')"
}

test_gitolite_over_ssh() {
  local config repo clone key=$GL_ALICE
  config=$(server_config)
  run "$PORTCULLIS" install --layout gitolite --local-code "$GITOLITE_ADMIN/local" --config "$config"
  expect_status 0
  printf 'repo crowd\n    RW+ = alice\n' >>"$GITOLITE_ADMIN/conf/gitolite.conf"
  gitolite_admin_push "$GL_DIR" "Portcullis hooks and crowd" || { fail "pushing gitolite-admin failed"; return; }
  repo=$GITOLITE_REPOS/crowd.git
  clone=$SUITE_TMP/$CURRENT_TEST/clone
  git -c core.sshCommand="$(gitolite_ssh_command "$key")" clone -q "$GITOLITE_URL/crowd" "$clone" 2>/dev/null ||
    { fail "clone failed"; return; }
  git -C "$clone" config core.sshCommand "$(gitolite_ssh_command "$key")"
  prepare "$clone"
  push_all "$clone" "$GITOLITE_URL/crowd"
  verify "$repo" "$config"
}

test_smart_http() {
  local config repo clone url
  config=$(server_config)
  repo=$(git_server_new_repo "$HTTP_DIR" crowd.git) || { fail "cannot create the served repository"; return; }
  runuser -u "$GIT_USER" -- "$PORTCULLIS" install --repo "$repo" --config "$config" >/dev/null ||
    { fail "portcullis install failed"; return; }
  url=http://alice@127.0.0.1:$HTTP_GIT_PLAIN_PORT/crowd.git
  clone=$SUITE_TMP/$CURRENT_TEST/clone
  git -c core.askPass="$HTTP_ALICE" clone -q "$url" "$clone" 2>/dev/null || { fail "clone failed"; return; }
  git -C "$clone" config core.askPass "$HTTP_ALICE"
  prepare "$clone"
  push_all "$clone" "$url"
  verify "$repo" "$config"
}

run_suite "$@"
