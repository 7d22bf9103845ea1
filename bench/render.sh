#!/usr/bin/env bash
# The cost of judging a kustomize overlay (issue 16): in a 20,000-manifest repository (gen.awk)
# with one more environment, `overlay`, a kustomization over a shared base/ of APPS apps (a
# Deployment, a ConfigMap and a Service each) with a strategic-merge patch per app, the hook's
# time for a push that changes one patch file of the overlay (the overlay is rendered and every
# rendered object judged) against a plain one-file push (one Deployment of prod).
#
# Usage: bench/render.sh [--quick]     Environment: PORTCULLIS=PATH (default: the build's),
# APPS (default 100), MANIFESTS (default 20000). Needs git, hyperfine, jq, awk, gzip.
# Everything lives in bench/out/render/; the figures go to stdout.
set -euo pipefail
export REMOTE_USER=bench LC_ALL=C
bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
out=$bench/out/render
runs=30 warmup=3
[[ ${1:-} == --quick ]] && runs=10 warmup=2
apps=${APPS:-100} manifests=${MANIFESTS:-20000}
pc=${PORTCULLIS:-$root/build/hooks/portcullis}
[[ -x $pc ]] || { echo "bench/render.sh: no portcullis at $pc (set PORTCULLIS)" >&2; exit 2; }
for tool in git hyperfine jq awk gzip; do
  command -v "$tool" >/dev/null || { echo "bench/render.sh: $tool is missing" >&2; exit 2; }
done
log() { printf 'bench/render: %s\n' "$*" >&2; }

rm -rf "$out"
mkdir -p "$out"
store=$out/schemas
gzip -dc "$root/tests/fixtures/openapi-v2-kubernetes-1.20.json.gz" >"$out/openapi.json"
"$pc" schemas import --openapi "$out/openapi.json" --out "$store" >/dev/null
config=$out/server.yaml
printf 'schemaStore: %s\ntimeBudget: 4s\nfailMode: closed\n' "$store" >"$config"

log "generating $manifests manifests (gen.awk) and an overlay of $apps apps"
git init -q --bare --initial-branch=main "$out/src.git"
awk -v manifests="$manifests" -v many=0 -f "$bench/gen.awk" | git --git-dir="$out/src.git" fast-import --quiet
work=$out/work
git clone -q "$out/src.git" "$work"
git -C "$work" config user.name bench
git -C "$work" config user.email bench@example.com
sed -i 's|^  - {name: prod, .*|&\n  - {name: overlay, path: environments/overlay}|' "$work/.portcullis.yaml"
mkdir -p "$work/base" "$work/environments/overlay"
{
  echo "resources:"
  for ((a = 1; a <= apps; a++)); do printf -- '- app-%04d.yaml\n' "$a"; done
} >"$work/base/kustomization.yaml"
{
  printf 'namespace: overlay\nresources:\n- ../../base\npatches:\n'
  for ((a = 1; a <= apps; a++)); do printf -- '- path: patch-%04d.yaml\n' "$a"; done
  printf 'images:\n- name: registry.example.com/app\n  newTag: "2.0"\n'
} >"$work/environments/overlay/kustomization.yaml"
patch() {
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%04d\nspec:\n  replicas: %d\n' "$1" "$2"
}
for ((a = 1; a <= apps; a++)); do
  n=$(printf 'app-%04d' "$a")
  cat >"$work/base/$n.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $n
  labels: {app: $n}
spec:
  replicas: 1
  selector:
    matchLabels: {app: $n}
  template:
    metadata:
      labels: {app: $n}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1.0
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: $n
data:
  mode: production
---
apiVersion: v1
kind: Service
metadata:
  name: $n
spec:
  selector: {app: $n}
  ports:
  - port: 80
    targetPort: 8080
YAML
  patch "$a" 3 >"$work/environments/overlay/patch-$(printf '%04d' "$a").yaml"
done
git -C "$work" add -A
git -C "$work" commit -q -m "overlay"
base=$(git -C "$work" rev-parse HEAD)
# A plain one-file push: one prod Deployment, another image tag.
prod_file=$(git -C "$work" ls-files 'environments/prod/*deployment*' | sed -n '100p')
sed -i 's|image: \(.*\):[^:]*$|image: \1:9.9|' "$work/$prod_file"
git -C "$work" commit -q -am "plain: one file"
plain=$(git -C "$work" rev-parse HEAD)
git -C "$work" reset -q --hard "$base"
# One patch file of the overlay.
patch 50 4 >"$work/environments/overlay/patch-0050.yaml"
git -C "$work" commit -q -am "overlay: one patch"
overlay=$(git -C "$work" rev-parse HEAD)
git -C "$work" push -q origin "$plain:refs/bench/plain" "$overlay:refs/bench/overlay" "$base:refs/heads/main" -f

git clone -q --bare "$out/src.git" "$out/hooked.git"
"$pc" install --repo "$out/hooked.git" --config "$config" >/dev/null
zero=0000000000000000000000000000000000000000
echo "$zero $base refs/heads/main" >"$out/base.in"
echo "$base $plain refs/heads/main" >"$out/plain.in"
echo "$base $overlay refs/heads/main" >"$out/overlay.in"
(cd "$out/hooked.git" && GIT_DIR=. "$pc" hook post-receive --config "$config" <"$out/base.in") >/dev/null 2>&1
for which in plain overlay; do
  (cd "$out/hooked.git" && GIT_DIR=. "$pc" hook pre-receive --config "$config" <"$out/$which.in" >"$out/$which.out" 2>&1) ||
    { cat "$out/$which.out" >&2; echo "bench/render.sh: the hook rejected the $which push" >&2; exit 1; }
done
grep -q "objects" "$out/overlay.out" || true
hook_cmd() { printf 'cd %q && GIT_DIR=. %q hook pre-receive --config %q <%q' "$out/hooked.git" "$pc" "$config" "$1"; }
hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$out/hook.json" \
  -n "plain one-file push" "$(hook_cmd "$out/plain.in")" \
  -n "one overlay patch file" "$(hook_cmd "$out/overlay.in")" >"$out/hook.txt" 2>&1 ||
  { cat "$out/hook.txt" >&2; exit 1; }
plain_ms=$(jq '.results[0].mean * 1000 | round' "$out/hook.json")
overlay_ms=$(jq '.results[1].mean * 1000 | round' "$out/hook.json")
ratio=$(jq -r '(.results[1].mean / .results[0].mean) * 100 | round / 100' "$out/hook.json")
echo "| push ($manifests manifests, overlay of $apps apps = $((3 * apps)) rendered objects) | hook mean |"
echo "|---|---|"
echo "| plain one-file push | $plain_ms ms |"
echo "| one overlay patch file | $overlay_ms ms |"
echo "ratio: $ratio (goal: within 2x)"
echo "overlay push: $(grep -o '[0-9]* files\?, [0-9]* objects\? in [0-9]* refs\? checked in [0-9]* ms' "$out/overlay.out" || true)"
