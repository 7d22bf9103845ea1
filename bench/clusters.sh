#!/usr/bin/env bash
# Many clusters from one portcullisd (issue 20): real kube-apiservers 1.20.2 + etcd on loopback
# (tests/env/kube.sh, one per cluster), one daemon, its targets spread over them, notified by the
# real post-receive hook of one real bare repository. Measured against the issue's figures:
#
#   1. first sync: daemon start -> every target Synced (30,000 objects in all), and per cluster
#   2. daemon peak RSS (VmHWM) over the whole run: goal under 150 MB
#   3. push to applied for one target while the others are idle (10-object change; from
#      `git push` returning to every changed object showing its new value in its apiserver): p50
#   4. the same with another cluster's apiserver stopped (SIGSTOP: its connections stay open and
#      nothing answers), and how its targets are shown meanwhile
#
# Usage: bench/clusters.sh [--quick]
#   --quick   3 clusters, 6 targets, 3,000 objects, fewer pushes (a smoke test of the harness)
# Environment:
#   PORTCULLIS=PATH PORTCULLISD=PATH   measure these binaries (copied first) instead of building
#                                      them (install/build.sh into bench/out/build)
#   CLUSTERS=N TARGETS=N APPS=N        clusters, targets (spread round-robin), Deployment +
#                                      ConfigMap pairs per target (default 3, 60, 250: 30,000 objects)
#   PUSHES=N                           measured pushes per phase (default 30, 3 warm-up before)
#
# Needs what bench/reconcile.sh needs. Everything lives in bench/out/clusters/, recreated on each
# run; the markdown report goes to stdout and to bench/out/clusters/report.md. Results:
# docs/performance.md, "Many clusters".
set -euo pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
out=$bench/out/clusters
client=$bench/reconcile-client.py

quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  *) echo "usage: bench/clusters.sh [--quick]" >&2; exit 2 ;;
esac
if ((quick)); then
  nclusters=${CLUSTERS:-3} ntargets=${TARGETS:-6} apps=${APPS:-250} pushes=${PUSHES:-8}
else
  nclusters=${CLUSTERS:-3} ntargets=${TARGETS:-60} apps=${APPS:-250} pushes=${PUSHES:-30}
fi
warmup=3 per_push=5 timeout_s=10

log() { printf 'clusters: %s\n' "$*" >&2; }
die() { printf 'clusters: error: %s\n' "$*" >&2; exit 1; }
for tool in git jq curl awk python3 openssl etcd kubectl; do
  command -v "$tool" >/dev/null || die "$tool is missing; run install/deps.sh"
done
((nclusters >= 2 && ntargets >= nclusters)) || die "need 2 clusters or more and a target per cluster at least"

started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
rm -rf "$out"
mkdir -p "$out/bin"

# --- The binaries under test (copied: other sessions may rebuild build/ meanwhile) -------------
if [[ -n ${PORTCULLIS:-} || -n ${PORTCULLISD:-} ]]; then
  [[ -n ${PORTCULLIS:-} && -n ${PORTCULLISD:-} ]] || die "set both PORTCULLIS and PORTCULLISD, or neither"
  src_pc=$PORTCULLIS src_pcd=$PORTCULLISD
else
  log "building Portcullis (install/build.sh into bench/out/build; log in $out/build.log)"
  CMAKE_OPTIONS="-DPORTCULLIS_TESTS=OFF ${CMAKE_OPTIONS:-}" \
    "$root/install/build.sh" "$bench/out/build" "$bench/out/prefix" >"$out/build.log" 2>&1 ||
    { tail -n 30 "$out/build.log" >&2; die "the build failed"; }
  src_pc=$bench/out/prefix/bin/portcullis src_pcd=$bench/out/prefix/bin/portcullisd
fi
cp "$src_pc" "$out/bin/portcullis"
cp "$src_pcd" "$out/bin/portcullisd"
pc=$out/bin/portcullis pcd=$out/bin/portcullisd
bin_note="$src_pcd ($(date -u -r "$src_pcd" '+%Y-%m-%d %H:%M UTC'))"

