#!/usr/bin/env bash
# End to end: portcullisd fetches its config repository from real Git servers -- OpenSSH's sshd
# (ssh://, a key and a known_hosts file) and nginx + git http-backend (https://, basic auth, a
# CA of its own) -- and applies it to a real kube-apiserver.  Pushes go over the same transports
# through Portcullis' hooks installed in the served repositories.  Host keys and certificates
# that do not check out, and a wrong password, are refused with a clear error, apply nothing and
# leak no secret.  Needs root (sshd, a dedicated git user): see tests/env/gitserver.sh.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../env/kube.sh
source "$ROOT/tests/env/kube.sh"
# shellcheck source=../env/gitserver.sh
source "$ROOT/tests/env/gitserver.sh"
PORTCULLISD=${PORTCULLISD_BIN:-${PORTCULLISD_BUILD_BIN:-$ROOT/build/daemon/portcullisd}}
[[ -x $PORTCULLISD ]] || { echo "FATAL: no portcullisd at $PORTCULLISD"; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "FATAL: fetch.sh needs root (it runs sshd and a git user)"; exit 2; }

# kube_free_port (tests/env/kube.sh) parses /proc/net/tcp with bash `read`: with thousands of
# sockets in TIME_WAIT on the machine that takes over a minute per port and kube_start times
# out.  gitserver_free_port picks ports the same way with one grep per candidate.
kube_free_port() { gitserver_free_port; }

KDIR=$SUITE_TMP/kube
GDIR=$SUITE_TMP/gitsrv
mkdir -p "$KDIR"
# The git user (sshd sessions, fcgiwrap, the hooks they run) traverses the suite's directory;
# nothing in it is listable by others.  Root's git inspects the git user's repositories.
chmod 711 "$SUITE_TMP"
git config --global --add safe.directory '*'
kube_build || { echo "FATAL: cannot build kube-apiserver"; exit 1; }
DAEMON_PIDS=()
suite_teardown() {
  local p
  for p in "${DAEMON_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  DAEMON_PIDS=()
  ssh_git_stop "$GDIR"
  http_git_stop "$GDIR"
  kube_stop "$KDIR"
}
trap suite_teardown EXIT
kube_start "$KDIR" || { echo "FATAL: kube-apiserver did not start"; exit 1; }
export KUBECONFIG=$KDIR/kubeconfig
# The reconciler's rights here: one identity (user portcullisd) for every target of every test,
# in every namespace (a real cluster gives each target its own: install/kubernetes).
"$ROOT/install/kubernetes/rbac-for-kinds.sh" --user portcullisd v1/services v1/serviceaccounts apps/deployments \
  apps/statefulsets apps/daemonsets apiextensions.k8s.io/v1/customresourcedefinitions 2>/dev/null | kubectl apply -f - >/dev/null ||
  { echo "FATAL: cannot apply RBAC"; exit 1; }
ssh_git_start "$GDIR" || { echo "FATAL: sshd did not start"; exit 1; }
http_git_start "$GDIR" || { echo "FATAL: nginx + git http-backend did not start"; exit 1; }
GIT_USER=$(_gs_user)
# git trusts the test CA for https:// (an exported GIT_SSL_CAINFO, as some machine images set,
# would override http.sslCAInfo).
export GIT_SSL_CAINFO=$HTTP_GIT_CA_FILE
# Developers push with their own key (REMOTE_USER=alice in the hooks); the daemon fetches with
# SSH_GIT_KEY.
ALICE_KEY=$(ssh_git_add_key "$GDIR" alice) || { echo "FATAL: no key for alice"; exit 1; }
# The hooks run as the git user and sign their events with this secret.
SECRET=$SUITE_TMP/notify.secret
printf 'e2e-%s' "$RANDOM$RANDOM$RANDOM" >"$SECRET"
chgrp "$GIT_USER" "$SECRET" && chmod 640 "$SECRET"

free_port() { gitserver_free_port; }

