#!/usr/bin/env bash
# Image automation's performance harness (issue 18): a real registry (tests/env/registry.sh:
# docker-registry with TLS and htpasswd), a real bare repository with Portcullis' hooks, and
# portcullisd on a real kube-apiserver (tests/env/kube.sh), measured against the goals:
#
#   1. new tag -> bot commit in Git: p50 within one poll interval + 1 s (pollInterval 2s here)
#   2. 200 policies (200 image repositories, 200 marked Deployments in dev) polled every 10 s:
#      portcullisd's CPU share < 2% of a core and RSS < 10 MB above the same daemon with
#      images.enabled false, both measured in steady state over the same window
#
# Usage: bench/images.sh [--quick]     (--quick: fewer tags, a shorter window)
# Environment: PORTCULLIS=PATH PORTCULLISD=PATH (default: build/hooks/portcullis,
# build/daemon/portcullisd). Everything lives in bench/out/images/ (recreated); the report goes
# to stdout and bench/out/images/report.md. Results: docs/performance.md, "Image automation".
set -euo pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
out=$bench/out/images
PORTCULLIS=${PORTCULLIS:-$root/build/hooks/portcullis}
PORTCULLISD=${PORTCULLISD:-$root/build/daemon/portcullisd}
quick=0
[[ ${1:-} == --quick ]] && quick=1
if ((quick)); then tags=5 window=20; else tags=15 window=60; fi
policies=200

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }
for tool in git jq curl openssl etcd kubectl htpasswd docker-registry; do
  command -v "$tool" >/dev/null || die "$tool is missing; run install/deps.sh"
done
[[ -x $PORTCULLIS && -x $PORTCULLISD ]] || die "no binaries at $PORTCULLIS / $PORTCULLISD (build first)"

rm -rf "$out"
mkdir -p "$out"
export HOME=$out/home GIT_CONFIG_NOSYSTEM=1 REMOTE_USER=bench
mkdir -p "$HOME"
git config --global init.defaultBranch main
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com

# shellcheck source=../tests/env/kube.sh
source "$root/tests/env/kube.sh"
# shellcheck source=../tests/env/registry.sh
source "$root/tests/env/registry.sh"
daemon_pid=""
cleanup() {
  [[ -n $daemon_pid ]] && kill -9 "$daemon_pid" 2>/dev/null
  registry_stop "$out"
  kube_stop "$out/kube"
}
trap cleanup EXIT
mkdir -p "$out/kube"
kube_build >/dev/null || die "kube-apiserver is not built"
kube_start "$out/kube" >/dev/null 2>&1 || die "kube-apiserver did not start"
export KUBECONFIG=$out/kube/kubeconfig
"$root/install/kubernetes/rbac-for-kinds.sh" --user portcullisd apps/deployments 2>/dev/null | kubectl apply -f - >/dev/null
registry_start "$out" || die "the registry did not start"

ms() { local r=${EPOCHREALTIME/,/.}; printf '%s\n' "$((${r%.*} * 1000 + 10#${r#*.} / 1000))"; }
poll_until() { local deadline=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.02; done; }

secret=$out/notify.secret
printf 'bench-%s' "$RANDOM$RANDOM" >"$secret"
port=$(kube_free_port)
cat >"$out/server.yaml" <<YAML
notify:
  targets:
    - {url: "http://127.0.0.1:$port/v1/events", secretFile: "$secret"}
YAML
server=$out/server.git
git init -q --bare "$server"
"$PORTCULLIS" install --repo "$server" --config "$out/server.yaml" >/dev/null
clone=$out/clone
git clone -q "$server" "$clone" 2>/dev/null