# --- The apiservers: cluster c in $out/kube-c ------------------------------------------------------
# shellcheck source=../tests/env/kube.sh
source "$root/tests/env/kube.sh"
dpid="" stopped_pid=""
cleanup() {
  local c
  [[ -z $dpid ]] || kill -TERM "$dpid" 2>/dev/null || true
  [[ -z $stopped_pid ]] || kill -CONT "$stopped_pid" 2>/dev/null || true
  for ((c = 0; c < nclusters; c++)); do kube_stop "$out/kube-$c" || true; done
}
trap cleanup EXIT
kube_build >/dev/null 2>&1 || die "kube_build failed (tests/env/kube.sh)"
declare -a api_url=() api_ca=() api_token=()
for ((c = 0; c < nclusters; c++)); do
  log "starting kube-apiserver $KUBE_VERSION + etcd for cluster $c"
  kube_start "$out/kube-$c" 2>"$out/kube-start-$c.log" || { cat "$out/kube-start-$c.log" >&2; die "kube_start failed"; }
  api_url[c]=$KUBE_API_URL api_ca[c]=$KUBE_CA_FILE api_token[c]=$KUBE_ADMIN_TOKEN
  "$root/install/kubernetes/rbac-for-kinds.sh" --user portcullisd apps/deployments 2>/dev/null |
    kubectl --kubeconfig "$out/kube-$c/kubeconfig" apply -f - >/dev/null
done
cluster_of() { echo $((($1 - 1) % nclusters)); } # target number (1-based) -> cluster
tname() { printf 't%02d' "$1"; }

# --- The repository: environments/tNN, APPS Deployments + APPS ConfigMaps each ---------------------
export GIT_CONFIG_NOSYSTEM=1 HOME=$out/home
mkdir -p "$HOME"
git config --global init.defaultBranch main
git config --global protocol.file.allow always
git config --global user.name Bench
git config --global user.email bench@example.com
export REMOTE_USER=bench-pusher
log "generating $ntargets environments of $((2 * apps)) objects (bench/reconcile-gen.awk)"
gzip -dc "$root/tests/fixtures/openapi-v2-kubernetes-1.20.json.gz" >"$out/openapi.json"
"$pc" schemas import --openapi "$out/openapi.json" --out "$out/schemas" >/dev/null
printf 'bench-%s' "$(openssl rand -hex 16)" >"$out/notify.secret"
w=$out/src
for ((t = 1; t <= ntargets; t++)); do
  dir=$w/environments/$(tname "$t")
  mkdir -p "$dir/apps"
  (cd "$dir/apps" && seq -f 'app-%04g' 1 "$apps" | xargs mkdir -p)
  awk -v dir="$dir" -v apps="$apps" -v env="$(tname "$t")" -f "$bench/reconcile-gen.awk"
  c=$(cluster_of "$t")
  kubectl --kubeconfig "$out/kube-$c/kubeconfig" create namespace "$(tname "$t")" >/dev/null
done
cat >"$w/.portcullis.yaml" <<'YAML'
protectedRefs: [refs/heads/main]
manifests:
  strict: true
  missingSchema: reject
  denyKinds: [Secret]
YAML
git -C "$w" init -q
git -C "$w" add -A
git -C "$w" commit -q -m "$ntargets environments, $((2 * apps * ntargets)) objects"
git clone -q --bare "$w" "$out/server.git"
port=$(kube_free_port) url=http://127.0.0.1:$port
cat >"$out/server.yaml" <<YAML
schemaStore: $out/schemas
auditLog: $out/gate-audit.jsonl
timeBudget: 4s
failMode: closed
notify:
  targets:
    - url: $url/v1/events
      secretFile: $out/notify.secret
YAML
"$pc" install --repo "$out/server.git" --config "$out/server.yaml" >/dev/null
git clone -q "$out/server.git" "$out/clone"
rev0=$(git -C "$out/clone" rev-parse HEAD)

