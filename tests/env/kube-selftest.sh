#!/usr/bin/env bash
# tests/env/kube-selftest.sh -- checks tests/env/kube.sh end to end against a real
# kube-apiserver 1.20.2 with the real kubectl: build (cached), start, TLS with our CA,
# server-side apply, server-side dry-run rejection, /openapi/v2, RBAC for an unprivileged
# token, kube-controller-manager making a ReplicaSet for a Deployment, stop.
# Prints PASS or FAIL and exits 0 or 1.  Set KUBE_SELFTEST_KEEP=1 to keep the temp dir.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=kube.sh
source "$here/kube.sh"

dir=""
failed=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if [[ -n $dir ]]; then
    kube_stop "$dir" || rc=1
    if [[ -n ${KUBE_SELFTEST_KEEP:-} ]]; then
      echo "kept $dir"
    else
      rm -rf "$dir"
    fi
  fi
  if ((rc == 0 && failed == 0)); then
    echo "kube-selftest: PASS"
  else
    echo "kube-selftest: FAIL"
    rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf 'kube-selftest: %s\n' "$*"; }
bad() {
  printf 'kube-selftest: FAILED CHECK: %s\n' "$*" >&2
  failed=1
}

t=$SECONDS
kube_build
step "kube_build took $((SECONDS - t)) s (KUBE_BIN_DIR=$KUBE_BIN_DIR)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/kube-selftest.XXXXXX")
t=$SECONDS
kube_start "$dir"
step "kube_start took $((SECONDS - t)) s ($KUBE_API_URL)"

k() { "$KUBECTL" --kubeconfig "$dir/kubeconfig" "$@"; }

# Server cert verifies against our CA (no insecure-skip anywhere).
curl -fsS --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" \
  "$KUBE_API_URL/version" >"$dir/version.json" || bad "curl /version with --cacert"
grep -q '"gitVersion": "v1.20.2"' "$dir/version.json" || bad "server version is not v1.20.2: $(cat "$dir/version.json")"

k get ns >"$dir/ns.txt" || bad "kubectl get ns"
grep -q '^default ' "$dir/ns.txt" || bad "namespace default not listed"
grep -q '^kube-system ' "$dir/ns.txt" || bad "namespace kube-system not listed"

cat >"$dir/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: selftest
  namespace: default
data:
  a: "1"
EOF
k apply --server-side --field-manager=portcullis-selftest -f "$dir/cm.yaml" || bad "server-side apply ConfigMap"
[[ $(k get configmap selftest -o 'jsonpath={.data.a}') == 1 ]] || bad "ConfigMap content"
# Read it raw (kubectl >= 1.21 hides managedFields unless --show-managed-fields, which 1.20 lacks).
curl -fsS --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" \
  "$KUBE_API_URL/api/v1/namespaces/default/configmaps/selftest" | grep -q '"manager": *"portcullis-selftest"' ||
  bad "managedFields lacks our field manager"

cat >"$dir/bad-deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: invalid
  namespace: default
spec:
  replicas: -1
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: other}  # selector mismatch (note: a bare `y` would be YAML 1.1 boolean true)
    spec:
      containers:
      - name: c
        image: busybox
EOF
# Client-side apply sends JSON: this is the request that crashed the apiserver when it was
# built with the vendored reflect2 v1.0.1 (see kube.sh).  It must be a clean 422.
if k apply --dry-run=server -f "$dir/bad-deploy.yaml" >"$dir/bad.out" 2>&1; then
  bad "dry-run=server accepted an invalid Deployment"
else
  step "invalid Deployment rejected: $(head -c 300 "$dir/bad.out")"
  grep -q 'is invalid' "$dir/bad.out" || bad "rejection is not a validation error: $(cat "$dir/bad.out")"
fi
if k get deployment invalid >/dev/null 2>&1; then bad "dry-run created the Deployment"; fi

# JSON encoding and decoding of objects with maps, repeatedly (the reflect2 bug corrupted memory).
for i in 1 2 3 4 5; do
  k create configmap "json-$i" --from-literal=a=b --from-literal=c=d -o json >/dev/null ||
    bad "create configmap json-$i"
done
k get configmaps,serviceaccounts,clusterroles -A -o json >"$dir/all.json" || bad "get -o json"
curl -fsS --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -X POST --data '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"x":"y"}},"data":{"k":"v"}}' \
  "$KUBE_API_URL/api/v1/namespaces/default/configmaps?dryRun=All" >/dev/null || bad "JSON POST dry-run"

