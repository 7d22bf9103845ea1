#!/usr/bin/env bash
# End to end: environments that kustomize renders (issue 16), through real receive-pack and a
# real kube-apiserver. The gate judges an environment's render whenever an input of it changes
# (a shared base too), at the source file and line of each rendered object; portcullisd applies
# that render; `portcullis render --repo --rev --env` prints it. The attacks are a pusher's: a
# base change that prod renders without prod's owners, reads outside the repository, a render
# into a namespace outside the environment's confinement, a generated plaintext Secret.
source "$(dirname "$0")/lib.sh"
# shellcheck source=daemon_lib.sh
source "$(dirname "$0")/daemon_lib.sh"
command -v jq >/dev/null || { echo "FATAL: jq is missing (install/deps.sh installs it)"; exit 2; }

STORE=$SUITE_TMP/store
"$PORTCULLIS" schemas import --kubeconfig "$KDIR/kubeconfig" --out "$STORE" >/dev/null ||
  { echo "FATAL: schema import from the apiserver failed"; exit 1; }

# alice_pushes MESSAGE: commits what is staged and pushes it to main as alice (who owns prod).
alice_pushes() {
  commit "$CLONE" "$1"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
}

# expect_output_re ERE: some line of the output matches.
expect_output_re() {
  grep -qE -- "$1" <<<"$OUT" || fail "output lacks a match of: $1"$'\n'"$(sed 's/^/      | /' <<<"$OUT")"
}

OWNERS=$'environments/prod/ @alice\n'
POLICY=$'environments:\n  - {name: staging, path: environments/staging}\n  - name: prod\n    path: environments/prod\n    protected: true\n    promotion: {from: staging}\n'

# The shared base: a Deployment (line 1 of base/app.yaml) and a Service.
base() {
  put "$CLONE" base/kustomization.yaml $'resources:\n- app.yaml\n- svc.yaml\n'
  deployment web registry.example/web:1.0 | put "$CLONE" base/app.yaml
  put "$CLONE" base/svc.yaml $'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - {port: 80, protocol: TCP}\n'
}

# overlay ENV NS TAG: environments/ENV renders the base into NS, 3 replicas by a patch, image
# tag TAG, a generated ConfigMap.
overlay() {
  put "$CLONE" "environments/$1/kustomization.yaml" "namespace: $2
resources:
- ../../base
patches:
- path: replicas.yaml
images:
- name: registry.example/web
  newTag: \"$3\"
configMapGenerator:
- name: settings
  literals: [mode=$1]
"
  put "$CLONE" "environments/$1/replicas.yaml" $'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n'
}

# setup_gate [CONFIG LINES]: a server whose main holds the policy, CODEOWNERS (alice owns prod),
# the base and overlays for staging and prod, pushed by alice. CONFIG, SERVER, CLONE are set.
setup_gate() {
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  mkdir -p "$SUITE_TMP/$CURRENT_TEST"
  printf 'schemaStore: %s\n%s\n' "$STORE" "${1:-}" >"$CONFIG"
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  put "$CLONE" .portcullis.yaml "${GATE_POLICY:-$POLICY}"
  put "$CLONE" CODEOWNERS "$OWNERS"
  base
  overlay staging staging 1.1
  overlay prod prod 1.1
  commit "$CLONE" initial
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
}

# --- The gate -----------------------------------------------------------------------------------

test_an_overlay_is_judged_and_printed_as_rendered() {
  setup_gate
  # What the gate validated and the daemon applies, as the command prints it.
  run "$PORTCULLIS" render --repo "$SERVER" --rev main --env prod --format json
  expect_status 0
  local names
  names=$(jq -r '[.[] | "\(.kind) \(.metadata.namespace)/\(.metadata.name)"] | join(",")' <<<"$OUT")
  [[ $names == "ConfigMap prod/settings-"*",Service prod/web,Deployment prod/web" ]] || fail "rendered objects: $names"
  [[ $(jq -r '.[] | select(.kind == "Deployment") | "\(.spec.replicas) \(.spec.template.spec.containers[0].image)"' <<<"$OUT") == "3 registry.example/web:1.1" ]] ||
    fail "the render lacks the patch or the image: $OUT"
  run "$PORTCULLIS" render --repo "$SERVER" --env nowhere
  expect_status 2
}

test_a_base_change_is_judged_in_every_overlay_at_the_base_line() {
  setup_gate
  # An invalid field in the base: both overlays render it; reported at the base file, with the
  # rendered object named.
  deployment web registry.example/web:1.0 | sed 's/^  replicas: 2$/  replicas: 2\n  minReadySeconds: soon/' |
    put "$CLONE" base/app.yaml
  alice_pushes "base: bad minReadySeconds"
  expect_rejected
  # At the line of the field in the base, where it can be fixed.
  local line
  line=$(grep -n 'minReadySeconds' "$CLONE/base/app.yaml" | cut -d: -f1)
  expect_output_re "base/app\\.yaml:$line:[0-9]+: error \\[schema\\.[a-z-]+\\] Deployment \"web\": spec\\.minReadySeconds"
  expect_no_output "environments/prod/replicas.yaml"
}