# setup_target NAME ssh|https: a repository served by both servers with Portcullis' hooks
# (installed by the git user, as an administrator would), a clone over TRANSPORT, and the config
# of a daemon that fetches it over TRANSPORT and reconciles environments/NAME into namespace
# NAME.  Knobs: SSH_KEY and KNOWN_HOSTS (ssh), PASSWORD_FILE and CA_FILE (https).
setup_target() {
  TARGET=$1
  NS=$1
  TRANSPORT=$2
  local dir=$SUITE_TMP/$CURRENT_TEST rel=$CURRENT_TEST/$1.git repo_yaml
  PORT=$(free_port)
  DAEMON_URL=http://127.0.0.1:$PORT
  cat >"$dir/server.yaml" <<YAML
notify:
  targets:
    - url: $DAEMON_URL/v1/events
      secretFile: $SECRET
YAML
  SERVER=$(git_server_new_repo "$GDIR" "$rel") || { fail "cannot create the served repository"; return 1; }
  runuser -u "$GIT_USER" -- "$PORTCULLIS" install --repo "$SERVER" --config "$dir/server.yaml" >/dev/null ||
    { fail "portcullis install failed"; return 1; }
  CLONE=$dir/clone
  case $TRANSPORT in
  ssh)
    REPO_URL=$SSH_GIT_URL/$rel
    repo_yaml="  sshKeyFile: ${SSH_KEY:-$SSH_GIT_KEY}
  knownHostsFile: ${KNOWN_HOSTS:-$SSH_GIT_KNOWN_HOSTS}"
    git -c core.sshCommand="$(ssh_git_ssh_command "$ALICE_KEY")" clone -q "$REPO_URL" "$CLONE" 2>/dev/null ||
      { fail "git clone $REPO_URL failed"; return 1; }
    git -C "$CLONE" config core.sshCommand "$(ssh_git_ssh_command "$ALICE_KEY")"
    ;;
  https)
    REPO_URL=$HTTP_GIT_URL/$rel
    repo_yaml="  username: $HTTP_GIT_USERNAME
  passwordFile: ${PASSWORD_FILE:-$HTTP_GIT_PASSWORD_FILE}
  caFile: ${CA_FILE:-$HTTP_GIT_CA_FILE}"
    # The user name is in the clone's URL and the password comes from GIT_ASKPASS: neither is
    # on a command line.  (The CA: GIT_SSL_CAINFO, exported above.)
    git -c core.askPass="$HTTP_GIT_ASKPASS" \
      clone -q "https://$HTTP_GIT_USERNAME@${HTTP_GIT_URL#https://}/$rel" "$CLONE" 2>/dev/null ||
      { fail "git clone $REPO_URL failed"; return 1; }
    git -C "$CLONE" config core.askPass "$HTTP_GIT_ASKPASS"
    ;;
  esac
  cat >"$dir/daemon.yaml" <<YAML
listen: 127.0.0.1:$PORT
secretFile: $SECRET
stateDir: $dir/state-$TARGET
pollInterval: ${POLL:-60s}
repository:
  url: $REPO_URL
  branch: main
$repo_yaml
targets:
  - name: $TARGET
    path: environments/$TARGET
    kubeconfig: $KDIR/kubeconfig-portcullisd
    namespace: $NS
YAML
  DAEMON_CONFIG=$dir/daemon.yaml
  DAEMON_LOG=$dir/daemon-$TARGET.log
  put "$CLONE" "environments/$TARGET/namespace.yaml" "$(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS")"
}

start_daemon() {
  "$PORTCULLISD" --config "$DAEMON_CONFIG" >>"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  disown "$DAEMON_PID"
  DAEMON_PIDS+=("$DAEMON_PID")
  poll_until 10 curl -fsS -o /dev/null "$DAEMON_URL/healthz" 2>/dev/null || fail "portcullisd did not start: $(tail -5 "$DAEMON_LOG")"
}

stop_daemon() { kill -9 "$DAEMON_PID" 2>/dev/null; }

target_field() { curl -fsS "$DAEMON_URL/v1/targets" 2>/dev/null | jq -r ".targets[0].$1"; }
synced_at() { [[ $(target_field appliedRevision) == "$1" && $(target_field state) == Synced ]]; }
has_error() { [[ -n $(target_field lastError) && $(target_field lastError) != null ]]; }

wait_synced() {
  local rev
  rev=$(git -C "$SERVER" rev-parse main)
  poll_until 30 synced_at "$rev" ||
    fail "not Synced at ${rev:0:12} in time: $(curl -fsS "$DAEMON_URL/v1/targets" 2>&1); log: $(tail -3 "$DAEMON_LOG")"
}

