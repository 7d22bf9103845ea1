#!/usr/bin/env bash
# End to end: the manifests of install/kubernetes/ (portcullisd in a cluster) pass the gate
# against a schema store imported from a real kube-apiserver (tests/env/kube.sh), apply to it,
# and give each target's ServiceAccount exactly the rights it needs in its own namespaces and
# none elsewhere (the daemon's pod none at all): `kubectl auth can-i` for allowed and denied
# verbs, and a real portcullisd reconciling with the target's own token.
# install/kubernetes/rbac-for-kinds.sh prints what is shipped, and confines what it prints.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"
PORTCULLIS=${PORTCULLIS:?}
PORTCULLISD=${PORTCULLISD_BIN:-${PORTCULLISD_BUILD_BIN:-$ROOT/build/daemon/portcullisd}}
[[ -x $PORTCULLISD ]] || { echo "FATAL: no portcullisd at $PORTCULLISD"; exit 2; }
command -v jq >/dev/null || { echo "FATAL: jq is missing (install/deps.sh installs it)"; exit 2; }

K8S=$ROOT/install/kubernetes
GEN=$K8S/rbac-for-kinds.sh
NS=portcullis-system
# The example target of the shipped manifests: prod, in namespace shop.
SA=system:serviceaccount:$NS:portcullisd-prod
POD_SA=system:serviceaccount:$NS:portcullisd