# --- The daemon: every target, round-robin over the clusters ---------------------------------------
{
  cat <<YAML
listen: 127.0.0.1:$port
secretFile: $out/notify.secret
stateDir: $out/state
pollInterval: 1h
clusterRequestTimeout: ${timeout_s}s
repository:
  url: file://$out/server.git
  branch: main
targets:
YAML
  for ((t = 1; t <= ntargets; t++)); do
    printf '  - name: %s\n    path: environments/%s\n    kubeconfig: %s\n    namespace: %s\n' \
      "$(tname "$t")" "$(tname "$t")" "$out/kube-$(cluster_of "$t")/kubeconfig-portcullisd" "$(tname "$t")"
  done
} >"$out/daemon.yaml"
rss() { awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {printf "%.1f %.1f\n", r / 1024, h / 1024}' "/proc/$1/status"; }
targets_json() { curl -fsS --max-time 5 "$url/v1/targets"; }

log "1: first sync of $((2 * apps * ntargets)) objects, $ntargets targets on $nclusters clusters"
t0=$EPOCHREALTIME
"$pcd" --config "$out/daemon.yaml" >>"$out/daemon.log" 2>&1 &
dpid=$!
# Polled every 0.5 s: the time each target was first seen Synced at rev0, in $out/first.tsv.
declare -A seen=()
while ((${#seen[@]} < ntargets)); do
  kill -0 "$dpid" 2>/dev/null || die "portcullisd exited: $(tail -n 3 "$out/daemon.log")"
  now=$EPOCHREALTIME
  if j=$(targets_json 2>/dev/null); then
    while read -r name; do
      [[ -n $name && -z ${seen[$name]:-} ]] || continue
      seen[$name]=1
      printf '%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$now" 'BEGIN {printf "%.1f", b - a}')" >>"$out/first.tsv"
    done < <(jq -r --arg r "$rev0" '.targets[] | select(.state == "Synced" and .appliedRevision == $r) | .name' <<<"$j")
  fi
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {exit !(b - a > 1800)}' && die "not every target Synced within 30 minutes"
  sleep 0.5
done
first_s=$(cut -f2 "$out/first.tsv" | sort -n | tail -n 1)
read -r rss_first hwm_first <<<"$(rss "$dpid")"
log "  every target Synced after $first_s s; RSS $rss_first MB, peak $hwm_first MB"
threads=$(awk '/^Threads:/ {print $2}' "/proc/$dpid/status")
per_cluster=""
for ((c = 0; c < nclusters; c++)); do
  last=$(awk -v c="$c" -v n="$nclusters" -F'\t' '{t = substr($1, 2) + 0; if ((t - 1) % n == c && $2 > m) m = $2} END {print m}' "$out/first.tsv")
  n=$(kubectl --kubeconfig "$out/kube-$c/kubeconfig" get configmaps,deployments -A -l 'portcullis.io/target,!portcullis.io/inventory' -o name | wc -l)
  per_cluster+="| $c (${api_url[c]}) | $last s | $n |"$'\n'
done

# --- 3, 4. Push to applied for t01 (cluster 0), the others idle; then with cluster 1 stopped ----------
push_loop() { # OUT FIRST
  KUBE_ADMIN_TOKEN=${api_token[0]} python3 "$client" push-loop --clone "$out/clone" --env-dir environments/t01 --ns t01 \
    --apps "$apps" --per-push $per_push --pushes "$pushes" --warmup $warmup --first "$2" --daemon "$url" --target t01 \
    --api "${api_url[0]}" --ca "${api_ca[0]}" --out "$out/$1" --timeout 120 || die "the push loop failed ($1)"
}
log "3: push to applied for t01, $pushes pushes (+$warmup warm-up), $((2 * per_push)) objects each"
push_loop push-idle.jsonl 1
read -r _ hwm_idle <<<"$(rss "$dpid")"

stopped_pid=$(cat "$out/kube-1/kube-apiserver.pid")
log "4: the same with cluster 1's apiserver stopped (SIGSTOP pid $stopped_pid)"
kill -STOP "$stopped_pid"
stop_t=$EPOCHREALTIME
# In the background: when every target of cluster 1 shows Failed with clusterUp false (the
# push loop's first push starts cluster 1's round).
n1=$(awk -v n="$nclusters" -v t="$ntargets" 'BEGIN {for (i = 1; i <= t; i++) if ((i - 1) % n == 1) k++; print k}')
(
  deadline=$((SECONDS + 20 * timeout_s))
  while ((SECONDS < deadline)); do
    k=$(targets_json 2>/dev/null | jq --arg c "${api_url[1]}" '[.targets[] | select(.cluster == $c and .state == "Failed" and .clusterUp == false)] | length' 2>/dev/null || echo 0)
    if [[ $k == "$n1" ]]; then
      awk -v a="$stop_t" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f\n", b - a}' >"$out/down-after"
      exit 0
    fi
    sleep 0.2
  done
) &
down_poller=$!
push_loop push-stopped.jsonl 1000
wait "$down_poller" || true
failed_after=$(cat "$out/down-after" 2>/dev/null || echo "not within $((20 * timeout_s)) s")
targets_json >"$out/targets-stopped.json"
down_json=$(jq -c --arg c "${api_url[1]}" '[.targets[] | select(.cluster == $c)] | {n: length, failed: map(select(.state == "Failed")) | length, error: (map(.lastError) | first)}' "$out/targets-stopped.json")
up_metric=$(curl -fsS "$url/metrics" | grep -F "portcullis_cluster_up{cluster=\"${api_url[1]}\"}" | awk '{print $2}')
kill -CONT "$stopped_pid"
stopped_pid=""
read -r rss_end hwm_end <<<"$(rss "$dpid")"
curl -fsS "$url/metrics" >"$out/metrics.txt"
kill -TERM "$dpid"
wait "$dpid" 2>/dev/null || true
dpid=""
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - started))

# --- Report ---------------------------------------------------------------------------------------
pct() { sort -n "$1" | awk -v q="$2" '{a[NR] = $1} END {i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; print a[i]}'; }
stats() { echo "$(pct "$1" 0.5) $(pct "$1" 0.9) $(sort -n "$1" | tail -n 1)"; }
pick() { jq -r "select(.warmup | not) | .$2" "$out/$1" >"$out/$3"; }
pick push-idle.jsonl appliedMs idle-applied.txt
pick push-idle.jsonl syncedMs idle-synced.txt
pick push-stopped.jsonl appliedMs stopped-applied.txt
pick push-stopped.jsonl syncedMs stopped-synced.txt
read -r ia50 ia90 iamax <<<"$(stats "$out/idle-applied.txt")"
read -r is50 _ ismax <<<"$(stats "$out/idle-synced.txt")"
read -r sa50 sa90 samax <<<"$(stats "$out/stopped-applied.txt")"
read -r ss50 _ ssmax <<<"$(stats "$out/stopped-synced.txt")"
pass() { if awk "BEGIN {exit !($1)}"; then echo pass; else echo "**MISS**"; fi; }
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
hwm=$(printf '%s\n' "$hwm_first" "$hwm_idle" "$hwm_end" | sort -n | tail -n 1)
{
  cat <<EOF
# Portcullis many-clusters report

$date_start$( ((quick)) && echo ' (--quick)'). $("$pcd" --version); $nclusters kube-apiservers $KUBE_VERSION, each with its own etcd, on loopback (tests/env/kube.sh).
Binary: $bin_note.
Machine: $cpu_model, $(nproc) CPUs, $mem, Linux $(uname -r); load average $load_start at the start, $load_end at the end. Everything (etcds, apiservers, portcullisd, git, the gate, the poller) shares these CPUs.
One portcullisd, $ntargets targets round-robin over $nclusters clusters ($((ntargets / nclusters)) or so each), $((2 * apps)) objects per target (Deployments and ConfigMaps of bench/reconcile-gen.awk), $((2 * apps * ntargets)) in all; clusterRequestTimeout ${timeout_s}s. Run took $elapsed s.

| figure | measured | goal |
|---|---|---|
| first sync, start -> all $ntargets targets Synced ($((2 * apps * ntargets)) objects) | $first_s s | |
| daemon peak RSS (VmHWM) over the run | $hwm MB (after the first sync: RSS $rss_first MB; at the end $rss_end MB) | $(pass "$hwm < 150") (< 150 MB) |
| push to applied, t01 ($((2 * per_push)) objects), others idle | p50 $ia50 ms (p90 $ia90, max $iamax; $pushes pushes) | |
| ... with cluster 1's apiserver stopped (SIGSTOP) | p50 $sa50 ms (p90 $sa90, max $samax; $pushes pushes) | $(pass "$sa50 <= 2 * $ia50 + 100") (not slowed) |
| push to t01 reported Synced by the daemon, idle / cluster 1 stopped | p50 $is50 / $ss50 ms (max $ismax / $ssmax) | |
| cluster 1's targets while stopped | $down_json; all $n1 Failed with clusterUp false $failed_after s after the stop; portcullis_cluster_up $up_metric after the push loop | |

First sync by cluster (the last of its targets Synced; objects labelled portcullis.io/target in it):

| cluster | all Synced after | objects |
|---|---|---|
$per_cluster
The daemon ran $threads threads after the first sync.
EOF
} | tee "$out/report.md"