test_a_field_a_patch_sets_is_judged_at_the_patch_line() {
  setup_gate
  # prod's patch file sets an invalid value (its line 6): reported there, not at the base
  # object the patch applied to.
  put "$CLONE" environments/prod/replicas.yaml $'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: many\n'
  alice_pushes "prod: bad patch"
  expect_rejected
  expect_output_re 'environments/prod/replicas\.yaml:6:[0-9]+: error \[schema\.[a-z-]+\] Deployment "web": spec\.replicas'
  expect_no_output "base/app.yaml:"
  # An inline JSON patch in the kustomization: reported at the line of its value.
  git -C "$CLONE" reset -q --hard origin/main
  local k=$CLONE/environments/prod/kustomization.yaml line
  awk '{ print } /^- path: replicas.yaml$/ {
    print "- target: {kind: Deployment}"; print "  patch: |-"; print "    - op: add"
    print "      path: /spec/minReadySeconds"; print "      value: soon" }' "$k" >"$k.new" && mv "$k.new" "$k"
  git -C "$CLONE" add -A
  line=$(grep -n 'value: soon' "$k" | cut -d: -f1)
  alice_pushes "prod: bad inline patch"
  expect_rejected
  expect_output_re "environments/prod/kustomization\\.yaml:$line:[0-9]+: error \\[schema\\.[a-z-]+\\] Deployment \"web\": spec\\.minReadySeconds"
  expect_no_output "base/app.yaml:"
}

test_build_errors_are_findings_with_their_rule() {
  setup_gate
  local -a cases=(
    "resources: [missing.yaml]|kustomize.missing"
    "resources: [../../../../etc]|kustomize.outside"
    "resources: [https://example.com/x.yaml]|kustomize.remote"
    "resources: [../prod]|kustomize.cycle"
  )
  local c
  for c in "${cases[@]}"; do
    git -C "$CLONE" reset -q --hard origin/main
    put "$CLONE" environments/prod/kustomization.yaml "${c%%|*}"$'\n'
    alice_pushes "bad: ${c%%|*}"
    expect_rejected
    expect_output "[${c##*|}]"
  done
  # A generator reading a file outside the kustomization's directory.
  git -C "$CLONE" reset -q --hard origin/main
  put "$CLONE" environments/prod/kustomization.yaml $'resources: [../../base]\nconfigMapGenerator:\n- name: x\n  files: [../../CODEOWNERS]\n'
  alice_pushes "generator outside"
  expect_rejected
  expect_output "[kustomize.outside]"
  # Deep recursion: 40 bases each including the next.
  git -C "$CLONE" reset -q --hard origin/main
  local i started
  for ((i = 0; i < 40; i++)); do put "$CLONE" "deep/d$i/kustomization.yaml" "resources: [../d$((i + 1))]"$'\n'; done
  put "$CLONE" deep/d40/kustomization.yaml $'resources: []\n'
  put "$CLONE" environments/staging/kustomization.yaml $'resources: [../../deep/d0]\n'
  commit "$CLONE" "deep"
  started=$SECONDS
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "[kustomize.limit]"
  # A 10,000-resource overlay.
  git -C "$CLONE" reset -q --hard origin/main
  { echo "resources:"; for ((i = 0; i < 10000; i++)); do echo "- r$i.yaml"; done; } | put "$CLONE" environments/staging/kustomization.yaml
  alice_pushes "10,000 resources"
  expect_rejected
  expect_output "[kustomize.limit]"
  ((SECONDS - started < 20)) || fail "hostile kustomizations took $((SECONDS - started)) s"
  # A patch that matches nothing.
  git -C "$CLONE" reset -q --hard origin/main
  put "$CLONE" environments/prod/replicas.yaml $'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nothing\nspec:\n  replicas: 3\n'
  alice_pushes "patch of nothing"
  expect_rejected
  expect_output "[kustomize.patch]"
}

test_an_images_edit_in_prod_is_a_promotion() {
  setup_gate
  # 9.9 never ran in staging: not promoted.
  overlay prod prod 9.9
  alice_pushes "prod: 9.9"
  expect_rejected
  expect_output "[promotion.not-promoted] image registry.example/web:9.9 is not in staging"
  # Through staging first, then prod.
  git -C "$CLONE" reset -q --hard origin/main
  overlay staging staging 2.0
  alice_pushes "staging: 2.0"
  expect_accepted
  overlay prod prod 2.0
  alice_pushes "prod: 2.0"
  expect_accepted
}

test_a_soak_counts_from_the_push_that_changed_stagings_render() {
  GATE_POLICY=${POLICY/promotion: \{from: staging\}/promotion: \{from: staging, soak: 2h\}} setup_gate
  grep -q "soak: 2h" "$CLONE/.portcullis.yaml" || fail "the policy has no soak"
  overlay staging staging 2.0
  alice_pushes "staging: 2.0"
  expect_accepted
  # post-receive recorded when staging's render started to run 2.0.
  overlay prod prod 2.0
  alice_pushes "prod: 2.0"
  expect_rejected
  expect_output "[promotion.soak] image registry.example/web:2.0 has been in staging for"
}

