#!/usr/bin/env bash
# End to end: who may change what. CODEOWNERS (both dialects) enforced at push time with
# approvals proven from Git (the pusher, SSH-signed commits, signed approval tags), identity
# from the hosting layer, promotion between environments, environment branches, break-glass.
source "$(dirname "$0")/lib.sh"

KEYS=$SUITE_TMP/keys
mkdir -p "$KEYS"
for who in alice bob carol mallory; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$KEYS/$who"
done
# Everyone but mallory is an allowed signer.
for who in alice bob carol; do
  printf '%s namespaces="git" %s\n' "$who" "$(cut -d' ' -f1,2 "$KEYS/$who.pub")"
done >"$KEYS/allowed_signers"

# setup [POLICY] [CODEOWNERS_PATH CODEOWNERS]: a server whose main already has the policy and
# CODEOWNERS (pushed by alice, before the rules apply), with environments dev/staging/prod.
setup() {
  local policy=${1:-} co_path=${2:-} co_text=${3:-}
  CONFIG=$SUITE_TMP/$CURRENT_TEST/server.yaml
  cat >"$CONFIG" <<YAML
auditLog: $SUITE_TMP/$CURRENT_TEST/audit.jsonl
identity:
  allowedSigners: $KEYS/allowed_signers
  teams:
    "@org/platform": [carol]
  breakGlass: [bob, "@org/sre"]
YAML
  SERVER=$(new_server server "$CONFIG")
  CLONE=$(new_clone "$SERVER")
  git -C "$CLONE" config gpg.format ssh
  [[ -n $policy ]] && put "$CLONE" .portcullis.yaml "$policy"
  [[ -n $co_path ]] && put "$CLONE" "$co_path" "$co_text"
  for env in dev staging prod; do configmap base | put "$CLONE" "environments/$env/base.yaml"; done
  commit "$CLONE" "initial"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
}

# sign_as WHO: commits in $CLONE are signed with WHO's key from now on.
sign_as() { git -C "$CLONE" config user.signingkey "$KEYS/$1"; }

change_prod() { configmap "change-$RANDOM" | put "$CLONE" "environments/prod/change-$RANDOM.yaml"; }

GITHUB_OWNERS=$'# Platform owns production.\nenvironments/prod/ @alice @org/platform\n/environments/staging/ carol@example.com\n'

test_no_identity_no_protected_change() {
  setup
  change_prod
  commit "$CLONE"
  (unset REMOTE_USER; push "$CLONE" origin HEAD:main; echo "$STATUS" >"$SUITE_TMP/$CURRENT_TEST/status"; echo "$OUT" >"$SUITE_TMP/$CURRENT_TEST/out")
  OUT=$(cat "$SUITE_TMP/$CURRENT_TEST/out"); STATUS=$(cat "$SUITE_TMP/$CURRENT_TEST/status")
  expect_rejected
  expect_output "error [identity.missing] the push updates a protected ref but the Git server names no pusher (expected one of GL_USER, GL_USERNAME, GITEA_PUSHER_NAME, GITHUB_USER_LOGIN, REMOTE_USER)"
  # A feature branch touching a protected environment needs an identity too; dev does not.
  OUT=$(cd "$CLONE" && env -u REMOTE_USER git push origin HEAD:refs/heads/feature 2>&1); STATUS=$?
  expect_rejected
  expect_output "touches a protected environment"
  git -C "$CLONE" reset -q --hard origin/main
  configmap dev-only | put "$CLONE" environments/dev/dev-only.yaml
  commit "$CLONE"
  OUT=$(cd "$CLONE" && env -u REMOTE_USER git push origin HEAD:refs/heads/feature 2>&1); STATUS=$?
  expect_accepted
  # Each hosting layer's variable is trusted (gitolite, GitLab, Gitea, GitHub Enterprise).
  local var
  for var in GL_USER GL_USERNAME GITEA_PUSHER_NAME GITHUB_USER_LOGIN; do
    git -C "$CLONE" reset -q --hard origin/main
    change_prod
    commit "$CLONE"
    OUT=$(cd "$CLONE" && env -u REMOTE_USER "$var=alice" git push origin HEAD:main 2>&1); STATUS=$?
    expect_accepted
    [[ $(jq -r .pusher <<<"$(tail -n 1 "$SUITE_TMP/$CURRENT_TEST/audit.jsonl")") == alice ]] || fail "$var did not name the pusher"
  done
}