# wait_error REGEX: the target's lastError appears and matches REGEX (extended, case-insensitive).
wait_error() {
  LAST_ERROR=""
  poll_until 30 has_error || { fail "no error in the status: $(curl -fsS "$DAEMON_URL/v1/targets" 2>&1)"; return 1; }
  LAST_ERROR=$(target_field lastError)
  # The cause, after "cannot fetch main from URL:" (the URL itself names the test).
  grep -qiE -- "$1" <<<"${LAST_ERROR#*"$REPO_URL"}" || fail "the error does not say /$1/: $LAST_ERROR"
}

count_configmaps() { kubectl get configmaps -n "$NS" -l "portcullis.io/target=$TARGET" -o name 2>/dev/null | wc -l; }

# expect_nothing_applied: no namespace, no managed object, no inventory, no applied revision,
# and the mirror holds no branch.
expect_nothing_applied() {
  kubectl get namespace "$NS" >/dev/null 2>&1 && fail "namespace $NS was created"
  [[ $(count_configmaps) -eq 0 ]] || fail "objects were applied"
  kubectl get configmap "portcullis-inventory-$TARGET" -n portcullis-system >/dev/null 2>&1 && fail "an inventory was written"
  local applied
  applied=$(target_field appliedRevision)
  [[ -z $applied || $applied == null ]] || fail "the daemon reports an applied revision: $applied"
  [[ $(target_field state) != Synced ]] || fail "the daemon reports Synced"
  [[ -z $(git --git-dir="$SUITE_TMP/$CURRENT_TEST/state-$TARGET/mirror.git" for-each-ref 2>/dev/null) ]] ||
    fail "the mirror fetched refs"
}

# expect_no_secrets [MORE...]: no password, notify secret or private key material in the
# daemon's log, its status, its metrics or `portcullis status`.
expect_no_secrets() {
  local seen s
  seen=$(
    cat "$DAEMON_LOG"
    curl -fsS "$DAEMON_URL/v1/targets"
    curl -fsS "$DAEMON_URL/metrics"
    "$PORTCULLIS" status --daemon "$DAEMON_URL"
  ) 2>&1
  for s in "$HTTP_GIT_PASSWORD" "$(cat "$SECRET")" "$(sed -n 2p "$SSH_GIT_KEY")" "$(sed -n 3p "$SSH_GIT_KEY")" "$@"; do
    [[ -n $s ]] || continue
    if grep -qF -- "$s" <<<"$seen"; then
      fail "a secret (${s:0:4}...) appears in the daemon's log or status"
    fi
    # Nor in the mirror (e.g. a remote URL with credentials in its config).
    if grep -rqF -- "$s" "$SUITE_TMP/$CURRENT_TEST/state-$TARGET" 2>/dev/null; then
      fail "a secret (${s:0:4}...) is stored in the daemon's state directory"
    fi
  done
}

# push_and_apply NAME: a ConfigMap NAME pushed over the clone's transport through the hooks
# and applied by the daemon the post-receive hook notified.
push_and_apply() {
  configmap "$1" | put "$CLONE" "environments/$TARGET/$1.yaml"
  commit "$CLONE" "add $1"
  push "$CLONE" origin HEAD:main
  expect_accepted
  expect_output "portcullis: push accepted"
  wait_synced
  [[ $(kubectl get configmap "$1" -n "$NS" -o jsonpath='{.data.key}' 2>/dev/null) == value ]] ||
    fail "ConfigMap $1 not applied"
}

