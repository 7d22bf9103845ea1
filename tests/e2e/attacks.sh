#!/usr/bin/env bash
# End to end: the gate attacked as a pusher would attack it (issue 14). A pusher controls the
# pushed commits (content, file names, history shape, author and committer names and dates,
# signatures made with keys they hold), push options, ref names and which refs go together;
# the server config, the hook's environment and the allowed-signers file are trusted.
#
# Each test is one attack through real receive-pack, pushed by mallory (who owns nothing) unless
# it says otherwise, that must not get its effect: it is rejected, with the rule that stops it
# named (or, for what is recorded, the record does not say what the attacker wanted). A failure
# here is a bypass. Alice owns prod (CODEOWNERS `environments/prod/ @alice`), bob may break
# glass, carol is @org/platform. Schemas come from a real kube-apiserver (tests/env/kube.sh),
# which is also the oracle for what Kubernetes reads as a Secret.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"
for tool in jq iconv ssh-keygen kubectl; do
  command -v "$tool" >/dev/null || { echo "FATAL: $tool is missing (install/deps.sh installs it)"; exit 2; }
done

KEYS=$SUITE_TMP/keys
mkdir -p "$KEYS"
for who in alice alice-retired bob carol mallory; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$KEYS/$who"
done
{
  for who in alice bob carol; do
    printf '%s namespaces="git" %s\n' "$who" "$(cut -d' ' -f1,2 "$KEYS/$who.pub")"
  done
  # alice's previous key, retired at the start of 2020 (and leaked since: mallory holds it).
  printf 'alice namespaces="git",valid-before="20200101" %s\n' "$(cut -d' ' -f1,2 "$KEYS/alice-retired.pub")"
} >"$KEYS/allowed_signers"

KDIR=$SUITE_TMP/kube
mkdir -p "$KDIR"
kube_build || { echo "FATAL: cannot build kube-apiserver"; exit 1; }
suite_teardown() { kube_stop "$KDIR"; }
trap suite_teardown EXIT
kube_start "$KDIR" || { echo "FATAL: kube-apiserver did not start"; exit 1; }
export KUBECONFIG=$KDIR/kubeconfig
STORE=$SUITE_TMP/store
"$PORTCULLIS" schemas import --kubeconfig "$KDIR/kubeconfig" --out "$STORE" >/dev/null ||
  { echo "FATAL: schema import from the apiserver failed"; exit 1; }

# A reconciler that is down: post-receive spools the events it cannot deliver, and the spool
# shows what it would have been told.
printf 'notify-secret\n' >"$SUITE_TMP/notify.secret"
CLOSED_PORT=$(kube_free_port)
NOTIFY=$'notify:\n  timeout: 500ms\n  targets:\n    - {url: "http://127.0.0.1:'"$CLOSED_PORT"$'/v1/events", secretFile: "'"$SUITE_TMP/notify.secret"$'"}'

OWNERS=$'environments/prod/ @alice\n'
PROMOTION=$'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - name: prod\n    path: environments/prod\n    protected: true\n    promotion: {from: staging, soak: 2h}\n'
PROMOTION_NO_SOAK=$'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - name: prod\n    path: environments/prod\n    protected: true\n    promotion: {from: staging}\n'
EXCLUDE_VALUES=$'manifests:\n  exclude: ["environments/**/values.yaml"]\n'

# setup [POLICY] [CODEOWNERS] [CONFIG LINES]: a server whose main holds the policy, a root
# CODEOWNERS (alice owns prod unless told otherwise; "" for none) and one ConfigMap per
# environment, pushed by alice before any rule applied. CONFIG, SERVER and CLONE are set.
setup() {
  local policy=${1:-} owners=${2-$OWNERS} extra=${3:-}
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  mkdir -p "$SUITE_TMP/$CURRENT_TEST"
  cat >"$CONFIG" <<YAML
schemaStore: $STORE
auditLog: $SUITE_TMP/$CURRENT_TEST/audit.jsonl
identity:
  allowedSigners: $KEYS/allowed_signers
  teams:
    "@org/platform": [carol]
  breakGlass: [bob]
$extra
YAML
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  git -C "$CLONE" config gpg.format ssh
  git -C "$CLONE" config user.signingkey "$KEYS/alice"
  [[ -n $policy ]] && put "$CLONE" .portcullis.yaml "$policy"
  [[ -n $owners ]] && put "$CLONE" CODEOWNERS "$owners"
  for env in dev staging prod; do configmap base | put "$CLONE" "environments/$env/base.yaml"; done
  commit "$CLONE" "initial"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
}

# sign_as WHO: `git commit -S` and `git tag -s` in $CLONE sign with WHO's key from now on.
sign_as() { git -C "$CLONE" config user.signingkey "$KEYS/$1"; }
# signed_commit MESSAGE: commits what is staged, signed.
signed_commit() { git -C "$CLONE" commit -q --allow-empty -S -m "$1"; }
head_of() { git -C "$CLONE" rev-parse "${1:-HEAD}"; }
# fresh: the clone's main at the server's main again, nothing staged.
fresh() {
  git -C "$CLONE" fetch -q origin
  git -C "$CLONE" checkout -q -f -B main origin/main
  git -C "$CLONE" clean -qfdx
}

# The ConfigMap prod runs, at version $1.
app() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  version: "%s"\n' "$1"; }
# alice_changes_prod VERSION: alice pushes app VERSION to prod (she owns it).
alice_changes_prod() {
  app "$1" | put "$CLONE" environments/prod/app.yaml
  commit "$CLONE" "alice: app $1"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
}

