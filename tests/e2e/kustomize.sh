#!/usr/bin/env bash
# Differential test of the native kustomize build: random overlays (bases, components, patches,
# prefixes, labels, generators, images, replicas) rendered by `portcullis render` and by
# `kubectl kustomize` (kustomize v5 inside kubectl) must give the same objects in the same order.
# Skips (exit 77) only when kubectl is not installed. KUSTOMIZE_DIFF_SEED and
# KUSTOMIZE_DIFF_CASES choose the overlays (a failure prints its seed to reproduce it).
source "$(dirname "$0")/lib.sh"

if ! command -v kubectl >/dev/null 2>&1; then
  echo "SKIP: kubectl is not installed; the differential kustomize test needs kubectl kustomize"
  exit 77
fi
SEED=${KUSTOMIZE_DIFF_SEED:-$(date +%s)}
CASES=${KUSTOMIZE_DIFF_CASES:-40}

# same_objects A B: the two YAML streams hold the same objects in the same order.
same_objects() {
  python3 - "$1" "$2" <<'PY'
import json, sys, yaml
def load(path):
    with open(path) as f:
        return [json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(f) if d is not None]
a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    print(f"    kubectl: {len(a)} objects, portcullis: {len(b)}")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"    first difference at object {i}:\n      kubectl    {x}\n      portcullis {y}")
            break
    sys.exit(1)
PY
}

test_random_overlays_render_like_kubectl_kustomize() {
  local dir=$SUITE_TMP/$CURRENT_TEST overlays overlay n=0 bad=0
  overlays=$(python3 "$E2E_DIR/kustomize/random_overlays.py" "$dir" "$SEED" "$CASES") ||
    { fail "cannot generate overlays"; return; }
  for overlay in $overlays; do
    n=$((n + 1))
    if ! kubectl kustomize "$overlay" >"$overlay.kubectl.yaml" 2>"$overlay.kubectl.err"; then
      fail "kubectl kustomize failed on $overlay (seed $SEED): $(head -c 300 "$overlay.kubectl.err")"
      bad=$((bad + 1))
      continue
    fi
    if ! "$PORTCULLIS" render "$overlay" >"$overlay.portcullis.yaml" 2>"$overlay.portcullis.err"; then
      fail "portcullis render failed on $overlay (seed $SEED): $(cat "$overlay.portcullis.err")"
      bad=$((bad + 1))
      continue
    fi
    if ! same_objects "$overlay.kubectl.yaml" "$overlay.portcullis.yaml"; then
      fail "$overlay differs from kubectl kustomize (seed $SEED)"
      bad=$((bad + 1))
    fi
  done
  ((n == CASES)) || fail "generated $n overlays, wanted $CASES"
  echo "    $((n - bad)) of $n random overlays agree with kubectl kustomize (seed $SEED)"
}

test_json_output_is_the_same_objects() {
  local dir=$SUITE_TMP/$CURRENT_TEST overlay
  overlay=$(python3 "$E2E_DIR/kustomize/random_overlays.py" "$dir" "$SEED" 1)
  "$PORTCULLIS" render "$overlay" >"$dir/out.yaml" || { fail "render failed"; return; }
  "$PORTCULLIS" render "$overlay" --format json >"$dir/out.json" || { fail "render --format json failed"; return; }
  python3 -c 'import json,sys,yaml; a=[d for d in yaml.safe_load_all(open(sys.argv[1])) if d]; b=json.load(open(sys.argv[2])); sys.exit(a!=b)' \
    "$dir/out.yaml" "$dir/out.json" || fail "--format json holds other objects than the YAML"
}

# Both refuse what kustomize refuses; portcullis says which rule, and exits 1 (2 on bad usage).
test_errors_agree_with_kubectl() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  mkdir -p "$dir/cycle/a" "$dir/cycle/b" "$dir/missing" "$dir/outside/k"
  printf 'resources:\n- ../b\n' >"$dir/cycle/a/kustomization.yaml"
  printf 'resources:\n- ../a\n' >"$dir/cycle/b/kustomization.yaml"
  printf 'resources:\n- nope.yaml\n' >"$dir/missing/kustomization.yaml"
  printf 'resources:\n- ../x.yaml\n' >"$dir/outside/k/kustomization.yaml"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n' >"$dir/outside/x.yaml"
  local case rule
  for case in "cycle/a kustomize.cycle" "missing kustomize.missing" "outside/k kustomize.outside"; do
    read -r path rule <<<"$case"
    kubectl kustomize "$dir/$path" >/dev/null 2>&1 && fail "kubectl kustomize accepted $path"
    OUT=$("$PORTCULLIS" render "$dir/$path" 2>&1)
    STATUS=$?
    expect_status 1
    expect_output "[$rule]"
  done
  OUT=$("$PORTCULLIS" render 2>&1)
  STATUS=$?
  expect_status 2
  OUT=$("$PORTCULLIS" render "$dir/nonexistent" 2>&1)
  STATUS=$?
  expect_status 2
}

# Mutated overlays (lines dropped, duplicated, re-indented, values of other types, paths
# elsewhere) build or fail with a rule id: never a crash, a hang or a message without a rule.
test_mutated_overlays_never_crash() {
  local dir=$SUITE_TMP/$CURRENT_TEST overlays overlay i=0 status
  overlays=$(python3 "$E2E_DIR/kustomize/random_overlays.py" "$dir" "$SEED" "$CASES") ||
    { fail "cannot generate overlays"; return; }
  for overlay in $overlays; do
    i=$((i + 1))
    python3 "$E2E_DIR/kustomize/mutate.py" "$(dirname "$overlay")" "$((SEED + i))" || { fail "mutate failed"; return; }
    timeout 20 "$PORTCULLIS" render "$overlay" >/dev/null 2>"$overlay.err"
    status=$?
    case $status in
      0) ;;
      1) grep -qE '\[(kustomize|yaml|file)\.[a-z-]+\]$' "$overlay.err" ||
           fail "$overlay (seed $SEED, mutation $((SEED + i))): an error without a rule id: $(cat "$overlay.err")" ;;
      *) fail "$overlay (seed $SEED, mutation $((SEED + i))): exit status $status: $(head -c 300 "$overlay.err")" ;;
    esac
  done
}

# A directory without a kustomization: its manifest files, as the one render reads them.
test_plain_directory_renders_its_manifests() {
  local dir=$SUITE_TMP/$CURRENT_TEST/env
  mkdir -p "$dir/sub"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n' >"$dir/a.yaml"
  printf 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n' >"$dir/sub/b.yml"
  printf 'not a manifest\n' >"$dir/README.md"
  OUT=$("$PORTCULLIS" render "$dir" --format json 2>&1)
  STATUS=$?
  expect_status 0
  [[ $(jq -r '[.[].metadata.name] | join(",")' <<<"$OUT") == "a,b" ]] || fail "objects: $OUT"
}

run_suite "$@"
