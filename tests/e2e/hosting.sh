#!/usr/bin/env bash
# End to end: Portcullis on real Git hosting.  gitolite3 behind OpenSSH's sshd (hooks the gitolite
# way: common hooks pushed in gitolite-admin's LOCAL_CODE, repo-specific hooks in a LOCAL_CODE on
# the server; the pusher is GL_USER), nginx + fcgiwrap + git http-backend with basic auth (the
# pusher is REMOTE_USER), and GitLab's and Gitea's hook directories run by a receive-pack whose
# hooks/pre-receive dispatches them as those hosts do (the pusher is GL_USERNAME /
# GITEA_PUSHER_NAME; GitLab rejections are prefixed with GL-HOOK-ERR:).  Every push is a real
# `git push` through real receive-pack.  Needs root: see tests/env/gitolite.sh, gitserver.sh.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/gitolite.sh
source "$ROOT/tests/env/gitolite.sh"
[[ $(id -u) -eq 0 ]] || { echo "FATAL: hosting.sh needs root (sshd, gitolite, nginx, a git user)"; exit 2; }

# The git user (sshd sessions, gitolite, fcgiwrap and the hooks they run) traverses the suite's
# directory; root's git inspects the git user's repositories.
chmod 711 "$SUITE_TMP"
git config --global --add safe.directory '*'
GIT_USER=$(_gs_user)
GL_DIR=$SUITE_TMP/gitolite    # LOCAL_CODE in gitolite-admin
GL2_DIR=$SUITE_TMP/gitolite2  # LOCAL_CODE on the server (started by its test)
HTTP_DIR=$SUITE_TMP/http
suite_teardown() {
  gitolite_stop "$GL_DIR"
  gitolite_stop "$GL2_DIR"
  http_git_stop "$HTTP_DIR"
}
trap suite_teardown EXIT
gitolite_start "$GL_DIR" admin || { echo "FATAL: gitolite (sshd) did not start"; exit 1; }
http_git_start "$HTTP_DIR" || { echo "FATAL: nginx + fcgiwrap + git http-backend did not start"; exit 1; }
GL_ALICE=$(gitolite_add_user "$GL_DIR" alice) && GL_BOB=$(gitolite_add_user "$GL_DIR" bob) &&
  gitolite_admin_push "$GL_DIR" "users" || { echo "FATAL: cannot add gitolite users"; exit 1; }
# git trusts the test CA for https:// (an exported GIT_SSL_CAINFO, as some machine images set,
# would override http.sslCAInfo).
export GIT_SSL_CAINFO=$HTTP_GIT_CA_FILE
HTTP_ALICE=$(http_git_add_user "$HTTP_DIR" alice) && HTTP_BOB=$(http_git_add_user "$HTTP_DIR" bob) ||
  { echo "FATAL: cannot add HTTP users"; exit 1; }

OWNERS=$'environments/prod/ @alice\n'

# server_config: this test's server config, readable by the git user; prints its path.  The
# budget is generous: the machine may be busy, and the budget is not what these tests are about.
server_config() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  chmod 755 "$dir"
  printf 'timeBudget: 30s\n' >"$dir/server.yaml"
  chmod 644 "$dir/server.yaml"
  echo "$dir/server.yaml"
}

# seed CLONE [CODEOWNERS]: the first commit (dev, staging and prod environments).
seed() {
  for env in dev staging prod; do configmap base | put "$1" "environments/$env/base.yaml"; done
  [[ -n ${2:-} ]] && put "$1" CODEOWNERS "$2"
  commit "$1" "initial"
}

# last_pusher REPO: the pusher of the last decision in REPO's audit log.
last_pusher() { tail -n 1 "$1/portcullis/audit.jsonl" | jq -r .pusher; }

# The gitolite instance a test talks to (GITOLITE_* of that instance).
gl_use() { source "$1/gitolite/gitolite.env"; }