# A push the hooks refuse: rejected over the transport, the ref and the cluster unchanged.
push_rejected_changes_nothing() {
  local before applied_before count_before
  before=$(git -C "$SERVER" rev-parse main)
  applied_before=$(target_field appliedRevision)
  count_before=$(count_configmaps)
  configmap later | put "$CLONE" "environments/$TARGET/later.yaml"
  put "$CLONE" "environments/$TARGET/broken.yaml" $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n bad: [\n'
  commit "$CLONE" "broken"
  push "$CLONE" origin HEAD:main
  expect_rejected
  expect_output "environments/$TARGET/broken.yaml:5:2: error [yaml.syntax]"
  expect_ref "$SERVER" refs/heads/main "$before"
  sleep 1 # a (wrong) event would have been handled by now
  [[ $(target_field appliedRevision) == "$applied_before" ]] || fail "the daemon applied something after a rejected push"
  [[ $(count_configmaps) -eq $count_before ]] || fail "objects changed after a rejected push"
  git -C "$CLONE" reset -q --hard HEAD~1
}

# audit_pusher: the pusher the pre-receive hook recorded for the last push.
audit_pusher() { tail -n 1 "$SERVER/portcullis/audit.jsonl" | jq -r .pusher; }

# ---------------------------------------------------------------------------------------------

test_ssh_fetch_with_key_and_known_hosts_applies_pushes() {
  setup_target viassh ssh || return
  start_daemon
  push_and_apply first
  [[ $(audit_pusher) == alice ]] || fail "the hook did not see the ssh identity: pusher $(audit_pusher)"
  push_rejected_changes_nothing
  push_and_apply second
  local fp
  fp=$(ssh-keygen -lf "$SSH_GIT_KEY.pub" | cut -d' ' -f2)
  grep -qF "Accepted publickey for $GIT_USER from 127.0.0.1" "$GDIR/ssh/sshd.log" && grep -qF "$fp" "$GDIR/ssh/sshd.log" ||
    fail "sshd did not log the daemon's key ($fp)"
  expect_no_secrets
}

# A known_hosts file whose entry for [127.0.0.1]:PORT is another key, then one without an entry
# for the server: both refused before authentication, nothing applied.  The daemon's own
# ~/.ssh/known_hosts holds the right key meanwhile: knownHostsFile alone decides.
test_ssh_refuses_a_host_key_its_known_hosts_file_does_not_list() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  ssh-keygen -q -t ed25519 -N '' -f "$dir/impostor" </dev/null >/dev/null
  printf '[127.0.0.1]:%s %s\n' "$SSH_GIT_PORT" "$(cut -d' ' -f1,2 <"$dir/impostor.pub")" >"$dir/other_key"
  printf '[127.0.0.1]:%s %s\n' "$((SSH_GIT_PORT == 65535 ? 1 : SSH_GIT_PORT + 1))" "$SSH_GIT_HOST_KEY_PUB" >"$dir/other_host"
  mkdir -p "$HOME/.ssh"
  cp "$SSH_GIT_KNOWN_HOSTS" "$HOME/.ssh/known_hosts"
  local kh
  for kh in other_key other_host; do
    KNOWN_HOSTS=$dir/$kh setup_target "hk-${kh//_/-}" ssh || break
    push_and_apply_only_to_git
    local connections_before
    connections_before=$(grep -c "Accepted publickey for $GIT_USER" "$GDIR/ssh/sshd.log")
    start_daemon
    wait_error 'host ?key'
    echo "    $kh: $LAST_ERROR"
    sleep 1
    expect_nothing_applied
    [[ $(grep -c "Accepted publickey for $GIT_USER" "$GDIR/ssh/sshd.log") -eq $connections_before ]] ||
      fail "the daemon authenticated to a server whose host key it does not know"
    run "$PORTCULLIS" status --daemon "$DAEMON_URL"
    expect_status 1
    expect_output "host"
    expect_no_secrets
    stop_daemon
    rm -rf "$dir/clone"
  done
  rm -f "$HOME/.ssh/known_hosts"
}

# OpenSSH writes hashed names (HashKnownHosts yes, Debian's default; ssh-keyscan -H): a
# knownHostsFile in that form is honoured too.
test_ssh_hashed_known_hosts_entries_are_honoured() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  cp "$SSH_GIT_KNOWN_HOSTS" "$dir/hashed"
  ssh-keygen -q -H -f "$dir/hashed" >/dev/null 2>&1 && rm -f "$dir/hashed.old"
  grep -q '^|1|' "$dir/hashed" || { fail "ssh-keygen -H did not hash the known_hosts file"; return; }
  KNOWN_HOSTS=$dir/hashed setup_target hashed ssh || return
  start_daemon
  push_and_apply only
  expect_no_secrets
}

