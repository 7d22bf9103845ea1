#!/usr/bin/env bash
# End to end against a real kube-apiserver (tests/env/kube.sh): the schema store imported from
# its /openapi/v2 over verified TLS, real-world manifests accepted, and for a table of invalid
# manifests the gate's verdict compared with `kubectl apply --dry-run=server` on the same server.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"

KDIR=$SUITE_TMP/kube
mkdir -p "$KDIR"
kube_build || { echo "FATAL: cannot build kube-apiserver"; exit 1; }
suite_teardown() { kube_stop "$KDIR"; }
trap suite_teardown EXIT
kube_start "$KDIR" || { echo "FATAL: kube-apiserver did not start"; exit 1; }
export KUBECONFIG=$KDIR/kubeconfig
kubectl create serviceaccount default -n default >/dev/null 2>&1 || true
STORE=$SUITE_TMP/store
"$PORTCULLIS" schemas import --kubeconfig "$KDIR/kubeconfig" --out "$STORE" >/dev/null ||
  { echo "FATAL: schema import from the apiserver failed"; exit 1; }
CONFIG=$SUITE_TMP/server.yaml
printf 'schemaStore: %s\n' "$STORE" >"$CONFIG"

# check_file NAME: commits $CASE_FILE as environments/dev/NAME.yaml in a fresh clone and runs
# `portcullis check` on it; sets GATE_REJECTS=1/0 and OUT.
gate_verdict() {
  local clone=$SUITE_TMP/$CURRENT_TEST/verdict-$1
  rm -rf "$clone"
  git init -q "$clone"
  cp "$CASE_FILE" "$clone/x.yaml" 2>/dev/null || true
  mkdir -p "$clone/environments/dev"
  mv "$clone/x.yaml" "$clone/environments/dev/$1.yaml"
  git -C "$clone" add -A
  git -C "$clone" commit -q -m case
  run "$PORTCULLIS" check --repo "$clone" --config "$CONFIG"
  GATE_REJECTS=$((STATUS != 0))
  [[ $STATUS -le 1 ]] || fail "portcullis check failed to run for $1: $OUT"
}

kube_verdict() {
  KOUT=$(kubectl apply --dry-run=server -f "$CASE_FILE" 2>&1)
  KUBE_REJECTS=$(($? != 0))
}

test_import_over_verified_tls_with_token_auth() {
  local store=$SUITE_TMP/$CURRENT_TEST/store
  run "$PORTCULLIS" schemas import --kubeconfig "$KDIR/kubeconfig" --out "$store"
  expect_status 0
  expect_output "cluster-scoped) from"
  [[ -f $store/apps/v1/Deployment.json && -f $store/schemas.bin ]] || fail "store files missing"
  # A kubeconfig whose CA did not sign the server's certificate is refused.
  local other_ca=$SUITE_TMP/$CURRENT_TEST/other-ca
  mkdir -p "$other_ca"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$other_ca/key.pem" -out "$other_ca/ca.pem" -days 1 \
    -subj "/CN=not-the-cluster-ca" >/dev/null 2>&1
  sed "s|certificate-authority-data: .*|certificate-authority-data: $(base64 -w0 "$other_ca/ca.pem")|" \
    "$KDIR/kubeconfig" >"$other_ca/kubeconfig"
  run "$PORTCULLIS" schemas import --kubeconfig "$other_ca/kubeconfig" --out "$SUITE_TMP/$CURRENT_TEST/never"
  expect_status 2
  expect_output "not signed by the configured certificate authority"
  [[ ! -e $SUITE_TMP/$CURRENT_TEST/never ]] || fail "a store was written despite the TLS failure"
  # A wrong token is an HTTP error, reported with the status.
  sed "s|token: .*|token: wrong-token|" "$KDIR/kubeconfig" >"$other_ca/bad-token"
  run "$PORTCULLIS" schemas import --kubeconfig "$other_ca/bad-token" --out "$SUITE_TMP/$CURRENT_TEST/never"
  expect_status 2
  expect_output "answered HTTP 401"
}