k get --raw /openapi/v2 >"$dir/openapi.json" || bad "get --raw /openapi/v2"
size=$(stat -c %s "$dir/openapi.json")
((size > 1000000)) || bad "openapi.json is only $size bytes"
step "openapi/v2: $size bytes"

# The viewer token authenticates but has no RBAC bindings.
if "$KUBECTL" --kubeconfig "$dir/kubeconfig-viewer" get secrets -n default >"$dir/viewer.out" 2>&1; then
  bad "viewer could list secrets"
else
  grep -q 'Forbidden\|forbidden' "$dir/viewer.out" || bad "viewer error is not Forbidden: $(cat "$dir/viewer.out")"
  grep -q 'User "viewer"' "$dir/viewer.out" || bad "viewer not identified as User viewer: $(cat "$dir/viewer.out")"
fi
if can=$("$KUBECTL" --kubeconfig "$dir/kubeconfig-viewer" auth can-i list secrets 2>&1); then
  bad "auth can-i says viewer may list secrets: $can"
fi
[[ $can == no ]] || bad "auth can-i answered '$can', expected 'no'"

t=$SECONDS
kube_start_controller_manager "$dir"
step "kube_start_controller_manager took $((SECONDS - t)) s"

cat >"$dir/deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: registry.invalid/web:1
EOF
k apply --server-side -f "$dir/deploy.yaml" || bad "apply Deployment"
t=$SECONDS
deadline=$((SECONDS + 60))
rs=""
while ((SECONDS < deadline)); do
  rs=$(k get replicasets -l app=web -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null || true)
  if [[ -n $rs ]]; then break; fi
  sleep 0.5
done
if [[ -n $rs ]]; then
  step "ReplicaSet $rs created after $((SECONDS - t)) s"
else
  bad "no ReplicaSet for Deployment web within 60 s"
  tail -n 30 "$dir/kube-controller-manager.log" >&2
fi
# Pods are created too (they stay Pending: there is no scheduler or kubelet).
deadline=$((SECONDS + 30))
pods=""
while ((SECONDS < deadline)); do
  pods=$(k get pods -l app=web -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null || true)
  if (($(wc -w <<<"$pods") >= 2)); then break; fi
  sleep 0.5
done
[[ $(wc -w <<<"$pods") -ge 2 ]] || bad "ReplicaSet did not create 2 Pods (got: $pods)"

# The token controller signs service-account tokens with our key; the apiserver accepts them.
deadline=$((SECONDS + 30))
satok=""
while ((SECONDS < deadline)); do
  satok=$(k get secrets -n default --field-selector type=kubernetes.io/service-account-token \
    -o 'jsonpath={.items[0].data.token}' 2>/dev/null || true)
  if [[ -n $satok ]]; then break; fi
  sleep 0.5
done
if [[ -z $satok ]]; then
  bad "no service-account token secret in namespace default within 30 s"
else
  satok=$(base64 -d <<<"$satok")
  code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $satok" \
    "$KUBE_API_URL/api")
  [[ $code == 200 ]] || bad "service-account token not accepted: HTTP $code"
  code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $satok" \
    "$KUBE_API_URL/api/v1/namespaces/default/secrets")
  [[ $code == 403 ]] || bad "service-account token listing secrets: HTTP $code, expected 403"
fi

# Garbage collection of dependents.
k delete deployment web --wait=false >/dev/null || bad "delete deployment"
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  if [[ -z $(k get replicasets -l app=web -o name 2>/dev/null) ]]; then break; fi
  sleep 0.5
done
[[ -z $(k get replicasets -l app=web -o name 2>/dev/null) ]] || bad "ReplicaSet not garbage-collected"

for n in etcd kube-apiserver kube-controller-manager; do
  pid=$(cat "$dir/$n.pid")
  step "$n pid $pid RSS $(awk '/^VmRSS/ {print $2, $3}' "/proc/$pid/status")"
done

if grep -n -m 5 'panic' "$dir"/kube-apiserver.log "$dir"/kube-controller-manager.log >&2; then
  bad "panics in the server logs"
fi

t=$SECONDS
pids=$(cat "$dir"/*.pid)
kube_stop "$dir"
step "kube_stop took $((SECONDS - t)) s"
for p in $pids; do
  if [[ -e /proc/$p ]]; then bad "pid $p still exists after kube_stop"; fi
done
if ls "$dir"/*.pid >/dev/null 2>&1; then bad "pid files left after kube_stop"; fi
kube_stop "$dir" || bad "second kube_stop failed (must be idempotent)"
exit 0