# gl_clone KEY REPO: a clone over ssh as KEY's owner; prints its path.
gl_clone() {
  local dir
  dir=$(mktemp -d "$SUITE_TMP/$CURRENT_TEST/clone-XXXXXX")
  git -c core.sshCommand="$(gitolite_ssh_command "$1")" clone -q "$GITOLITE_URL/$2" "$dir" 2>/dev/null ||
    { fail "git clone $GITOLITE_URL/$2 failed"; return 1; }
  git -C "$dir" config core.sshCommand "$(gitolite_ssh_command "$1")"
  echo "$dir"
}

# gl_portcullis_hooks CONFIG: Portcullis' common hooks in gitolite-admin's LOCAL_CODE, pushed.
gl_portcullis_hooks() {
  run "$PORTCULLIS" install --layout gitolite --local-code "$GITOLITE_ADMIN/local" --config "$1"
  expect_status 0
  gitolite_admin_push "$GL_DIR" "Portcullis hooks" || fail "pushing gitolite-admin failed"
}

# gl_add_repo NAME: a repository alice and bob may push to (with push options).
gl_add_repo() {
  printf 'repo %s\n    RW+ = alice bob\n    config receive.advertisePushOptions = true\n' "$1" \
    >>"$GITOLITE_ADMIN/conf/gitolite.conf"
  gitolite_admin_push "$GL_DIR" "add $1" || fail "pushing gitolite-admin failed"
}