test_github_codeowners_need_an_owner() {
  setup "" .github/CODEOWNERS "$GITHUB_OWNERS"
  change_prod
  commit "$CLONE"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required] needs approval by @alice, @org/platform; approvals seen: bob (pusher)"
  expect_output "fix: ask an owner to approve: \`portcullis approve <commit>\`"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  # A team member approves by pushing.
  change_prod
  commit "$CLONE"
  REMOTE_USER=carol push "$CLONE" origin HEAD:main
  expect_accepted
  # Emails name owners too; unowned paths need nobody.
  configmap s | put "$CLONE" environments/staging/s.yaml
  configmap d | put "$CLONE" environments/dev/d.yaml
  commit "$CLONE"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "needs approval by carol@example.com"
  expect_no_output "environments/dev/d.yaml"
}

test_what_the_push_changes_tip_to_tip_counts() {
  setup "" CODEOWNERS "$GITHUB_OWNERS"
  # A prod file added and removed again within the push changes nothing in prod.
  configmap temp | put "$CLONE" environments/prod/temp.yaml
  commit "$CLONE" "add"
  git -C "$CLONE" rm -q environments/prod/temp.yaml
  commit "$CLONE" "remove again"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_accepted
  # alice changes prod; bob then merges with main's old commit as the first parent and its tree:
  # no commit of his changes a path against its first parent, but prod goes back.
  local old
  old=$(git -C "$CLONE" rev-parse HEAD)
  configmap v2 | put "$CLONE" environments/prod/app.yaml
  commit "$CLONE" "alice's prod change"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  local rollback
  rollback=$(git -C "$CLONE" commit-tree "$old^{tree}" -p "$old" -p HEAD -m "merge (rollback)")
  git -C "$CLONE" reset -q --hard "$rollback"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/app.yaml: error [owners.approval-required] needs approval by @alice, @org/platform"
}

test_self_approval_can_be_turned_off() {
  setup $'codeowners:\n  selfApproval: false\n' .github/CODEOWNERS "$GITHUB_OWNERS"
  change_prod
  GIT_AUTHOR_NAME=alice GIT_AUTHOR_EMAIL=alice@example.com commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "approvals seen: alice (pusher, the pusher's own: self-approval is off)"
  # Naming someone else as the author does not make it someone else's change.
  git -C "$CLONE" reset -q --hard origin/main
  change_prod
  GIT_AUTHOR_NAME=bob GIT_AUTHOR_EMAIL=bob@example.com commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  # Another owner's signed approval does.
  sign_as carol
  git -C "$CLONE" tag -s -m approve "approval-carol" HEAD
  git -C "$CLONE" push -q origin "approval-carol:refs/approvals/$(git -C "$CLONE" rev-parse HEAD)/carol" 2>/dev/null ||
    fail "could not push carol's approval tag"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
}

test_a_signed_commit_by_an_owner_approves() {
  setup "" .github/CODEOWNERS "$GITHUB_OWNERS"
  git -C "$CLONE" checkout -q -b work
  change_prod
  commit "$CLONE" "bob's change"
  git -C "$CLONE" checkout -q main
  sign_as alice
  git -C "$CLONE" merge -q --no-ff -S -m "merge, reviewed by alice" work
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_accepted
  # Signed by a key that is not an allowed signer: no approval, and said so.
  change_prod
  sign_as mallory
  git -C "$CLONE" commit -q -S -m "signed by an unknown key"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "warning [owners.signature] the signature of commit"
  expect_output "approvals seen: bob (pusher)"
}

test_signed_approval_tags_approve_exactly_one_commit() {
  setup "" .github/CODEOWNERS "$GITHUB_OWNERS"
  change_prod
  commit "$CLONE" "needs review"
  local sha
  sha=$(git -C "$CLONE" rev-parse HEAD)
  REMOTE_USER=bob push "$CLONE" origin HEAD:refs/heads/review
  expect_accepted
  sign_as alice
  git -C "$CLONE" config user.email alice@example.com
  run "$PORTCULLIS" approve --repo "$CLONE" "$sha" --as alice
  expect_status 0
  expect_output "approved ${sha:0:12} as alice: pushed refs/approvals/$sha/alice"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "portcullis: push accepted"
  # A new commit dismisses the old approval.
  change_prod
  commit "$CLONE" "after the approval"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required]"
  # An approval tag pushed together with the change counts; one signed by mallory does not.
  git -C "$CLONE" config user.email mallory@example.com
  sign_as mallory
  git -C "$CLONE" tag -s -m approve mallory-approval HEAD
  REMOTE_USER=bob push "$CLONE" origin HEAD:main "refs/tags/mallory-approval:refs/approvals/$(git -C "$CLONE" rev-parse HEAD)/mallory"
  expect_rejected
  sign_as carol
  git -C "$CLONE" tag -s -m approve carol-approval HEAD
  REMOTE_USER=bob push "$CLONE" origin HEAD:main "refs/tags/carol-approval:refs/approvals/$(git -C "$CLONE" rev-parse HEAD)/carol"
  expect_accepted
}

