#!/usr/bin/env bash
# Regenerates the differential corpus: starts etcd + kube-apiserver 1.20.2 (tests/env/kube.sh,
# built and cached on first use), asks it for a server-side dry-run create and apply of every
# valid object and mutation tests/differential/generate.py makes, and writes the verdicts to
# tests/fixtures/differential/corpus.jsonl.gz, which the unit suite checks the gate against.
# Usage: tests/differential/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"
kube_build || { echo "FATAL: cannot build kube-apiserver" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kube_stop "$dir"; rm -rf "$dir"' EXIT
kube_start "$dir" || { echo "FATAL: kube-apiserver did not start" >&2; exit 1; }
version=$(curl -fsS --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" "$KUBE_API_URL/version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')
out=$ROOT/tests/fixtures/differential/corpus.jsonl
mkdir -p "$(dirname "$out")"
python3 "$ROOT/tests/differential/generate.py" --api "$KUBE_API_URL" --token "$KUBE_ADMIN_TOKEN" \
  --ca "$KUBE_CA_FILE" --version "$version" --out "$out.tmp"
gzip -9n <"$out.tmp" >"$out.gz"
rm -f "$out.tmp"
python3 - "$out.gz" <<'EOF'
import gzip, json, sys
with gzip.open(sys.argv[1], "rt") as f:
    head = json.loads(f.readline())
    rows = [json.loads(l) for l in f]
rej = sum(1 for r in rows if r["create"]["verdict"] == "reject" or (r["apply"] or {}).get("verdict") == "reject")
print("corpus: %d objects from kube-apiserver %s, %d refused, %d accepted" % (len(rows), head["kubernetes"], rej, len(rows) - rej))
EOF
