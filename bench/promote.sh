#!/usr/bin/env bash
# The cost of `portcullis promote` (issue 18) and of its in-place edits: staging and prod are
# plain environments of IMAGES Deployments each, (a) one file per Deployment and (b) all of them
# as documents of one file (about 0.5 MB at 1,000). staging runs :2.0, prod :1.0; the figure is
# the wall time of `portcullis promote --from staging --to prod --dry-run` (render of staging,
# edits of every prod image, each file verified by a re-parse), and of a promote that finds
# nothing to change. No goal was set for it: the figures are absolute.
#
# Usage: bench/promote.sh [--quick]     Environment: PORTCULLIS=PATH (default: the build's),
# IMAGES (default 1000). Needs git and hyperfine. Everything lives in bench/out/promote/.
set -euo pipefail
export LC_ALL=C GIT_CONFIG_NOSYSTEM=1
bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
out=$bench/out/promote
runs=10 warmup=2
[[ ${1:-} == --quick ]] && runs=5 warmup=1
images=${IMAGES:-1000}
pc=${PORTCULLIS:-$root/build/hooks/portcullis}
[[ -x $pc ]] || { echo "bench/promote.sh: no portcullis at $pc (set PORTCULLIS)" >&2; exit 2; }
for tool in git hyperfine; do
  command -v "$tool" >/dev/null || { echo "bench/promote.sh: $tool is missing" >&2; exit 2; }
done

deployment() {  # deployment NAME TAG
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s # the app\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: app\n        image: "reg.example/%s:%s"   # promoted\n        ports: [{containerPort: 8080}]\n' "$1" "$1" "$1" "$1" "$2"
}

# repo LAYOUT: a clone with staging and prod in LAYOUT (files | one-file); prints its path.
repo() {
  local dir=$out/$1
  git init -q -b main "$dir"
  printf 'version: 1\nenvironments:\n  - {name: staging, path: environments/staging}\n  - {name: prod, path: environments/prod, promotion: {from: staging}}\n' >"$dir/.portcullis.yaml"
  for env in staging prod; do
    local tag=2.0
    [[ $env == prod ]] && tag=1.0
    mkdir -p "$dir/environments/$env"
    for ((i = 0; i < images; i++)); do
      if [[ $1 == files ]]; then
        deployment "app$i" "$tag" >"$dir/environments/$env/app$i.yaml"
      else
        { deployment "app$i" "$tag"; echo "---"; } >>"$dir/environments/$env/all.yaml"
      fi
    done
  done
  git -C "$dir" add -A
  git -C "$dir" -c user.name=bench -c user.email=bench@example.com commit -qm init
  echo "$dir"
}

rm -rf "$out"
mkdir -p "$out"
files=$(repo files)
one=$(repo one-file)
echo "bench/promote: $images images; one file of prod is $(wc -c <"$one/environments/prod/all.yaml") bytes" >&2
(cd "$files" && "$pc" promote --from staging --to prod --dry-run | grep -c ' -> ' >&2)
(cd "$one" && "$pc" promote --from staging --to prod --dry-run | grep -c ' -> ' >&2)
# An up-to-date prod: promote once for real in a copy.
cp -r "$files" "$out/done"
(cd "$out/done" && "$pc" promote --from staging --to prod >/dev/null)
hyperfine --style basic --runs "$runs" --warmup "$warmup" --export-json "$out/hyperfine.json" \
  -n "promote $images files" "cd $files && $pc promote --from staging --to prod --dry-run" \
  -n "promote $images docs in one file" "cd $one && $pc promote --from staging --to prod --dry-run" \
  -n "promote, nothing to change" "cd $out/done && $pc promote --from staging --to prod --dry-run"
