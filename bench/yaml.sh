#!/usr/bin/env bash
# Why libyaml and not yaml-cpp: parses the same 5,000 manifests (bench/gen.awk's fleet-wide
# change: 2,500 Deployments and 2,500 ConfigMaps) with Portcullis' reader (libyaml events into
# an arena tree) and with yaml-cpp, alternating, and prints the CPU time of each.
#
# Usage: bench/yaml.sh [BUILD_DIR]   (default: build; needs libyaml-cpp-dev, see install/deps.sh,
#                                     and the portcullis-bench-yaml target built there)
set -euo pipefail
export LC_ALL=C
bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
build=${1:-$root/build}
tool=$build/portcullis-bench-yaml
[[ -x $tool ]] || { echo "bench/yaml.sh: no $tool (install libyaml-cpp-dev, then ninja -C $build portcullis-bench-yaml)" >&2; exit 2; }
out=$bench/out/yaml
rm -rf "$out"
mkdir -p "$out/files"
git init -q --bare "$out/repo.git"
awk -v manifests=20000 -v many=5000 -f "$bench/gen.awk" | git --git-dir="$out/repo.git" fast-import --quiet
git --git-dir="$out/repo.git" diff --name-only --no-renames refs/heads/main refs/bench/many >"$out/many.list"
mapfile -t files <"$out/many.list"
git --git-dir="$out/repo.git" archive refs/bench/many "${files[@]}" | tar -x -C "$out/files"
mapfile -t paths < <(find "$out/files" -name '*.yaml' | sort)
echo "bench/yaml.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$tool" 5 "${paths[@]}"