test_real_world_manifests_are_accepted_by_the_gate_and_the_apiserver() {
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  cp -r "$ROOT/tests/fixtures/manifests/valid/." "$CLONE/environments/"
  git -C "$CLONE" add -A
  commit "$CLONE" "real-world manifests"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "portcullis: push accepted: 0 errors, 0 warnings"
  local f
  for f in "$ROOT"/tests/fixtures/manifests/valid/*/*.yaml; do
    kubectl apply --dry-run=server -f "$f" >/dev/null 2>"$SUITE_TMP/$CURRENT_TEST/kubectl.err" ||
      fail "the apiserver rejects $(basename "$f"), which the gate accepted: $(cat "$SUITE_TMP/$CURRENT_TEST/kubectl.err")"
  done
}

test_invalid_manifests_agree_with_kubectl_dry_run_server() {
  local dir=$ROOT/tests/fixtures/manifests/invalid
  local f name expected rule agreed=0
  for f in "$dir"/*.yaml; do
    name=$(basename "$f" .yaml)
    # Each fixture's first line: "# gate: <rule>|accept  apiserver: reject|accept  [why]"
    read -r _ _ rule _ expected _ < <(head -n 1 "$f")
    CASE_FILE=$f
    gate_verdict "$name"
    kube_verdict
    if [[ $rule == accept ]]; then
      ((GATE_REJECTS == 0)) || fail "$name: the gate rejects, the fixture says it accepts: $OUT"
    else
      ((GATE_REJECTS == 1)) || fail "$name: the gate accepts, expected [$rule]"
      grep -qF "[$rule]" <<<"$OUT" || fail "$name: expected rule $rule in: $OUT"
    fi
    local kube_expected=0
    [[ $expected == reject ]] && kube_expected=1
    ((KUBE_REJECTS == kube_expected)) || fail "$name: kubectl apply --dry-run=server $( ((KUBE_REJECTS)) && echo rejects || echo accepts), the fixture says $expected: $KOUT"
    ((GATE_REJECTS == KUBE_REJECTS)) && agreed=$((agreed + 1))
  done
  echo "    $agreed of $(ls "$dir"/*.yaml | wc -l) verdicts agree with the apiserver; the others are documented in their fixtures"
}

test_crds_in_the_same_push_validate_their_custom_resources() {
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  cp "$ROOT/tests/fixtures/manifests/crd/crd.yaml" "$CLONE/crd.yaml"
  mkdir -p "$CLONE/environments/dev"
  mv "$CLONE/crd.yaml" "$CLONE/environments/dev/crd.yaml"
  cp "$ROOT/tests/fixtures/manifests/crd/good-cr.yaml" "$CLONE/environments/dev/backup.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  # A custom resource changed later is validated with the CRD that is already in the repository.
  cp "$ROOT/tests/fixtures/manifests/crd/bad-cr.yaml" "$CLONE/environments/dev/backup.yaml"
  git -C "$CLONE" add -A
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/backup.yaml:9:15: error [schema.type] Backup \"nightly\": spec.retainDays: expected integer, got string \"thirty\""
  expect_output "error [schema.enum]"
  expect_output "error [schema.unknown-field]"
  # The apiserver agrees once the CRD is installed there.
  kubectl apply -f "$ROOT/tests/fixtures/manifests/crd/crd.yaml" >/dev/null
  poll_until 30 kubectl wait --for=condition=Established crd/backups.example.com --timeout=1s >/dev/null 2>&1 ||
    fail "CRD never became Established"
  kubectl apply --dry-run=server -f "$ROOT/tests/fixtures/manifests/crd/good-cr.yaml" >/dev/null 2>&1 ||
    fail "the apiserver rejects the good custom resource"
  ! kubectl apply --dry-run=server -f "$ROOT/tests/fixtures/manifests/crd/bad-cr.yaml" >/dev/null 2>&1 ||
    fail "the apiserver accepts the bad custom resource"
  # A kind nobody declared.
  git -C "$CLONE" reset -q --hard origin/main
  put "$CLONE" environments/dev/gadget.yaml $'apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [schema.missing] Gadget \"g\": no schema for example.com/v1/Gadget"
}

# The CEL rules (x-kubernetes-validations) of a CRD in the push judge its custom resources when
# the store says the cluster runs them (1.25 and later). No apiserver >= 1.25 can be built here:
# this 1.20 apiserver's document, with info.version v1.25.0 and JSONSchemaProps' field
# x-kubernetes-validations (and ValidationRule) added as 1.25's document has them, stands in.
# store_125 DIR: a store "of 1.25" in DIR/store-1.25 and its server config DIR/server-1.25.yaml.
store_125() {
  local dir=$1
  local props=io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps
  local rule=io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ValidationRule
  mkdir -p "$dir"
  kubectl get --raw /openapi/v2 | jq --arg p "$props" --arg r "$rule" '
    .info.version = "v1.25.0"
    | .definitions[$r] = {type: "object", required: ["rule"], properties: {rule: {type: "string"},
        message: {type: "string"}, messageExpression: {type: "string"}, reason: {type: "string"},
        fieldPath: {type: "string"}, optionalOldSelf: {type: "boolean"}}}
    | .definitions[$p].properties["x-kubernetes-validations"] =
        {type: "array", items: {"$ref": ("#/definitions/" + $r)}}' >"$dir/openapi-1.25.json" ||
    fail "cannot make the 1.25 document"
  "$PORTCULLIS" schemas import --openapi "$dir/openapi-1.25.json" --out "$dir/store-1.25" >/dev/null ||
    fail "schema import of the 1.25 document failed"
  printf 'schemaStore: %s\ntimeBudget: 5s\nfailMode: closed\n' "$dir/store-1.25" >"$dir/server-1.25.yaml"
}

test_cel_rules_of_crds_by_cluster_version() {
  local dir=$SUITE_TMP/$CURRENT_TEST fx=$ROOT/tests/fixtures/manifests/crd-cel
  store_125 "$dir"
  local server125 server120 clone
  server125=$(new_server server125 "$dir/server-1.25.yaml")
  server120=$(new_server server120 "$CONFIG")
  # 1.25: the CRD and a custom resource that keeps its rules are accepted; one that breaks three
  # rules is refused with the apiserver's messages, and so is a CRD whose rule does not compile.
  clone=$(new_clone "$server125")
  mkdir -p "$clone/environments/dev"
  cp "$fx/crd.yaml" "$clone/environments/dev/crd.yaml"
  cp "$fx/good-cr.yaml" "$clone/environments/dev/widget.yaml"
  git -C "$clone" add -A
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_accepted
  cp "$fx/bad-cr.yaml" "$clone/environments/dev/widget.yaml"
  cp "$fx/bad-rule-crd.yaml" "$clone/environments/dev/gizmo-crd.yaml"
  git -C "$clone" add -A
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/widget.yaml:7:3: error [k8s.crd.cel] Widget \"web\": spec: Invalid value: \"object\": minReplicas must not exceed maxReplicas"
  expect_output "environments/dev/widget.yaml:9:13: error [k8s.crd.cel] Widget \"web\": spec.replicas: Invalid value: \"integer\": failed rule: self < 10"
  expect_output "error [k8s.crd.cel] Widget \"web\": spec.ports[1].port: Invalid value: \"integer\": port must be between 1 and 65535"
  expect_output "error [k8s.crd.cel.compile] CustomResourceDefinition \"gizmos.example.com\": spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: \"self.size < limit\": compilation failed: ERROR: <input>:1:13: undeclared reference to 'limit'"
  [[ $(grep -c 'error \[k8s.crd.cel' <<<"$OUT") -eq 4 ]] || fail "expected 4 CEL findings: $OUT"
  # 1.20: the rules are not judged (no k8s.crd.cel findings, the custom resource that breaks
  # them passes), but the CRD is refused for its unknown field, as 1.20's apiserver refuses it on
  # the server-side apply the reconciler uses.
  clone=$(new_clone "$server120")
  mkdir -p "$clone/environments/dev"
  cp "$fx/crd.yaml" "$clone/environments/dev/crd.yaml"
  cp "$fx/bad-cr.yaml" "$clone/environments/dev/widget.yaml"
  git -C "$clone" add -A
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_rejected
  expect_output "error [schema.unknown-field] CustomResourceDefinition \"widgets.example.com\": spec.versions[0].schema.openAPIV3Schema.properties.spec: unknown field \"x-kubernetes-validations\""
  expect_no_output "k8s.crd.cel"
  expect_no_output "Widget \"web\""
  run kubectl apply --server-side --dry-run=server --validate=false -f "$fx/crd.yaml"
  ((STATUS != 0)) || fail "the 1.20 apiserver accepts x-kubernetes-validations on server-side apply: $OUT"
  expect_output "x-kubernetes-validations: field not declared in schema"
  # Written by a client-side apply, 1.20 drops the field, and with it the rules: the custom
  # resource that breaks them, and the CRD whose rule does not compile, are accepted.
  kubectl apply --validate=false -f "$fx/crd.yaml" >/dev/null || fail "the apiserver refuses the CRD"
  poll_until 30 kubectl wait --for=condition=Established crd/widgets.example.com --timeout=1s >/dev/null 2>&1 ||
    fail "CRD never became Established"
  [[ $(kubectl get crd widgets.example.com -o json | jq '.spec.versions[0].schema.openAPIV3Schema.properties.spec | has("x-kubernetes-validations")') == false ]] ||
    fail "the 1.20 apiserver kept x-kubernetes-validations"
  run kubectl apply --dry-run=server -f "$fx/bad-cr.yaml"
  expect_status 0
  run kubectl apply --validate=false --dry-run=server -f "$fx/bad-rule-crd.yaml"
  expect_status 0
}

# The pusher writes the rules and the objects: a rule that would run for ever stops at the
# apiserver's per-call cost limit, a regular expression that backtracking matchers take
# exponential time on is matched in linear time, and a rule nested 5,000 levels deep is refused
# by the parser; the push is judged well within the time budget (5 s, fail closed).
test_cel_hostile_rules_stop_at_their_limits() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  store_125 "$dir"
  local server clone xs deep
  server=$(new_server server "$dir/server-1.25.yaml")
  clone=$(new_clone "$server")
  xs=$(seq -s, 0 99)
  deep=$(printf '%.0s(' $(seq 5000))true$(printf '%.0s)' $(seq 5000))
  put "$clone" environments/dev/crd.yaml "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: traps.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: traps, singular: trap, kind: Trap, listKind: TrapList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: self.xs.all(a, self.xs.all(b, self.xs.all(c, self.xs.all(d, a + b + c + d >= 0))))
            - rule: \"self.s.matches('^(a+)+\$')\"
              message: s must be a run of a
            properties:
              xs: {type: array, items: {type: integer}}
              s: {type: string}"
  put "$clone" environments/dev/trap.yaml "apiVersion: example.com/v1
kind: Trap
metadata: {name: t}
spec:
  xs: [$xs]
  s: $(printf 'a%.0s' $(seq 30))!"
  put "$clone" environments/dev/deep-crd.yaml "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: deeps.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: deeps, singular: deep, kind: Deep, listKind: DeepList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-validations: [{rule: '$deep'}]"
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_rejected
  expect_output "error [k8s.crd.cel] Trap \"t\": spec: Invalid value: \"object\": call cost exceeds limit for rule: self.xs.all(a, self.xs.all(b"
  expect_output "error [k8s.crd.cel] Trap \"t\": spec: Invalid value: \"object\": s must be a run of a"
  expect_output "error [k8s.crd.cel.compile] CustomResourceDefinition \"deeps.example.com\": spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule: Invalid value:"
  expect_output "expression nested more than"
  expect_no_output "time budget"
}

test_missing_schema_can_be_a_warning() {
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  put "$CLONE" .portcullis.yaml $'manifests:\n  missingSchema: warn\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  put "$CLONE" environments/dev/gadget.yaml $'apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "warning [schema.missing]"
}

run_suite "$@"