# --- Attacks ------------------------------------------------------------------------------------

test_attack_a_base_change_prod_renders_needs_prods_owners() {
  setup_gate
  local tip
  tip=$(git -C "$CLONE" rev-parse HEAD)
  # mallory owns nothing: base/ has no owner, but prod renders it.
  deployment web registry.example/web:1.0 | sed 's/replicas: 2/replicas: 5/' | put "$CLONE" base/app.yaml
  commit "$CLONE" "mallory: base"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "base/app.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" refs/heads/main "$tip"
  # A file of the base that no overlay renders is nobody's.
  git -C "$CLONE" reset -q --hard origin/main
  configmap unused | put "$CLONE" base/unused.yaml
  commit "$CLONE" "mallory: unused base file"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_accepted
  # alice, who owns prod, may change the base.
  deployment web registry.example/web:1.0 | sed 's/replicas: 2/replicas: 5/' | put "$CLONE" base/app.yaml
  alice_pushes "alice: base"
  expect_accepted
}

test_attack_a_kustomization_reads_outside_the_repository_or_through_a_symlink() {
  setup_gate
  local tip
  tip=$(git -C "$CLONE" rev-parse HEAD)
  put "$CLONE" environments/staging/kustomization.yaml $'resources:\n- ../../../../../../etc/passwd\n'
  alice_pushes "outside"
  expect_rejected
  expect_output "[kustomize.outside]"
  git -C "$CLONE" reset -q --hard origin/main
  ln -s /etc/hostname "$CLONE/base/host.yaml"
  git -C "$CLONE" add base/host.yaml
  put "$CLONE" base/kustomization.yaml $'resources:\n- app.yaml\n- svc.yaml\n- host.yaml\n'
  alice_pushes "symlink"
  expect_rejected
  expect_output "[kustomize."
  expect_ref "$SERVER" refs/heads/main "$tip"
}

test_attack_an_overlay_renders_outside_its_confinement() {
  setup_gate $'confinement:\n  environments:\n    environments/staging: {namespace: staging}'
  put "$CLONE" environments/staging/kustomization.yaml "$(sed 's/^namespace: staging/namespace: kube-system/' "$CLONE/environments/staging/kustomization.yaml")"
  alice_pushes "staging into kube-system"
  expect_rejected
  expect_output "error [confinement.denied] Deployment \"web\": environment staging may not write this"
}

test_attack_a_generator_makes_a_plaintext_secret() {
  setup_gate
  put "$CLONE" environments/staging/kustomization.yaml "$(cat "$CLONE/environments/staging/kustomization.yaml")
secretGenerator:
- name: db
  literals: [password=hunter2]
"
  alice_pushes "generated secret"
  expect_rejected
  expect_output_re 'environments/staging/kustomization\.yaml(:[0-9]+:[0-9]+)?: error \[content\.plaintext-secret\] Secret "db-[a-z0-9]+"'
}

# --- The reconciler -----------------------------------------------------------------------------

test_the_daemon_applies_the_render_and_a_base_change() {
  setup_target shop
  base
  overlay shop shop 1.0
  # The Namespace comes with the render.
  sed -i 's|^- ../../base$|- ../../base\n- namespace.yaml|' "$CLONE/environments/shop/kustomization.yaml"
  git -C "$CLONE" add -A
  start_daemon
  commit "$CLONE" "overlay"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  [[ $(kubectl get deployment web -n shop -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image}') == "3 registry.example/web:1.0" ]] ||
    fail "the rendered Deployment is not applied: $(kubectl get deployment -n shop -o yaml 2>&1 | head -20)"
  kubectl get configmap -n shop -o name | grep -q 'configmap/settings-' || fail "the generated ConfigMap is not applied"
  # A base change re-renders the overlay.
  deployment web registry.example/web:1.0 | sed 's/registry.example\/web:1.0/registry.example\/web:0.1/' |
    put "$CLONE" base/app.yaml
  put "$CLONE" base/svc.yaml $'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - {port: 8080, protocol: TCP}\n'
  commit "$CLONE" "base: port"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  [[ $(kubectl get service web -n shop -o jsonpath='{.spec.ports[0].port}') == 8080 ]] || fail "the base change is not applied"
  # Nothing an input of the render: the next sync is skipped (no apply).
  configmap stray | put "$CLONE" environments/elsewhere/x.yaml
  commit "$CLONE" "elsewhere"
  push "$CLONE" origin HEAD:main
  expect_accepted
  wait_synced
  kubectl get configmap stray -n shop >/dev/null 2>&1 && fail "a file outside the render was applied"
  # Drift is judged against the render: a changed replica count is healed back to the patch's 3.
  kubectl scale deployment web -n shop --replicas=1 >/dev/null
  poll_until 30 bash -c "[[ \$(kubectl get deployment web -n shop -o jsonpath='{.spec.replicas}') == 3 ]]" ||
    fail "drift from the rendered desired state is not healed: $(curl -fsS "$DAEMON_URL/v1/targets")"
}

run_suite "$@"
