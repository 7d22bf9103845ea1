#!/usr/bin/env bash
# End to end: `portcullis promote` (issue 18) in a clone of a real bare repository with the hooks
# installed. promote copies what staging runs into prod's manifests as in-place edits (only the
# image scalars change), writes one commit, and the push of it passes the real gate; before the
# soak is met it explains when it will be and commits nothing, and a forced commit is rejected by
# the gate; when prod requires digests it copies only pinned references.
source "$(dirname "$0")/lib.sh"

DIGEST=sha256:$(printf 'a%.0s' {1..64})

# setup POLICY_PROMOTION: a server whose main has staging and prod (plain directories) running
# reg.example/app:1.0 and reg.example/side:1.0, prod promoted from staging with POLICY_PROMOTION.
setup() {
  SERVER=$(new_server server) || { fail "no server"; return 1; }
  CLONE=$(new_clone "$SERVER")
  put "$CLONE" .portcullis.yaml "version: 1
environments:
  - {name: staging, path: environments/staging}
  - name: prod
    path: environments/prod
    promotion: {$1}
"
  for env in staging prod; do
    deployment app reg.example/app:1.0 | put "$CLONE" "environments/$env/app.yaml"
    deployment side reg.example/side:1.0 | put "$CLONE" "environments/$env/side.yaml"
  done
  # prod's file is written by hand: comments, quotes, odd spacing stay as they are.
  put "$CLONE" environments/prod/app.yaml "# prod's web app
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app   # keep
spec:
  replicas: 3
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: \"reg.example/app:1.0\"   # promoted by portcullis
        ports: [{containerPort: 8080}]
"
  commit "$CLONE" "initial"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# staging_runs TAG: staging's app moves to TAG, pushed.
staging_runs() {
  deployment app "reg.example/app:$1" | put "$CLONE" environments/staging/app.yaml
  commit "$CLONE" "staging: app $1"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

promote() { OUT=$(cd "$CLONE" && "$PORTCULLIS" promote "$@" 2>&1); STATUS=$?; }

test_promote_writes_one_commit_that_the_gate_accepts() {
  setup "from: staging"
  staging_runs 2.0
  local before
  before=$(git -C "$CLONE" rev-parse HEAD)
  promote --from staging --to prod --dry-run
  expect_status 0
  expect_output "reg.example/app: reg.example/app:1.0 -> reg.example/app:2.0 (environments/prod/app.yaml:16)"
  [[ $(git -C "$CLONE" rev-parse HEAD) == "$before" ]] || fail "--dry-run wrote a commit"
  promote --from staging --to prod
  expect_status 0
  expect_output "committed "
  [[ $(git -C "$CLONE" rev-list --count "$before..HEAD") == 1 ]] || fail "promote did not write exactly one commit"
  run git -C "$CLONE" log -1 --format=%B
  expect_output "Promote staging to prod: reg.example/app:2.0"
  expect_output "- reg.example/app: reg.example/app:1.0 -> reg.example/app:2.0 (environments/prod/app.yaml:16)"
  # Only the image scalar changed; its quotes and comment stay.
  run git -C "$CLONE" diff --unified=0 HEAD~1 HEAD
  [[ $(grep -c '^[-+] ' <<<"$OUT") == 2 ]] || fail "the commit changed more than one line: $OUT"
  expect_output '+        image: "reg.example/app:2.0"   # promoted by portcullis'
  [[ -z $(git -C "$CLONE" status --porcelain) ]] || fail "promote left the work tree dirty"
  push "$CLONE" origin HEAD:main
  expect_accepted
  # Up to date: nothing to change, no empty commit.
  before=$(git -C "$CLONE" rev-parse HEAD)
  promote --from staging --to prod
  expect_status 0
  expect_output "nothing to change"
  [[ $(git -C "$CLONE" rev-parse HEAD) == "$before" ]] || fail "an up-to-date promote wrote a commit"
}

test_promote_one_image_and_bad_usage() {
  setup "from: staging"
  deployment side reg.example/side:3.0 | put "$CLONE" environments/staging/side.yaml
  staging_runs 2.0
  promote --from staging --to prod --image side
  expect_status 0
  run git -C "$CLONE" show --stat --format=%s HEAD
  expect_output "Promote staging to prod: reg.example/side:3.0"
  expect_output "environments/prod/side.yaml"
  expect_no_output "environments/prod/app.yaml"
  push "$CLONE" origin HEAD:main
  expect_accepted
  promote --from staging --to nowhere
  expect_status 2
  expect_output "no environment named nowhere"
  promote --from staging
  expect_status 2
  # Local changes to a file it would edit are never overwritten.
  echo "# mine" >>"$CLONE/environments/prod/app.yaml"
  promote --from staging --to prod
  expect_status 2
  expect_output "differs from HEAD in the work tree"
  grep -q "# mine" "$CLONE/environments/prod/app.yaml" || fail "the local change was lost"
}

test_before_the_soak_promote_explains_and_the_gate_rejects_a_forced_commit() {
  setup "from: staging, soak: 8s"
  staging_runs 2.0
  local before
  before=$(git -C "$CLONE" rev-parse HEAD)
  promote --from staging --to prod
  expect_status 1
  expect_output "soak: reg.example/app:2.0 has been in staging for"
  expect_output "prod requires 8s: promotable at"
  expect_output "not committed: the soak is not met"
  [[ $(git -C "$CLONE" rev-parse HEAD) == "$before" ]] || fail "promote committed before the soak"
  promote --from staging --to prod --force
  expect_status 0
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "[promotion.soak] image reg.example/app:2.0 has been in staging for"
  git -C "$CLONE" reset -q --hard "$before"
  # Once the soak has passed by the server's clock, the same promote goes through.
  poll_until 30 bash -c "cd '$CLONE' && '$PORTCULLIS' promote --from staging --to prod --dry-run >/dev/null" ||
    fail "the soak never passed"
  promote --from staging --to prod
  expect_status 0
  expect_output "has soaked"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_digests_are_copied_when_prod_requires_them() {
  setup "from: staging, requireDigest: true"
  staging_runs 2.0
  promote --from staging --to prod
  expect_status 1
  expect_output "not promoted: reg.example/app: prod requires images pinned by digest and staging runs reg.example/app:2.0 by tag"
  staging_runs "2.0@$DIGEST"
  # side still runs by tag in both: only app is promotable; side is reported.
  promote --from staging --to prod --image app
  expect_status 0
  run git -C "$CLONE" show HEAD
  expect_output "+        image: \"reg.example/app:2.0@$DIGEST\""
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_kustomize_overlays_get_their_images_entry_edited() {
  SERVER=$(new_server server) || { fail "no server"; return 1; }
  CLONE=$(new_clone "$SERVER")
  put "$CLONE" .portcullis.yaml $'version: 1\nenvironments:\n  - {name: staging, path: environments/staging}\n  - {name: prod, path: environments/prod, promotion: {from: staging}}\n'
  put "$CLONE" base/kustomization.yaml $'resources:\n- app.yaml\n'
  deployment app reg.example/app:1.0 | put "$CLONE" base/app.yaml
  for env in staging prod; do
    put "$CLONE" "environments/$env/kustomization.yaml" $'resources:\n- ../../base\nimages:\n- name: reg.example/app\n  newTag: \'1.0\' # the release\n'
  done
  commit "$CLONE" "initial"
  push "$CLONE" origin HEAD:main
  expect_accepted
  sed -i "s/newTag: '1.0'/newTag: '2.0'/" "$CLONE/environments/staging/kustomization.yaml"
  git -C "$CLONE" commit -qam "staging: 2.0"
  push "$CLONE" origin HEAD:main
  expect_accepted
  promote --from staging --to prod
  expect_status 0
  run git -C "$CLONE" diff --unified=0 HEAD~1 HEAD
  expect_output "+  newTag: '2.0' # the release"
  [[ $(grep -c '^[-+] ' <<<"$OUT") == 2 ]] || fail "the commit changed more than one line: $OUT"
  push "$CLONE" origin HEAD:main
  expect_accepted
  run "$PORTCULLIS" render --repo "$SERVER" --env prod
  expect_output "image: reg.example/app:2.0"
}

test_the_gate_judges_image_policies_in_the_policy_file() {
  setup "from: staging"
  local tip
  tip=$(git -C "$CLONE" rev-parse HEAD)
  cat >>"$CLONE/.portcullis.yaml" <<'YAML'
images:
  policies:
    - name: app
      image: reg.example/app
      environments: [staging]
      regex: {pattern: '^main-(\d+$'}
YAML
  git -C "$CLONE" commit -qam "a policy whose pattern does not compile"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "[policy.invalid]"
  expect_output "app: pattern does not compile"
  expect_ref "$SERVER" refs/heads/main "$tip"
  sed -i "s/regex: .*/regex: {pattern: '^main-([0-9]+)\$'}/" "$CLONE/.portcullis.yaml"
  grep -qF "'^main-([0-9]+)\$'" "$CLONE/.portcullis.yaml" || fail "the fix did not apply"
  git -C "$CLONE" commit -qam "the pattern fixed"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

run_suite "$@"