KDIR=$SUITE_TMP/kube
mkdir -p "$KDIR"
kube_build || { echo "FATAL: cannot build kube-apiserver"; exit 1; }
DAEMON_PID=""
suite_teardown() {
  [[ -z $DAEMON_PID ]] || { kill -9 "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""; }
  kube_stop "$KDIR"
}
trap suite_teardown EXIT
kube_start "$KDIR" || { echo "FATAL: kube-apiserver did not start"; exit 1; }
export KUBECONFIG=$KDIR/kubeconfig
STORE=$SUITE_TMP/store
"$PORTCULLIS" schemas import --kubeconfig "$KDIR/kubeconfig" --out "$STORE" >/dev/null ||
  { echo "FATAL: schema import from the apiserver failed"; exit 1; }
CONFIG=$SUITE_TMP/server.yaml
printf 'schemaStore: %s\n' "$STORE" >"$CONFIG"
# The manifests go into the cluster once, for every test below (applying twice must be a no-op).
kubectl apply --server-side -f "$K8S/" >"$SUITE_TMP/apply.log" 2>&1 ||
  { echo "FATAL: kubectl apply --server-side -f install/kubernetes/ failed: $(cat "$SUITE_TMP/apply.log")"; exit 1; }
# RBAC reaches the authorizer through its informers: wait until the binding is in effect.
sa_can() { [[ $(kubectl auth can-i --as="$1" "${@:2}" 2>/dev/null) == yes ]]; }
poll_until 20 sa_can "$SA" create deployments.apps -n shop ||
  { echo "FATAL: the target's RoleBinding never took effect"; exit 1; }

# can_i YES|NO VERB RESOURCE [ARGS...]: `kubectl auth can-i` as the target's ServiceAccount
# ($AS: another) (its answer on stdout; kubectl warns on stderr about -n with cluster-scoped
# resources).
can_i() {
  local want=$1
  shift
  local got
  got=$(kubectl auth can-i --as="${AS:-$SA}" "$@" 2>/dev/null)
  [[ $got == "${want,,}" ]] || fail "can-i $* as ${AS:-$SA}: $got, expected ${want,,}"
}

# rbac_objects FILE...: the RBAC objects and ServiceAccounts of FILEs, one normalised JSON line each.
rbac_objects() {
  local f
  for f in "$@"; do
    kubectl create --dry-run=client -o json -f "$f" |
      jq -c '(if .kind == "List" then .items[] else . end)
             | select(.kind | IN("ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"))
             | {kind, name: .metadata.name, namespace: .metadata.namespace, labels: .metadata.labels,
                rules: ((.rules // []) | map(.resources |= sort) | sort), roleRef, subjects}'
  done | LC_ALL=C sort
}

# rule_triples FILE...: the ClusterRoles' rules as sorted "group resource verb" lines.
rule_triples() {
  local f
  for f in "$@"; do
    kubectl create --dry-run=client -o json -f "$f" |
      jq -r '(if .kind == "List" then .items[] else . end) | select(.kind == "ClusterRole") | .rules[]
             | .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v | "\($g) \($r) \($v)"'
  done | LC_ALL=C sort -u
}

# A repository holding the manifests (and the generator's output) in a protected environment.
manifests_repo() {
  local clone=$1
  git init -q "$clone"
  mkdir -p "$clone/environments/cluster"
  cp "$K8S"/*.yaml "$clone/environments/cluster/"
  "$GEN" --name portcullis:generated apps/deployments v1/configmaps networking.k8s.io/v1/ingresses \
    >"$clone/environments/cluster/generated-rbac.yaml"
  cat >"$clone/.portcullis.yaml" <<'YAML'
environments:
  - {name: cluster, path: environments/cluster, protected: true}
manifests:
  strict: true
  missingSchema: reject
  denyKinds: [Secret]
YAML
  git -C "$clone" add -A
  git -C "$clone" commit -q -m "portcullisd in a cluster"
}

test_the_gate_accepts_the_manifests_with_the_clusters_schemas() {
  local clone=$SUITE_TMP/$CURRENT_TEST/repo
  manifests_repo "$clone"
  run "$PORTCULLIS" check --repo "$clone" --config "$CONFIG"
  expect_status 0
  expect_output "0 errors, 0 warnings"
  local n
  n=$(find "$clone/environments/cluster" -name '*.yaml' | wc -l)
  expect_output "$n files"
  # Not vacuous: a misspelt field in the Deployment and a mistyped probe port are rejected.
  sed -i 's/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/; s/containerPort: 9440/containerPort: "9440"/' \
    "$clone/environments/cluster/portcullisd.yaml"
  git -C "$clone" commit -q -am "break it"
  run "$PORTCULLIS" check --repo "$clone" --config "$CONFIG"
  expect_status 1
  expect_output "[schema.unknown-field]"
  expect_output "readOnlyRootFilesytem"
  expect_output "[schema.type]"
}

test_the_manifests_apply_idempotently_and_say_what_they_should() {
  run kubectl apply --server-side -f "$K8S/"
  expect_status 0
  run kubectl apply --server-side --dry-run=server -f "$K8S/"
  expect_status 0
  local d
  d=$(kubectl get deployment portcullisd -n "$NS" -o json) || { fail "no Deployment portcullisd in $NS"; return; }
  local checks=(
    '.spec.template.spec.serviceAccountName == "portcullisd"'
    '.spec.template.spec.containers[0].livenessProbe.httpGet.path == "/healthz"'
    '.spec.template.spec.containers[0].readinessProbe.httpGet.path == "/readyz"'
    '.spec.template.spec.securityContext.runAsNonRoot == true'
    '.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem == true'
    '.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation == false'
    '.spec.template.spec.containers[0].securityContext.capabilities.drop == ["ALL"]'
    '.spec.replicas == 2'
  )
  local c
  for c in "${checks[@]}"; do
    jq -e "$c" <<<"$d" >/dev/null || fail "Deployment: not $c"
  done
  # The Service selects the Deployment's pods on the port the probes use.
  local sel labels
  sel=$(kubectl get service portcullisd -n "$NS" -o json | jq -c '.spec.selector') || fail "no Service portcullisd"
  labels=$(jq -c '.spec.template.metadata.labels' <<<"$d")
  jq -e --argjson s "$sel" --argjson l "$labels" -n '$s | to_entries | all(.value == $l[.key])' >/dev/null ||
    fail "the Service's selector $sel does not match the pod labels $labels"
  # The daemon's config in the ConfigMap is valid for portcullisd and listens where the probes look.
  local cfg=$SUITE_TMP/$CURRENT_TEST/daemon.yaml
  kubectl get configmap portcullisd-config -n "$NS" -o jsonpath='{.data.daemon\.yaml}' >"$cfg"
  run "$PORTCULLISD" --config "$cfg" --check-config
  expect_status 0
  grep -q '^listen: 0.0.0.0:9440$' "$cfg" || fail "the daemon does not listen on the pod's port 9440: $(grep listen "$cfg")"
  grep -q 'readTokenFile: /etc/portcullis/secrets/read.token' "$cfg" || fail "off loopback without a read token: $(cat "$cfg")"
  grep -q '^leaderElection:' "$cfg" || fail "two replicas without leader election: $(cat "$cfg")"
  # The pod's own ServiceAccount has a token for its Lease and no other right: each target's
  # kubeconfig has them.
  jq -e '.spec.template.spec.automountServiceAccountToken == true' <<<"$d" >/dev/null || fail "the pod has no token for its Lease"
  AS=$POD_SA can_i yes get leases.coordination.k8s.io/portcullisd -n "$NS"
  AS=$POD_SA can_i yes update leases.coordination.k8s.io/portcullisd -n "$NS"
  AS=$POD_SA can_i yes create leases.coordination.k8s.io -n "$NS"
  AS=$POD_SA can_i no update leases.coordination.k8s.io/other -n "$NS"
  AS=$POD_SA can_i no update leases.coordination.k8s.io/portcullisd -n kube-system
  AS=$POD_SA can_i no get configmaps -n "$NS"
  AS=$POD_SA can_i no create deployments.apps -n shop
  AS=$POD_SA can_i no list namespaces
  # The target's kubeconfig reaches the apiserver with its own token.
  kubectl get configmap portcullisd-config -n "$NS" -o jsonpath='{.data.prod\.kubeconfig}' >"$SUITE_TMP/$CURRENT_TEST/prod.kubeconfig"
  grep -q 'tokenFile: /etc/portcullis/targets/prod/token' "$SUITE_TMP/$CURRENT_TEST/prod.kubeconfig" ||
    fail "target prod's kubeconfig: $(cat "$SUITE_TMP/$CURRENT_TEST/prod.kubeconfig")"
  jq -e '.spec.template.spec.volumes[] | select(.secret.secretName == "portcullisd-prod-token")' <<<"$d" >/dev/null ||
    fail "target prod's token is not mounted"
  local mount
  mount=$(jq -r '.spec.template.spec.containers[0].args[1]' <<<"$d")
  [[ $mount == /etc/portcullis/config/daemon.yaml ]] || fail "the container runs with --config $mount"
}

test_each_target_has_exactly_its_own_rights() {
  # Allowed: server-side apply (get, create, patch), prune (delete) and drift watches (list,
  # watch) of the managed kinds in its namespace, and its inventory ConfigMaps.
  can_i yes create deployments.apps -n shop
  can_i yes patch deployments.apps -n shop
  can_i yes delete statefulsets.apps -n shop
  can_i yes get services -n shop
  can_i yes watch deployments.apps -n shop
  can_i yes list configmaps -n shop
  can_i yes create configmaps -n "$NS"
  can_i yes patch configmaps -n "$NS"
  can_i yes delete configmaps -n "$NS"
  can_i yes list configmaps -n "$NS"
  # Denied: other namespaces (kube-system too), anything cluster-wide, secrets, RBAC and
  # escalation, pods, verbs it never uses.
  can_i no create deployments.apps -n default
  can_i no create configmaps -n kube-system
  can_i no patch configmaps -n kube-public
  can_i no watch deployments.apps -A
  can_i no list configmaps -A
  can_i no get secrets -n shop
  can_i no get secrets -n "$NS"
  can_i no create namespaces
  can_i no patch namespaces
  can_i no delete namespaces
  can_i no create clusterrolebindings.rbac.authorization.k8s.io
  can_i no create rolebindings.rbac.authorization.k8s.io -n shop
  can_i no bind clusterroles.rbac.authorization.k8s.io
  can_i no escalate clusterroles.rbac.authorization.k8s.io
  can_i no impersonate users
  can_i no create pods -n shop
  can_i no create pods --subresource=exec -n shop
  can_i no update deployments.apps -n shop
  can_i no deletecollection deployments.apps -n shop
  can_i no create customresourcedefinitions.apiextensions.k8s.io
  can_i no create serviceaccounts --subresource=token -n "$NS"
}

test_portcullisd_reconciles_with_the_service_accounts_own_token() {
  local dir=$SUITE_TMP/$CURRENT_TEST token
  # A real token of the target's ServiceAccount (TokenRequest API), not impersonation.
  token=$(kubectl create token portcullisd-prod -n "$NS" --duration=10m 2>&1) || { fail "kubectl create token failed: $token"; return; }
  kubectl config view --raw --minify -o json | jq --arg t "$token" '
    .users[0].user = {token: $t} | .users[0].name = "portcullisd-sa" | .contexts[0].context.user = "portcullisd-sa"' \
    >"$dir/kubeconfig"
  run kubectl --kubeconfig "$dir/kubeconfig" get secrets -n "$NS"
  expect_status 1
  expect_output "forbidden"
  # An environment the shipped role covers, in the namespace the admin made: a ConfigMap, a
  # Deployment, a Service.
  local server clone port url
  server=$(new_server server)
  clone=$(new_clone "$server")
  configmap settings shop | put "$clone" environments/prod/settings.yaml
  deployment web registry.example.com/web:1.2.3 | sed 's/^  name: web$/  name: web\n  namespace: shop/' |
    put "$clone" environments/prod/web.yaml
  put "$clone" environments/prod/service.yaml $'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector: {app: web}\n  ports: [{port: 80, protocol: TCP}]\n'
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_accepted
  port=$(kube_free_port) || { fail "no free port"; return; }
  url=http://127.0.0.1:$port
  cat >"$dir/daemon.yaml" <<YAML
listen: 127.0.0.1:$port
stateDir: $dir/state
pollInterval: 1s
repository: {url: "file://$server", branch: main}
targets:
  - {name: prod, path: environments/prod, kubeconfig: $dir/kubeconfig, namespace: shop}
YAML
  "$PORTCULLISD" --config "$dir/daemon.yaml" >"$dir/daemon.log" 2>&1 &
  DAEMON_PID=$!
  poll_until 10 curl -fsS -o /dev/null "$url/healthz" 2>/dev/null || fail "portcullisd did not start: $(tail -5 "$dir/daemon.log")"
  local rev
  rev=$(git -C "$server" rev-parse main)
  poll_until 60 bash -c "curl -fsS $url/v1/targets | jq -e '.targets[0] | .appliedRevision == \"$rev\" and .state == \"Synced\"' >/dev/null" ||
    fail "not Synced with the ServiceAccount's rights: $(curl -sS "$url/v1/targets"); log: $(tail -3 "$dir/daemon.log")"
  poll_until 10 curl -fsS -o /dev/null "$url/readyz" || fail "/readyz is not 200 after the first sync"
  kubectl get deployment web -n shop >/dev/null 2>&1 || fail "the Deployment was not applied"
  # Written before Synced is reported; polled all the same, since one kubectl call in a CI run
  # under load came back empty: the failure now shows what kubectl said.
  poll_until 10 bash -c "kubectl get configmap portcullis-inventory-prod -n $NS -o name 2>/dev/null | grep -q ." ||
    fail "no inventory ConfigMap in $NS: $(kubectl get configmaps -n "$NS" -o name 2>&1)"
  # Drift watches run with the rights of its namespace alone: listed, never forbidden.
  poll_until 20 grep -q '"msg":"watch listed","resource":"/apis/apps/v1/deployments","namespace":"shop"' "$dir/daemon.log" ||
    fail "the Deployment watch did not list in shop: $(grep -i watch "$dir/daemon.log" | tail -3)"
  grep -q 'watch: list failed' "$dir/daemon.log" && fail "a watch was refused: $(grep 'list failed' "$dir/daemon.log" | head -3)"
  # Prune, with delete rights only where the role grants them.
  git -C "$clone" rm -q environments/prod/service.yaml
  commit "$clone"
  push "$clone" origin HEAD:main
  expect_accepted
  rev=$(git -C "$server" rev-parse main)
  poll_until 60 bash -c "curl -fsS $url/v1/targets | jq -e '.targets[0] | .appliedRevision == \"$rev\" and .state == \"Synced\"' >/dev/null" ||
    fail "prune not Synced: $(curl -sS "$url/v1/targets"); log: $(tail -3 "$dir/daemon.log")"
  poll_until 10 bash -c "! kubectl get service web -n shop >/dev/null 2>&1" || fail "the Service was not pruned"
  kill -TERM "$DAEMON_PID"
  wait "$DAEMON_PID"
  DAEMON_PID=""
}

test_rbac_for_kinds_matches_the_shipped_role_and_grants_only_what_it_lists() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  # The shipped RBAC of target prod is what the generator prints for it.
  "$GEN" --service-account prod --namespaces shop v1/services v1/serviceaccounts v1/configmaps apps/deployments \
    apps/statefulsets apps/daemonsets >"$dir/prod.yaml" || fail "rbac-for-kinds.sh failed"
  [[ $(rbac_objects "$dir/prod.yaml") == "$(rbac_objects "$K8S/portcullisd-rbac.yaml")" ]] ||
    fail "generated and shipped RBAC differ:"$'\n'"$(diff <(rbac_objects "$dir/prod.yaml") <(rbac_objects "$K8S/portcullisd-rbac.yaml"))"
  # Without --namespaces: one ClusterRole, as before.
  "$GEN" v1/services v1/serviceaccounts apps/deployments apps/statefulsets apps/daemonsets \
    apiextensions.k8s.io/v1/customresourcedefinitions >"$dir/role.yaml" || fail "rbac-for-kinds.sh failed"
  [[ $(rule_triples "$dir/role.yaml" | wc -l) -gt 20 ]] || fail "the ClusterRole: $(cat "$dir/role.yaml")"
  # A role for two kinds, bound to a ServiceAccount of its own.
  "$GEN" --name portcullis:e2e apps/deployments v1/configmaps >"$dir/e2e-role.yaml"
  run kubectl apply --server-side -f "$dir/e2e-role.yaml"
  expect_status 0
  kubectl create serviceaccount gen -n default >/dev/null 2>&1
  kubectl create clusterrolebinding portcullis:e2e --clusterrole=portcullis:e2e --serviceaccount=default:gen >/dev/null ||
    fail "cannot bind the generated role"
  local as=system:serviceaccount:default:gen
  poll_until 20 sa_can "$as" create deployments.apps -n a || fail "the generated role's binding never took effect"
  local yes no
  for yes in "create deployments.apps -n a" "patch deployments.apps -n a" "delete deployments.apps -n a" \
    "watch deployments.apps -n a" "get configmaps -n a" "create namespaces" "patch namespaces" "list namespaces"; do
    # shellcheck disable=SC2086
    [[ $(kubectl auth can-i --as="$as" $yes 2>/dev/null) == yes ]] || fail "generated role: cannot $yes"
  done
  for no in "create statefulsets.apps -n a" "update deployments.apps -n a" "delete namespaces" \
    "get secrets -n a" "create services -n a" "list services -A"; do
    # shellcheck disable=SC2086
    [[ $(kubectl auth can-i --as="$as" $no 2>/dev/null) == no ]] || fail "generated role: can $no"
  done
  # --no-watch drops list and watch (a reconciler without drift detection); --rules-only
  # prints just the list.
  "$GEN" --name portcullis:e2e --no-watch apps/deployments v1/configmaps | kubectl apply --server-side -f - >/dev/null ||
    fail "cannot apply the --no-watch role"
  poll_until 20 bash -c "[[ \$(kubectl auth can-i --as=$as watch deployments.apps -n a 2>/dev/null) == no ]]" ||
    fail "the --no-watch role never took effect"
  [[ $(kubectl auth can-i --as="$as" watch deployments.apps -n a) == no ]] || fail "--no-watch: can watch deployments"
  [[ $(kubectl auth can-i --as="$as" list namespaces 2>/dev/null) == no ]] || fail "--no-watch: can list namespaces"
  [[ $(kubectl auth can-i --as="$as" patch deployments.apps -n a) == yes ]] || fail "--no-watch: cannot patch deployments"
  run "$GEN" --rules-only --no-inventory --no-watch networking.k8s.io/v1/ingresses
  expect_status 0
  [[ $OUT == $'- apiGroups: ["networking.k8s.io"]\n  resources: [ingresses]\n  verbs: [get, create, patch, delete]' ]] ||
    fail "--rules-only --no-inventory printed: $OUT"
  # A Kind is turned into its resource, with a note; nonsense is a usage error with no output.
  run "$GEN" --rules-only --no-inventory networking.k8s.io/NetworkPolicy
  expect_output "resources: [networkpolicies]"
  expect_output "kind NetworkPolicy taken as resource networkpolicies"
  local bad
  for bad in "apps" "apps/v1/x/deployments" "Apps!/deployments" "apps/v1/Deploy-ment" "--bogus" \
    "--namespaces=team-*" "--namespaces=a,portcullis-system" "--namespaces=Shop" "--cluster=v1/namespaces" \
    "--service-account=gen" "--token-secret" "--user=u --service-account=gen --namespaces=a"; do
    # shellcheck disable=SC2086
    STDOUT=$("$GEN" $bad v1/configmaps 2>/dev/null)
    STATUS=$?
    ((STATUS == 2)) || fail "rbac-for-kinds.sh $bad exited $STATUS, expected 2"
    [[ -z $STDOUT ]] || fail "rbac-for-kinds.sh $bad printed: $STDOUT"
  done
}

test_rbac_for_kinds_confines_a_target_to_its_namespaces() {
  local as=system:serviceaccount:$NS:portcullisd-confined
  kubectl create namespace team-a >/dev/null && kubectl create namespace team-b >/dev/null && kubectl create namespace team-c >/dev/null ||
    { fail "cannot make the namespaces"; return; }
  run bash -c "\"$GEN\" --service-account confined --namespaces team-a,team-b --cluster v1/namespaces \
    --cluster apiextensions.k8s.io/customresourcedefinitions apps/deployments v1/configmaps | kubectl apply -f -"
  expect_status 0
  poll_until 20 sa_can "$as" create deployments.apps -n team-b || { fail "the generated bindings never took effect"; return; }
  local yes no
  for yes in "create deployments.apps -n team-a" "delete configmaps -n team-b" "watch deployments.apps -n team-a" \
    "patch namespaces/team-a" "get namespaces/team-b" "list namespaces" "create customresourcedefinitions.apiextensions.k8s.io" \
    "patch configmaps -n $NS"; do
    # shellcheck disable=SC2086
    [[ $(kubectl auth can-i --as="$as" $yes 2>/dev/null) == yes ]] || fail "confined target: cannot $yes"
  done
  for no in "create deployments.apps -n team-c" "create configmaps -n default" "create configmaps -n kube-system" \
    "list deployments.apps -A" "patch namespaces/team-c" "delete namespaces/kube-system" "get secrets -n team-a" \
    "create statefulsets.apps -n team-a" "create clusterrolebindings.rbac.authorization.k8s.io" "watch configmaps -n $NS"; do
    # shellcheck disable=SC2086
    [[ $(kubectl auth can-i --as="$as" $no 2>/dev/null) == no ]] || fail "confined target: can $no"
  done
}

run_suite "$@"
