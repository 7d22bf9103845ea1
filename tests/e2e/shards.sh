#!/usr/bin/env bash
# End to end: sharding targets across replicas with coordination.k8s.io/v1 Leases on a real
# kube-apiserver (docs/sharding.md). Three portcullisd replicas with the same config share 12
# targets: each target is synced by exactly one replica, the holder of its shard's Lease. kill -9
# of a replica mid-sync: its shards are taken over within the lease duration and its targets
# synced by the others. A fourth replica: only the shards rendezvous hashing gives it move. No
# target is ever synced by two replicas at once (the daemons' logs: start and end of every sync),
# nothing is pruned. SIGTERM releases a replica's shards at once.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"

# The reconciler's user may keep, list and delete (members long gone) its Leases (install/kubernetes gives the same to the pod).
kubectl create namespace portcullis-system >/dev/null 2>&1
kubectl create role portcullisd-shards -n portcullis-system --verb=get,list,create,update,delete \
  --resource=leases.coordination.k8s.io >/dev/null &&
  kubectl create rolebinding portcullisd-shards -n portcullis-system --role=portcullisd-shards \
    --user=portcullisd >/dev/null || { echo "FATAL: cannot grant leases"; exit 1; }

LEASE_SECONDS=4
RETRY_MS=500
SHARDS=12
TARGETS=12
COUNT=3        # ConfigMaps per target
DELAY_MS=400   # every apply sleeps this long (PORTCULLIS_TEST_DELAY_AT): syncs last long enough to overlap
declare -A URL LOG PID

PREFIX=portcullisd  # sharding.leasePrefix
tname() { printf '%s%02d' "${TPREFIX:-t}" "$1"; }

# setup_replicas: a repository with TARGETS targets (environments/tNN into namespace tNN) and
# the config of replica r1 (DAEMON_CONFIG), not started.
setup_replicas() {
  local targets="" i t
  for ((i = 1; i <= TARGETS; i++)); do
    t=$(tname "$i")
    targets+="  - name: $t
    path: environments/$t
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $t
"
  done
  POLL=1s DAEMON_EXTRA="sharding:
  kubeconfig: $KDIR/kubeconfig-portcullisd
  identity: r1
  shards: $SHARDS
  leasePrefix: $PREFIX
  leaseDuration: ${LEASE_SECONDS}s
  renewDeadline: 3s
  retryPeriod: ${RETRY_MS}ms" new_daemon "$targets"
  for ((i = 1; i <= TARGETS; i++)); do
    t=$(tname "$i")
    put "$CLONE" "environments/$t/namespace.yaml" "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$t")"
  done
  URL[r1]=$DAEMON_URL
  LOG[r1]=$DAEMON_LOG
}

# replica NAME: its config, from r1's with its own port, state directory and identity.
replica() {
  local dir=$SUITE_TMP/$CURRENT_TEST port
  [[ $1 == r1 ]] && return
  port=$(free_port)
  URL[$1]=http://127.0.0.1:$port
  LOG[$1]=$dir/$1.log
  sed -e "s|^listen: .*|listen: 127.0.0.1:$port|" -e "s|^stateDir: .*|stateDir: $dir/state-$1|" \
    -e "s|^  identity: r1\$|  identity: $1|" "$DAEMON_CONFIG" >"$dir/$1.yaml"
}

config_of() { [[ $1 == r1 ]] && echo "$DAEMON_CONFIG" || echo "$SUITE_TMP/$CURRENT_TEST/$1.yaml"; }

launch() {
  PORTCULLIS_TEST_PAUSE_AT=${PAUSE:-} PORTCULLIS_TEST_DELAY_AT=apply:$DELAY_MS "$PORTCULLISD" --config "$(config_of "$1")" >>"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  disown "${PID[$1]}"
  DAEMON_PIDS+=("${PID[$1]}")
}