test_a_broken_codeowners_never_means_no_owners() {
  setup "" .github/CODEOWNERS $'environments/prod/ @alice\n!environments/prod/free.yaml\n'
  change_prod
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output ".github/CODEOWNERS:2:"
  expect_output "error [owners.invalid]"
}

test_gitlab_sections_need_n_approvals() {
  setup "" .gitlab/CODEOWNERS $'[Prod][2] @alice @carol\nenvironments/prod/\n\n^[Docs] @bob\n*.md\n'
  change_prod
  put "$CLONE" README.md "docs"
  commit "$CLONE"
  local sha
  sha=$(git -C "$CLONE" rev-parse HEAD)
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "needs 2 distinct approvals from @alice, @carol (section Prod)"
  expect_no_output "section Docs"
  sign_as carol
  git -C "$CLONE" tag -s -m approve carol-approval HEAD
  REMOTE_USER=alice push "$CLONE" origin HEAD:main "refs/tags/carol-approval:refs/approvals/$sha/carol"
  expect_accepted
}

test_teams_from_the_repository() {
  setup $'codeowners:\n  teamsFile: .portcullis/teams.yaml\n' .github/CODEOWNERS $'environments/prod/ @org/payments\n'
  put "$CLONE" .portcullis/teams.yaml $'"@org/payments": [bob]\n'
  commit "$CLONE"
  # The teams file decides who owns prod: changing it changes prod, and the team it names has no
  # members yet to approve that. The first members come by break-glass (bob may use it).
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "the push changes .portcullis/teams.yaml"
  REMOTE_USER=bob push "$CLONE" -o "break-glass=bootstrap @org/payments" origin HEAD:main
  expect_accepted
  # mallory cannot add herself.
  put "$CLONE" .portcullis/teams.yaml $'"@org/payments": [bob, mallory]\n'
  commit "$CLONE"
  REMOTE_USER=mallory push "$CLONE" origin HEAD:main
  expect_rejected
  git -C "$CLONE" reset -q --hard origin/main
  change_prod
  commit "$CLONE"
  REMOTE_USER=bob push "$CLONE" origin HEAD:main
  expect_accepted
  change_prod
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
}

PROMOTION=$'environments:\n  - {name: dev, path: environments/dev}\n  - {name: staging, path: environments/staging}\n  - name: prod\n    path: environments/prod\n    protected: true\n    promotion: {from: staging, soak: 2h}\n'

test_prod_only_runs_what_staging_ran() {
  setup "$PROMOTION"
  deployment web registry.example.com/web:2.0.0 | put "$CLONE" environments/staging/web.yaml
  deployment web registry.example.com/web:2.0.0 | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/web.yaml:15:16: error [promotion.not-promoted] image registry.example.com/web:2.0.0 is not in staging on the target ref; promote through staging first"
  expect_no_output "environments/staging/web.yaml"
  # Staging first, in a commit backdated by three days: the soak counts from the push, by the
  # Git server's clock, never from a date the pusher wrote.
  git -C "$CLONE" reset -q --hard origin/main
  deployment web registry.example.com/web:2.0.0 | put "$CLONE" environments/staging/web.yaml
  GIT_COMMITTER_DATE="$(date -d '-3 days' -R)" commit "$CLONE" "staging"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  deployment web registry.example.com/web:2.0.0 | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE" "prod"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [promotion.soak] image registry.example.com/web:2.0.0 has been in staging for "
  expect_output "by the Git server's clock); prod requires 2h"
  # post-receive keeps the arrivals in the ledger of staging on main at its tip; three hours
  # later by the server's record, the same push passes: the gate read it.
  local ledger
  ledger=$SERVER/portcullis/index/soak/refs%2Fheads%2Fmain/environments%2Fstaging/$(git -C "$SERVER" rev-parse main).soak
  [[ -f $ledger ]] || fail "no soak ledger at $ledger: $(find "$SERVER/portcullis" -name '*.soak')"
  grep -q $'^registry.example.com/web:2.0.0\t' "$ledger" || fail "the ledger lacks the web image: $(cat "$ledger")"
  sed -i "s|^\(registry.example.com/web:2.0.0\t[0-9a-f]*\t\)[0-9]*|\1$(date -d '-3 hours' +%s)|" "$ledger"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  # The ledger of the new tip carries the arrival forward: a later push keeps it.
  local next
  next=$SERVER/portcullis/index/soak/refs%2Fheads%2Fmain/environments%2Fstaging/$(git -C "$SERVER" rev-parse main).soak
  grep -q $'^registry.example.com/web:2.0.0\t[0-9a-f]*\t'"$(date -d '-3 hours' +%s | cut -c1-6)" "$next" ||
    fail "the arrival was not carried to the next ledger: $(cat "$next")"
}