test_gitolite_common_hooks_from_gitolite_admin_judge_ssh_pushes() {
  gl_use "$GL_DIR"
  local config
  config=$(server_config)
  run "$PORTCULLIS" install --layout gitolite --local-code "$GITOLITE_ADMIN/local" --config "$config"
  expect_status 0
  expect_output "installed  $GITOLITE_ADMIN/local/hooks/common/pre-receive"
  expect_output "installed  $GITOLITE_ADMIN/local/hooks/common/post-receive"
  expect_output "commit and push these files in gitolite-admin"
  run "$PORTCULLIS" install --layout gitolite --local-code "$GITOLITE_ADMIN/local" --config "$config"
  expect_status 0
  expect_output "unchanged  $GITOLITE_ADMIN/local/hooks/common/pre-receive"
  gitolite_admin_push "$GL_DIR" "Portcullis hooks" || fail "pushing gitolite-admin failed"
  gl_add_repo config
  local repo=$GITOLITE_REPOS/config.git
  # Gitolite links LOCAL_CODE's common hooks into every repository, old and new.
  local r
  for r in config testing; do
    [[ $(readlink "$GITOLITE_REPOS/$r.git/hooks/pre-receive") == "$GITOLITE_LOCAL_CODE/hooks/common/pre-receive" ]] ||
      fail "gitolite did not link Portcullis' pre-receive into $r.git: $(ls -l "$GITOLITE_REPOS/$r.git/hooks/")"
  done

  CLONE=$(gl_clone "$GL_ALICE" config) || return
  seed "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "remote: portcullis: push accepted: 0 errors, 0 warnings (3 files, 3 objects in 1 ref"
  [[ $(last_pusher "$repo") == alice ]] || fail "the pusher is not gitolite's GL_USER: $(tail -n 1 "$repo/portcullis/audit.jsonl")"

  snapshot "$repo"
  put "$CLONE" environments/dev/bad.yaml $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n bad: [\n'
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "remote: refs/heads/main:"
  expect_output "remote:   environments/dev/bad.yaml:5:2: error [yaml.syntax]"
  expect_output "remote:       fix: fix the YAML at that position"
  expect_output "remote: portcullis: push rejected: 1 error, 0 warnings"
  expect_unchanged_server "$repo" "$SNAP_OBJECTS" "$SNAP_REFS"
  # Push options reach the hook (gitolite.conf sets receive.advertisePushOptions).
  push "$CLONE" -o portcullis.format=json origin HEAD:main
  expect_rejected
  expect_output 'remote: {"decision":"rejected"'
}

test_gitolite_owner_rules_see_the_gitolite_user() {
  gl_use "$GL_DIR"
  gl_portcullis_hooks "$(server_config)"
  gl_add_repo owned
  local repo=$GITOLITE_REPOS/owned.git
  local alice bob
  alice=$(gl_clone "$GL_ALICE" owned) || return
  seed "$alice" "$OWNERS"
  push "$alice" origin HEAD:main
  expect_accepted
  bob=$(gl_clone "$GL_BOB" owned) || return
  configmap bobs | put "$bob" environments/prod/bobs.yaml
  commit "$bob" "bob's prod change"
  push "$bob" origin HEAD:main
  expect_rejected
  expect_output "remote:   environments/prod/bobs.yaml: error [owners.approval-required] needs approval by @alice; approvals seen: bob (pusher)"
  expect_ref "$repo" refs/heads/main "$(git -C "$alice" rev-parse HEAD)"
  [[ $(last_pusher "$repo") == bob ]] || fail "the audit does not name bob"
  # The same commit, pushed by its owner over her own key, is accepted.
  git -C "$alice" fetch -q "$bob" HEAD && git -C "$alice" merge -q --ff-only FETCH_HEAD
  push "$alice" origin HEAD:main
  expect_accepted
  expect_ref "$repo" refs/heads/main "$(git -C "$bob" rev-parse HEAD)"
  [[ $(last_pusher "$repo") == alice ]] || fail "the audit does not name alice"
  # Unowned paths need nobody.
  git -C "$bob" pull -q --ff-only origin main
  configmap dev | put "$bob" environments/dev/bobs.yaml
  commit "$bob"
  push "$bob" origin HEAD:main
  expect_accepted
}

test_gitolite_repo_specific_hooks_from_local_code_on_the_server() {
  gitolite_start "$GL2_DIR" server || { fail "the second gitolite (LOCAL_CODE on the server) did not start"; return; }
  gl_use "$GL2_DIR"
  local key config
  key=$(gitolite_add_user "$GL2_DIR" alice) || { fail "no key"; return; }
  config=$(server_config)
  # The administrator installs on the server, as the gitolite user.
  run gitolite_as_user "$GL2_DIR" "$PORTCULLIS" install --layout gitolite --repo-specific \
    --local-code "$GITOLITE_LOCAL_CODE" --config "$config"
  expect_status 0
  expect_output "installed  $GITOLITE_LOCAL_CODE/hooks/repo-specific/portcullis-pre-receive"
  expect_output "option hook.pre-receive  = portcullis-pre-receive"
  printf 'repo guarded\n    RW+ = alice\n    option hook.pre-receive = portcullis-pre-receive\n    option hook.post-receive = portcullis-post-receive\nrepo free\n    RW+ = alice\n' \
    >>"$GITOLITE_ADMIN/conf/gitolite.conf"
  gitolite_admin_push "$GL2_DIR" "guarded and free" || fail "pushing gitolite-admin failed"
  [[ $(readlink "$GITOLITE_REPOS/guarded.git/hooks/pre-receive.h00-portcullis-pre-receive") == \
    "$GITOLITE_LOCAL_CODE/hooks/repo-specific/portcullis-pre-receive" ]] ||
    fail "gitolite did not link the repo-specific hook: $(ls -l "$GITOLITE_REPOS/guarded.git/hooks/")"
  local r clone
  for r in guarded free; do
    clone=$(gl_clone "$key" "$r") || return
    seed "$clone"
    put "$clone" environments/dev/bad.yaml $'a: [\n'
    commit "$clone"
    push "$clone" origin HEAD:main
    if [[ $r == guarded ]]; then
      expect_rejected
      expect_output "remote:   environments/dev/bad.yaml:2:1: error [yaml.syntax]"
      expect_ref "$GITOLITE_REPOS/$r.git" refs/heads/main absent
      git -C "$clone" reset -q --hard HEAD~1
      push "$clone" origin HEAD:main
      expect_accepted
      expect_output "remote: portcullis: push accepted"
      [[ $(last_pusher "$GITOLITE_REPOS/$r.git") == alice ]] || fail "the pusher is not GL_USER"
    else
      expect_accepted  # only repositories with the option run Portcullis
      expect_no_output "portcullis: push"
    fi
  done
  gitolite_stop "$GL2_DIR" || fail "the second gitolite did not stop"
}

# http_clone ASKPASS PATH [https]: a clone over smart HTTP as ASKPASS's user; prints its path.
http_clone() {
  local dir user url
  user=$(basename "$1" .askpass)
  url="http://$user@127.0.0.1:$HTTP_GIT_PLAIN_PORT/$2"
  [[ ${3:-} == https ]] && url="https://$user@127.0.0.1:$HTTP_GIT_PORT/$2"
  dir=$(mktemp -d "$SUITE_TMP/$CURRENT_TEST/clone-XXXXXX")
  git -c core.askPass="$1" clone -q "$url" "$dir" 2>/dev/null || { fail "git clone $url failed"; return 1; }
  git -C "$dir" config core.askPass "$1"
  echo "$dir"
}

# http_repo NAME CONFIG: a served repository with Portcullis installed by its owner; prints its path.
http_repo() {
  local repo
  repo=$(git_server_new_repo "$HTTP_DIR" "$CURRENT_TEST/$1.git") || { fail "cannot create the served repository"; return 1; }
  runuser -u "$GIT_USER" -- "$PORTCULLIS" install --repo "$repo" --config "$2" >/dev/null ||
    { fail "portcullis install failed"; return 1; }
  echo "$repo"
}

test_smart_http_pushes_are_judged_with_the_messages_intact() {
  local repo
  repo=$(http_repo config "$(server_config)") || return
  CLONE=$(http_clone "$HTTP_ALICE" "$CURRENT_TEST/config.git") || return
  seed "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "remote: portcullis: push accepted: 0 errors, 0 warnings (3 files, 3 objects in 1 ref"
  [[ $(last_pusher "$repo") == alice ]] || fail "the pusher is not REMOTE_USER: $(tail -n 1 "$repo/portcullis/audit.jsonl")"
  snapshot "$repo"
  put "$CLONE" environments/prod/secret.yaml $'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n'
  deployment web nginx:latest | put "$CLONE" environments/prod/web.yaml
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "remote: refs/heads/main:"
  expect_output "remote:   environments/prod/secret.yaml:6:3: error [content.plaintext-secret] Secret \"db\": Secret carries stringData in plaintext"
  expect_output "remote:       fix: encrypt it before committing (SealedSecret or SOPS)"
  expect_output "remote:   environments/prod/web.yaml:15:16: error [content.image-latest]"
  expect_output "remote: portcullis: push rejected: 2 errors, 0 warnings"
  expect_output "remote: portcullis: push id "
  expect_unchanged_server "$repo" "$SNAP_OBJECTS" "$SNAP_REFS"
  # The same over HTTPS.
  local secure
  secure=$(http_clone "$HTTP_ALICE" "$CURRENT_TEST/config.git" https) || return
  configmap tls | put "$secure" environments/dev/tls.yaml
  commit "$secure"
  push "$secure" origin HEAD:main
  expect_accepted
  expect_output "remote: portcullis: push accepted"
}

test_smart_http_owner_rules_see_the_http_user() {
  local repo alice bob
  repo=$(http_repo owned "$(server_config)") || return
  alice=$(http_clone "$HTTP_ALICE" "$CURRENT_TEST/owned.git") || return
  seed "$alice" "$OWNERS"
  push "$alice" origin HEAD:main
  expect_accepted
  bob=$(http_clone "$HTTP_BOB" "$CURRENT_TEST/owned.git") || return
  configmap bobs | put "$bob" environments/prod/bobs.yaml
  commit "$bob"
  push "$bob" origin HEAD:main
  expect_rejected
  expect_output "remote:   environments/prod/bobs.yaml: error [owners.approval-required] needs approval by @alice; approvals seen: bob (pusher)"
  git -C "$alice" fetch -q "$bob" HEAD && git -C "$alice" merge -q --ff-only FETCH_HEAD
  push "$alice" origin HEAD:main
  expect_accepted
  expect_ref "$repo" refs/heads/main "$(git -C "$bob" rev-parse HEAD)"
  [[ $(last_pusher "$repo") == alice ]] || fail "the audit does not name alice"
}

# --- GitLab and Gitea: their hook directories, dispatched as they do -----------------------

# A receive-pack hook standing in for Gitaly's: after GitLab's own checks, custom_hooks/<hook>
# and then every executable in custom_hooks/<hook>.d/ in name order (skipping *~ backups), each
# with the same stdin; the first that fails rejects the push and the rest do not run.
GITLAB_DISPATCHER='#!/bin/sh
hook=$(basename "$0")
repo=$(cd "$(dirname "$0")/.." && pwd)
input=$(mktemp)
trap '\''rm -f "$input"'\'' EXIT
cat >"$input"
for h in "$repo/custom_hooks/$hook" "$repo/custom_hooks/$hook.d"/*; do
  case $h in *~) continue ;; esac
  [ -f "$h" ] && [ -x "$h" ] || continue
  "$h" <"$input" || exit 1
done
exit 0
'

# Gitea's hooks/pre-receive and post-receive as Gitea writes them (modules/repository/hooks.go):
# every executable in hooks/<hook>.d/ with the same input; the first non-zero status, if any,
# after all have run.
GITEA_DISPATCHER='#!/usr/bin/env bash
# AUTO GENERATED BY GITEA, DO NOT MODIFY
data=$(cat)
exitcodes=""
hookname=$(basename $0)
GIT_DIR=${GIT_DIR:-$(dirname $0)/..}

for hook in ${GIT_DIR}/hooks/${hookname}.d/*; do
	test -x "${hook}" && test -f "${hook}" || continue
	echo "${data}" | "${hook}"
	exitcodes="${exitcodes} $?"
done

for i in ${exitcodes}; do
	[ ${i} -eq 0 ] || exit ${i}
done
'

# A host's own hook beside ours: records its name, the pusher variable and its stdin.
recorder() {  # recorder NAME VAR LOG
  printf '#!/bin/sh\n{ printf "%%s %%s\\n" %s "${%s:-}"; cat; } >>%s\nexit 0\n' "$1" "$2" "$3"
}

# host_repo gitlab|gitea: a bare repository whose receive-pack runs the host's hook directories,
# with the host's own hooks in them; sets REPO, HOOKS_LOG and HOOK_DIR_PRE/POST.
host_repo() {
  REPO=$SUITE_TMP/$CURRENT_TEST/$1.git
  HOOKS_LOG=$SUITE_TMP/$CURRENT_TEST/$1-hooks.log
  git init -q --bare "$REPO"
  git -C "$REPO" config receive.advertisePushOptions true
  local dispatcher var h
  if [[ $1 == gitlab ]]; then
    dispatcher=$GITLAB_DISPATCHER var=GL_USERNAME
    HOOK_DIR_PRE=$REPO/custom_hooks/pre-receive.d HOOK_DIR_POST=$REPO/custom_hooks/post-receive.d
    mkdir -p "$HOOK_DIR_PRE" "$HOOK_DIR_POST"
    recorder 00-gitlab-check "$var" "$HOOKS_LOG" >"$HOOK_DIR_PRE/00-gitlab-check"
    recorder zz-their-policy "$var" "$HOOKS_LOG" >"$HOOK_DIR_PRE/zz-their-policy"
  else
    dispatcher=$GITEA_DISPATCHER var=GITEA_PUSHER_NAME
    HOOK_DIR_PRE=$REPO/hooks/pre-receive.d HOOK_DIR_POST=$REPO/hooks/post-receive.d
    mkdir -p "$HOOK_DIR_PRE" "$HOOK_DIR_POST"
    recorder gitea "$var" "$HOOKS_LOG" >"$HOOK_DIR_PRE/gitea"
    recorder pre-receive "$var" "$HOOKS_LOG" >"$HOOK_DIR_PRE/pre-receive"  # a hook from Gitea's web UI
  fi
  recorder post "$var" "$HOOKS_LOG" >"$HOOK_DIR_POST/their-notify"
  chmod 755 "$HOOK_DIR_PRE"/* "$HOOK_DIR_POST"/*
  for h in pre-receive post-receive; do
    printf '%s' "$dispatcher" >"$REPO/hooks/$h"
    chmod 755 "$REPO/hooks/$h"
  done
}

# checksums DIR: every file under DIR but Portcullis' own, with its checksum and mode.
checksums() {
  find "$1" -type f ! -name portcullis ! -name '*.portcullis-backup*' -printf '%m ' -exec sha256sum {} + | sort -k3
}

# host_push VAR USER CLONE ARGS...: git push as USER named by the host's variable VAR only.
host_push() {
  local var=$1 user=$2 clone=$3
  shift 3
  OUT=$(cd "$clone" && env -u REMOTE_USER "$var=$user" git push "$@" 2>&1)
  STATUS=$?
}

# expect_all_remote_lines_prefixed: every line the hooks sent starts with GL-HOOK-ERR:.
expect_all_remote_lines_prefixed() {
  local bare
  bare=$(grep '^remote:' <<<"$OUT" | grep -v '^remote: GL-HOOK-ERR: ' || true)
  [[ -z $bare ]] || fail "remote lines without GL-HOOK-ERR:"$'\n'"$(sed 's/^/      | /' <<<"$bare")"
  grep -q '^remote: GL-HOOK-ERR: ' <<<"$OUT" || fail "no GL-HOOK-ERR: line at all"
}

# host_suite gitlab|gitea: install beside the host's hooks, then accepted, rejected and owned pushes.
host_suite() {
  local host=$1 var config before
  [[ $host == gitlab ]] && var=GL_USERNAME || var=GITEA_PUSHER_NAME
  host_repo "$host"
  config=$(server_config)
  before=$(checksums "$REPO")
  run "$PORTCULLIS" install --layout "$host" --repo "$REPO" --config "$config"
  expect_status 0
  expect_output "installed  $HOOK_DIR_PRE/portcullis"
  expect_output "installed  $HOOK_DIR_POST/portcullis"
  grep -q -- "hook pre-receive --layout $host --config" "$HOOK_DIR_PRE/portcullis" || fail "the hook does not name the layout"
  [[ $(checksums "$REPO") == "$before" ]] || fail "install touched the host's own files:"$'\n'"$before"$'\n'"$(checksums "$REPO")"
  [[ -z $(find "$REPO" -name '*.new' -o -name '*.tmp-*') ]] || fail "install left staging files behind"
  run "$PORTCULLIS" install --layout "$host" --repo "$REPO" --config "$config"
  expect_status 0
  expect_output "unchanged  $HOOK_DIR_PRE/portcullis"

  CLONE=$(new_clone "$REPO")
  seed "$CLONE" "$OWNERS"
  host_push "$var" alice "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "remote: portcullis: push accepted: 0 errors"
  expect_no_output "GL-HOOK-ERR"
  [[ $(last_pusher "$REPO") == alice ]] || fail "the pusher is not $var: $(tail -n 1 "$REPO/portcullis/audit.jsonl")"
  # The host's hooks ran too, with the same input, and saw the same pusher.
  local line first
  line="0000000000000000000000000000000000000000 $(git -C "$CLONE" rev-parse HEAD) refs/heads/main"
  [[ $host == gitlab ]] && first=00-gitlab-check || first=gitea
  grep -qxF "$first alice" "$HOOKS_LOG" || fail "the host's own hook did not run: $(cat "$HOOKS_LOG")"
  [[ $(grep -cxF "$line" "$HOOKS_LOG") -ge 3 ]] || fail "the hooks beside Portcullis did not get the same input: $(cat "$HOOKS_LOG")"
  grep -qxF "post alice" "$HOOKS_LOG" || fail "the host's post-receive hook did not run"
  [[ -n $(ls "$REPO/portcullis/index" 2>/dev/null) ]] || fail "Portcullis' post-receive did not run (no index)"

  : >"$HOOKS_LOG"
  snapshot "$REPO"
  put "$CLONE" environments/dev/bad.yaml $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n bad: [\n'
  commit "$CLONE"
  host_push "$var" alice "$CLONE" origin HEAD:main
  expect_rejected
  expect_unchanged_server "$REPO" "$SNAP_OBJECTS" "$SNAP_REFS"
  if [[ $host == gitlab ]]; then
    expect_output "remote: GL-HOOK-ERR: refs/heads/main:"
    expect_output "remote: GL-HOOK-ERR:   environments/dev/bad.yaml:5:2: error [yaml.syntax]"
    expect_output "remote: GL-HOOK-ERR:       fix: fix the YAML at that position"
    expect_output "remote: GL-HOOK-ERR: portcullis: push rejected: 1 error, 0 warnings"
    expect_output "remote: GL-HOOK-ERR: portcullis: push id "
    expect_all_remote_lines_prefixed
    ! grep -q zz-their-policy "$HOOKS_LOG" || fail "GitLab runs no hook after the first that fails"
  else
    expect_output "remote: refs/heads/main:"
    expect_output "remote:   environments/dev/bad.yaml:5:2: error [yaml.syntax]"
    expect_output "remote: portcullis: push rejected: 1 error, 0 warnings"
    expect_no_output "GL-HOOK-ERR"
    grep -qxF "pre-receive alice" "$HOOKS_LOG" || fail "Gitea runs every hook of the directory"
  fi

  # Owner rules see the host's pusher.
  git -C "$CLONE" reset -q --hard HEAD~1
  configmap bobs | put "$CLONE" environments/prod/bobs.yaml
  commit "$CLONE"
  host_push "$var" bob "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "error [owners.approval-required] needs approval by @alice; approvals seen: bob (pusher)"
  [[ $(last_pusher "$REPO") == bob ]] || fail "the audit does not name bob"
  host_push "$var" alice "$CLONE" origin HEAD:main
  expect_accepted
  expect_ref "$REPO" refs/heads/main "$(git -C "$CLONE" rev-parse HEAD)"

  # A rejection for a broken server config is prefixed the same way.
  if [[ $host == gitlab ]]; then
    printf 'timeBudget: soon\n' >"$config"
    configmap later | put "$CLONE" environments/dev/later.yaml
    commit "$CLONE"
    host_push "$var" alice "$CLONE" origin HEAD:main
    expect_rejected
    expect_output "remote: GL-HOOK-ERR: portcullis: push rejected: the server config cannot be read: $config:1:13:"
    expect_output "remote: GL-HOOK-ERR: portcullis: tell the Git server's administrators"
    expect_all_remote_lines_prefixed
  fi
}

test_gitlab_server_hooks_beside_gitlabs_own() { host_suite gitlab; }
test_gitea_hooks_beside_giteas_own() { host_suite gitea; }

test_install_refuses_foreign_hooks_in_every_layout() {
  local dir=$SUITE_TMP/$CURRENT_TEST host path
  for host in gitlab gitea; do
    host_repo "$host"
    path=$HOOK_DIR_PRE/portcullis
    printf '#!/bin/sh\necho "theirs ran"\nexit 0\n' >"$path"
    chmod 755 "$path"
    run "$PORTCULLIS" install --layout "$host" --repo "$REPO"
    expect_status 2
    expect_output "$path exists and was not written by Portcullis; refusing to replace it"
    [[ ! -e $HOOK_DIR_POST/portcullis ]] || fail "a refused install still wrote post-receive.d/portcullis"
    grep -q "theirs ran" "$path" || fail "the foreign hook was changed"
    run "$PORTCULLIS" install --layout "$host" --repo "$REPO" --force
    expect_status 0
    expect_output "kept       $path.portcullis-backup (the hook that was there)"
    [[ -f $path.portcullis-backup && ! -x $path.portcullis-backup ]] ||
      fail "the backup in a directory the host runs whole must not be executable"
    CLONE=$(new_clone "$REPO")
    seed "$CLONE"
    host_push GL_USERNAME alice "$CLONE" origin HEAD:main
    expect_accepted
    expect_no_output "theirs ran"
    rm -rf "$REPO" "$CLONE"
  done
  # Gitolite: LOCAL_CODE that already has someone's common pre-receive.
  mkdir -p "$dir/local/hooks/common"
  printf '#!/bin/sh\nexit 0\n' >"$dir/local/hooks/common/pre-receive"
  run "$PORTCULLIS" install --layout gitolite --local-code "$dir/local"
  expect_status 2
  expect_output "$dir/local/hooks/common/pre-receive exists and was not written by Portcullis"
  [[ ! -e $dir/local/hooks/common/post-receive ]] || fail "a refused install still wrote post-receive"
  run "$PORTCULLIS" install --layout gitolite --local-code "$dir/local" --force
  expect_status 0
  expect_output "kept       $dir/local/hooks/common/pre-receive.portcullis-backup"
}

test_install_checks_its_arguments_and_explains_the_layouts() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  git init -q --bare "$dir/srv.git"
  run "$PORTCULLIS" install --help
  expect_status 0
  expect_output "--layout TEXT:{plain,gitolite,gitlab,gitea}"
  expect_output "gitolite  --local-code DIR"
  expect_output "GL-HOOK-ERR: "
  run "$PORTCULLIS" hook --help
  expect_status 0
  expect_output "--layout"
  expect_output "GL-HOOK-ERR: "
  local cases=(
    "--layout github --repo $dir/srv.git|--layout: github not in {plain,gitolite,gitlab,gitea}"
    "--layout gitolite --repo $dir/srv.git|give --local-code DIR, not --repo"
    "--layout gitolite|--layout gitolite needs --local-code DIR"
    "--layout gitlab --local-code $dir/local|--local-code and --repo-specific belong to --layout gitolite"
    "--layout gitea --repo $dir/srv.git --repo-specific|--local-code and --repo-specific belong to --layout gitolite"
    "--layout gitlab|--repo is required"
    "--layout gitlab --repo $dir/nowhere|cannot open a Git repository"
  )
  local c args expected
  for c in "${cases[@]}"; do
    IFS='|' read -r args expected <<<"$c"
    # shellcheck disable=SC2086
    run "$PORTCULLIS" install $args
    expect_status 2
    expect_output "$expected"
  done
  [[ -z $(find "$dir/srv.git/hooks" -mindepth 1 ! -name '*.sample') ]] || fail "a refused install wrote hooks"
  # Gitea's dispatcher is missing in a repository Gitea does not manage: said so.
  run "$PORTCULLIS" install --layout gitea --repo "$dir/srv.git"
  expect_status 0
  expect_output "hooks/pre-receive is missing, so nothing runs hooks/pre-receive.d/ yet"
}

run_suite "$@"
