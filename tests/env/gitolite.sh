# shellcheck shell=bash
# tests/env/gitolite.sh -- a real gitolite3 (Debian's package) behind its own OpenSSH sshd on
# loopback, for Portcullis' end-to-end suites.  Source it; do not execute it.  Needs root (sshd,
# the dedicated user of tests/env/gitserver.sh, setpriv).
#
#   source tests/env/gitolite.sh
#   dir=$(mktemp -d); chmod 711 "$dir"      # the git user must be able to traverse DIR's parents
#   trap 'gitolite_stop "$dir"' EXIT
#   gitolite_start "$dir" || exit 1          # exports GITOLITE_* (below)
#   key=$(gitolite_add_user "$dir" alice)    # keydir/alice.pub in the admin clone
#   printf 'repo config\n    RW+ = alice\n' >>"$GITOLITE_ADMIN/conf/gitolite.conf"
#   gitolite_admin_push "$dir" "add config" || exit 1
#   GIT_SSH_COMMAND=$(gitolite_ssh_command "$key") git clone "$GITOLITE_URL/config"
#
# One instance per DIR, several at once: gitolite runs as the git user (GIT_SERVER_USER) with
# its HOME in DIR/gitolite/home (rc file, ~/.gitolite, repositories), never in the user's real
# home.  The instance's sshd sets HOME for every session (SetEnv), so gitolite-shell finds this
# instance; gitolite writes ~/.ssh/authorized_keys, and ~/.ssh is a link to a directory in the
# user's real home because sshd's StrictModes only trusts keys there
# (~/.ssh/portcullis-gitolite/<instance>, removed by gitolite_stop).  Gitolite names the pusher
# in GL_USER (the key file's name in keydir/); hooks run as the git user.  Repositories it
# creates start on branch main.
#
# gitolite_start DIR [admin|server]
#     `gitolite setup` with the admin key, an rc with LOCAL_CODE in the admin repository
#     ("$rc{GL_ADMIN_BASE}/local", default: hooks arrive by pushing gitolite-admin) or on the
#     server ("$ENV{HOME}/local": written there, then `gitolite setup --hooks-only`), with
#     'repo-specific-hooks' enabled and GIT_CONFIG_KEYS allowing receive.advertisePushOptions;
#     then sshd on a free loopback port (MaxStartups raised for concurrent pushes), checked end to
#     end with `ssh ... info`; then a clone of gitolite-admin.  Exports:
#   GITOLITE_URL          ssh://git@127.0.0.1:PORT (append /<repo>)
#   GITOLITE_PORT GITOLITE_KNOWN_HOSTS
#   GITOLITE_ADMIN        root's clone of gitolite-admin (commit there, then gitolite_admin_push)
#   GITOLITE_ADMIN_KEY    the admin's private key
#   GITOLITE_HOME         the gitolite user's HOME for this instance
#   GITOLITE_REPOS        its GL_REPO_BASE (the bare repositories)
#   GITOLITE_LOCAL_CODE   LOCAL_CODE as the server sees it
# gitolite_add_user DIR NAME   a new ed25519 key NAME (root-only file) and keydir/NAME.pub in the
#                              admin clone (pushed by the next gitolite_admin_push); prints the key.
# gitolite_ssh_command KEY     a GIT_SSH_COMMAND for this server with KEY.
# gitolite_admin_push DIR MSG  commits everything in the admin clone and pushes it; fails (with
#                              gitolite's output) when the push fails or gitolite says FATAL.
# gitolite_as_user DIR CMD...  runs CMD as the git user with this instance's HOME (e.g.
#                              `gitolite setup --hooks-only`, `portcullis install ...`).
# gitolite_stop DIR            idempotent, by pid only; safe in an EXIT trap.
# The exports are also written to DIR/gitolite/gitolite.env (sourceable, 0600).
#
# Environment knobs: GIT_SERVER_USER (default git), GIT_SERVER_START_TIMEOUT (seconds, default 20).

# shellcheck source=gitserver.sh
source "$(dirname "${BASH_SOURCE[0]}")/gitserver.sh"

_gl_keys_dir() {
  local home id
  home=$(getent passwd "$(_gs_user)" | cut -d: -f6) || return 1
  id=$(printf '%s' "$1" | sha256sum | cut -c1-16)
  printf '%s\n' "$home/.ssh/portcullis-gitolite/$id"
}