test_digests_and_kustomization_images() {
  setup $'environments:\n  - {name: staging, path: environments/staging}\n  - name: prod\n    path: environments/prod\n    protected: true\n    promotion: {from: staging, requireDigest: true}\n'
  local digest=sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31
  # An image only in staging's kustomization `images:` is not what staging applies when no
  # container of its render matches the rule (base.yaml is a ConfigMap): it promotes nothing.
  put "$CLONE" environments/staging/kustomization.yaml $'resources: [base.yaml]\nimages:\n  - name: web\n    newName: registry.example.com/web\n    digest: '"$digest"$'\n'
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  deployment web "registry.example.com/web@$digest" | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [promotion.not-promoted] image registry.example.com/web@$digest is not in staging"
  git -C "$CLONE" reset -q --hard origin/main
  deployment web registry.example.com/web:2.0 | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [promotion.digest-required] image registry.example.com/web:2.0 in environment prod must be pinned by @sha256: digest"
  expect_output "error [promotion.not-promoted]"
}

test_environments_are_not_branches() {
  setup "$PROMOTION"
  REMOTE_USER=alice push "$CLONE" origin HEAD:refs/heads/env/prod
  expect_rejected
  expect_output "error [ref.environment-branch] refs/heads/env/prod names an environment"
  REMOTE_USER=alice push "$CLONE" origin HEAD:refs/heads/staging
  expect_rejected
  REMOTE_USER=alice push "$CLONE" origin HEAD:refs/heads/feature/staging-fix
  expect_accepted
}

test_break_glass_bypasses_ownership_and_promotion_only() {
  setup "$PROMOTION" .github/CODEOWNERS "$GITHUB_OWNERS"
  deployment web registry.example.com/hotfix:9.9.9 | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE" "hotfix"
  REMOTE_USER=mallory push "$CLONE" -o "break-glass=INC-1234: checkout down" origin HEAD:main
  expect_rejected
  expect_output "error [breakglass.denied] pusher mallory may not use break-glass"
  REMOTE_USER=bob push "$CLONE" -o "break-glass=INC-1234: checkout down" origin HEAD:main
  expect_accepted
  expect_output "notice [owners.approval-required] bypassed by break-glass"
  expect_output "notice [promotion.not-promoted] bypassed by break-glass"
  local last=$(tail -n 1 "$SUITE_TMP/$CURRENT_TEST/audit.jsonl")
  [[ $(jq -r .breakGlass.reason <<<"$last") == "INC-1234: checkout down" ]] || fail "audit lacks the reason: $last"
  [[ $(jq -r '.breakGlass.bypassed | sort | join(",")' <<<"$last") == "owners.approval-required,promotion.not-promoted" ]] ||
    fail "audit lacks the bypassed checks: $last"
  [[ $(jq -r .pusher <<<"$last") == bob ]] || fail "audit lacks who: $last"
  run "$PORTCULLIS" audit --config "$CONFIG" --open-break-glass
  expect_status 1
  expect_output "bob  accepted  refs/heads/main"
  expect_output "BREAK-GLASS: INC-1234: checkout down"
  # Break-glass never bypasses validity or ref protection.
  put "$CLONE" environments/prod/broken.yaml $'a: [\n'
  commit "$CLONE"
  REMOTE_USER=bob push "$CLONE" -o "break-glass=INC-1235" origin HEAD:main
  expect_rejected
  expect_output "error [yaml.syntax]"
  git -C "$CLONE" reset -q --hard origin/main
  REMOTE_USER=bob push "$CLONE" -o "break-glass=INC-1236" origin :main
  expect_rejected
  expect_output "error [ref.protected-delete]"
  # A normal push that passes every check closes it.
  configmap fixed | put "$CLONE" environments/prod/fixed.yaml
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_accepted
  run "$PORTCULLIS" audit --config "$CONFIG" --open-break-glass
  expect_status 0
}

run_suite "$@"