# A key the server does not authorize: a clear authentication error, a bounded number of
# attempts, nothing applied.
test_ssh_unauthorized_key_is_a_clear_authentication_error() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  ssh-keygen -q -t ed25519 -N '' -f "$dir/stranger" </dev/null >/dev/null
  SSH_KEY=$dir/stranger setup_target strangerkey ssh || return
  push_and_apply_only_to_git
  local fp before
  fp=$(ssh-keygen -lf "$dir/stranger.pub" | cut -d' ' -f2)
  start_daemon
  wait_error 'auth|denied|refused'
  echo "    $LAST_ERROR"
  expect_nothing_applied
  sleep 2
  local offers fetches
  offers=$(grep -c "Failed publickey for $GIT_USER .*$fp" "$GDIR/ssh/sshd.log")
  fetches=$(curl -fsS "$DAEMON_URL/metrics" | awk '/^portcullis_fetch_errors_total/ {print $2}')
  echo "    the key was offered $offers times in $fetches failed fetches"
  ((fetches >= 1 && fetches <= 8)) || fail "$fetches fetches: failed fetches do not back off"
  ((offers <= 3 * fetches)) || fail "the refused key was offered $offers times in $fetches fetches: a loop"
  expect_no_secrets "$(sed -n 2p "$dir/stranger")"
}

# A commit pushed to the served repository (through the hooks), for daemons that must not get it.
push_and_apply_only_to_git() {
  configmap must-not-apply | put "$CLONE" "environments/$TARGET/cm.yaml"
  commit "$CLONE"
  push "$CLONE" origin HEAD:main
  expect_accepted
}

test_https_fetch_with_basic_auth_and_ca_applies_pushes() {
  setup_target viahttps https || return
  start_daemon
  push_and_apply first
  [[ $(audit_pusher) == "$HTTP_GIT_USERNAME" ]] || fail "the hook did not see the HTTP user: pusher $(audit_pusher)"
  push_rejected_changes_nothing
  push_and_apply second
  grep -q "\"GET /$CURRENT_TEST/viahttps.git/info/refs?service=git-upload-pack HTTP/1.1\" 200 .*libgit2" "$GDIR/http/access.log" ||
    fail "nginx did not log the daemon's authenticated fetch"
  expect_no_secrets
}

test_https_refuses_a_certificate_its_ca_file_did_not_sign() {
  local dir=$SUITE_TMP/$CURRENT_TEST
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 1 \
    -keyout "$dir/other-ca.key" -out "$dir/other-ca.crt" -subj "/CN=not-the-git-servers-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 ||
    { fail "openssl"; return; }
  CA_FILE=$dir/other-ca.crt setup_target wrongca https || return
  push_and_apply_only_to_git
  start_daemon
  wait_error 'certificate|x509|tls|ssl'
  echo "    $LAST_ERROR"
  expect_nothing_applied
  # Refused during the TLS handshake: the daemon never sent a request (nor its password).
  ! grep -q "/$CURRENT_TEST/wrongca.git/.*libgit2" "$GDIR/http/access.log" || fail "the daemon sent a request to an untrusted server"
  expect_no_secrets
}

test_https_wrong_password_is_a_clear_authentication_error() {
  local dir=$SUITE_TMP/$CURRENT_TEST wrong
  wrong=wrong-$(openssl rand -hex 12)
  (umask 077 && printf '%s\n' "$wrong" >"$dir/wrong-password")
  PASSWORD_FILE=$dir/wrong-password setup_target wrongpw https || return
  push_and_apply_only_to_git
  local t0=$SECONDS
  start_daemon
  wait_error 'auth|credential|401|unauthori[sz]ed'
  echo "    $LAST_ERROR"
  expect_nothing_applied
  # No loop: each fetch gives up after a few refused attempts and failed fetches back off.
  sleep 3
  local requests fetches
  requests=$(grep -c "/$CURRENT_TEST/wrongpw.git/.*libgit2" "$GDIR/http/access.log")
  fetches=$(curl -fsS "$DAEMON_URL/metrics" | awk '/^portcullis_fetch_errors_total/ {print $2}')
  echo "    $requests requests for $fetches failed fetches in $((SECONDS - t0)) s"
  ((fetches >= 1 && fetches <= 8)) || fail "$fetches fetches: failed fetches do not back off"
  ((requests <= 5 * fetches)) || fail "$requests requests for $fetches fetches: the credentials are retried in a loop"
  expect_no_secrets "$wrong"
}

run_suite "$@"