# daemon_config POLL ENABLED: daemon.yaml syncing environments/dev into namespace bench.
daemon_config() {
  cat <<YAML
listen: 127.0.0.1:$port
secretFile: $secret
stateDir: $out/state-$2
pollInterval: 60s
repository: {url: "file://$server", branch: main}
targets:
  - {name: bench, path: environments/dev, kubeconfig: $out/kube/kubeconfig-portcullisd, namespace: bench}
images:
  enabled: $2
  pollInterval: $1
  registries:
    - {host: $REGISTRY_HOST, caFile: $REGISTRY_CA_FILE, credentialsFile: $REGISTRY_CREDENTIALS_FILE, requestsPerSecond: 100}
  bot: {name: portcullis-bot, email: bot@example.com}
YAML
}
start_daemon() {
  daemon_config "$1" "$2" >"$out/daemon-$2.yaml"
  "$PORTCULLISD" --config "$out/daemon-$2.yaml" >>"$out/daemon-$2.log" 2>&1 &
  daemon_pid=$!
  poll_until 20 curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" || die "portcullisd did not start"
}
stop_daemon() { kill -9 "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""; }
synced() { [[ $(curl -fsS "http://127.0.0.1:$port/v1/targets" | jq -r '.targets[0].state') == Synced ]]; }
all_up_to_date() {
  [[ $(curl -fsS "http://127.0.0.1:$port/v1/images" | jq '[.images[] | select(.state == "UpToDate")] | length') == "$1" ]]
}

deploy() { # deploy NAME IMAGE POLICY
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: %s\n        image: %s # {"$imagepolicy": "%s"}\n' \
    "$1" "$1" "$1" "$1" "$2" "$3"
}

# --- 1. new tag -> commit ------------------------------------------------------------------
log "section 1: new tag -> commit ($tags tags, pollInterval 2s)"
registry_push_image bench/app 1.0.0 >/dev/null
mkdir -p "$clone/environments/dev"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n' >"$clone/environments/dev/namespace.yaml"
deploy app "$REGISTRY_HOST/bench/app:1.0.0" app >"$clone/environments/dev/app.yaml"
{
  printf 'environments:\n  - {name: dev, path: environments/dev}\nimages:\n  policies:\n'
  printf "  - {name: app, image: %s, environments: [dev], semver: {range: '>=1.0.0'}}\n" "$REGISTRY_HOST/bench/app"
} >"$clone/.portcullis.yaml"
git -C "$clone" add -A && git -C "$clone" commit -qm "bench: one policy" && git -C "$clone" push -q origin HEAD:main
start_daemon 2s true
poll_until 60 synced || die "not synced"
poll_until 30 all_up_to_date 1 || die "the policy is not UpToDate"
lat=()
for ((i = 1; i <= tags; i++)); do
  registry_push_image bench/app "1.0.$i" >/dev/null
  t0=$(ms)
  poll_until 30 bash -c "git -C '$server' show main:environments/dev/app.yaml | grep -q 'bench/app:1.0.$i '" || die "tag 1.0.$i never reached Git"
  lat+=($(($(ms) - t0)))
done
stop_daemon
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
p50=$(sed -n "$(((tags + 1) / 2))p" <<<"$sorted")
max=$(tail -1 <<<"$sorted")

# --- 2. 200 policies: CPU and RSS -----------------------------------------------------------
log "section 2: $policies policies, pollInterval 10s, window ${window}s"
git -C "$clone" pull -q origin main
{
  printf 'environments:\n  - {name: dev, path: environments/dev}\nimages:\n  policies:\n'
  for ((i = 0; i < policies; i++)); do
    printf "  - {name: svc-%d, image: %s, environments: [dev], semver: {range: '>=1.0.0'}}\n" "$i" "$REGISTRY_HOST/bench/svc-$i"
  done
} >"$clone/.portcullis.yaml"
rm -f "$clone/environments/dev/app.yaml"
for ((i = 0; i < policies; i++)); do
  registry_push_image "bench/svc-$i" 1.0.0 >/dev/null
  deploy "svc-$i" "$REGISTRY_HOST/bench/svc-$i:1.0.0" "svc-$i" >"$clone/environments/dev/svc-$i.yaml"
done
git -C "$clone" add -A && git -C "$clone" commit -qm "bench: $policies policies" && git -C "$clone" push -q origin HEAD:main

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
measure() { # measure ENABLED -> "cpu_percent rss_kb"
  start_daemon 10s "$1"
  poll_until 120 synced || die "not synced ($1)"
  [[ $1 == true ]] && { poll_until 120 all_up_to_date "$policies" || die "the $policies policies are not UpToDate"; }
  sleep 5  # settle after the first rounds (not synchronisation: the window below is measured)
  local c0 c1 t0 t1
  c0=$(cpu_ticks "$daemon_pid"); t0=$(ms)
  sleep "$window"
  c1=$(cpu_ticks "$daemon_pid"); t1=$(ms)
  local hz; hz=$(getconf CLK_TCK)
  local rss; rss=$(rss_kb "$daemon_pid")
  local polls; polls=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^portcullis_image_polls_total/ {print $2}')
  stop_daemon
  awk -v c=$((c1 - c0)) -v hz="$hz" -v ms=$((t1 - t0)) -v rss="$rss" -v polls="${polls:-0}" \
    'BEGIN { printf "%.2f %d %s\n", 100 * c / hz / (ms / 1000), rss, polls }'
}
read -r cpu_off rss_off _ < <(measure false)
read -r cpu_on rss_on polls_on < <(measure true)
extra_rss=$(awk -v a="$rss_on" -v b="$rss_off" 'BEGIN { printf "%.1f", (a - b) / 1024 }')
extra_cpu=$(awk -v a="$cpu_on" -v b="$cpu_off" 'BEGIN { printf "%.2f", a - b }')

{
  echo "## Image automation ($(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "| measure | result | goal |"
  echo "|---|---|---|"
  echo "| new tag -> bot commit in Git, p50 over $tags tags (pollInterval 2s) | ${p50} ms (max ${max} ms) | <= 3000 ms |"
  echo "| $policies policies every 10 s: portcullisd CPU, images on / off | ${cpu_on}% / ${cpu_off}% of a core (+${extra_cpu}) | < 2% |"
  echo "| $policies policies: RSS, images on / off | $((rss_on / 1024)) / $((rss_off / 1024)) MiB (+${extra_rss} MiB) | < 10 MB extra |"
  echo "| poll rounds in the ${window}s window + warm-up | ${polls_on} | |"
} | tee "$out/report.md"