# gitolite_as_user DIR CMD...: CMD as the git user, with this instance's HOME and a clean
# environment (nothing of the caller's GIT_* reaches gitolite).
gitolite_as_user() {
  local dir=$1 u
  shift
  u=$(_gs_user)
  setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- \
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir/gitolite/home" USER="$u" LOGNAME="$u" LANG=C.UTF-8 "$@"
}

gitolite_ssh_command() {
  printf 'ssh -F /dev/null -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR\n' \
    "$1" "${GITOLITE_KNOWN_HOSTS:?gitolite_start first}"
}

_gl_rc() {  # _gl_rc admin|server: the rc file
  local local_code='"$rc{GL_ADMIN_BASE}/local"'
  [[ $1 == server ]] && local_code='"$ENV{HOME}/local"'
  cat <<EOF
# Written by tests/env/gitolite.sh (perl syntax; see gitolite's default rc for every key)
%RC = (
    UMASK           =>  0077,
    GIT_CONFIG_KEYS =>  'receive\.advertisePushOptions',
    LOG_EXTRA       =>  1,
    ROLES           =>  { READERS => 1, WRITERS => 1 },
    LOCAL_CODE      =>  $local_code,
    ENABLE          =>  [
        'help', 'desc', 'info', 'perms', 'writable',
        'ssh-authkeys', 'git-config', 'repo-specific-hooks',
    ],
);
1;
EOF
}

