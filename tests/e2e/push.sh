#!/usr/bin/env bash
# End to end: real `git push` through real receive-pack into bare repositories prepared by
# `portcullis install`. Every rejection leaves no ref and no object behind.
source "$(dirname "$0")/lib.sh"

# A server and a clone with a first accepted commit: dev, staging and prod environments.
setup_repo() {
  SERVER=$(new_server server "${1:-}")
  CLONE=$(new_clone "$SERVER")
  configmap base | put "$CLONE" environments/dev/base.yaml
  configmap base | put "$CLONE" environments/staging/base.yaml
  configmap base | put "$CLONE" environments/prod/base.yaml
  put "$CLONE" README.md "config repository"
  commit "$CLONE" "initial"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

# Hostile trees are written byte by byte: one entry (mode, name, hex id) as Git stores it.
raw_entry() { printf '%s %s\0' "$1" "$2"; printf "$(sed 's/../\\x&/g' <<<"$3")"; }
plain_secret() { printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\nstringData:\n  password: hunter2\n' "$1"; }

# The root tree of HEAD in $CLONE with environments/dev replaced by the tree $1.
root_with_dev() {
  local envs
  envs=$( { printf '040000 tree %s\tdev\n' "$1"; git -C "$CLONE" ls-tree HEAD:environments | grep -v $'\tdev$'; } |
    git -C "$CLONE" mktree)
  { git -C "$CLONE" ls-tree HEAD | grep -v $'\tenvironments$'; printf '040000 tree %s\tenvironments\n' "$envs"; } |
    git -C "$CLONE" mktree
}

# push_with_dev TREE [REF]: pushes (to REF, default main) a commit on HEAD in $CLONE whose
# environments/dev is the tree TREE.
push_with_dev() {
  local commit
  commit=$(git -C "$CLONE" commit-tree -p HEAD -m "environments/dev is $1" "$(root_with_dev "$1")")
  push "$CLONE" origin "$commit:refs/heads/${2:-main}"
}

test_accepts_a_valid_push() {
  setup_repo
  expect_output "portcullis: push accepted: 0 errors, 0 warnings (3 files, 3 objects in 1 ref"
  deployment web nginx:1.25 | put "$CLONE" environments/dev/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "(1 file, 1 object in 1 ref"
  expect_ref "$SERVER" refs/heads/main "$(git -C "$CLONE" rev-parse HEAD)"
}

test_rejection_leaves_no_ref_and_no_object() {
  setup_repo
  snapshot "$SERVER"
  put "$CLONE" environments/prod/broken.yaml $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n bad: [\n'
  for i in $(seq 1 150); do configmap "cm-$i" | put "$CLONE" "environments/dev/many/cm-$i.yaml"; done
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/broken.yaml:5:2: error [yaml.syntax] did not find expected key (while parsing a block mapping that starts at line 1, column 1)"
  expect_unchanged_server "$SERVER" "$SNAP_OBJECTS" "$SNAP_REFS"
}

test_yaml_errors_name_file_line_and_column() {
  setup_repo
  local cases=(
    "dup.yaml|apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  a: 1\n  a: 2\n|dup.yaml:7:3: error [yaml.duplicate-key] duplicate key \"a\" (first at line 6)"
    "tab.yaml|apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: t\n|tab.yaml:4:1: error [yaml.syntax]"
    "utf8.yaml|apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n|utf8.yaml:4:12: error [yaml.encoding] invalid UTF-8"
    "unclosed.json|{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\"|unclosed.json:2:21: error [yaml.syntax]"
    "scalar.yaml|just a string\n|scalar.yaml:1:1: error [k8s.not-an-object] document 1 is a scalar"
    "nameless.yaml|apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n|nameless.yaml:1:1: error [k8s.missing-field] ConfigMap: missing metadata.name"
    "kindless.yaml|apiVersion: v1\nmetadata:\n  name: k\n|kindless.yaml:1:1: error [k8s.missing-field] object \"k\": missing kind"
  )
  for c in "${cases[@]}"; do
    IFS='|' read -r file content expected <<<"$c"
    local clone
    clone=$(new_clone "$SERVER")
    printf "$content" | put "$clone" "environments/dev/$file"
    commit "$clone"
    push "$clone" origin HEAD:main
    expect_rejected
    expect_output "environments/dev/$expected"
    expect_output "fix: "
  done
}

test_duplicate_objects_within_a_push_and_across_the_environment() {
  setup_repo
  # Within one push.
  configmap twin | put "$CLONE" environments/dev/a.yaml
  configmap twin | put "$CLONE" environments/dev/b.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/b.yaml:1:1: error [k8s.duplicate] ConfigMap \"twin\": declared twice in environment dev (ConfigMap twin): also in environments/dev/a.yaml:1"
  git -C "$CLONE" reset -q --hard origin/main
  # Against a file that is already in the environment (found through the identity index).
  configmap single | put "$CLONE" environments/dev/first.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  configmap single | put "$CLONE" environments/dev/second.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/second.yaml:1:1: error [k8s.duplicate]"
  expect_output "also in environments/dev/first.yaml"
  # The same name in another environment, or another namespace, is no duplicate; moving the
  # object to another file in one push is fine.
  git -C "$CLONE" reset -q --hard origin/main
  configmap single | put "$CLONE" environments/staging/single.yaml
  configmap single other-ns | put "$CLONE" environments/dev/other-ns.yaml
  git -C "$CLONE" mv environments/dev/first.yaml environments/dev/moved.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  # The index follows every accepted push: the moved object is still found.
  configmap single | put "$CLONE" environments/dev/third.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "also in environments/dev/moved.yaml"
  compgen -G "$SERVER/portcullis/index/*.idx" >/dev/null || fail "no identity index was written"
}

test_duplicates_found_when_the_index_is_lost() {
  setup_repo
  configmap keep | put "$CLONE" environments/dev/keep.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  rm -rf "$SERVER/portcullis/index"
  printf 'garbage' >"$SERVER/portcullis/index" 2>/dev/null || true
  rm -f "$SERVER/portcullis/index"
  configmap keep | put "$CLONE" environments/dev/again.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "also in environments/dev/keep.yaml"
}

test_pre_receive_indexes_what_it_accepts_and_nothing_it_rejects() {
  setup_repo
  rm "$SERVER/hooks/post-receive"  # what is found below, pre-receive made
  configmap extra | put "$CLONE" environments/dev/extra.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  tree=$(git -C "$CLONE" rev-parse HEAD:environments/dev)
  [[ -f $SERVER/portcullis/index/$tree.idx ]] || fail "pre-receive left no index of the accepted environment tree"
  grep -qx "$tree 0" "$SERVER/portcullis/index/kustomized" || fail "the environment's kustomization answer is not remembered"
  configmap extra | put "$CLONE" environments/dev/again.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "also in environments/dev/extra.yaml"
  tree=$(git -C "$CLONE" rev-parse HEAD:environments/dev)
  [[ ! -e $SERVER/portcullis/index/$tree.idx ]] || fail "a rejected push left an index of its tree"
}

# A tree that lists a file twice (git fsck: duplicateEntries; Git never writes one, a hostile
# tool does): diffing it would report the file removed while its other entry stays, and the
# identity index would lose what that entry declares. Refused.
test_a_tree_that_lists_a_file_twice_is_refused() {
  setup_repo
  local x y dev
  x=$(configmap twice-x | git -C "$CLONE" hash-object -w --stdin)
  y=$(configmap twice-y | git -C "$CLONE" hash-object -w --stdin)
  dev=$( { raw_entry 100644 a.yaml "$x"; raw_entry 100644 a.yaml "$y"; git -C "$CLONE" cat-file tree HEAD:environments/dev; } |
    git -C "$CLONE" hash-object -t tree -w --literally --stdin)
  push_with_dev "$dev"
  expect_rejected
  expect_output "environments/dev/a.yaml twice or out of order"
  expect_ref "$SERVER" refs/heads/main "$(git -C "$CLONE" rev-parse HEAD)"
}

# A tree entry whose name holds a '/', or is "." / ".." / ".git", would let one path stand for
# another (git fsck: fullPathname, hasDot, hasDotdot, hasDotgit); git's receive-pack takes such
# trees when fsckObjects is off (its default), so the gate refuses them.
test_a_tree_entry_named_like_a_path_is_refused() {
  setup_repo
  local x envs root commit name
  x=$(configmap slash-x | git -C "$CLONE" hash-object -w --stdin)
  for name in dev/app.yaml .. .GIT; do
    envs=$( { raw_entry 100644 "$name" "$x"; git -C "$CLONE" cat-file tree HEAD:environments; } |
      git -C "$CLONE" hash-object -t tree -w --literally --stdin)
    root=$( { git -C "$CLONE" ls-tree HEAD | grep -v $'\tenvironments$'; printf '040000 tree %s\tenvironments\n' "$envs"; } |
      git -C "$CLONE" mktree)
    commit=$(git -C "$CLONE" commit-tree -p HEAD -m "named $name" "$root")
    push "$CLONE" origin "$commit:refs/heads/main"
    expect_rejected
    expect_output "tree environments is malformed (an entry named \"$name\", which a checkout refuses"
    expect_ref "$SERVER" refs/heads/main "$(git -C "$CLONE" rev-parse HEAD)"
  done
}

# Hostile trees that git's receive-pack takes (fsckObjects off, its default) and that git reads
# otherwise than libgit2 did, or that the gate cannot read: a Secret must not pass behind them
# (found by review of the tree reader).

# Git reads a mode by its S_IFMT bits: 41000 and 240000 are directories to git (git ls-tree -r
# lists what is in them) and were files to the gate; 120755 a symlink; 0 a submodule.
test_a_mode_git_does_not_write_is_refused() {
  setup_repo
  local m b sub root commit
  for m in 41000 240000 120755 0; do
    b=$(plain_secret "leaked$m" | git -C "$CLONE" hash-object -w --stdin)
    sub=$(printf '100644 blob %s\tleaked.yaml\n' "$b" | git -C "$CLONE" mktree)
    root=$( { raw_entry 100644 README.md "$(git -C "$CLONE" rev-parse HEAD:README.md)"; raw_entry "$m" docs "$sub"
      raw_entry 40000 environments "$(git -C "$CLONE" rev-parse HEAD:environments)"; } |
      git -C "$CLONE" hash-object -t tree -w --literally --stdin)
    commit=$(git -C "$CLONE" commit-tree -p HEAD -m "mode $m" "$root")
    push "$CLONE" origin "$commit:refs/heads/leak$m"
    expect_rejected
    expect_output "\"docs\" has mode $m, which git does not write (git fsck: badFilemode)"
    ! git -C "$SERVER" rev-parse -q --verify "refs/heads/leak$m" >/dev/null || fail "refs/heads/leak$m was created"
  done
}

# A Secret in a commit of the push beside a tree the gate cannot read, the tip clean again.
test_a_secret_beside_an_unreadable_tree_in_history_is_refused() {
  setup_repo
  local b docs bad root c1 c2
  b=$(plain_secret hidden | git -C "$CLONE" hash-object -w --stdin)
  docs=$(printf '100644 blob %s\tleaked.yaml\n' "$b" | git -C "$CLONE" mktree)
  bad=$(raw_entry 100644 .GIT "$b" | git -C "$CLONE" hash-object -t tree -w --literally --stdin)
  root=$( { git -C "$CLONE" ls-tree HEAD; printf '040000 tree %s\taaa\n040000 tree %s\tdocs\n' "$bad" "$docs"; } |
    git -C "$CLONE" mktree)
  c1=$(git -C "$CLONE" commit-tree -p HEAD -m hide "$root")
  c2=$(git -C "$CLONE" commit-tree -p "$c1" -m clean "$(git -C "$CLONE" rev-parse 'HEAD^{tree}')")
  push "$CLONE" origin "$c2:refs/heads/main"
  expect_rejected
  expect_output "cannot be read for Secrets"
  expect_ref "$SERVER" refs/heads/main "$(git -C "$CLONE" rev-parse HEAD)"
}

# A ref straight at a tree (no commit to judge) that holds a Secret beside an unreadable tree.
test_a_tree_ref_with_an_unreadable_tree_is_refused() {
  setup_repo
  local b docs bad root
  b=$(plain_secret treeref | git -C "$CLONE" hash-object -w --stdin)
  docs=$(printf '100644 blob %s\tleaked.yaml\n' "$b" | git -C "$CLONE" mktree)
  bad=$(raw_entry 100644 .GIT "$b" | git -C "$CLONE" hash-object -t tree -w --literally --stdin)
  root=$(printf '040000 tree %s\taaa\n040000 tree %s\tdocs\n' "$bad" "$docs" | git -C "$CLONE" mktree)
  push "$CLONE" origin "$root:refs/tags/t1"
  expect_rejected
  expect_output "cannot be read for Secrets"
}

# A file and a directory of one name, other names between them (git fsck: duplicateEntries).
test_a_file_and_a_directory_of_one_name_are_refused() {
  setup_repo
  local x sub dev
  x=$(configmap dupx | git -C "$CLONE" hash-object -w --stdin)
  sub=$(printf '100644 blob %s\tin.yaml\n' "$(configmap dupin | git -C "$CLONE" hash-object -w --stdin)" | git -C "$CLONE" mktree)
  dev=$( { git -C "$CLONE" cat-file tree HEAD:environments/dev; raw_entry 100644 x "$x"; raw_entry 100644 x.b "$x"
    raw_entry 40000 x "$sub"; } | git -C "$CLONE" hash-object -t tree -w --literally --stdin)
  push_with_dev "$dev"
  expect_rejected
  expect_output "environments/dev/x twice or out of order"
}

# A directory of 1,000 manifests is a tree of over 32 KB: the gate keeps a copy of it beside the
# repository and reads the directory's next version against that copy, only where the bytes
# differ. What a pusher writes there is judged as in a tree read whole: a name listed twice
# (the second copy a Secret, which git would serve) and a Secret added among the others.
test_the_next_version_of_a_large_directory_is_judged_whole() {
  setup_repo
  local i
  for ((i = 0; i < 1000; i++)); do configmap "cm-$i" >"$CLONE/environments/dev/cm-$(printf %04d $i).yaml"; done
  git -C "$CLONE" add environments/dev
  commit "$CLONE" "a large directory"
  push "$CLONE" origin HEAD:main
  expect_accepted
  local dev kept
  dev=$(git -C "$CLONE" rev-parse HEAD:environments/dev)
  kept="$SERVER/portcullis/trees/$dev.v2.tree"
  [[ -s $kept ]] || fail "no kept copy of the directory's tree at $kept"
  local secret twice
  secret=$(plain_secret twice | git -C "$CLONE" hash-object -w --stdin)
  twice=$(git -C "$CLONE" cat-file tree "$dev" | python3 -c '
import sys
data, secret = sys.stdin.buffer.read(), bytes.fromhex(sys.argv[1])
cut = data.index(b"cm-0500.yaml\0") + len(b"cm-0500.yaml\0") + 20
sys.stdout.buffer.write(data[:cut] + b"100644 cm-0500.yaml\0" + secret + data[cut:])' "$secret" |
    git -C "$CLONE" hash-object -t tree -w --literally --stdin)
  push_with_dev "$twice"
  expect_rejected
  expect_output "environments/dev/cm-0500.yaml twice or out of order"
  # The same Secret under a name of its own, in the middle of the directory: found.
  plain_secret added | put "$CLONE" environments/dev/cm-0500a.yaml
  commit "$CLONE" "a Secret among 1,000"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/cm-0500a.yaml"
  expect_output "content.plaintext-secret"
  # An honest change of one file, read against the kept copy: accepted.
  git -C "$CLONE" reset -q --hard HEAD~1
  configmap changed >"$CLONE/environments/dev/cm-0700.yaml"
  git -C "$CLONE" add environments/dev
  commit "$CLONE" "one change"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "(1 file, 1 object in 1 ref"
}

# With failMode open, a tree the gate cannot read is still refused (never accepted unjudged).
test_an_unreadable_tree_is_refused_with_fail_mode_open() {
  local cfg=$SUITE_TMP/$CURRENT_TEST/server.yaml
  mkdir -p "$SUITE_TMP/$CURRENT_TEST"
  printf 'failMode: open\n' >"$cfg"
  setup_repo "$cfg"
  local b sub dev
  b=$(plain_secret inenv | git -C "$CLONE" hash-object -w --stdin)
  sub=$(printf '100644 blob %s\tleaked.yaml\n' "$b" | git -C "$CLONE" mktree)
  dev=$( { git -C "$CLONE" cat-file tree HEAD:environments/dev; raw_entry 41000 sub "$sub"; } |
    git -C "$CLONE" hash-object -t tree -w --literally --stdin)
  push_with_dev "$dev" feature
  expect_rejected
  expect_output "badFilemode"
}

test_plaintext_secrets_rejected_sealed_and_sops_pass() {
  setup_repo
  put "$CLONE" environments/dev/secret.yaml $'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/secret.yaml:6:3: error [content.plaintext-secret] Secret \"db\": Secret carries stringData in plaintext"
  # Judged once: by the environment's checks, not again by the scan of what the push brings.
  [[ $(grep -c "error \[content.plaintext-secret\]" <<<"$OUT") == 1 ]] || fail "the Secret is reported more than once: $OUT"
  expect_output "fix: encrypt it before committing (SealedSecret or SOPS)"
  git -C "$CLONE" reset -q --hard origin/main
  put "$CLONE" environments/dev/sealed.yaml $'apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\nspec:\n  encryptedData:\n    password: AgBy3i4OJSWK+PiTySYZZA==\n'
  put "$CLONE" environments/dev/sops.yaml "$SOPS_SECRET"
  put "$CLONE" environments/dev/empty-secret.yaml $'apiVersion: v1\nkind: Secret\nmetadata:\n  name: filled-by-controller\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_policy_deny_kinds_and_rule_severities() {
  setup_repo
  put "$CLONE" .portcullis.yaml $'manifests:\n  denyKinds: [Secret, rbac.authorization.k8s.io/ClusterRoleBinding]\nrules:\n  content.image-latest: warn\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  put "$CLONE" environments/dev/crb.yaml $'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: admin\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [content.deny-kind] ClusterRoleBinding \"admin\": kind ClusterRoleBinding may not be committed"
  git -C "$CLONE" reset -q --hard origin/main
  deployment web nginx:latest | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "environments/prod/web.yaml:15:16: warning [content.image-latest]"
}

test_images_in_protected_environments_are_pinned() {
  setup_repo
  deployment web nginx:latest | put "$CLONE" environments/prod/latest.yaml
  deployment api registry.example.com:5000/team/api | put "$CLONE" environments/prod/untagged.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/prod/latest.yaml:15:16: error [content.image-latest] Deployment \"web\": image nginx:latest (container web) uses :latest in protected environment prod"
  expect_output "environments/prod/untagged.yaml:15:16: error [content.image-untagged] Deployment \"api\": image registry.example.com:5000/team/api (container api) has no tag or digest"
  git -C "$CLONE" reset -q --hard origin/main
  deployment web nginx:latest | put "$CLONE" environments/dev/latest.yaml
  deployment api "nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31" | put "$CLONE" environments/prod/digest.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_policy_is_read_from_the_target_before_the_push() {
  setup_repo
  # One push that loosens the rule and breaks it: judged by the old rule.
  put "$CLONE" .portcullis.yaml $'rules:\n  content.plaintext-secret: "off"\n'
  put "$CLONE" environments/dev/secret.yaml $'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "content.plaintext-secret"
  # Loosening first, then using it: accepted (the policy change itself is what review is for).
  git -C "$CLONE" reset -q --hard origin/main
  put "$CLONE" .portcullis.yaml $'rules:\n  content.plaintext-secret: "off"\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  put "$CLONE" environments/dev/secret.yaml $'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_new_branches_are_judged_by_the_default_branch_policy() {
  setup_repo
  git -C "$CLONE" checkout -q -b feature
  put "$CLONE" .portcullis.yaml $'manifests:\n  denyKinds: []\nrules:\n  content.plaintext-secret: "off"\n'
  put "$CLONE" environments/dev/secret.yaml $'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n'
  commit "$CLONE"
  push "$CLONE" origin feature
  expect_rejected
  expect_output "refs/heads/feature:"
  expect_output "content.plaintext-secret"
  expect_ref "$SERVER" refs/heads/feature absent
}

test_an_invalid_policy_file_is_rejected_with_its_location() {
  setup_repo
  put "$CLONE" .portcullis.yaml $'protectedRefs: [refs/heads/main]\nmanifests:\n  strickt: true\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output ".portcullis.yaml:3:3: error [policy.invalid] invalid policy: manifests: unknown field \"strickt\" (did you mean \"strict\"?)"
  git -C "$CLONE" reset -q --hard origin/main
  put "$CLONE" .portcullis.yaml $'environments:\n  - name: prod\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "missing required field \"path\""
}

test_protected_refs_cannot_be_deleted_or_rewritten() {
  setup_repo
  push "$CLONE" origin :main
  expect_rejected
  expect_output "error [ref.protected-delete] protected ref refs/heads/main cannot be deleted"
  configmap next | put "$CLONE" environments/dev/next.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  local tip
  tip=$(git -C "$SERVER" rev-parse main)
  git -C "$CLONE" reset -q --hard HEAD~1
  configmap other | put "$CLONE" environments/dev/other.yaml
  commit "$CLONE"
  push "$CLONE" --force origin HEAD:main
  expect_rejected
  expect_output "error [ref.protected-force] protected ref refs/heads/main can only move forward"
  expect_ref "$SERVER" refs/heads/main "$tip"
  # Unprotected branches may be rewritten and deleted.
  push "$CLONE" origin HEAD:topic
  expect_accepted
  git -C "$CLONE" commit -q --amend -m amended
  push "$CLONE" --force origin HEAD:topic
  expect_accepted
  push "$CLONE" origin :topic
  expect_accepted
  expect_ref "$SERVER" refs/heads/topic absent
}

test_release_tags_are_immutable() {
  setup_repo
  git -C "$CLONE" tag -a v1.0.0 -m "release"
  push "$CLONE" origin v1.0.0
  expect_accepted
  configmap next | put "$CLONE" environments/dev/next.yaml
  commit "$CLONE"
  git -C "$CLONE" tag -f -a v1.0.0 -m "moved" >/dev/null
  push "$CLONE" --force origin v1.0.0
  expect_rejected
  expect_output "error [ref.release-tag-move] release tag refs/tags/v1.0.0 already points at"
  push "$CLONE" origin :refs/tags/v1.0.0
  expect_rejected
  expect_output "error [ref.release-tag-delete]"
  # Other tags are not release tags.
  git -C "$CLONE" tag scratch HEAD~1
  push "$CLONE" origin scratch
  expect_accepted
  git -C "$CLONE" tag -f scratch HEAD >/dev/null
  push "$CLONE" --force origin scratch
  expect_accepted
}

test_symlinks_submodules_and_binaries_in_environments() {
  setup_repo
  ln -s ../staging/base.yaml "$CLONE/environments/dev/link.yaml"
  git -C "$CLONE" add environments/dev/link.yaml
  git -C "$CLONE" update-index --add --cacheinfo "160000,$(git -C "$CLONE" rev-parse HEAD),environments/dev/vendored"
  printf 'apiVersion: v1\0\1\2binary' >"$CLONE/environments/dev/blob.yaml"
  printf '\x89PNG\r\n\x1a\n\0\0\0' >"$CLONE/environments/dev/logo.png"
  git -C "$CLONE" add environments/dev/blob.yaml environments/dev/logo.png
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/link.yaml: error [file.symlink]"
  expect_output "environments/dev/vendored: error [file.submodule]"
  expect_output "environments/dev/blob.yaml: error [file.binary]"
  expect_output "environments/dev/logo.png: error [file.binary]"
  # Outside environments, anything goes.
  git -C "$CLONE" reset -q --hard origin/main
  ln -s README.md "$CLONE/docs-link"
  put "$CLONE" notes/broken.yaml $'a: [\n'
  git -C "$CLONE" add docs-link
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_hostile_yaml_is_a_clear_rejection() {
  local config=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'limits:\n  maxFileSize: 64KiB\n' >"$config"
  setup_repo "$config"
  {
    echo 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
    local prev=a
    for l in b c d e f g h i; do
      echo "$l: &$l [*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev]"
      prev=$l
    done
  } | put "$CLONE" environments/dev/bomb.yaml
  head -c 20000 /dev/zero | tr '\0' '[' | put "$CLONE" environments/dev/deep.yaml
  head -c 70000 /dev/zero | tr '\0' 'a' | sed 's/^/k: /' | put "$CLONE" environments/dev/huge.yaml
  commit "$CLONE"
  local started=$SECONDS
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/bomb.yaml:"
  expect_output "error [yaml.limit] document expands to more than 1000000 nodes through aliases (an alias bomb?)"
  expect_output "environments/dev/deep.yaml:1:101: error [yaml.limit] nesting deeper than 100 levels"
  expect_output "environments/dev/huge.yaml: error [file.too-large] file is 70003 bytes; the limit is 65536"
  ((SECONDS - started < 10)) || fail "hostile input took $((SECONDS - started)) s"
}

test_kustomizations_and_excluded_files_are_not_objects() {
  setup_repo
  put "$CLONE" .portcullis.yaml $'manifests:\n  exclude: ["environments/**/values.yaml"]\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  put "$CLONE" environments/dev/kustomization.yaml $'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [base.yaml]\n'
  put "$CLONE" environments/dev/chart/values.yaml $'replicaCount: 1\n'
  put "$CLONE" environments/dev/NOTES.md $'# not a manifest\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  put "$CLONE" environments/dev/kustomization.yaml $'resources: [\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/kustomization.yaml:2:1: error [yaml.syntax]"
}

test_lists_and_json_manifests() {
  setup_repo
  put "$CLONE" environments/dev/list.yaml $'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: l1}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: l1}\n'
  put "$CLONE" environments/dev/cm.json $'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j1"}}\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/dev/list.yaml:7:3: error [k8s.duplicate]"
  expect_no_output "cm.json"
}

test_every_ref_of_a_rejected_push_is_rejected() {
  setup_repo
  configmap good | put "$CLONE" environments/dev/good.yaml
  commit "$CLONE"
  git -C "$CLONE" branch good-branch
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  push "$CLONE" origin good-branch HEAD:main
  expect_rejected
  expect_ref "$SERVER" refs/heads/good-branch absent
}

test_json_output_through_a_push_option() {
  setup_repo
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  push "$CLONE" -o portcullis.format=json origin HEAD:main
  expect_rejected
  local json
  json=$(grep '^remote: {' <<<"$OUT" | sed 's/^remote: //; s/[[:space:]]*$//')
  [[ -n $json ]] || fail "no JSON line in the output"
  [[ $(jq -r '.decision' <<<"$json") == rejected ]] || fail "JSON decision is not rejected: $json"
  [[ $(jq -r '.findings[0].rule' <<<"$json") == yaml.syntax ]] || fail "JSON finding is not yaml.syntax"
  [[ $(jq -r '.findings[0].file' <<<"$json") == environments/dev/bad.yaml ]] || fail "JSON finding lacks the file"
}

test_every_decision_is_audited() {
  local config=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'auditLog: audit/decisions.jsonl\n' >"$config"
  setup_repo "$config"
  local log=$SUITE_TMP/$CURRENT_TEST/audit/decisions.jsonl
  put "$CLONE" environments/dev/bad.yaml $'a: [\n'
  commit "$CLONE"
  REMOTE_USER=alice push "$CLONE" origin HEAD:main
  expect_rejected
  [[ $(wc -l <"$log") -eq 2 ]] || fail "expected 2 audit lines, got $(wc -l <"$log")"
  local last
  last=$(tail -n 1 "$log")
  [[ $(jq -r .decision <<<"$last") == rejected ]] || fail "audit decision: $last"
  [[ $(jq -r .pusher <<<"$last") == alice ]] || fail "audit pusher: $last"
  [[ $(jq -r '.rules[0]' <<<"$last") == yaml.syntax ]] || fail "audit rules: $last"
  [[ $(jq -r '.refs[0].ref' <<<"$last") == refs/heads/main ]] || fail "audit refs: $last"
  [[ $(jq -r .durationMs <<<"$last") =~ ^[0-9]+$ ]] || fail "audit duration: $last"
  grep -qF "$(jq -r .pushId <<<"$last")" <<<"$OUT" || fail "the push id is not shown to the pusher"
  [[ $(jq -r .decision <<<"$(head -n 1 "$log")") == accepted ]] || fail "first decision not audited as accepted"
}

test_an_unwritable_audit_log_rejects_the_push() {
  local config=$SUITE_TMP/$CURRENT_TEST/server.yaml
  printf 'auditLog: /dev/null/impossible/audit.jsonl\n' >"$config"
  SERVER=$(new_server server "$config")
  CLONE=$(new_clone "$SERVER")
  configmap base | put "$CLONE" environments/dev/base.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [gate.audit] cannot record the decision in the audit log"
  expect_ref "$SERVER" refs/heads/main absent
}

test_quarantine_with_a_colon_in_the_repository_path() {
  local dir=$SUITE_TMP/$CURRENT_TEST/with:colon
  mkdir -p "$dir"
  git init -q --bare "$dir/srv.git"
  "$PORTCULLIS" install --repo "$dir/srv.git" >/dev/null
  CLONE=$(new_clone "$dir/srv.git")
  configmap base | put "$CLONE" environments/dev/base.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  configmap base | put "$CLONE" environments/dev/copy.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [k8s.duplicate]"
  expect_no_output "gate.internal"
}

# Debian's compiled cpp-httplib initialises OpenSSL in a static constructor; the `portcullis`
# executable defers that until TLS is used (hooks/deferred_openssl_init.cpp), a third of a
# hook's start-up. OpenSSL's initialisation reads openssl.cnf: no process of a push may open it.
# (That TLS still works and is verified is shown by schemas.sh's import over TLS.)
# The hooks `portcullis install` writes run the lean portcullis-hook (the default build links its
# libraries in); a post-receive that must notify the reconciler hands the run to portcullis.
test_hooks_run_the_lean_executable_and_hand_notifications_to_portcullis() {
  command -v strace >/dev/null || fail "strace is missing (install/deps.sh installs it)"
  local lean dir=$SUITE_TMP/$CURRENT_TEST
  lean=$(dirname "$PORTCULLIS")/portcullis-hook
  [[ -x $lean ]] || { fail "$lean is missing: the build makes it beside portcullis"; return; }
  "$lean" --help | grep -q "usage: portcullis-hook" || fail "portcullis-hook --help prints no usage"
  "$lean" hook </dev/null >/dev/null 2>&1
  [[ $? -eq 2 ]] || fail "portcullis-hook without a hook name does not exit 2"
  local libs lib
  libs=$(ldd "$lean")
  for lib in libssl libcrypto libcpp-httplib libgit2 libyaml libstdc++; do
    grep -q "$lib" <<<"$libs" && fail "portcullis-hook loads $lib: $libs"
  done
  setup_repo
  grep -q "portcullis-hook' hook pre-receive" "$SERVER/hooks/pre-receive" || fail "pre-receive: $(cat "$SERVER/hooks/pre-receive")"
  deployment web nginx:1.25 | put "$CLONE" environments/dev/web.yaml
  commit "$CLONE"
  OUT=$(strace -f -qq -s 512 -e trace=execve -o "$dir/trace" git -C "$CLONE" push origin HEAD:main 2>&1)
  STATUS=$?
  expect_accepted
  grep -q 'execve("[^"]*/portcullis-hook", \[[^]]*"hook", "pre-receive"' "$dir/trace" || fail "pre-receive did not run portcullis-hook"
  grep -q 'execve("[^"]*/portcullis-hook", \[[^]]*"hook", "post-receive"' "$dir/trace" || fail "post-receive did not run portcullis-hook"
  grep -q 'execve("[^"]*/portcullis", ' "$dir/trace" && fail "without notify targets, portcullis ran: $(grep 'execve("[^"]*/portcullis", ' "$dir/trace")"
  # With a notify target (down): portcullis delivers, here spools, the event.
  printf 'notify-secret\n' >"$dir/secret"
  printf 'notify:\n  timeout: 500ms\n  targets:\n    - {url: "http://127.0.0.1:1/v1/events", secretFile: "%s"}\n' "$dir/secret" >"$dir/server.yaml"
  SERVER=$(new_server notifying "$dir/server.yaml")
  CLONE=$(new_clone "$SERVER")
  configmap base | put "$CLONE" environments/dev/base.yaml
  commit "$CLONE"
  OUT=$(strace -f -qq -s 512 -e trace=execve,rt_sigaction -o "$dir/trace2" git -C "$CLONE" push origin HEAD:main 2>&1)
  STATUS=$?
  expect_accepted
  grep -q 'execve("[^"]*/portcullis", \["[^"]*/portcullis", "hook", "post-receive"' "$dir/trace2" ||
    fail "post-receive with notify targets did not hand over to portcullis: $(grep execve "$dir/trace2" | grep portcullis)"
  # Both executables ignore SIGPIPE before anything else: a notify target that resets the
  # connection mid-request fails the request (and the event is spooled); it does not end
  # post-receive with a signal, before the spool, leaving nothing behind.
  # (portcullis-hook execs portcullis in the same process: each is judged from its own execve.)
  local exe
  for exe in portcullis-hook portcullis; do
    awk -v exe="/$exe\"" '
      !pid && index($0, "execve(\"") && index($0, exe ", [") && index($0, "\"post-receive\"") { pid = $1; next }
      pid && $1 == pid && index($0, "execve(") { exit }
      pid && $1 == pid && index($0, "rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN") { found = 1; exit }
      END { exit !found }' "$dir/trace2" ||
      fail "$exe post-receive does not ignore SIGPIPE: $(grep -E 'execve|SIGPIPE' "$dir/trace2" | grep -v ENOENT | head -20)"
  done
  compgen -G "$SERVER/portcullis/spool/*" >/dev/null || fail "the event for the reconciler that is down was not spooled: $OUT"
}

test_hooks_do_not_initialise_openssl() {
  command -v strace >/dev/null || fail "strace is missing (install/deps.sh installs it)"
  setup_repo
  deployment web nginx:1.25 | put "$CLONE" environments/dev/web.yaml
  commit "$CLONE"
  local trace=$SUITE_TMP/$CURRENT_TEST/trace
  OUT=$(strace -f -qq -e trace=openat,execve -o "$trace" git -C "$CLONE" push origin HEAD:main 2>&1)
  STATUS=$?
  expect_accepted
  grep -q 'execve(.*portcullis.*"hook", "pre-receive"' "$trace" || fail "the trace shows no pre-receive hook run"
  grep -q 'execve(.*portcullis.*"hook", "post-receive"' "$trace" || fail "the trace shows no post-receive hook run"
  if grep -q 'openssl.cnf' "$trace"; then fail "a process of the push initialised OpenSSL: $(grep openssl.cnf "$trace" | head -3)"; fi
}

run_suite "$@"
