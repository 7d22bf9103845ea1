#!/usr/bin/env bash
# End to end: bad input and faults around a real Git server. Real `git push` (and, for what git
# itself refuses to send, a hostile client speaking git's push protocol) through real
# receive-pack into bare repositories prepared by `portcullis install`:
#   - hostile ref names: shown escaped, never given to a shell, never a way around the gate;
#   - thousands of refs in one push: judged within the budget, or rejected by it, never partly
#     accepted beyond what git's own (non-)atomicity gives;
#   - a pusher who disconnects while the hook runs: no ref lands for what was not accepted, no
#     hook or receive-pack is left behind, the audit log holds whole lines only;
#   - a full disk under the audit log (a small tmpfs, and /dev/full) and an audit log that
#     blocks (a FIFO without a reader): the push is rejected with a clear message, in time, and
#     the audit log is never half-written;
#   - a full disk under the notification spool with the reconciler down: the push stands, the
#     failure is shown, and portcullisd (real kube-apiserver) applies the change when it runs.
# Needs root (mount -t tmpfs). A file system that cannot be mounted fails the suite.
# shellcheck disable=SC2016  # ref names with shell syntax in single quotes are meant literally
source "$(dirname "$0")/lib.sh"
[[ $(id -u) -eq 0 ]] || { echo "FATAL: faults.sh needs root (it mounts small tmpfs file systems)"; exit 2; }
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

MOUNTS=()
BACKGROUND=()  # process groups of pushes started in the background
faults_teardown() {
  local p m
  # A push whose waiter still runs is not reaped: its process group id is still its own.
  for p in "${BACKGROUND[@]}"; do kill -0 "${p%%:*}" 2>/dev/null && kill -KILL -- "-${p#*:}" 2>/dev/null; done
  BACKGROUND=()
  for p in "${DAEMON_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  DAEMON_PIDS=()
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  MOUNTS=()
  kube_stop "$KDIR"
}
suite_teardown() { faults_teardown; }
trap faults_teardown EXIT

PORTCULLIS_REAL=$(realpath "$PORTCULLIS")
# What the installed hooks run: the lean executable beside portcullis when there is one.
PORTCULLIS_HOOK_REAL=$PORTCULLIS_REAL
[[ -x $(dirname "$PORTCULLIS_REAL")/portcullis-hook ]] && PORTCULLIS_HOOK_REAL=$(dirname "$PORTCULLIS_REAL")/portcullis-hook
ZERO=0000000000000000000000000000000000000000

# ---------------------------------------------------------------------------------------------
# helpers