gitolite_start() {
  if [[ $# -lt 1 || $# -gt 2 || -z $1 || ! ${2:-admin} =~ ^(admin|server)$ ]]; then
    _gs_say "usage: gitolite_start DIR [admin|server]"
    return 2
  fi
  local dir
  _gs_need gitolite ssh ssh-keygen ssh-keyscan setpriv getent useradd usermod git sha256sum ||
    { _gs_say "gitolite_start: FAILED: install/deps.sh installs gitolite3 and openssh-server"; return 1; }
  mkdir -p "$1" || return 1
  dir=$(_gs_abs "$1") || return 1
  if [[ $dir =~ [^A-Za-z0-9._/+_-] ]]; then
    _gs_say "gitolite_start: FAILED: DIR '$dir' has characters these configs do not quote (use [A-Za-z0-9._/+_-])"
    return 1
  fi
  if [[ -e $dir/gitolite ]]; then
    _gs_say "gitolite_start: FAILED: $dir/gitolite exists (one instance per DIR; gitolite_stop it and use a fresh DIR)"
    return 1
  fi
  # Whatever fails half-way is stopped and its keys directory removed.
  _gl_start "$dir" "${2:-admin}" || { gitolite_stop "$dir"; return 1; }
}

_gl_start() {
  local dir=$1 mode=$2 g u uhome kd ms0 sshd_bin attempt port pid rc deadline got hostpub out log conf
  ms0=$(_gs_ms)
  sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
  [[ -x $sshd_bin ]] || { _gs_say "gitolite_start: FAILED: sshd is missing (install/deps.sh installs openssh-server)"; return 1; }
  git_server_user_ensure || return 1
  u=$(_gs_user)
  uhome=$(getent passwd "$u" | cut -d: -f6)
  g=$dir/gitolite
  chmod go+x "$dir" && mkdir -p "$g/keys" "$g/setup" && chmod 755 "$g" "$g/setup" && chmod 700 "$g/keys" || return 1
  mkdir "$g/home" && chown "$u:" "$g/home" && chmod 700 "$g/home" || return 1
  if ! gitolite_as_user "$dir" test -w "$g/home"; then
    _gs_say "gitolite_start: FAILED: user $u cannot reach $g/home (make every parent of DIR traversable: chmod o+x)"
    return 1
  fi
  # authorized_keys where StrictModes accepts it; the instance's ~/.ssh points there.
  kd=$(_gl_keys_dir "$dir") || return 1
  gitolite_as_user "$dir" sh -c 'umask 077 && mkdir -p "$1" && chmod 700 "$2/.ssh" "$2/.ssh/portcullis-gitolite" "$1" && ln -s "$1" "$3/.ssh"' \
    sh "$kd" "$uhome" "$g/home" || { _gs_say "gitolite_start: FAILED: cannot make $kd as $u"; return 1; }
  _gl_rc "$mode" | gitolite_as_user "$dir" sh -c 'umask 077 && cat >"$1"' sh "$g/home/.gitolite.rc" || return 1
  # repo-specific-hooks refuses to run without LOCAL_CODE/hooks/repo-specific.
  if [[ $mode == admin ]]; then
    GITOLITE_LOCAL_CODE=$g/home/.gitolite/local
  else
    GITOLITE_LOCAL_CODE=$g/home/local
  fi
  # (gitolite logs from its first command on once ~/.gitolite exists.)
  gitolite_as_user "$dir" mkdir -p "$GITOLITE_LOCAL_CODE/hooks/repo-specific" "$g/home/.gitolite/logs" || return 1

  ssh-keygen -q -t ed25519 -N '' -C "admin@portcullis-test" -f "$g/keys/admin" </dev/null >/dev/null ||
    { _gs_say "gitolite_start: FAILED: ssh-keygen (admin key)"; return 1; }
  cp "$g/keys/admin.pub" "$g/setup/admin.pub" && chmod 644 "$g/setup/admin.pub" || return 1
  if ! gitolite_as_user "$dir" gitolite setup -pk "$g/setup/admin.pub" >"$g/setup/setup.log" 2>&1; then
    _gs_say "gitolite_start: FAILED: gitolite setup"
    _gs_tail_logs "$g/setup/setup.log"
    return 1
  fi
  GITOLITE_REPOS=$(gitolite_as_user "$dir" gitolite query-rc GL_REPO_BASE) && [[ -d $GITOLITE_REPOS/gitolite-admin.git ]] ||
    { _gs_say "gitolite_start: FAILED: gitolite setup made no gitolite-admin.git"; _gs_tail_logs "$g/setup/setup.log"; return 1; }
  # Repositories gitolite creates from now on start on main (gitolite-admin stays on master,
  # the only branch gitolite reads).
  printf '[init]\n\tdefaultBranch = main\n' | gitolite_as_user "$dir" sh -c 'umask 077 && cat >"$1"' sh "$g/home/.gitconfig" ||
    return 1

  mkdir -p /run/sshd && chmod 755 /run/sshd || return 1
  ssh-keygen -q -t ed25519 -N '' -C portcullis-gitolite-host -f "$g/host_ed25519_key" </dev/null >/dev/null ||
    { _gs_say "gitolite_start: FAILED: ssh-keygen (host key)"; return 1; }
  hostpub=$(cut -d' ' -f1,2 <"$g/host_ed25519_key.pub")
  log=$g/sshd.log
  conf=$g/sshd_config
  for attempt in 1 2 3; do
    port=$(gitserver_free_port) || return 1
    deadline=$((SECONDS + ${GIT_SERVER_START_TIMEOUT:-20}))
    cat >"$conf" <<EOF
# Written by tests/env/gitolite.sh
Port $port
ListenAddress 127.0.0.1
HostKey $g/host_ed25519_key
PidFile $g/sshd.pid
AuthorizedKeysFile $kd/authorized_keys
AllowUsers $u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes yes
SetEnv HOME=$g/home
AcceptEnv GIT_PROTOCOL
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
UseDNS no
MaxStartups 200:30:400
LogLevel VERBOSE
EOF
    if ! "$sshd_bin" -t -f "$conf" >"$log" 2>&1; then
      _gs_say "gitolite_start: FAILED: sshd -t rejects $conf"
      _gs_tail_logs "$log"
      return 1
    fi
    "$sshd_bin" -D -e -f "$conf" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$g/gitolite-sshd.pid"
    rc=1
    while ((SECONDS < deadline)); do
      _gs_running "$pid" || { rc=2; break; }
      got=$(ssh-keyscan -T 2 -t ed25519 -p "$port" 127.0.0.1 2>/dev/null | cut -d' ' -f2,3) || got=""
      if [[ -n $got ]]; then
        rc=0
        break
      fi
      sleep 0.05
    done
    ((rc == 0)) && break
    if ((rc == 2 && attempt < 3)) && grep -q 'Address already in use' "$log"; then
      _gs_say "gitolite_start: port $port taken (race), retrying with another"
      _gs_kill "$g/gitolite-sshd.pid" sshd
      continue
    fi
    break
  done
  if ((rc != 0)); then
    _gs_say "gitolite_start: FAILED: sshd on 127.0.0.1:$port $([[ $rc == 2 ]] && echo exited || echo 'did not answer in time')"
    _gs_tail_logs "$log"
    return 1
  fi
  if [[ $got != "$hostpub" ]]; then
    _gs_say "gitolite_start: FAILED: 127.0.0.1:$port presents '$got', not our host key '$hostpub'"
    return 1
  fi
  printf '[127.0.0.1]:%s %s\n' "$port" "$hostpub" >"$g/known_hosts"
  export GITOLITE_PORT=$port GITOLITE_URL=ssh://$u@127.0.0.1:$port GITOLITE_KNOWN_HOSTS=$g/known_hosts
  export GITOLITE_ADMIN_KEY=$g/keys/admin GITOLITE_HOME=$g/home GITOLITE_REPOS GITOLITE_LOCAL_CODE
  # The whole chain: key authentication through gitolite's authorized_keys, the session's HOME,
  # gitolite-shell and this instance's rc.
  if ! out=$($(gitolite_ssh_command "$GITOLITE_ADMIN_KEY") -p "$port" "$u@127.0.0.1" info 2>&1) ||
    [[ $out != *"hello admin, this is"*"gitolite-admin"* ]]; then
    _gs_say "gitolite_start: FAILED: 'ssh $u@127.0.0.1 -p $port info' answered: $out"
    _gs_tail_logs "$log"
    return 1
  fi
  export GITOLITE_ADMIN=$g/admin
  if ! out=$(GIT_SSH_COMMAND=$(gitolite_ssh_command "$GITOLITE_ADMIN_KEY") git clone -q "$GITOLITE_URL/gitolite-admin" "$GITOLITE_ADMIN" 2>&1); then
    _gs_say "gitolite_start: FAILED: cannot clone gitolite-admin: $out"
    return 1
  fi
  git -C "$GITOLITE_ADMIN" config user.name "gitolite admin"
  git -C "$GITOLITE_ADMIN" config user.email admin@example.com
  git -C "$GITOLITE_ADMIN" config core.sshCommand "$(gitolite_ssh_command "$GITOLITE_ADMIN_KEY")"
  (
    umask 077
    local v
    for v in GITOLITE_PORT GITOLITE_URL GITOLITE_KNOWN_HOSTS GITOLITE_ADMIN GITOLITE_ADMIN_KEY GITOLITE_HOME \
      GITOLITE_REPOS GITOLITE_LOCAL_CODE; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done >"$g/gitolite.env"
  )
  _gs_say "gitolite_start: gitolite ready at $GITOLITE_URL (LOCAL_CODE $GITOLITE_LOCAL_CODE, user $u) in $(($(_gs_ms) - ms0)) ms"
  return 0
}

gitolite_add_user() {
  if [[ $# -ne 2 || ! $2 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
    _gs_say "usage: gitolite_add_user DIR NAME   (NAME: [A-Za-z0-9][A-Za-z0-9._-]*)"
    return 2
  fi
  local g key
  g=$(_gs_abs "$1")/gitolite || return 1
  [[ -d ${GITOLITE_ADMIN:-} ]] || { _gs_say "gitolite_add_user: gitolite_start first"; return 1; }
  key=$g/keys/$2
  if [[ ! -f $key ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "$2@portcullis-test" -f "$key" </dev/null >/dev/null ||
      { _gs_say "gitolite_add_user: ssh-keygen failed"; return 1; }
  fi
  mkdir -p "$GITOLITE_ADMIN/keydir" && cp "$key.pub" "$GITOLITE_ADMIN/keydir/$2.pub" || return 1
  printf '%s\n' "$key"
}

gitolite_admin_push() {
  if [[ $# -ne 2 ]]; then
    _gs_say "usage: gitolite_admin_push DIR MESSAGE"
    return 2
  fi
  local out
  [[ -d ${GITOLITE_ADMIN:-} ]] || { _gs_say "gitolite_admin_push: gitolite_start first"; return 1; }
  git -C "$GITOLITE_ADMIN" add -A || return 1
  git -C "$GITOLITE_ADMIN" diff --cached --quiet || git -C "$GITOLITE_ADMIN" commit -q -m "$2" || return 1
  if ! out=$(git -C "$GITOLITE_ADMIN" push origin HEAD:master 2>&1); then
    _gs_say "gitolite_admin_push: FAILED: $out"
    return 1
  fi
  if grep -qE 'FATAL|WARNING' <<<"$out"; then
    _gs_say "gitolite_admin_push: gitolite complained: $out"
    grep -q FATAL <<<"$out" && return 1
  fi
  return 0
}

gitolite_stop() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _gs_say "usage: gitolite_stop DIR"
    return 2
  fi
  [[ -d $1/gitolite ]] || return 0
  local dir rc=0 kd
  dir=$(_gs_abs "$1") || return 0
  _gs_kill "$dir/gitolite/gitolite-sshd.pid" sshd || rc=1
  if getent passwd "$(_gs_user)" >/dev/null && kd=$(_gl_keys_dir "$dir"); then
    rm -rf "$kd"
  fi
  return "$rc"
}