# A plaintext Secret named $1.
secret() { printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\nstringData:\n  password: hunter2\n' "$1"; }

# last_audit: the last decision in the test's audit log.
last_audit() { tail -n 1 "$SUITE_TMP/$CURRENT_TEST/audit.jsonl"; }

# expect_no_break_glass_event: the reconciler was never told of a break-glass push (post-receive
# spooled every event, the reconciler being down).
expect_no_break_glass_event() {
  local spool=$SERVER/portcullis/spool
  if grep -rqs '"breakGlass":true' "$spool"; then
    fail "the reconciler is told of a break-glass push:"$'\n'"$(grep -rhs '"breakGlass":true' "$spool" | sed 's/^/      | /')"
  fi
}

# raw_push SERVER COMMAND...: speaks receive-pack's protocol directly, as a client other than
# git may: the commands ("<old> <new> <ref>", any number, the same ref twice if it likes), then
# an empty pack (the objects are on the server already). Sets OUT and STATUS like push.
raw_push() {
  local server=$1 first=1 c
  shift
  OUT=$({
    for c in "$@"; do
      if ((first)); then
        printf '%04x%s\0report-status\n' $((4 + ${#c} + 1 + 13 + 1)) "$c"
        first=0
      else
        printf '%04x%s\n' $((4 + ${#c} + 1)) "$c"
      fi
    done
    printf '0000'
    git pack-objects --stdout </dev/null 2>/dev/null
  } | git receive-pack "$server" 2>&1 | tr -d '\0')
  STATUS=0
  grep -qE '[0-9a-f]{4}ng refs/|unpack [^o]' <<<"$OUT" && STATUS=1
}

# --- 1. History shapes that change no path per commit -----------------------------------------

test_a_merge_whose_first_parent_is_old_main_rolls_prod_back() {
  setup
  local old tip
  old=$(head_of)
  alice_changes_prod 2
  tip=$(head_of)
  # mallory: main's old commit as the first parent, its tree as the merge's tree, main as the
  # second parent (main fast-forwards): no commit changes a path against its first parent.
  git -C "$CLONE" reset -q --hard "$(git -C "$CLONE" commit-tree "$old^{tree}" -p "$old" -p "$tip" -m "merge")"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

test_a_rollback_to_before_codeowners_existed() {
  setup "" ""
  local first tip
  first=$(head_of)
  put "$CLONE" CODEOWNERS "$OWNERS"
  commit "$CLONE" "alice: owners"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  alice_changes_prod 2
  tip=$(head_of)
  # Back to the first commit's tree: no CODEOWNERS, prod as it was. The owners that judge are
  # those of the target before the push.
  git -C "$CLONE" reset -q --hard "$(git -C "$CLONE" commit-tree "$first^{tree}" -p "$first" -p "$tip" -m "merge")"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

test_an_octopus_merge_rolls_prod_back() {
  setup
  local old tip b
  old=$(head_of)
  alice_changes_prod 2
  tip=$(head_of)
  # Three harmless branches from main's old commit, merged as an octopus; main as the last
  # parent so that main fast-forwards. The tree is the old one plus harmless files.
  for b in dev staging dev2; do
    git -C "$CLONE" checkout -q -b "b-$b" "$old"
    configmap "from-$b" | put "$CLONE" "environments/${b%2}/from-$b.yaml"
    commit "$CLONE" "harmless $b"
  done
  git -C "$CLONE" checkout -q b-dev
  git -C "$CLONE" merge -q --no-edit b-staging b-dev2 >/dev/null || fail "the octopus merge failed"
  local octopus
  octopus=$(git -C "$CLONE" commit-tree "HEAD^{tree}" -p HEAD^1 -p HEAD^2 -p HEAD^3 -p "$tip" -m "octopus")
  git -C "$CLONE" reset -q --hard "$octopus"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

test_a_revert_followed_by_an_unrelated_commit() {
  setup
  local tip
  alice_changes_prod 2
  tip=$(head_of)
  git -C "$CLONE" revert --no-edit HEAD >/dev/null
  configmap unrelated | put "$CLONE" environments/dev/unrelated.yaml
  commit "$CLONE" "mallory: unrelated"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

# --- 2. A signature approves what it signed, nothing else -------------------------------------

test_an_unrelated_signed_commit_merged_in_approves_nothing() {
  setup
  # alice signed a commit elsewhere (a branch from main's old tip); main moved on since.
  git -C "$CLONE" checkout -q -b elsewhere
  configmap notes | put "$CLONE" environments/dev/notes.yaml
  sign_as alice
  signed_commit "alice: elsewhere"
  local elsewhere
  elsewhere=$(head_of)
  git -C "$CLONE" checkout -q main
  configmap other | put "$CLONE" environments/staging/other.yaml
  commit "$CLONE" "alice: staging"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  # mallory changes prod and merges alice's signed commit in as the second parent.
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod"
  git -C "$CLONE" merge -q --no-ff --no-edit "$elsewhere"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  expect_output "warning [owners.signature] commit ${elsewhere:0:12} is signed by alice but does not contain the target's tip"
  # A signed commit of alice's that does contain main, but changes dev only, merged in: it
  # approves dev as it has it, not mallory's prod.
  fresh
  git -C "$CLONE" checkout -q -b reviewed
  configmap reviewed | put "$CLONE" environments/dev/reviewed.yaml
  signed_commit "alice: reviewed dev change"
  local reviewed
  reviewed=$(head_of)
  git -C "$CLONE" checkout -q main
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod"
  git -C "$CLONE" merge -q --no-ff --no-edit "$reviewed"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
}

test_an_unsigned_commit_on_top_of_a_signed_one_needs_its_own_approval() {
  setup
  app 2 | put "$CLONE" environments/prod/app.yaml
  sign_as alice
  signed_commit "alice: app 2"
  local approved
  approved=$(head_of)
  app 3 | put "$CLONE" environments/prod/app.yaml
  commit "$CLONE" "mallory: app 3"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required]"
  expect_output "(alice approved other content"
  # What alice signed, alone, passes: the approval itself works.
  git -C "$CLONE" reset -q --hard "$approved"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_accepted
}

test_approval_tags_of_an_old_commit_approve_nothing() {
  setup
  local old tip
  old=$(head_of)
  sign_as alice
  git -C "$CLONE" tag -s -m "approve" old-approval "$old"
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod"
  tip=$(head_of)
  # The old commit's approval, pushed with the change.
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "refs/tags/old-approval:refs/approvals/$old/alice"
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  # The same tag under the name of the new tip: a tag of another commit under that name.
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "refs/tags/old-approval:refs/approvals/$tip/alice"
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" "refs/approvals/$tip/alice" absent
}

test_an_old_signed_commit_does_not_approve_a_rollback_to_its_content() {
  setup
  app 1 | put "$CLONE" environments/prod/app.yaml
  sign_as alice
  signed_commit "alice: app 1 (signed)"
  local signed tip
  signed=$(head_of)
  git -C "$CLONE" tag -s -m "approve" v1-approval "$signed"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main "refs/tags/v1-approval:refs/approvals/$signed/alice"
  expect_accepted
  alice_changes_prod 2
  tip=$(head_of)
  # mallory: back to the tree alice signed, her signed commit as a parent, and her approval tag
  # of it pushed again under a new name.
  git -C "$CLONE" reset -q --hard "$(git -C "$CLONE" commit-tree "$signed^{tree}" -p "$tip" -p "$signed" -m "back to what alice signed")"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "refs/tags/v1-approval:refs/approvals/$signed/alice-again"
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required]"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

# --- 3. Time the pusher writes ----------------------------------------------------------------

# By alice, who owns prod: promotion binds owners too.
test_a_backdated_staging_commit_does_not_shorten_the_soak() {
  setup "$PROMOTION"
  deployment web registry.example.com/web:2.0.0 | put "$CLONE" environments/staging/web.yaml
  GIT_COMMITTER_DATE="$(date -d '-3 days' -R)" GIT_AUTHOR_DATE="$(date -d '-3 days' -R)" commit "$CLONE" "staging, three days ago"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  deployment web registry.example.com/web:2.0.0 | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE" "prod, seconds later"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/web.yaml:15:16: error [promotion.soak] image registry.example.com/web:2.0.0 has been in staging for "
}

test_a_retired_key_does_not_approve_a_backdated_commit() {
  setup
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  sign_as alice-retired
  GIT_COMMITTER_DATE="2019-06-01T12:00:00+0000" GIT_AUTHOR_DATE="2019-06-01T12:00:00+0000" signed_commit "signed in 2019, says the commit"
  # git itself judges the key at the commit's date, and accepts it: the attack is real.
  git -C "$CLONE" -c gpg.ssh.allowedSignersFile="$KEYS/allowed_signers" verify-commit HEAD >/dev/null 2>&1 ||
    fail "git does not accept the backdated signature: the attack needs it to"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "warning [owners.signature] the signature of commit"
  expect_output "environments/prod/evil.yaml: error [owners.approval-required] needs approval by @alice; approvals seen: mallory (pusher)"
}

# --- 4. Self-approval is judged on the pusher ---------------------------------------------------

test_self_approval_off_holds_whoever_the_commits_name() {
  setup $'codeowners:\n  selfApproval: false\n'
  configmap change | put "$CLONE" environments/prod/change.yaml
  GIT_AUTHOR_NAME=bob GIT_AUTHOR_EMAIL=bob@example.com GIT_COMMITTER_NAME=bob GIT_COMMITTER_EMAIL=bob@example.com \
    commit "$CLONE" "bob's change, says the commit"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required] needs approval by @alice; approvals seen: alice (pusher, the pusher's own: self-approval is off)"
  # Her own signature on a commit naming carol is hers too.
  fresh
  configmap change | put "$CLONE" environments/prod/change.yaml
  sign_as alice
  GIT_AUTHOR_NAME=carol GIT_AUTHOR_EMAIL=carol@example.com signed_commit "carol's change, says the commit"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required]"
}

# --- 5. failMode open, triggered by the pusher ----------------------------------------------------

# big_configmaps DIR N: N ConfigMaps of 45,000 keys (some 840 KiB, under limits.maxFileSize)
# under DIR of $CLONE: each takes longer to judge than a 60 ms budget.
big_configmaps() {
  local i k
  mkdir -p "$CLONE/$1"
  for ((i = 1; i <= $2; i++)); do
    {
      printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-%d\ndata:\n' "$i"
      for ((k = 0; k < 45000; k++)); do printf '  k%d: "v%d"\n' "$k" "$k"; done
    } >"$CLONE/$1/big-$i.yaml"
  done
  git -C "$CLONE" add -A -- "$1"
}

# fail_open_server: a server whose gate has 60 ms and fails open (the reconciler is down, so
# post-receive spools its events), and a commit in the clone that takes several times the
# budget to judge but is quick to classify.
fail_open_server() {
  setup "" "$OWNERS" "$NOTIFY"
  printf 'timeBudget: 60ms\nfailMode: open\n' >>"$CONFIG"
  big_configmaps environments/dev 3
  commit "$CLONE" "padding"
}

test_a_padded_push_never_fails_open_into_main_or_prod() {
  fail_open_server
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "time budget of 60 ms"
  expect_no_output "ACCEPTED"
  [[ $(last_audit | jq -c '[.failOpen, (.rules | index("gate.budget") != null)]') == "[false,true]" ]] ||
    fail "the audit does not record a closed gate.budget rejection: $(last_audit)"
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "padding, and prod"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:refs/heads/padded
  expect_rejected
  expect_no_output "ACCEPTED"
  [[ $(last_audit | jq -c '[.failOpen, (.rules | index("gate.budget") != null)]') == "[false,true]" ]] ||
    fail "the audit does not record a closed gate.budget rejection: $(last_audit)"
  expect_ref "$SERVER" refs/heads/padded absent
}

# Plaintext Secrets are refused in every ref, and break-glass is for the users the server names:
# a pusher who pads a push until the budget runs out must not get past either.
test_a_padded_push_does_not_fail_open_past_secrets_or_break_glass() {
  fail_open_server
  secret leaked | put "$CLONE" environments/dev/leaked.yaml
  commit "$CLONE" "padding, and a plaintext Secret"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:refs/heads/padded
  expect_rejected  # by the budget or by content.plaintext-secret, whichever comes first: never unjudged
  expect_no_output "ACCEPTED"
  expect_ref "$SERVER" refs/heads/padded absent
  git -C "$CLONE" rm -q environments/dev/leaked.yaml
  commit "$CLONE" "padding only"
  REMOTE_USER=mallory push "$CLONE" -o "break-glass=INC-1: mallory says so" origin HEAD:refs/heads/padded-2
  expect_rejected  # by the budget or by breakglass.denied: a refused request never fails open
  expect_no_output "ACCEPTED"
  expect_ref "$SERVER" refs/heads/padded-2 absent
  expect_no_break_glass_event
}

# --- 6. Image rules cover custom resources --------------------------------------------------------

# crd KIND PLURAL: a namespaced CRD of example.io/v1 whose spec is free-form.
crd() {
  cat <<YAML
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $2.example.io
spec:
  group: example.io
  names: {kind: $1, plural: $2, singular: ${2%s}, listKind: ${1}List}
  scope: Namespaced
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
              x-kubernetes-preserve-unknown-fields: true
YAML
}
# An Argo-Rollouts-like object: a pod template running image $1.
rollout() {
  printf 'apiVersion: example.io/v1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: %s\n' "$1"
}
# An Argo-Workflows-like object: each template runs one container (`container:`, a core/v1
# Container), as Argo's Workflow, CronWorkflow and WorkflowTemplate do.
workflow() {
  printf 'apiVersion: example.io/v1\nkind: Workflow\nmetadata:\n  name: nightly\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    container:\n      name: main\n      image: %s\n' "$1"
}

# By alice, who owns prod: the image rules bind owners too.
test_image_rules_cover_custom_resources_that_run_containers() {
  setup "$PROMOTION_NO_SOAK"
  { crd Rollout rollouts; echo ---; crd Workflow workflows; } | put "$CLONE" environments/prod/crds.yaml
  deployment web registry.example.com/web:1.0.0 | put "$CLONE" environments/staging/web.yaml
  commit "$CLONE" "alice: the CRDs, and web 1.0.0 in staging"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  # The cluster takes these objects once the CRDs are installed: they reach prod.
  kubectl apply --server-side -f "$CLONE/environments/prod/crds.yaml" >/dev/null || fail "cannot install the CRDs"
  local kind
  for kind in rollout workflow; do
    "$kind" registry.example.com/web:latest >"$SUITE_TMP/$CURRENT_TEST/$kind.yaml"
    poll_until 20 kubectl apply --dry-run=server -f "$SUITE_TMP/$CURRENT_TEST/$kind.yaml" -o name >/dev/null 2>&1 ||
      fail "the apiserver does not take the $kind: $(kubectl apply --dry-run=server -f "$SUITE_TMP/$CURRENT_TEST/$kind.yaml" 2>&1)"
  done
  local cases=(
    "rollout|registry.example.com/web:latest|error [content.image-latest]"
    "rollout|registry.example.com/web:6.6.6|error [promotion.not-promoted]"
    "workflow|registry.example.com/web:latest|error [content.image-latest]"
    "workflow|registry.example.com/web:6.6.6|error [promotion.not-promoted]"
  )
  local c image expected before
  for c in "${cases[@]}"; do
    IFS='|' read -r kind image expected <<<"$c"
    fresh
    "$kind" "$image" | put "$CLONE" "environments/prod/$kind.yaml"
    commit "$CLONE" "alice: a $kind running $image"
    before=$FAILURES
    REMOTE_USER=alice push "$CLONE" origin HEAD:main
    expect_rejected
    expect_output "environments/prod/$kind.yaml:11:"
    expect_output "$expected"
    expect_output "image $image"
    ((FAILURES == before)) || echo "      (case $c)"
  done
}

# --- 7. An image is in staging when staging applies it ------------------------------------------

test_an_image_only_in_a_staging_kustomization_is_not_promoted() {
  setup "$PROMOTION_NO_SOAK"
  local digest=sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31
  put "$CLONE" environments/staging/kustomization.yaml $'resources: [base.yaml]\nimages:\n  - name: web\n    newName: registry.example.com/web\n    digest: '"$digest"$'\n'
  commit "$CLONE" "mallory: an image in staging's kustomization only"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_accepted
  deployment web "registry.example.com/web@$digest" | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE" "alice: web in prod"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/web.yaml:15:16: error [promotion.not-promoted] image registry.example.com/web@$digest is not in staging"
}

# --- 8. Plaintext Secrets, in every ref -------------------------------------------------------------

# A plaintext Secret with a sops stanza that looks like one: no key group, no encrypted value.
FAKE_SOPS=$'apiVersion: v1\nkind: Secret\nmetadata:\n  name: fake-sops\nstringData:\n  password: hunter2\nsops:\n  mac: ENC[AES256_GCM,data:bm90IGEgbWFj,iv:aXY=,tag:dGFn,type:str]\n  lastmodified: "2026-11-30T10:00:00Z"\n  version: 3.8.1\n'

test_a_made_up_sops_stanza_does_not_make_plaintext_pass() {
  setup
  put "$CLONE" environments/dev/fake-sops.yaml "$FAKE_SOPS"
  commit "$CLONE" "mallory: looks encrypted"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/fake-sops.yaml:6:3: error [content.plaintext-secret]"
  # Outside environments, in a tag: the same.
  fresh
  put "$CLONE" docs/fake-sops.yaml "$FAKE_SOPS"
  commit "$CLONE" "mallory: looks encrypted"
  git -C "$CLONE" tag -a -m "release notes" notes-1
  REMOTE_USER=mallory push "$CLONE" origin refs/tags/notes-1
  expect_rejected
  expect_output "docs/fake-sops.yaml:6:3: error [content.plaintext-secret]"
  expect_ref "$SERVER" refs/tags/notes-1 absent
}

# Each case leaves the Secret in one kind of ref, as a pusher can.
leak_in_a_tag_of_a_commit() {
  secret leaked | put "$CLONE" docs/leaked.yaml
  commit "$CLONE" "mallory: a Secret"
  git -C "$CLONE" tag -a -m "a tag" leak-commit
  LEAK_REF=refs/tags/leak-commit
}
leak_in_a_tag_of_a_blob() {
  local blob
  blob=$(secret leaked | git -C "$CLONE" hash-object -w --stdin)
  git -C "$CLONE" tag leak-blob "$blob"
  LEAK_REF=refs/tags/leak-blob
}
leak_in_a_tag_of_a_tree() {
  local blob tree
  blob=$(secret leaked | git -C "$CLONE" hash-object -w --stdin)
  tree=$(printf '100644 blob %s\tleaked.yaml\n' "$blob" | git -C "$CLONE" mktree)
  git -C "$CLONE" tag -a -m "a tree" leak-tree "$tree"
  LEAK_REF=refs/tags/leak-tree
}
leak_in_a_note() {
  git -C "$CLONE" notes add -m "$(secret leaked)" HEAD
  LEAK_REF=refs/notes/commits
}
leak_in_refs_for_main() {
  secret leaked | put "$CLONE" docs/leaked.yaml
  commit "$CLONE" "mallory: a Secret, for review"
  LEAK_REF=HEAD:refs/for/main
}
leak_outside_environments_on_main() {
  secret leaked | put "$CLONE" docs/leaked.yaml
  commit "$CLONE" "mallory: a Secret in the docs"
  LEAK_REF=HEAD:refs/heads/main
}
leak_in_an_excluded_file() {
  secret leaked | put "$CLONE" environments/dev/values.yaml
  commit "$CLONE" "mallory: a Secret where the render does not look"
  LEAK_REF=HEAD:refs/heads/main
}

test_plaintext_secrets_in_any_ref() {
  setup "$EXCLUDE_VALUES"
  local c
  for c in leak_in_a_tag_of_a_commit leak_in_a_tag_of_a_blob leak_in_a_tag_of_a_tree leak_in_a_note \
    leak_in_refs_for_main leak_outside_environments_on_main leak_in_an_excluded_file; do
    fresh
    snapshot "$SERVER"
    "$c"
    local before=$FAILURES
    REMOTE_USER=mallory push "$CLONE" origin "$LEAK_REF"
    expect_rejected
    expect_output "error [content.plaintext-secret]"
    expect_unchanged_server "$SERVER" "$SNAP_OBJECTS" "$SNAP_REFS"
    ((FAILURES == before)) || echo "      (case $c)"
    git -C "$CLONE" tag -l | xargs -r git -C "$CLONE" tag -d >/dev/null
    git -C "$CLONE" update-ref -d refs/notes/commits
  done
}

# Secrets as Kubernetes reads them, outside environments (where only the Secret scan looks):
# each file is one that `kubectl apply` turns into a Secret (the apiserver is the oracle), so a
# plaintext one is a plaintext Secret in Git, whatever its spelling.
spelling_escaped_kind() { printf 'apiVersion: v1\nkind: "\\u0053ecret"\nmetadata:\n  name: %s\nstringData:\n  password: hunter2\n' "$1"; }
spelling_folded_kind() { printf 'apiVersion: v1\nkind: "Sec\\\n  ret"\nmetadata:\n  name: %s\nstringData:\n  password: hunter2\n' "$1"; }
spelling_binary_kind() { printf 'apiVersion: v1\nkind: !!binary U2VjcmV0\nmetadata:\n  name: %s\nstringData:\n  password: hunter2\n' "$1"; }
spelling_slash_v1() { printf 'apiVersion: /v1\nkind: Secret\nmetadata:\n  name: %s\nstringData:\n  password: hunter2\n' "$1"; }
spelling_utf16() { secret "$1" | iconv -f UTF-8 -t UTF-16; }
spelling_duplicate_json_key() { printf '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "%s"}, "kind": "Secret", "stringData": {"password": "hunter2"}}\n' "$1"; }
spelling_then_a_broken_document() { secret "$1"; printf -- '---\nnot: [closed\n'; }
spelling_past_max_file_size() {
  secret "$1"
  local i
  for ((i = 0; i < 14000; i++)); do printf '# padding padding padding padding padding padding padding padding padding padding\n'; done
}

test_secret_spellings_kubernetes_reads_as_secrets() {
  setup
  local c name file ext before
  for c in escaped_kind folded_kind binary_kind slash_v1 utf16 duplicate_json_key then_a_broken_document \
    past_max_file_size; do
    fresh
    name=${c//_/-}
    ext=yaml
    [[ $c == *json* ]] && ext=json
    file=docs/$name.$ext
    mkdir -p "$CLONE/docs"
    "spelling_$c" "$name" >"$CLONE/$file"
    before=$FAILURES
    [[ $(kubectl apply --dry-run=server -f "$CLONE/$file" -o name 2>/dev/null | head -n 1) == "secret/$name" ]] ||
      fail "kubectl does not read $file as a Secret: $(kubectl apply --dry-run=server -f "$CLONE/$file" 2>&1 | head -n 3)"
    git -C "$CLONE" add "$file"
    commit "$CLONE" "mallory: $name"
    REMOTE_USER=mallory push "$CLONE" origin "HEAD:refs/heads/leak-$name"
    expect_rejected
    expect_output "error [content.plaintext-secret]"
    expect_ref "$SERVER" "refs/heads/leak-$name" absent
    ((FAILURES == before)) || echo "      (case $c)"
  done
}

# The ref's tip has no Secret; the commit before it, which the push stores, does.
test_a_secret_added_and_removed_within_the_push() {
  setup
  secret leaked | put "$CLONE" docs/leaked.yaml
  commit "$CLONE" "mallory: add a Secret"
  git -C "$CLONE" rm -q docs/leaked.yaml
  commit "$CLONE" "mallory: and remove it again"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [content.plaintext-secret]"
  [[ -z $(git -C "$SERVER" log --all --format=%H -- docs/leaked.yaml 2>/dev/null) ]] ||
    fail "the Secret is in the server's history: git -C $SERVER log --all -p -- docs/leaked.yaml"
}

# Inside environments every document is parsed whole: YAML and JSON tricks do not hide a Secret.
# Spellings Kubernetes does not read as a Secret ("v1 ", kind secret, a !!binary kind, which the
# daemon would send as written) are no kind the cluster serves: refused as such.
test_yaml_tricks_do_not_hide_a_secret_in_an_environment() {
  setup
  local cases=(
    'dup.json|{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}, "kind": "Secret", "stringData": {"password": "hunter2"}}\n|error [yaml.duplicate-key]'
    'anchor.yaml|apiVersion: v1\nkind: Secret\nmetadata:\n  name: anchor\n  labels: &plain {password: aHVudGVyMg}\ndata: *plain\n|error [content.plaintext-secret]'
    'merge.yaml|apiVersion: v1\nkind: Secret\nmetadata:\n  name: merge\n  annotations: &plain {password: aHVudGVyMg==}\ndata:\n  <<: *plain\n|error [content.plaintext-secret]'
    'escaped.yaml|apiVersion: v1\nkind: "\\u0053ecret"\nmetadata:\n  name: escaped\nstringData:\n  password: hunter2\n|error [content.plaintext-secret]'
    'secretlist.yaml|apiVersion: v1\nkind: SecretList\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: listed\n  stringData:\n    password: hunter2\n|error [content.plaintext-secret]'
    'list.yaml|apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: decoy\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: listed\n  stringData:\n    password: hunter2\n|error [content.plaintext-secret]'
    'binary-kind.yaml|apiVersion: v1\nkind: !!binary U2VjcmV0\nmetadata:\n  name: binary\nstringData:\n  password: hunter2\n|error [schema.missing]'
    'spaced-version.yaml|apiVersion: "v1 "\nkind: Secret\nmetadata:\n  name: spaced\nstringData:\n  password: hunter2\n|error [schema.missing]'
    'lower-kind.yaml|apiVersion: v1\nkind: secret\nmetadata:\n  name: lower\nstringData:\n  password: hunter2\n|error [schema.missing]'
  )
  local c file content expected before
  for c in "${cases[@]}"; do
    IFS='|' read -r file content expected <<<"$c"
    fresh
    printf '%b' "$content" | put "$CLONE" "environments/dev/$file"
    commit "$CLONE" "mallory: $file"
    before=$FAILURES
    REMOTE_USER=mallory push "$CLONE" origin HEAD:main
    expect_rejected
    expect_output "environments/dev/$file:"
    expect_output "$expected"
    ((FAILURES == before)) || echo "      (case $file)"
  done
  # A SOPS document, then a plaintext Secret in the same file.
  fresh
  { printf '%s' "$SOPS_SECRET"; printf -- '---\n'; secret plain; } | put "$CLONE" environments/dev/sops-then-plain.yaml
  commit "$CLONE" "mallory: one encrypted, one not"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/sops-then-plain.yaml:"
  expect_output "error [content.plaintext-secret]"
}

# --- 9. Break-glass is for the users the server names, with a reason ---------------------------

test_break_glass_without_a_reason_or_by_an_unlisted_user() {
  setup "" "$OWNERS" "$NOTIFY"
  configmap hotfix | put "$CLONE" environments/prod/hotfix.yaml
  commit "$CLONE" "hotfix"
  local pusher option
  for pusher in mallory bob; do
    for option in "break-glass=" "break-glass" "break-glass=   "; do
      REMOTE_USER=$pusher push "$CLONE" -o "$option" origin HEAD:main
      expect_rejected
      expect_output "error [breakglass.reason-required]"
    done
  done
  # Asked twice: the first request is the one judged, by both hooks.
  REMOTE_USER=mallory push "$CLONE" -o "break-glass=INC-1: first" -o "break-glass=" origin HEAD:main
  expect_rejected
  expect_output "error [breakglass.denied] pusher mallory may not use break-glass"
  # Even where nothing needs bypassing, mallory's request is refused, and nobody is told of it.
  fresh
  configmap dev-only | put "$CLONE" environments/dev/dev-only.yaml
  commit "$CLONE" "dev"
  REMOTE_USER=mallory push "$CLONE" -o "break-glass=INC-2: nothing to bypass" origin HEAD:refs/heads/feature
  expect_rejected
  expect_output "error [breakglass.denied]"
  expect_no_break_glass_event
}

# A reason nobody can read is no reason: no-break spaces, zero-width spaces, a BOM.
test_break_glass_with_an_invisible_reason() {
  setup "" "$OWNERS" "$NOTIFY"
  local reason before
  # U+00A0, U+200B, U+2003 U+200B, U+FEFF in UTF-8.
  for reason in $'\xc2\xa0' $'\xe2\x80\x8b' $'\xe2\x80\x83\xe2\x80\x8b' $'\xef\xbb\xbf'; do
    fresh
    configmap "hotfix-$RANDOM" | put "$CLONE" environments/prod/hotfix.yaml
    commit "$CLONE" "hotfix"
    before=$FAILURES
    REMOTE_USER=bob push "$CLONE" -o "break-glass=$reason" origin HEAD:main
    expect_rejected
    expect_output "error [breakglass.reason-required]"
    ((FAILURES == before)) || echo "      (reason $(printf '%s' "$reason" | od -An -tx1 | tr -d ' \n'))"
  done
  expect_no_break_glass_event
}

# What the audit shows a person is what happened: a reason cannot rewrite the terminal.
test_a_break_glass_reason_cannot_rewrite_the_audit_listing() {
  setup
  configmap hotfix | put "$CLONE" environments/prod/hotfix.yaml
  commit "$CLONE" "hotfix"
  REMOTE_USER=bob push "$CLONE" -o $'break-glass=INC-9: routine\r\e[2K\e[1A\e[2Knothing open' origin HEAD:main
  expect_accepted
  run "$PORTCULLIS" audit --config "$CONFIG" --open-break-glass
  expect_status 1
  expect_output "INC-9: routine"
  if [[ $OUT == *$'\e'* || $OUT == *$'\r'* ]]; then
    fail "the listing carries the reason's control characters raw:"$'\n'"$(cat -v <<<"$OUT" | sed 's/^/      | /')"
  fi
}

# --- 10. The one render: what the daemon applies is what the gate judged ----------------------

# By alice, who owns prod: these are content rules.
test_an_excluded_prod_file_is_still_scanned_and_judged_once_read() {
  setup "$PROMOTION_NO_SOAK$EXCLUDE_VALUES"
  secret in-values | put "$CLONE" environments/prod/values.yaml
  commit "$CLONE" "alice: a Secret in an excluded file"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/values.yaml:6:3: error [content.plaintext-secret]"
  # An excluded file with an unpromoted image and an invalid field is not read...
  fresh
  deployment web registry.example.com/web:6.6.6 | sed 's/replicas: 2/replicas: three/' | put "$CLONE" environments/prod/values.yaml
  commit "$CLONE" "alice: helm values, not for the render"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  # ...until the policy stops excluding it: from that commit on the daemon applies it.
  put "$CLONE" .portcullis.yaml "$PROMOTION_NO_SOAK"
  commit "$CLONE" "alice: values.yaml is a manifest after all"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/values.yaml:6:13: error [schema.type]"
  expect_output "environments/prod/values.yaml:15:16: error [promotion.not-promoted] image registry.example.com/web:6.6.6"
}

# What prod applies changes when the policy excludes one of its files (the daemon prunes what it
# declared) or stops excluding one (the daemon applies it): a change to prod, by mallory, who
# owns nothing, without alice's approval.
test_the_policy_cannot_change_what_prod_applies_without_its_owner() {
  setup "$EXCLUDE_VALUES"
  app 1 | put "$CLONE" environments/prod/app.yaml
  configmap values | put "$CLONE" environments/prod/values.yaml
  commit "$CLONE" "alice: app, and values.yaml (excluded)"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  put "$CLONE" .portcullis.yaml $'manifests:\n  exclude: ["environments/**/values.yaml", "environments/prod/app.yaml"]\n'
  commit "$CLONE" "mallory: exclude prod's app (the daemon prunes it)"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required]"
  fresh
  put "$CLONE" .portcullis.yaml $'manifests:\n  exclude: []\n'
  commit "$CLONE" "mallory: stop excluding prod's values.yaml (the daemon applies it)"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required]"
}

# --- Attacks of our own ---------------------------------------------------------------------------

# mallory_then_prod: mallory pushes what the clone has staged; if that lands, she changes prod in
# the next push. One of the two must be refused for want of alice's approval: the files that say
# who owns prod, and how it is judged, are prod's too.
mallory_then_prod() {
  commit "$CLONE" "mallory: $1"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  if ((STATUS == 0)); then
    configmap evil | put "$CLONE" environments/prod/evil.yaml
    commit "$CLONE" "mallory: prod"
    REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  fi
  expect_rejected
  expect_output "error [owners.approval-required]"
  [[ -z $(git -C "$SERVER" ls-tree refs/heads/main environments/prod/evil.yaml) ]] || fail "mallory changed prod"
}

test_the_files_that_say_who_owns_prod_are_owned() {
  local before
  # CODEOWNERS deleted.
  setup
  before=$FAILURES
  git -C "$CLONE" rm -q CODEOWNERS
  mallory_then_prod "delete CODEOWNERS"
  ((FAILURES == before)) || echo "      (case: CODEOWNERS deleted)"
  # CODEOWNERS replaced by a symbolic link (the gate reads only a regular file).
  CURRENT_TEST=$CURRENT_TEST/symlink setup
  before=$FAILURES
  git -C "$CLONE" rm -q CODEOWNERS
  ln -s README.md "$CLONE/CODEOWNERS"
  put "$CLONE" README.md "owners: see the wiki"
  git -C "$CLONE" add CODEOWNERS
  mallory_then_prod "CODEOWNERS is a link"
  ((FAILURES == before)) || echo "      (case: CODEOWNERS made a symbolic link)"
  # A CODEOWNERS where the gate looks first (.github/ before the root) naming mallory.
  CURRENT_TEST=$CURRENT_TEST/shadow setup
  before=$FAILURES
  put "$CLONE" .github/CODEOWNERS $'environments/prod/ @mallory\n'
  mallory_then_prod "a CODEOWNERS that takes precedence"
  ((FAILURES == before)) || echo "      (case: .github/CODEOWNERS shadows CODEOWNERS)"
  # main no longer protected, or no longer checked.
  local policy
  for policy in $'protectedRefs: [refs/heads/release]\n' $'checkRefs: ["refs/heads/ci/*"]\n'; do
    CURRENT_TEST=$CURRENT_TEST/policy-$RANDOM setup
    before=$FAILURES
    put "$CLONE" .portcullis.yaml "$policy"
    mallory_then_prod "policy"
    ((FAILURES == before)) || echo "      (case: .portcullis.yaml says ${policy%$'\n'})"
  done
  # The repository's teams file adds mallory to the team that owns prod.
  CURRENT_TEST=$CURRENT_TEST/teams setup $'codeowners:\n  teamsFile: .portcullis/teams.yaml\n' $'environments/prod/ @org/platform\n'
  before=$FAILURES
  put "$CLONE" .portcullis/teams.yaml $'"@org/platform": [mallory]\n'
  mallory_then_prod "join @org/platform"
  ((FAILURES == before)) || echo "      (case: the teams file adds mallory to @org/platform)"
}

# mallory_loosens_then_alice: mallory pushes a policy (staged); if it lands, alice (prod's owner,
# bound by its rules like anyone) pushes a Deployment of image $2 into prod. One of the two must
# be refused: mallory's for want of alice's approval, or alice's by the rule $3 it loosened.
mallory_loosens_then_alice() {
  commit "$CLONE" "mallory: $1"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  if ((STATUS == 0)); then
    deployment web "$2" | put "$CLONE" environments/prod/web.yaml
    commit "$CLONE" "alice: web"
    REMOTE_USER=alice push "$CLONE" origin HEAD:main
    expect_rejected
    expect_output "error [$3]"
  else
    expect_rejected
    expect_output "error [owners.approval-required]"
  fi
}

test_mallory_cannot_loosen_the_rules_that_bind_prod() {
  local before
  setup "$PROMOTION_NO_SOAK"
  before=$FAILURES
  put "$CLONE" .portcullis.yaml $'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - {name: prod, path: environments/prod, protected: true}\n'
  mallory_loosens_then_alice "no promotion" registry.example.com/web:6.6.6 promotion.not-promoted
  ((FAILURES == before)) || echo "      (case: promotion removed)"
  CURRENT_TEST=$CURRENT_TEST/unprotected setup "$PROMOTION_NO_SOAK"
  before=$FAILURES
  put "$CLONE" .portcullis.yaml $'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - {name: prod, path: environments/prod}\n'
  mallory_loosens_then_alice "prod unprotected" registry.example.com/web:latest content.image-latest
  ((FAILURES == before)) || echo "      (case: protected removed)"
  CURRENT_TEST=$CURRENT_TEST/moved setup "$PROMOTION_NO_SOAK"
  before=$FAILURES
  put "$CLONE" .portcullis.yaml $'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - {name: prod, path: environments/prod-archive, protected: true, promotion: {from: staging}}\n'
  mallory_loosens_then_alice "prod moved" registry.example.com/web:latest content.image-latest
  ((FAILURES == before)) || echo "      (case: prod's path moved)"
}

# In one push the policy before the push judges: a new policy cannot excuse what comes with it.
test_a_policy_change_does_not_judge_the_push_that_brings_it() {
  setup "$PROMOTION_NO_SOAK"
  put "$CLONE" .portcullis.yaml $'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - {name: prod, path: environments/prod-archive}\n'
  deployment web registry.example.com/web:latest | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE" "mallory: prod moved, unprotected, and :latest in it"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:refs/heads/feature
  expect_rejected
  expect_output "environments/prod/web.yaml:15:16: error [content.image-latest]"
  expect_output "environments/prod/web.yaml:15:16: error [promotion.not-promoted]"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [content.image-latest]"
  expect_output "environments/prod/web.yaml: error [owners.approval-required]"
}

test_a_new_branch_with_prod_changes_then_fast_forwarded_into_main() {
  setup
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod, on a branch"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:refs/heads/feature
  expect_accepted
  REMOTE_USER=mallory push "$CLONE" origin refs/remotes/origin/feature:refs/heads/main
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
}

# What git's client refuses to send, another client may: two commands for main in one push.
test_one_push_cannot_delete_and_recreate_main_or_update_it_twice() {
  setup
  local zero=0000000000000000000000000000000000000000 old tip harmless
  old=$(head_of)
  alice_changes_prod 2
  tip=$(head_of)
  # The objects reach the server on a branch of mallory's: a rollback (not a fast-forward) and a
  # harmless fast-forward.
  git -C "$CLONE" reset -q --hard "$(git -C "$CLONE" commit-tree "$old^{tree}" -p "$old" -m "rollback")"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:refs/heads/rollback
  expect_accepted
  local rollback
  rollback=$(head_of)
  git -C "$CLONE" reset -q --hard "$tip"
  configmap harmless | put "$CLONE" environments/dev/harmless.yaml
  commit "$CLONE" "mallory: harmless"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:refs/heads/harmless
  expect_accepted
  harmless=$(head_of)
  REMOTE_USER=mallory raw_push "$SERVER" "$tip $zero refs/heads/main" "$zero $rollback refs/heads/main"
  expect_rejected
  expect_output "error [ref.protected-delete]"
  expect_ref "$SERVER" refs/heads/main "$tip"
  REMOTE_USER=mallory raw_push "$SERVER" "$tip $harmless refs/heads/main" "$tip $rollback refs/heads/main"
  expect_rejected
  expect_output "error [ref.protected-force]"
  expect_ref "$SERVER" refs/heads/main "$tip"
}

test_approval_refs_that_approve_nothing() {
  setup
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod"
  local tip old blob
  tip=$(head_of)
  old=$(head_of HEAD~1)
  # An approval ref that is a blob.
  blob=$(printf 'approved by alice\n' | git -C "$CLONE" hash-object -w --stdin)
  git -C "$CLONE" update-ref refs/tags/blob-approval "$blob"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "refs/tags/blob-approval:refs/approvals/$tip/alice"
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  # A tag of alice's signed approval of another commit, under either name.
  sign_as alice
  git -C "$CLONE" tag -s -m "approve" alice-old "$old"
  local inner
  inner=$(git -C "$CLONE" rev-parse refs/tags/alice-old)
  git -C "$CLONE" tag -a -m "wrapping" wrapped "$inner"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "refs/tags/wrapped:refs/approvals/$tip/alice"
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "refs/tags/wrapped:refs/approvals/$inner/alice"
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  # mallory's own signed approval, a thousand times over.
  sign_as mallory
  git -C "$CLONE" tag -s -m "approve" mallory-approval "$tip"
  local i refspecs=()
  for ((i = 0; i < 1000; i++)); do refspecs+=("refs/tags/mallory-approval:refs/approvals/$tip/alice-$i"); done
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main "${refspecs[@]}"
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  expect_output "warning [owners.signature] approval tag refs/approvals/$tip/alice-0 is not accepted"
  expect_ref "$SERVER" refs/heads/main "$old"
}

# alice signs a merge of a dev branch onto main: it contains main, and approves prod as main has it.
test_a_signed_merge_approves_what_it_merged_only() {
  setup
  git -C "$CLONE" checkout -q -b dev-work
  configmap dev-work | put "$CLONE" environments/dev/work.yaml
  commit "$CLONE" "dev work"
  git -C "$CLONE" checkout -q main
  sign_as alice
  git -C "$CLONE" merge -q --no-ff -S -m "alice: merge dev work" dev-work
  local merge
  merge=$(head_of)
  git -C "$CLONE" checkout -q -b prod-work origin/main
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod"
  git -C "$CLONE" merge -q --no-ff --no-edit "$merge"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
  git -C "$CLONE" reset -q --hard "$merge"
  configmap evil | put "$CLONE" environments/prod/evil.yaml
  commit "$CLONE" "mallory: prod, on top of alice's merge"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/evil.yaml: error [owners.approval-required]"
}

test_every_kind_of_change_to_a_prod_path_is_owned() {
  setup
  local c before
  for c in gitlink mode rename yaml_directory symlink deleted_environment; do
    fresh
    case $c in
      gitlink) git -C "$CLONE" update-index --add --cacheinfo "160000,$(head_of),environments/prod/vendored" ;;
      mode) git -C "$CLONE" update-index --chmod=+x environments/prod/base.yaml ;;
      rename) git -C "$CLONE" mv environments/prod/base.yaml environments/prod/renamed.yaml ;;
      yaml_directory) configmap inner | put "$CLONE" environments/prod/dir.yaml/inner.yaml ;;
      symlink)
        ln -s ../dev/base.yaml "$CLONE/environments/prod/link.yaml"
        git -C "$CLONE" add environments/prod/link.yaml
        ;;
      deleted_environment) git -C "$CLONE" rm -rq environments/prod ;;
    esac
    commit "$CLONE" "mallory: $c"
    before=$FAILURES
    REMOTE_USER=mallory push "$CLONE" origin HEAD:main
    expect_rejected
    expect_output "error [owners.approval-required]"
    ((FAILURES == before)) || echo "      (case $c)"
  done
}

# An image is in staging when staging runs it: not when a string in staging's files looks like a
# container, here the example of a CRD's schema (applied, and never run by anything).
test_an_image_in_a_crd_example_is_not_in_staging() {
  setup "$PROMOTION_NO_SOAK"
  cat <<'YAML' | put "$CLONE" environments/staging/widgets.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
spec:
  group: example.io
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
          example:
            containers:
              - name: decoy
                image: registry.example.com/evil:6.6.6
YAML
  kubectl apply --dry-run=server -f "$CLONE/environments/staging/widgets.yaml" >/dev/null 2>&1 ||
    fail "the apiserver does not take the CRD: $(kubectl apply --dry-run=server -f "$CLONE/environments/staging/widgets.yaml" 2>&1)"
  commit "$CLONE" "mallory: a CRD in staging"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_accepted
  deployment web registry.example.com/evil:6.6.6 | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE" "alice: web"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/web.yaml:15:16: error [promotion.not-promoted] image registry.example.com/evil:6.6.6 is not in staging"
}

# The policy file is a regular file or it is no policy: a link to a looser policy, or a
# directory, is refused rather than read as "no policy" (which would mean the defaults).
test_a_policy_file_that_is_a_link_or_a_directory() {
  setup "$PROMOTION_NO_SOAK"
  local shape before
  for shape in link directory; do
    fresh
    git -C "$CLONE" rm -q .portcullis.yaml
    if [[ $shape == link ]]; then
      put "$CLONE" docs/loose.yaml $'checkRefs: ["refs/heads/ci/*"]\n'
      ln -s docs/loose.yaml "$CLONE/.portcullis.yaml"
      git -C "$CLONE" add .portcullis.yaml
    else
      put "$CLONE" .portcullis.yaml/checkRefs.yaml $'checkRefs: ["refs/heads/ci/*"]\n'
    fi
    commit "$CLONE" "mallory: the policy as a $shape"
    before=$FAILURES
    REMOTE_USER=mallory push "$CLONE" origin HEAD:main
    expect_rejected
    expect_output "error [policy.invalid]"
    ((FAILURES == before)) || echo "      (case $shape)"
  done
}

run_suite "$@"