answers() { curl -fsS --max-time 2 -o /dev/null "${URL[$1]}/healthz" 2>/dev/null; }
# ready R: R's /readyz answers 200 (every worker it runs has finished a first round).
ready() { curl -fsS --max-time 2 -o /dev/null "${URL[$1]}/readyz" 2>/dev/null; }

# configmaps VALUE: COUNT ConfigMaps with data.key VALUE in every target, committed and pushed.
configmaps() {
  local i k t
  for ((i = 1; i <= TARGETS; i++)); do
    t=$(tname "$i")
    for ((k = 1; k <= COUNT; k++)); do
      printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%s\ndata:\n  key: %s\n' "$k" "$1" |
        put "$CLONE" "environments/$t/cm-$k.yaml"
    done
  done
  commit "$CLONE" "configmaps at $1"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# The targets' ConfigMaps (of this test's targets: TPREFIX), as JSON items.
target_configmaps() {
  kubectl get configmaps -A -l portcullis.io/target -o json 2>/dev/null |
    jq -c --arg p "${TPREFIX:-t}" '[.items[] | select((.metadata.name | startswith("cm-")) and (.metadata.namespace | startswith($p)))]'
}
# How many of them have data.key VALUE.
count_at() { target_configmaps | jq --arg v "$1" '[.[] | select(.data.key == $v)] | length'; }
all_at() { [[ $(count_at "$1") == $((TARGETS * COUNT)) ]]; }

# The holders of the shard Leases, by shard ("-" none), space-separated.
holders() {
  kubectl get leases -n portcullis-system -o json 2>/dev/null | jq -r --argjson n "$SHARDS" '
    (.items | map({key: .metadata.name, value: (.spec.holderIdentity // "")}) | from_entries) as $m
    | [range(0; $n) | ($m["'"$PREFIX"'-shard-\(.)"] // "") | if . == "" then "-" else . end] | join(" ")'
}

metric() { curl -fsS "${URL[$1]}/metrics" 2>/dev/null | awk -v m="$2" '$1 == m {print $2}'; }
has_metric() { [[ -n $(metric "$1" "$2") ]]; }
held_is() { [[ $(metric "$1" portcullis_shards_held) == "$2" ]]; }

# settled NAME...: each replica sees exactly these members, holds every shard it is wanted for
# and nothing else, and together they hold every shard.
settled() {
  local r held total=0
  for r in "$@"; do
    [[ $(metric "$r" portcullis_shard_members) == "$#" ]] || return 1
    held=$(metric "$r" portcullis_shards_held)
    [[ -n $held && $held == "$(metric "$r" portcullis_shards_wanted)" ]] || return 1
    total=$((total + held))
  done
  ((total == SHARDS)) || return 1
  local h
  for h in $(holders); do [[ " $* " == *" $h "* ]] || return 1; done
}

# "tNN SHARD" lines, from r1's /v1/targets.
target_shards() { curl -fsS "${URL[r1]}/v1/targets" | jq -r '.targets[] | "\(.name) \(.shard)"'; }

# The replicas whose logs have a sync of TARGET at REVISION (space-separated, sorted).
synced_by() {
  local r out=()
  for r in "${!LOG[@]}"; do
    # (not jq -e: jq 1.6 answers 4 after a line that fromjson? skips)
    jq -R -r --arg t "$1" --arg v "$2" 'fromjson? | select(.target == $t and .revision == $v and ((.msg // "") | startswith("sync of "))) | .target' \
      "${LOG[$r]}" 2>/dev/null | grep -q . && out+=("$r")
  done
  printf '%s\n' "${out[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# check_each_target_synced_once REVISION: every target was synced at REVISION by exactly one
# replica, the holder of the target's shard.
check_each_target_synced_once() {
  local -a hold
  read -r -a hold <<<"$(holders)"
  local name shard by
  while read -r name shard; do
    by=$(synced_by "$name" "$1")
    [[ $by == "${hold[$shard]}" ]] || fail "$name (shard $shard, held by ${hold[$shard]}) was synced at ${1:0:12} by: '$by'"
  done < <(target_shards)
}

# no_overlap LOG[:KILLED_MS]...: no target synced by two replicas at once (tests/e2e/shards_overlap.py).
no_overlap() { python3 "$E2E_DIR/shards_overlap.py" "$@"; }

test_replicas_share_targets_take_over_and_move_only_a_share() {
  setup_replicas
  configmaps v1
  local r
  for r in r1 r2 r3; do replica "$r"; done
  for r in r1 r2 r3; do launch "$r"; done
  for r in r1 r2 r3; do poll_until 10 answers "$r" || fail "$r did not start: $(tail -3 "${LOG[$r]}")"; done
  poll_until 60 settled r1 r2 r3 || fail "the shards did not settle over r1 r2 r3: $(holders)"
  poll_until 90 all_at v1 || fail "not every target applied v1: $(count_at v1) of $((TARGETS * COUNT))"
  local -a before
  read -r -a before <<<"$(holders)"
  echo "    shard holders of r1 r2 r3: ${before[*]}"
  # Every replica serves its status and is ready, whatever it holds, within a deadline: ready
  # means every worker has finished a first round, which may trail the shards settling (one CI
  # run found r1 not ready at a single check right after; the rerun passed).
  for r in r1 r2 r3; do
    poll_until 20 ready "$r" ||
      fail "$r is not ready: $(curl -s -w ' (HTTP %{http_code})' "${URL[$r]}/readyz")"
  done

  # Each target synced by exactly one replica, its shard's holder; the others show it unsynced.
  configmaps v2
  local v2
  v2=$(git -C "$SERVER" rev-parse main)
  poll_until 60 all_at v2 || fail "not every target applied v2: $(count_at v2)"
  check_each_target_synced_once "$v2"
  local mine
  for r in r1 r2 r3; do
    mine=$(curl -fsS "${URL[$r]}/v1/targets" | jq -r --arg v "$v2" '[.targets[] | select(.appliedRevision == $v) | .shard] | unique | join(" ")')
    for s in $mine; do [[ ${before[$s]} == "$r" ]] || fail "$r applied v2 to a target of shard $s, held by ${before[$s]}"; done
    # It says which targets are its own: those of the shards whose Lease names it.
    mine=$(curl -fsS "${URL[$r]}/v1/targets" | jq -r '[.targets[] | select(.shardHeld) | .shard] | unique | join(" ")')
    for s in $mine; do [[ ${before[$s]} == "$r" ]] || fail "$r says it holds shard $s, held by ${before[$s]}"; done
    [[ -n $mine || " ${before[*]} " != *" $r "* ]] || fail "$r says it holds no shard"
  done

  # kill -9 of r2 in the middle of a sync of v3: its shards are taken over within the lease duration.
  configmaps v3
  local v3
  v3=$(git -C "$SERVER" rev-parse main)
  poll_until 30 grep -q "\"msg\":\"sync started\".*\"revision\":\"$v3\"" "${LOG[r2]}" || fail "r2 did not start syncing v3"
  kill -9 "${PID[r2]}"
  local killed took
  killed=$(date +%s%3N)
  local last_start last_end
  last_start=$(grep -n '"msg":"sync started"' "${LOG[r2]}" | tail -1 | cut -d: -f1)
  last_end=$(grep -n '"msg":"sync of ' "${LOG[r2]}" | tail -1 | cut -d: -f1)
  ((last_start > ${last_end:-0})) || fail "r2 was not mid-sync when killed"
  gone() { [[ " $(holders) " != *" r2 "* && $(holders) != *-* ]]; }
  poll_until $((LEASE_SECONDS + 5)) gone || fail "r2's shards were not taken over: $(holders)"
  took=$(($(date +%s%3N) - killed))
  # Bound: leaseDuration after the others last saw r2's Leases change (at most a retry period
  # after its last renewal), a round to see it and one to take the shards, and kubectl's read.
  ((took <= LEASE_SECONDS * 1000 + 3 * RETRY_MS + 1000)) || fail "the takeover took ${took} ms (lease ${LEASE_SECONDS}s)"
  echo "    r2's shards taken over ${took} ms after kill -9 (leaseDuration ${LEASE_SECONDS}s)"
  local -a after_kill
  read -r -a after_kill <<<"$(holders)"
  local s moved=0
  for ((s = 0; s < SHARDS; s++)); do
    [[ ${before[$s]} == r2 ]] && ((moved += 1))
    [[ ${before[$s]} != r2 && ${after_kill[$s]} != "${before[$s]}" ]] && fail "shard $s moved from ${before[$s]} though r2 did not hold it"
  done
  echo "    shards r2 held: $moved"
  poll_until 60 all_at v3 || fail "not every target applied v3 after r2 was killed: $(count_at v3)"
  poll_until 10 settled r1 r3 || fail "the shards did not settle over r1 r3: $(holders)"
  check_each_target_synced_once_after_kill() {
    local name shard by
    while read -r name shard; do
      by=$(synced_by "$name" "$v3")
      by=${by/r2/}
      by=${by# }
      by=${by% }
      [[ $by == "${after_kill[$shard]}" ]] || fail "$name (shard $shard) was synced at v3 by '$by', expected ${after_kill[$shard]}"
    done < <(target_shards)
  }
  check_each_target_synced_once_after_kill

  # A fourth replica: while r1 and r3 sync v4, only the shards it wins move, all to it.
  replica r4
  configmaps v4
  launch r4
  poll_until 10 answers r4 || fail "r4 did not start: $(tail -3 "${LOG[r4]}")"
  poll_until 30 settled r1 r3 r4 || fail "the shards did not settle over r1 r3 r4: $(holders)"
  local -a after_join
  read -r -a after_join <<<"$(holders)"
  moved=0
  for ((s = 0; s < SHARDS; s++)); do
    [[ ${after_join[$s]} == "${after_kill[$s]}" ]] && continue
    ((moved += 1))
    [[ ${after_join[$s]} == r4 ]] || fail "shard $s moved from ${after_kill[$s]} to ${after_join[$s]}, not to the new replica"
  done
  # tests/unit/daemon/test_shards.cpp: rendezvous over r1 r3, then r1 r3 r4, moves 4 of 12.
  ((moved == 4)) || fail "$moved shards moved to r4, expected 4: ${after_kill[*]} -> ${after_join[*]}"
  echo "    shards moved to r4: $moved of $SHARDS (${after_join[*]})"
  poll_until 60 all_at v4 || fail "not every target applied v4: $(count_at v4)"
  # Settled again: each target synced by exactly one replica.
  configmaps v5
  poll_until 60 all_at v5 || fail "not every target applied v5: $(count_at v5)"
  check_each_target_synced_once "$(git -C "$SERVER" rev-parse main)"

  # Nothing pruned: every object is there and no replica's audit log prunes anything.
  [[ $(target_configmaps | jq length) == $((TARGETS * COUNT)) ]] ||
    fail "objects were lost: $(target_configmaps | jq -c '[.[] | .metadata.namespace + "/" + .metadata.name]')"
  local dir=$SUITE_TMP/$CURRENT_TEST audit
  for audit in "$dir"/state/audit.jsonl "$dir"/state-r*/audit.jsonl; do
    [[ -f $audit ]] || continue
    ! jq -e 'select(.pruned != null and (.pruned | length) > 0)' "$audit" >/dev/null 2>&1 || fail "pruned: $(jq -c 'select((.pruned | length) > 0)' "$audit")"
  done

  # SIGTERM: r4 gives its shards up at once (no lease duration to wait), and r1 and r3 take them.
  local stopped
  kill -TERM "${PID[r4]}"
  stopped=$(date +%s%3N)
  poll_until "$LEASE_SECONDS" settled r1 r3 || fail "r4's shards were not taken within ${LEASE_SECONDS}s of SIGTERM: $(holders)"
  echo "    r4's shards taken over $(($(date +%s%3N) - stopped)) ms after SIGTERM"
  # Released, not expired: no Lease names r4, and its member Lease has no holder (r2's, killed, still names r2).
  local leases
  leases=$(kubectl get leases -n portcullis-system -o json)
  [[ $(jq '[.items[] | select(.spec.holderIdentity == "r4")] | length' <<<"$leases") == 0 ]] || fail "r4 still holds Leases"
  [[ $(jq '[.items[] | select((.metadata.name | startswith("portcullisd-member-")) and (.spec.holderIdentity // "") == "")] | length' <<<"$leases") == 1 ]] ||
    fail "r4 did not release its member Lease: $(jq -c '[.items[] | {(.metadata.name): .spec.holderIdentity}]' <<<"$leases")"

  # No target was ever synced by two replicas at once (r2's last sync ends when it was killed).
  local out
  if out=$(no_overlap "${LOG[r1]}" "${LOG[r2]}:$killed" "${LOG[r3]}" "${LOG[r4]}"); then echo "    $out"; else fail "overlapping syncs: $out"; fi

  # r2's member Lease is deleted once unchanged for 10 lease durations (pods come and go).
  r2_forgotten() { [[ $(kubectl get leases -n portcullis-system -o json | jq '[.items[] | select(.spec.holderIdentity == "r2")] | length') == 0 ]]; }
  poll_until $((LEASE_SECONDS * 10 + 10)) r2_forgotten || fail "r2's member Lease was not deleted"
  took=$(($(date +%s%3N) - killed))
  echo "    r2's member Lease deleted ${took} ms after kill -9"
  stop_replicas r1 r3
}

stop_replicas() {
  local r
  for r in "$@"; do kill -TERM "${PID[$r]}" 2>/dev/null; done
  for r in "$@"; do poll_until 20 bash -c "! kill -0 ${PID[$r]} 2>/dev/null" || fail "$r did not stop"; done
}

test_a_replica_counting_other_shards_takes_nothing_while_the_other_count_is_live() {
  # Replicas that count shards differently put the same target in different shards: a replica
  # that sees a live member counting otherwise takes no shard until that member is gone.
  local PREFIX=mixed TPREFIX=m TARGETS=3
  setup_replicas
  configmaps v1
  replica r1
  replica r2
  sed -i "s|^  shards: $SHARDS\$|  shards: 16|" "$(config_of r2)"
  launch r1
  poll_until 10 answers r1 || fail "r1 did not start"
  poll_until 20 settled r1 || fail "r1 did not take every shard: $(holders)"
  launch r2
  poll_until 10 answers r2 || fail "r2 did not start"
  poll_until 10 grep -q '"msg":"a live replica counts other shards' "${LOG[r2]}" || fail "r2 did not notice r1 counts 12 shards"
  poll_until 10 grep -q '"msg":"a live replica counts other shards' "${LOG[r1]}" || fail "r1 did not notice r2 counts 16 shards"
  # A round of r2 ends with its metrics (it saw r1 from its first): r1 keeps its 12, r2 holds none.
  poll_until 5 has_metric r2 portcullis_shards_held || fail "r2 did not finish a round"
  [[ $(metric r2 portcullis_shards_held) == 0 ]] || fail "r2 holds shards: $(metric r2 portcullis_shards_held)"
  [[ $(metric r1 portcullis_shards_held) == "$SHARDS" ]] || fail "r1 gave shards up: $(metric r1 portcullis_shards_held)"
  [[ $(holders) != *r2* ]] || fail "a shard Lease names r2: $(holders)"
  # Once r1 is gone (SIGTERM releases its Leases), r2 takes every one of its 16.
  stop_replicas r1
  poll_until 10 held_is r2 16 ||
    fail "r2 did not take its 16 shards after r1 stopped: $(metric r2 portcullis_shards_held)"
  stop_replicas r2
}

test_a_replica_paused_past_its_leases_writes_nothing_when_it_resumes() {
  # r1 holds every shard and stops (SIGSTOP, at a fault point) between two applies of v2; r2
  # takes the shards once their Leases expire and syncs v2, then v3. r1 resumes in the middle
  # of its v2 sync: its shards' Leases are not renewed in time, so its writes are refused.
  local PREFIX=fence TPREFIX=f TARGETS=2
  setup_replicas
  configmaps v1
  replica r1
  replica r2
  # v1: a Namespace and COUNT ConfigMaps per target; v2 changes the ConfigMaps: pause at its second apply.
  PAUSE=apply:$((TARGETS * (COUNT + 1) + 2)) launch r1
  poll_until 10 answers r1 || fail "r1 did not start"
  poll_until 60 all_at v1 || fail "r1 did not apply v1: $(count_at v1)"
  configmaps v2
  poll_until 30 grep -q 'paused at fault point' "${LOG[r1]}" || fail "r1 did not stop mid-sync: $(tail -3 "${LOG[r1]}")"
  launch r2
  poll_until 10 answers r2 || fail "r2 did not start"
  poll_until $((LEASE_SECONDS + 6)) held_is r2 "$SHARDS" || fail "r2 did not take the shards of the stopped r1: $(holders)"
  poll_until 60 all_at v2 || fail "r2 did not apply v2: $(count_at v2)"
  configmaps v3
  poll_until 60 all_at v3 || fail "r2 did not apply v3: $(count_at v3)"
  kill -CONT "${PID[r1]}"
  poll_until 20 grep -q 'is not held' "${LOG[r1]}" || fail "r1's writes were not refused: $(tail -5 "${LOG[r1]}")"
  all_at v3 || fail "the resumed r1 wrote: $(target_configmaps | jq -c '[.[] | {(.metadata.namespace + "/" + .metadata.name): .data.key}]')"
  poll_until 10 grep -q '"msg":"lost shard' "${LOG[r1]}" || fail "r1 did not see it lost its shards"
  # It carries on as a member: the two share the shards again, and the targets stay at v3.
  poll_until 30 settled r1 r2 || fail "r1 and r2 did not settle: $(holders)"
  all_at v3 || fail "not every target is at v3 after r1 rejoined: $(count_at v3)"
  stop_replicas r1 r2
}

test_the_overlap_check_finds_two_replicas_syncing_a_target_at_once() {
  # The evidence above could fail: two logs whose syncs of t01 overlap by 100 ms.
  local dir=$SUITE_TMP/$CURRENT_TEST
  printf '%s\n' '{"time":"2026-12-07T12:00:00.000Z","level":"debug","msg":"sync started","target":"t01","revision":"a"}' \
    '{"time":"2026-12-07T12:00:01.000Z","level":"info","msg":"sync of t01 at a: Synced","target":"t01","revision":"a"}' >"$dir/a.log"
  printf '%s\n' '{"time":"2026-12-07T12:00:00.900Z","level":"debug","msg":"sync started","target":"t01","revision":"a"}' \
    '{"time":"2026-12-07T12:00:01.500Z","level":"info","msg":"sync of t01 at a: Synced","target":"t01","revision":"a"}' >"$dir/b.log"
  ! no_overlap "$dir/a.log" "$dir/b.log" >/dev/null || fail "the overlap check missed an overlap"
  # A sync cut short by kill -9 lasts until the kill.
  printf '%s\n' '{"time":"2026-12-07T12:00:00.000Z","level":"debug","msg":"sync started","target":"t01","revision":"a"}' >"$dir/c.log"
  local at_kill
  at_kill=$(date -d 2026-12-07T12:00:00.500Z +%s%3N)
  no_overlap "$dir/c.log:$at_kill" "$dir/b.log" >/dev/null || fail "a killed replica's sync was taken to last past its kill"
  ! no_overlap "$dir/c.log:$((at_kill + 1000))" "$dir/b.log" >/dev/null || fail "the overlap check missed a killed replica's sync"
}

run_suite "$@"