# A server with REMOTE_USER's pushes judged by CONFIG (server.yaml of this test, from stdin when
# given as "-"), and a clone with a first accepted commit on main: dev and prod environments.
setup_repo() {
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  if [[ ${1:-} == - ]]; then cat >"$CONFIG"; else : >"$CONFIG"; fi
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  configmap base | put "$CLONE" environments/dev/base.yaml
  configmap base | put "$CLONE" environments/prod/base.yaml
  commit "$CLONE" initial
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# A commit on top of main (not on any branch) whose only change is a broken YAML file.
bad_commit() {
  git -C "$CLONE" checkout -q --detach origin/main
  put "$CLONE" environments/dev/broken.yaml $'a: [\n'
  commit "$CLONE" broken
  git -C "$CLONE" rev-parse HEAD
  git -C "$CLONE" checkout -q -
}

# pids of the processes whose working directory is DIR: receive-pack and the hooks it runs
# work in the repository. Zombies have no working directory and are not listed.
procs_in() {
  local dir
  dir=$(realpath "$1")
  find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$dir" 2>/dev/null | cut -d/ -f3
}
hooks_in() {
  local p
  for p in $(procs_in "$1"); do
    [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$PORTCULLIS_HOOK_REAL" ]] && echo "$p"
  done
}
hook_running_in() { [[ -n $(hooks_in "$1") ]]; }
nothing_runs_in() { [[ -z $(procs_in "$1") ]]; }

describe_procs_in() {
  local p
  for p in $(procs_in "$1"); do printf '%s: %s\n' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
}

# expect_no_leftovers SERVER SECONDS: polls until no process works in SERVER any more.
expect_no_leftovers() {
  poll_until "$2" nothing_runs_in "$1" ||
    fail "processes still run in $1 after $2 s:"$'\n'"$(describe_procs_in "$1" | sed 's/^/      | /')"
}

# expect_store_unchanged: refs and the object store of $SERVER are as `snapshot` saw them. A
# quarantine directory may remain: receive-pack (git 2.39) that dies of a signal -- SIGTERM, or
# SIGPIPE when it reports to a pusher who is gone -- does not remove it; git's affair, not the
# hook's, and its objects are in no ref and not in the object store.
expect_store_unchanged() {
  [[ $(git -C "$SERVER" for-each-ref --format='%(refname) %(objectname)') == "$SNAP_REFS" ]] || fail "refs changed"
  [[ $(object_count "$SERVER") == "$SNAP_OBJECTS" ]] || fail "objects landed in the object store"
  if compgen -G "$SERVER/objects/tmp_objdir-*" >/dev/null; then
    echo "    note: receive-pack died of a signal and left its quarantine directory (git's clean-up, not the hook's)"
  fi
}

# expect_whole_json_lines FILE: every line of FILE is one whole JSON object and the file ends
# with a newline (an empty or missing file passes).
expect_whole_json_lines() {
  local file=$1 lines objects
  [[ -s $file ]] || return 0
  [[ $(tail -c 1 "$file" | od -An -tx1 | tr -d ' \n') == 0a ]] || fail "$file does not end with a whole line"
  lines=$(wc -l <"$file")
  objects=$(jq -c 'select(type == "object")' "$file" 2>/dev/null | wc -l)
  [[ $lines == "$objects" ]] || fail "$file: $lines lines but $objects whole JSON objects"$'\n'"$(tail -c 600 "$file" | sed 's/^/      | /')"
}

# start_push NAME CLONE ARGS...: `git push` in the background in a session of its own, whose
# process group (PUSH_PID) can be killed as a whole; output in $SUITE_TMP/$CURRENT_TEST/NAME.out.
# A subshell waits for it (PUSH_WAITER), so a kill makes no "Killed" notice in the suite's output.
start_push() {
  local name=$1 clone=$2 out
  shift 2
  out=$SUITE_TMP/$CURRENT_TEST/$name.out
  rm -f "$out.pid"
  (
    setsid git -C "$clone" push "$@" >"$out" 2>&1 &
    echo "$!" >"$out.pid"
    wait "$!"
  ) 2>/dev/null &
  PUSH_WAITER=$!
  poll_until 10 test -s "$out.pid" || { fail "git push did not start"; return 1; }
  PUSH_PID=$(<"$out.pid")
  BACKGROUND+=("$PUSH_WAITER:$PUSH_PID")
}
# push_done: the background push has ended (bash reaps its children at once; a zombie counts too).
push_done() {
  local stat
  stat=$(cat "/proc/$PUSH_WAITER/stat" 2>/dev/null) || return 0
  [[ $stat == *") Z "* ]]
}

# reap_push: waits for the background push (killed or not); STATUS is its exit status.
reap_push() {
  local p keep=()
  wait "$PUSH_WAITER"
  STATUS=$?
  for p in "${BACKGROUND[@]}"; do [[ $p == "$PUSH_WAITER:$PUSH_PID" ]] || keep+=("$p"); done
  BACKGROUND=("${keep[@]}")
}

# finish_push NAME SECONDS: waits for the background push; past the deadline it is killed and the
# test fails (a push that hangs is a fault in itself). Sets OUT and STATUS.
finish_push() {
  local name=$1 seconds=$2
  if ! poll_until "$seconds" push_done; then
    fail "git push did not finish within $seconds s"
    kill -KILL -- "-$PUSH_PID" 2>/dev/null
  fi
  reap_push
  OUT=$(cat "$SUITE_TMP/$CURRENT_TEST/$name.out")
}

# push_many CLONE ARGS...: push, keeping git's table of thousands of updated refs (all but its
# first line) out of OUT.
push_many() {
  push "$@"
  OUT=$(awk '!/ -> / || !n++' <<<"$OUT")
}

# push_within SECONDS CLONE ARGS...: push, failing the test when it takes longer than SECONDS.
push_within() {
  local seconds=$1
  shift
  start_push deadline "$@"
  finish_push deadline "$seconds"
}

# The "ssh" of a push whose server side runs in a session of its own, as it does behind a real
# network link: killing the client's process group leaves receive-pack and its hooks running.
# GIT_SSH runs it without a shell; it ignores its arguments and serves $FAULTS_REPO.
make_remote_shell() {
  REMOTE_SHELL=$SUITE_TMP/remote-shell
  printf '#!/bin/sh\nexec setsid git receive-pack "$FAULTS_REPO"\n' >"$REMOTE_SHELL"
  chmod +x "$REMOTE_SHELL"
}

# pkt_line TEXT [CAPABILITIES]: one pkt-line of git's protocol, newline-terminated.
pkt_line() {
  local text=$1 caps=${2:-} n
  n=$(printf '%s' "$text" | wc -c)
  if [[ -n $caps ]]; then
    printf '%04x%s\0%s\n' $((4 + n + 1 + ${#caps} + 1)) "$text" "$caps"
  else
    printf '%04x%s\n' $((4 + n + 1)) "$text"
  fi
}

# raw_push SERVER PACK "OLD NEW REF"...: what a client that is not git can send to real
# receive-pack: each update verbatim, REF included (git's own clients refuse names with control
# characters, spaces, or outside refs/). No side-band: the hook's output is receive-pack's
# stderr, byte for byte, in OUT; STATUS is receive-pack's exit status.
raw_push() {
  local server=$1 pack=$2 req=$SUITE_TMP/$CURRENT_TEST/raw-request first=1 u
  shift 2
  {
    for u in "$@"; do
      if ((first)); then pkt_line "$u" report-status; else pkt_line "$u"; fi
      first=0
    done
    printf '0000'
    cat "$pack"
  } >"$req"
  OUT=$(git receive-pack "$server" <"$req" 2>&1 >"$req.response")
  STATUS=$?
}

# mount_fs NAME SIZE: a tmpfs of SIZE at $SUITE_TMP/$CURRENT_TEST/NAME, in FS (unmounted by the
# teardown). A test that needs a full file system fails when it cannot have one.
mount_fs() {
  local err
  FS=$SUITE_TMP/$CURRENT_TEST/$1
  mkdir -p "$FS"
  if ! err=$(mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$FS" 2>&1); then
    fail "cannot mount a $2 tmpfs at $FS ($err): this test needs a full file system; run it as root where mount works"
    return 1
  fi
  MOUNTS+=("$FS")
}

# fill_fs DIR: writes a filler file until the file system has not one free block left.
fill_fs() {
  dd if=/dev/zero of="$1/filler" bs=4096 >/dev/null 2>&1  # stops at ENOSPC, by design
  [[ $(stat -f -c %a "$1") == 0 ]] || fail "$1 is not full: $(stat -f -c '%a free blocks of %b' "$1")"
}

# big_push_setup BAD|GOOD: main with 40 files in two environments (prod protected), then 3,000
# new local branches b/1..b/3000 at one commit: a new branch is judged in full, so pushing them
# all takes the hook seconds. With BAD, that commit adds a broken file.
big_push_setup() {
  local i tip
  for i in $(seq 1 20); do
    configmap "cm-$i" | put "$CLONE" "environments/dev/cm-$i.yaml"
    configmap "cm-$i" | put "$CLONE" "environments/prod/cm-$i.yaml"
  done
  commit "$CLONE" "40 files"
  push "$CLONE" origin HEAD:main
  expect_accepted
  if [[ $1 == BAD ]]; then
    put "$CLONE" environments/dev/broken.yaml $'a: [\n'
    commit "$CLONE" broken
  else
    configmap extra | put "$CLONE" environments/dev/extra.yaml
    commit "$CLONE" extra
  fi
  tip=$(git -C "$CLONE" rev-parse HEAD)
  for i in $(seq 1 3000); do echo "create refs/heads/b/$i $tip"; done | git -C "$CLONE" update-ref --stdin
  TIP=$tip
}
count_b_refs() { git -C "$SERVER" for-each-ref refs/heads/b/ | wc -l; }

# ---------------------------------------------------------------------------------------------
# hostile ref names

test_hostile_ref_names_through_git_push() {
  setup_repo
  local audit=$SERVER/portcullis/audit.jsonl good bad
  good=$(git -C "$CLONE" rev-parse HEAD)
  bad=$(bad_commit)
  # Everything git lets through: shell syntax, option look-alikes, quotes, Unicode (a
  # right-to-left override is shown escaped), bytes that are not UTF-8; and how the hook shows it.
  local names=(
    'refs/heads/-x'
    'refs/heads/--upload-pack=touch${IFS}pwned-1'
    'refs/heads/$(touch${IFS}pwned-2)'
    'refs/heads/`touch${IFS}pwned-3`'
    'refs/heads/a;touch${IFS}pwned-4|b&c>pwned-5<d'
    "refs/heads/it's\"q\"!#%=+,@"
    'refs/heads/café/日本語/🚀'
    $'refs/heads/\xe2\x80\xaeevil.yaml'
    $'refs/heads/latin1-caf\xe9'
  )
  local shown=("${names[@]:0:7}" 'refs/heads/\u202eevil.yaml' 'refs/heads/latin1-caf\xe9')
  local i name recorded
  for i in "${!names[@]}"; do
    name=${names[i]}
    # Broken content under the name: rejected, findings under the escaped name.
    push "$CLONE" origin "$bad:$name"
    expect_rejected
    expect_output "remote: ${shown[i]}:"
    expect_output "error [yaml.syntax]"
    expect_ref "$SERVER" "$name" absent
    # Valid content: accepted; the ref lands under exactly that name, the audit log has it.
    push "$CLONE" origin "$good:$name"
    expect_accepted
    expect_ref "$SERVER" "$name" "$good"
    recorded=$(tail -n 1 "$audit" | jq -r '.refs[0].ref')
    if iconv -f UTF-8 -t UTF-8 <<<"$name" >/dev/null 2>&1; then
      [[ $recorded == "$name" ]] || fail "the audit log records ${shown[i]} as $recorded"
    fi
  done
  # The byte that is not UTF-8 is kept visible in the JSON audit line (\u00e9), not dropped.
  grep -qF 'refs/heads/latin1-caf\u00e9' "$audit" || fail "the audit log lost the byte of refs/heads/latin1-caf\\xe9"
  # Environment branches are refused whatever the content; names outside refs/heads are not
  # checked refs (checkRefs), so even broken content is theirs to hold.
  push "$CLONE" origin "$good:refs/heads/env/prod"
  expect_rejected
  expect_output "error [ref.environment-branch] refs/heads/env/prod names an environment"
  push "$CLONE" origin "$good:refs/heads/prod"
  expect_rejected
  expect_output "error [ref.environment-branch] refs/heads/prod names an environment"
  local ref
  for ref in refs/notes/-x 'refs/pull/1/head' 'refs/meta/$(touch${IFS}pwned-6)' 'refs/tags/`touch${IFS}pwned-7`'; do
    push "$CLONE" origin "$bad:$ref"
    expect_accepted
    expect_ref "$SERVER" "$ref" "$bad"
  done
  # One level below refs/ is a name git refuses to store ("funny refname"); the hook says why.
  push "$CLONE" origin "$good:refs/x"
  expect_rejected
  expect_output 'error [ref.invalid-name] "refs/x" is not a valid ref name: it has only one level below refs/'
  expect_ref "$SERVER" refs/x absent
  # Nothing ran any of these names.
  local marks
  marks=$(find "$SUITE_TMP" -name 'pwned*' 2>/dev/null; compgen -G '/pwned*')
  [[ -z $marks ]] || fail "a ref name was run by a shell: $marks"
  expect_whole_json_lines "$audit"
  grep -q 'gate.internal' "$audit" && fail "a hostile name made the gate fail internally: $(grep gate.internal "$audit")"
}

test_hostile_file_names_are_shown_escaped() {
  setup_repo
  # A path with a terminal escape, a newline that would forge a line of the hook's own, a
  # right-to-left override and a byte that is not UTF-8: broken YAML in it, so it is reported.
  local evil=$'environments/dev/evil\e[2K\nportcullis: push accepted: 0 errors\xe2\x80\xae\xff.yaml'
  put "$CLONE" "$evil" $'a: [\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output 'remote:   environments/dev/evil\x1b[2K\nportcullis: push accepted: 0 errors\u202e\xff.yaml:2:1: error [yaml.syntax]'
  grep -q '^remote: portcullis: push accepted' <<<"$OUT" && fail "a file name forged a line of the hook's output"
  if tr -d '\n' <<<"$OUT" | LC_ALL=C grep -q '[[:cntrl:]]'; then fail "control characters reached the pusher's terminal"; fi
}

test_ref_names_at_the_length_limits() {
  setup_repo
  local good long i
  good=$(git -C "$CLONE" rev-parse HEAD)
  # The longest component a loose ref can have (NAME_MAX, with ".lock"): judged and stored.
  long=refs/heads/$(printf 'a%.0s' {1..250})
  push "$CLONE" origin "$good:$long"
  expect_accepted
  expect_ref "$SERVER" "$long" "$good"
  # 4,096 bytes in all: the gate's limit; accepted by the hook (whether git can store it on
  # this file system is git's affair), not a crash.
  long=refs/heads
  for i in $(seq 1 16); do long+=/$(printf "%03d" "$i")$(printf 'b%.0s' {1..250}); done
  long=${long:0:4096}
  long=${long%/}
  push "$CLONE" origin "$good:$long"
  expect_output "portcullis: push accepted"
  expect_no_output "gate.internal"
  # Longer than any ref store holds: rejected by name, with the reason.
  long=refs/heads
  for i in $(seq 1 20); do long+=/$(printf "%03d" "$i")$(printf 'c%.0s' {1..250}); done
  push "$CLONE" origin "$good:$long"
  expect_rejected
  expect_output "error [ref.invalid-name]"
  expect_output "bytes long; the limit is 4096"
  expect_ref "$SERVER" "$long" absent
}

test_hostile_ref_names_from_a_client_that_is_not_git() {
  # failMode open: a name the gate cannot accept must still reject the push, or the broken
  # content on main would land (git refuses the funny ref alone unless the push is atomic).
  setup_repo - <<<'failMode: open'
  local audit=$SERVER/portcullis/audit.jsonl old new pack=$SUITE_TMP/$CURRENT_TEST/bad.pack
  old=$(git -C "$SERVER" rev-parse main)
  new=$(bad_commit)
  printf '%s\n^%s\n' "$new" "$old" | git -C "$CLONE" pack-objects --stdout --revs >"$pack" 2>/dev/null
  local names=(
    $'refs/heads/\e[2J\e[31mred\e[0m'
    $'refs/heads/bell\a'
    $'refs/heads/tab\there'
    'refs/heads/a b'
    'HEAD'
    'refs/heads/a..b'
    $'refs/heads/x\x7f'
  )
  local shown=('refs/heads/\x1b[2J\x1b[31mred\x1b[0m' 'refs/heads/bell\x07' 'refs/heads/tab\there' "${names[@]:3:3}"
    'refs/heads/x\x7f')
  local i name
  for i in "${!names[@]}"; do
    name=${names[i]}
    raw_push "$SERVER" "$pack" "$old $new refs/heads/main" "$ZERO $new $name"
    expect_output "${shown[i]}:"
    expect_output "error [ref.invalid-name] \"${shown[i]}\" is not a valid ref name"
    expect_output "portcullis: push rejected"
    expect_no_output "ACCEPTED"
    if tr -d '\n' <<<"$OUT" | LC_ALL=C grep -q '[[:cntrl:]]'; then
      fail "control characters reached the pusher's terminal: $(od -c <<<"$OUT" | grep -E '\\(033|a|t|177)' | head -3)"
    fi
    expect_ref "$SERVER" refs/heads/main "$old"
    [[ $(tail -n 1 "$audit" | jq -r '.decision') == rejected ]] || fail "audit: $(tail -n 1 "$audit")"
    [[ $(tail -n 1 "$audit" | jq -r '.refs[1].ref') == "$name" ]] || fail "the audit log does not hold the name verbatim: $(tail -n 1 "$audit")"
  done
  # A newline inside a name splits the hook's input: unreadable input is rejected, also in
  # failMode open.
  raw_push "$SERVER" "$pack" "$old $new refs/heads/main" "$ZERO $new refs/heads/x"$'\n'"garbage"
  expect_output "malformed hook input on line 3"
  expect_output "portcullis: push rejected"
  expect_ref "$SERVER" refs/heads/main "$old"
  expect_whole_json_lines "$audit"
}

# ---------------------------------------------------------------------------------------------
# thousands of refs

test_thousands_of_refs_judged_within_the_budget() {
  setup_repo
  local tip i bad atomic
  tip=$(git -C "$CLONE" rev-parse HEAD)
  bad=$(bad_commit)
  for atomic in "" --atomic; do
    git -C "$CLONE" for-each-ref --format='delete %(refname)' refs/heads/b/ | git -C "$CLONE" update-ref --stdin
    git -C "$SERVER" for-each-ref --format='delete %(refname)' refs/heads/b/ | git -C "$SERVER" update-ref --stdin
    for i in $(seq 1 3000); do echo "create refs/heads/b/$i $tip"; done | git -C "$CLONE" update-ref --stdin
    # One of 3,000 is broken: nothing lands.
    git -C "$CLONE" update-ref refs/heads/b/1500 "$bad"
    push_many "$CLONE" $atomic origin 'refs/heads/b/*:refs/heads/b/*'
    expect_rejected
    expect_output "remote: refs/heads/b/1500:"
    expect_output "in 3000 refs checked"
    [[ $(count_b_refs) == 0 ]] || fail "${atomic:-non-atomic}: $(count_b_refs) refs of a rejected push landed"
    # All valid: all land.
    git -C "$CLONE" update-ref refs/heads/b/1500 "$tip"
    push_many "$CLONE" $atomic origin 'refs/heads/b/*:refs/heads/b/*'
    expect_accepted
    expect_output "portcullis: push accepted: 0 errors, 0 warnings (6000 files, 6000 objects in 3000 refs"
    [[ $(count_b_refs) == 3000 ]] || fail "${atomic:-non-atomic}: $(count_b_refs) of 3000 refs landed"
  done
  # Beyond the hook, git decides: a ref git cannot store (b/1 is a branch, so b/1/x cannot be)
  # fails alone without --atomic, and takes the others with it with --atomic.
  for i in $(seq 1 3000); do echo "create refs/heads/c/$i $tip"; done | git -C "$CLONE" update-ref --stdin
  push_many "$CLONE" --atomic origin 'refs/heads/c/*:refs/heads/c/*' "$tip:refs/heads/b/1/x"
  [[ $(git -C "$SERVER" for-each-ref refs/heads/c/ | wc -l) == 0 ]] || fail "--atomic: refs landed beside one git refused"
  push_many "$CLONE" origin 'refs/heads/c/*:refs/heads/c/*' "$tip:refs/heads/b/1/x"
  [[ $(git -C "$SERVER" for-each-ref refs/heads/c/ | wc -l) == 3000 ]] || fail "non-atomic: the 3000 valid refs did not land"
  expect_ref "$SERVER" refs/heads/b/1/x absent
  expect_whole_json_lines "$SERVER/portcullis/audit.jsonl"
}

test_thousands_of_refs_over_the_budget() {
  local atomic last audit
  for atomic in "" --atomic; do
    CURRENT_TEST=test_thousands_of_refs_over_the_budget/${atomic:-plain}
    mkdir -p "$SUITE_TMP/$CURRENT_TEST"
    # The default budget (4 s): judged in time or rejected by it -- all or nothing either way.
    setup_repo
    audit=$SERVER/portcullis/audit.jsonl
    big_push_setup GOOD
    push_many "$CLONE" $atomic origin 'refs/heads/b/*:refs/heads/b/*'
    last=$(tail -n 1 "$audit")
    if ((STATUS == 0)); then
      [[ $(count_b_refs) == 3000 ]] || fail "${atomic:-non-atomic}: accepted, but $(count_b_refs) of 3000 refs landed"
      [[ $(jq -r .decision <<<"$last") == accepted ]] || fail "audit: $last"
    else
      expect_rejected
      expect_output "the checks did not finish within the time budget of 4000 ms"
      expect_output "split the push into smaller pushes"
      [[ $(count_b_refs) == 0 ]] || fail "${atomic:-non-atomic}: rejected by the budget, but $(count_b_refs) refs landed"
      [[ $(jq -r '.rules[0]' <<<"$last") == gate.budget ]] || fail "audit: $last"
    fi
    [[ $(jq '.refs | length' <<<"$last") == 3000 ]] || fail "the audit line does not list the 3000 refs"
    # A budget no machine meets: rejected by it, nothing lands.
    printf 'timeBudget: 300ms\n' >"$CONFIG"
    local i
    for i in $(seq 1 3000); do echo "create refs/heads/c/$i $TIP"; done | git -C "$CLONE" update-ref --stdin
    push_many "$CLONE" $atomic origin 'refs/heads/c/*:refs/heads/c/*' "$TIP:refs/heads/extra"
    expect_rejected
    expect_output "did not finish within the time budget of 300 ms"
    [[ $(git -C "$SERVER" for-each-ref refs/heads/c/ | wc -l) == 0 ]] || fail "refs of a push rejected by the budget landed"
    expect_ref "$SERVER" refs/heads/extra absent
    expect_whole_json_lines "$audit"
  done
  CURRENT_TEST=test_thousands_of_refs_over_the_budget
}

test_more_refs_than_max_refs_are_rejected_even_failing_open() {
  setup_repo - <<<$'failMode: open\ntimeBudget: 120s\nlimits: {maxRefs: 1000}'
  local tip i
  tip=$(bad_commit)
  for i in $(seq 1 1001); do echo "create refs/heads/b/$i $tip"; done | git -C "$CLONE" update-ref --stdin
  push_many "$CLONE" origin 'refs/heads/b/*:refs/heads/b/*'
  expect_rejected
  expect_output "the push updates more than 1000 refs (limits.maxRefs in the server config); push them in smaller batches"
  expect_no_output "ACCEPTED"
  [[ $(count_b_refs) == 0 ]] || fail "$(count_b_refs) refs landed"
  git -C "$CLONE" update-ref -d refs/heads/b/1001
  push_many "$CLONE" origin 'refs/heads/b/*:refs/heads/b/*'
  expect_rejected  # 1000 refs are read and judged: the broken file rejects them
  expect_output "error [yaml.syntax]"
}

# ---------------------------------------------------------------------------------------------
# a pusher who goes away

test_a_push_killed_with_its_server_side() {
  # Over file:// (and a local ssh) receive-pack and the hook share the pusher's process group:
  # ^C or a hang-up of the terminal stops all of them.
  setup_repo - <<<'timeBudget: 120s'
  big_push_setup GOOD
  snapshot "$SERVER"
  start_push killed "$CLONE" origin 'refs/heads/b/*:refs/heads/b/*'
  poll_until 60 hook_running_in "$SERVER" || fail "the hook never ran: $(cat "$SUITE_TMP/$CURRENT_TEST/killed.out")"
  kill -TERM -- "-$PUSH_PID"
  reap_push
  expect_no_leftovers "$SERVER" 30
  [[ $(count_b_refs) == 0 ]] || fail "$(count_b_refs) refs of the aborted push landed"
  expect_store_unchanged
  expect_whole_json_lines "$SERVER/portcullis/audit.jsonl"
  # The server takes the next push as usual.
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_a_pusher_who_disconnects_while_the_hook_runs() {
  make_remote_shell
  local verdict audit last
  for verdict in BAD GOOD; do
    CURRENT_TEST=test_a_pusher_who_disconnects_while_the_hook_runs/$verdict
    mkdir -p "$SUITE_TMP/$CURRENT_TEST"
    setup_repo - <<<'timeBudget: 120s'
    audit=$SERVER/portcullis/audit.jsonl
    big_push_setup "$verdict"
    snapshot "$SERVER"
    # The server side lives in its own session; the client dies at once, without a word
    # (SIGKILL: no clean-up of its children), as when a laptop loses the network.
    FAULTS_REPO=$SERVER GIT_SSH=$REMOTE_SHELL GIT_SSH_VARIANT=simple \
      start_push gone "$CLONE" ssh://git-server/config.git 'refs/heads/b/*:refs/heads/b/*'
    poll_until 60 hook_running_in "$SERVER" || fail "the hook never ran: $(cat "$SUITE_TMP/$CURRENT_TEST/gone.out")"
    kill -KILL -- "-$PUSH_PID"
    reap_push
    # The hook finishes its judgement alone, records it and goes, with receive-pack.
    expect_no_leftovers "$SERVER" 150
    expect_whole_json_lines "$audit"
    last=$(tail -n 1 "$audit")
    [[ $(jq '.refs | length' <<<"$last") == 3000 ]] || fail "the decision on the 3000 refs is not in the audit log: $last"
    if [[ $verdict == BAD ]]; then
      [[ $(jq -r .decision <<<"$last") == rejected ]] || fail "audit: $last"
      [[ $(count_b_refs) == 0 ]] || fail "$(count_b_refs) refs of a rejected push landed"
      expect_store_unchanged
    else
      # Accepted; whether git got to store the refs before it noticed the pusher was gone is
      # git's affair, but no ref points anywhere but at the accepted commit.
      [[ $(jq -r .decision <<<"$last") == accepted ]] || fail "audit: $last"
      local stray
      stray=$(git -C "$SERVER" for-each-ref --format='%(objectname)' refs/heads/b/ | grep -vc "^$TIP$")
      [[ $stray == 0 ]] || fail "$stray refs point elsewhere"
      echo "    note: $(count_b_refs) of 3000 accepted refs landed before receive-pack noticed the pusher was gone"
    fi
  done
  CURRENT_TEST=test_a_pusher_who_disconnects_while_the_hook_runs
}

test_an_audit_log_that_blocks_cannot_hold_the_push() {
  local fifo=$SUITE_TMP/$CURRENT_TEST/audit.fifo started
  mkfifo "$fifo"
  printf 'timeBudget: 1s\nauditLog: %s\n' "$fifo" >"$SUITE_TMP/$CURRENT_TEST/server.yaml"
  SERVER=$(new_server server "$SUITE_TMP/$CURRENT_TEST/server.yaml")
  CLONE=$(new_clone "$SERVER")
  configmap base | put "$CLONE" environments/dev/base.yaml
  commit "$CLONE"
  started=$SECONDS
  push_within 30 "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "portcullis: push rejected: the hook is stuck 2 s past its time budget of 1000 ms, so the decision cannot be recorded"
  expect_output "writing the audit log blocks"
  ((SECONDS - started <= 10)) || fail "the push took $((SECONDS - started)) s with a budget of 1 s"
  expect_ref "$SERVER" refs/heads/main absent
  expect_no_leftovers "$SERVER" 10
  # The same when the pusher has gone meanwhile: nothing is left waiting for a reader.
  make_remote_shell
  FAULTS_REPO=$SERVER GIT_SSH=$REMOTE_SHELL GIT_SSH_VARIANT=simple \
    start_push gone "$CLONE" ssh://git-server/config.git HEAD:main
  poll_until 30 hook_running_in "$SERVER" || fail "the hook never ran"
  kill -KILL -- "-$PUSH_PID"
  reap_push
  expect_no_leftovers "$SERVER" 15
  expect_ref "$SERVER" refs/heads/main absent
}

# ---------------------------------------------------------------------------------------------
# full disks

test_a_full_disk_under_the_audit_log() {
  local fs audit before tip rejected=0 i accepted=1
  mount_fs auditfs 64k || return
  fs=$FS
  audit=$fs/audit/decisions.jsonl
  setup_repo - <<<"auditLog: $audit"
  fill_fs "$fs"
  # The log's last block still has room for a few lines; then a line fits only in part.
  for i in $(seq 1 30); do
    configmap "cm-$i" | put "$CLONE" "environments/dev/cm-$i.yaml"
    commit "$CLONE"
    tip=$(git -C "$SERVER" rev-parse main)
    before=$(stat -c %s "$audit")
    push "$CLONE" origin HEAD:main
    if ((STATUS != 0)); then
      rejected=1
      break
    fi
    accepted=$((accepted + 1))
  done
  ((rejected)) || fail "30 pushes were all recorded on a full file system"
  expect_rejected
  expect_output "error [gate.audit] cannot record the decision in the audit log (cannot write $audit"
  expect_output "every decision must be recorded, so the push is rejected"
  expect_output "fix: the server cannot record decisions; tell its administrators (disk full?)"
  expect_ref "$SERVER" refs/heads/main "$tip"
  [[ $(stat -c %s "$audit") == "$before" ]] || fail "the rejected decision left $(( $(stat -c %s "$audit") - before )) bytes in the log"
  expect_whole_json_lines "$audit"
  [[ $(wc -l <"$audit") == "$accepted" ]] || fail "$accepted accepted pushes, $(wc -l <"$audit") audit lines"
  grep -q "short write" <<<"$OUT" || echo "    note: the disk was full to the byte; no line was cut short this time"
  # Once there is room, decisions are recorded again.
  rm -f "$fs/filler"
  push "$CLONE" origin HEAD:main
  expect_accepted
  [[ $(wc -l <"$audit") == $((accepted + 1)) ]] || fail "the decision after the disk was freed is not recorded"
  expect_whole_json_lines "$audit"
}

test_an_audit_log_that_cannot_be_written() {
  # /dev/full: every write fails with ENOSPC.
  setup_repo - <<<'timeBudget: 30s'
  printf 'auditLog: /dev/full\n' >"$CONFIG"
  configmap next | put "$CLONE" environments/dev/next.yaml
  commit "$CLONE"
  local tip
  tip=$(git -C "$SERVER" rev-parse main)
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [gate.audit] cannot record the decision in the audit log (cannot write /dev/full: No space left on device)"
  expect_ref "$SERVER" refs/heads/main "$tip"
  # failMode open accepts what is not judged in time only when it can say so in the log.
  printf 'auditLog: /dev/full\nfailMode: open\ntimeBudget: 1ms\n' >"$CONFIG"
  local i
  for i in $(seq 1 300); do configmap "cm-$i" | put "$CLONE" "environments/dev/many/cm-$i.yaml"; done
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_no_output "ACCEPTED"
  expect_no_output "the push is accepted"
  expect_output "time budget of 1 ms"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

test_a_full_disk_under_the_notification_spool() {
  local fs spool dir=$SUITE_TMP/$CURRENT_TEST i
  mount_fs spoolfs 64k || return
  fs=$FS
  spool=$fs/spool
  POLL=1s setup_target spoolfull
  printf '  spool: %s\n' "$spool" >>"$dir/server.yaml"
  commit "$CLONE" namespace
  # The daemon is down. The spool's file system has one free block: the event, which names 61
  # refs, does not fit in it.
  fill_fs "$fs"
  truncate -s -4096 "$fs/filler"
  configmap healed | put "$CLONE" "environments/spoolfull/healed.yaml"
  commit "$CLONE" "a change the daemon is not told about"
  for i in $(seq 1 60); do git -C "$CLONE" branch "topic-$i"; done
  push "$CLONE" origin HEAD:main 'refs/heads/topic-*:refs/heads/topic-*'
  expect_accepted
  expect_output "portcullis: push accepted"
  expect_output "remote: portcullis: warning: cannot notify $DAEMON_URL/v1/events"
  expect_output "remote: portcullis: warning: cannot spool the event: "
  expect_output "No space left on device; the daemon's poll will catch up"
  expect_ref "$SERVER" refs/heads/main "$(git -C "$CLONE" rev-parse HEAD)"
  [[ -z $(find "$spool" -type f 2>/dev/null) ]] || fail "half-written spool files: $(find "$spool" -type f)"
  # Nothing to deliver later: the lost event is healed by the daemon's poll, not the spool.
  rm -f "$fs/filler"
  run "$PORTCULLIS" notify --flush --config "$dir/server.yaml"
  expect_status 0
  expect_output "delivered 0, still spooled 0"
  start_daemon
  wait_synced 60
  [[ $(kubectl get configmap healed -n "$NS" -o jsonpath='{.data.key}' 2>&1) == value ]] ||
    fail "the change was not applied: $(kubectl get configmap healed -n "$NS" 2>&1)"
}

run_suite "$@"
