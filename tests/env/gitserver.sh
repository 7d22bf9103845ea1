# shellcheck shell=bash
# tests/env/gitserver.sh -- real Git servers on loopback for Portcullis' end-to-end suites:
# Debian's OpenSSH sshd, and nginx + fcgiwrap + git http-backend (smart HTTP) over HTTPS with
# basic auth.  Source it; do not execute it.  Needs root (sshd, a dedicated user, setpriv).
#
#   source tests/env/gitserver.sh
#   dir=$(mktemp -d); chmod 711 "$dir"     # the git user must be able to traverse DIR's parents
#   trap 'ssh_git_stop "$dir"; http_git_stop "$dir"' EXIT
#   ssh_git_start "$dir" || exit 1          # exports SSH_GIT_* (below)
#   http_git_start "$dir" || exit 1         # exports HTTP_GIT_* (below)
#   repo=$(git_server_new_repo "$dir" config.git)   # served at $SSH_GIT_URL/config.git
#                                                   # and at $HTTP_GIT_URL/config.git
#   GIT_SSH_COMMAND=$SSH_GIT_SSH_COMMAND git clone "$SSH_GIT_URL/config.git"
#   GIT_ASKPASS=$HTTP_GIT_ASKPASS GIT_SSL_CAINFO=$HTTP_GIT_CA_FILE git clone "$HTTP_GIT_URL/config.git"
#
# Both servers serve the repositories under DIR/repos, owned by a dedicated user (default
# "git", GIT_SERVER_USER to change it) that is created if missing (a system account with a
# home, shell /bin/sh, unlocked with `usermod -p '*'` because sshd runs with UsePAM no).  Hooks
# in those repositories run as that user, so whatever they read (a server config, a notify
# secret) must be readable by it.  Root's git refuses repositories it does not own ("dubious
# ownership"): a suite that inspects them as root sets safe.directory (see tests/e2e/fetch.sh).
# Per-key identity: the forced command of every SSH key, and nginx's basic auth, set
# REMOTE_USER for the hooks (the key's name, the HTTP user name).
#
# The functions never change the caller's shell options and return non-zero (with a message on
# stderr and the tail of the server's log) on failure; they work with and without
# `set -euo pipefail` in the caller.  Every *_stop is idempotent, kills by pid only, and is safe
# in an EXIT trap when the start never ran or failed.
#
# ssh_git_start DIR      sshd (its own config, host key, pid file and log in DIR/ssh) on a free
#                        loopback port; only public keys; every key has a forced command that
#                        runs git-upload-pack / git-receive-pack / git-upload-archive on
#                        DIR/repos/<path> and nothing else.  Exports:
#     SSH_GIT_PORT SSH_GIT_URL (ssh://git@127.0.0.1:PORT; append /<path>)
#     SSH_GIT_KEY            private key of the identity "client" (ed25519, no passphrase)
#     SSH_GIT_KNOWN_HOSTS    known_hosts with the server's host key for [127.0.0.1]:PORT
#     SSH_GIT_HOST_KEY_PUB   the server's public host key ("ssh-ed25519 AAAA...")
#     SSH_GIT_SSH_COMMAND    for GIT_SSH_COMMAND: ssh with SSH_GIT_KEY and strict host key checking
#   ssh_git_add_key DIR NAME   another authorized identity (REMOTE_USER=NAME in hooks); prints
#                              its private key's path.  ssh_git_ssh_command KEY prints a
#                              GIT_SSH_COMMAND using KEY.
# http_git_start DIR     fcgiwrap (as the git user, unix socket) + nginx (workers as the git
#                        user) with basic auth (htpasswd, bcrypt) in front of git http-backend,
#                        receive-pack enabled, HTTPS with a CA made in DIR/http/pki and a
#                        server certificate for 127.0.0.1 and localhost, plus plain HTTP on a
#                        second port for tests that need it.  Exports:
#     HTTP_GIT_URL (https://127.0.0.1:PORT) HTTP_GIT_PLAIN_URL (http://127.0.0.1:PORT2)
#     HTTP_GIT_PORT HTTP_GIT_PLAIN_PORT HTTP_GIT_CA_FILE HTTP_GIT_USERNAME HTTP_GIT_PASSWORD
#     HTTP_GIT_PASSWORD_FILE (root-only file with the password, for passwordFile settings)
#     HTTP_GIT_ASKPASS       for GIT_ASKPASS: answers HTTP_GIT_USERNAME / the password
# git_server_new_repo DIR PATH   a bare repository DIR/repos/PATH (initial branch main,
#                        http.receivepack true) owned by the git user; prints its path.
# ssh_git_stop DIR / http_git_stop DIR
# The exports are also written to DIR/ssh/ssh.env and DIR/http/http.env (sourceable, 0600).
#
# Gotchas handled here (Debian 12, OpenSSH 9.2, nginx 1.22, libgit2 1.5 + libssh2 1.10 +
# mbedTLS 2.28 as clients):
#  - sshd needs /run/sshd; StrictModes stays on, so authorized_keys lives in the git user's
#    home (~/.ssh/portcullis-test/<instance>/authorized_keys, removed by ssh_git_stop).
#  - libssh2 1.10 signs RSA only with ssh-rsa (SHA-1), which OpenSSH 9.2 refuses: all keys are
#    ed25519.
#  - mbedTLS 2.28 (libgit2's TLS on Debian) ignores iPAddress subjectAltNames and matches an IP
#    against dNSName entries only; the server certificate therefore carries IP:127.0.0.1 (for
#    OpenSSL/GnuTLS clients such as curl and git) and DNS:127.0.0.1 (for mbedTLS).
#  - nginx 1.22 opens its compiled-in error log before reading the config: started with -e.
#  - git's GIT_SSL_CAINFO (set machine-wide on some images) overrides http.sslCAInfo: clients
#    pass the CA in GIT_SSL_CAINFO.
#
# Environment knobs: GIT_SERVER_USER (default git), GIT_SERVER_START_TIMEOUT (seconds, default
# 20), HTTP_GIT_USERNAME (default portcullis).

_gs_say() { printf '%s\n' "$*" >&2; }
_gs_user() { printf '%s\n' "${GIT_SERVER_USER:-git}"; }
_gs_abs() { (cd "$1" 2>/dev/null && pwd -P); }

_gs_ms() {
  local r=${EPOCHREALTIME:-}
  if [[ $r == *[.,]* ]]; then
    r=${r/,/.}
    printf '%s\n' "$((${r%.*} * 1000 + 10#${r#*.} / 1000))"
  else
    printf '%s\n' "$(($(date +%s) * 1000))"
  fi
}

# gitserver_free_port: a TCP port nobody uses now, below the ephemeral range (so an outgoing
# connection cannot take it between our pick and the server's bind), absent from /proc/net/tcp{,6}
# in any state.  One grep per candidate: fast also with thousands of sockets in TIME_WAIT (a
# loop over /proc/net/tcp in bash takes tens of seconds then).  The starts retry on "Address
# already in use" for the remaining race.
gitserver_free_port() {
  local lo=32768 hi=60999 min max span port i
  if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range || true
  fi
  if ((lo - 1 - 10000 >= 2000)); then
    min=10000 max=$((lo - 1))
  elif ((65535 - hi - 1 >= 2000)); then
    min=$((hi + 1)) max=65535
  else
    min=10000 max=65535
  fi
  span=$((max - min + 1))
  for ((i = 0; i < 200; i++)); do
    port=$((min + ((RANDOM << 15 | RANDOM) % span)))
    # Local and remote addresses are "HEXIP:HEXPORT"; matching either only skips more.
    grep -qs ":$(printf '%04X' "$port") " /proc/net/tcp /proc/net/tcp6 && continue
    printf '%s\n' "$port"
    return 0
  done
  _gs_say "gitserver_free_port: no free port found in $min-$max"
  return 1
}

# _gs_running PID: the process exists and is not a zombie.
_gs_running() {
  local pid=$1 state rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  read -r _ rest 2>/dev/null </proc/"$pid"/stat || return 1
  state=${rest##*) }
  state=${state%% *}
  [[ $state != Z && $state != X ]]
}

# _gs_alive PID NAME: PID runs and is NAME (its command line contains NAME), so that a pid file
# left behind never makes us signal a recycled pid.
_gs_alive() {
  local pid=$1 name=$2 cmd
  _gs_running "$pid" || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline) || return 1
  [[ $cmd == *"$name"* ]]
}

# _gs_kill_pid PID NAME: TERM, wait (deadline), KILL.
_gs_kill_pid() {
  local pid=$1 name=$2 deadline
  _gs_alive "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while _gs_alive "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.05; done
  if _gs_alive "$pid" "$name"; then
    _gs_say "gitserver: $name (pid $pid) ignored TERM; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while _gs_alive "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.05; done
  fi
  if _gs_alive "$pid" "$name"; then
    _gs_say "gitserver: $name (pid $pid) does not die"
    return 1
  fi
}

# _gs_kill PIDFILE NAME: stops the process of PIDFILE, then its children named NAME (fcgiwrap's
# preforked workers outlive their parent's TERM); removes PIDFILE.
_gs_kill() {
  local pidfile=$1 name=$2 pid="" kids="" k rc=0
  [[ -f $pidfile ]] || return 0
  read -r pid <"$pidfile" || true
  if _gs_alive "$pid" "$name"; then
    kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
    _gs_kill_pid "$pid" "$name" || rc=1
    for k in $kids; do _gs_kill_pid "$k" "$name" || rc=1; done
  fi
  ((rc == 0)) || return 1
  wait "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  return 0
}

_gs_tail_logs() {
  local f
  for f in "$@"; do
    [[ -f $f ]] || continue
    _gs_say "----- last 40 lines of $f -----"
    tail -n 40 "$f" >&2
  done
  _gs_say "-----"
}

# _gs_need TOOL...: every tool is on PATH.
_gs_need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 ||
      { _gs_say "gitserver: FAILED: '$t' is missing (install/deps.sh installs it)"; return 1; }
  done
}

# _gs_as_user CMD...: runs CMD as the git user (exec, no intermediate process), with its HOME.
_gs_as_user() {
  local u home
  u=$(_gs_user)
  home=$(getent passwd "$u" | cut -d: -f6)
  HOME=$home setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

# git_server_user_ensure: the dedicated user exists (created once, idempotently), can log in
# with a key (unlocked), has a shell that runs commands and a home it owns.
git_server_user_ensure() {
  local u entry shell home pw
  u=$(_gs_user)
  if [[ $(id -u) -ne 0 ]]; then
    _gs_say "gitserver: FAILED: must run as root (sshd, user $u, setpriv)"
    return 1
  fi
  if ! getent passwd "$u" >/dev/null; then
    # A concurrent suite may create it at the same time: only its absence afterwards is an error.
    useradd --system --user-group --create-home --home-dir "/home/$u" --shell /bin/sh \
      --comment "Portcullis test Git server" "$u" >/dev/null 2>&1 || true
    getent passwd "$u" >/dev/null || { _gs_say "gitserver: FAILED: useradd $u"; return 1; }
  fi
  entry=$(getent passwd "$u")
  home=$(cut -d: -f6 <<<"$entry")
  shell=$(cut -d: -f7 <<<"$entry")
  case $shell in
  */nologin | */false | "")
    _gs_say "gitserver: FAILED: user $u exists with shell '$shell'; sshd cannot run the forced command (use GIT_SERVER_USER)"
    return 1
    ;;
  esac
  # With UsePAM no, sshd refuses a locked account ('!' in shadow) even for keys.
  pw=$(getent shadow "$u" | cut -d: -f2)
  if [[ $pw == '!'* ]]; then
    usermod -p '*' "$u" || { _gs_say "gitserver: FAILED: usermod -p '*' $u"; return 1; }
  fi
  if [[ ! -d $home ]]; then
    mkdir -p "$home" && chown "$u:" "$home" && chmod 755 "$home" ||
      { _gs_say "gitserver: FAILED: cannot make $u's home $home"; return 1; }
  fi
  return 0
}

# _gs_prepare DIR: prints DIR's absolute path after making DIR/repos (owned by the git user)
# and checking that the git user reaches it.
_gs_prepare() {
  local dir u d
  u=$(_gs_user)
  mkdir -p "$1" || { _gs_say "gitserver: FAILED: cannot create $1"; return 1; }
  dir=$(_gs_abs "$1") || return 1
  if [[ $dir =~ [^A-Za-z0-9._/+_-] ]]; then
    _gs_say "gitserver: FAILED: DIR '$dir' has characters these configs do not quote (use [A-Za-z0-9._/+_-])"
    return 1
  fi
  chmod go+x "$dir" || return 1
  if [[ ! -d $dir/repos ]]; then
    mkdir "$dir/repos" && chown "$u:" "$dir/repos" && chmod 755 "$dir/repos" || {
      _gs_say "gitserver: FAILED: cannot make $dir/repos"
      return 1
    }
  fi
  if ! _gs_as_user test -w "$dir/repos"; then
    d=$dir
    while [[ $d != / ]]; do
      _gs_as_user test -x "$d" || break
      d=$(dirname "$d")
    done
    _gs_say "gitserver: FAILED: user $u cannot reach $dir/repos; blocked at $d (make every parent of DIR traversable: chmod o+x)"
    return 1
  fi
  printf '%s\n' "$dir"
}

# git_server_new_repo DIR PATH: a bare repository at DIR/repos/PATH owned by the git user,
# served by both servers of DIR; prints its path.
git_server_new_repo() {
  if [[ $# -ne 2 || -z $1 || -z $2 ]]; then
    _gs_say "usage: git_server_new_repo DIR PATH"
    return 2
  fi
  local dir path=$2 repo
  case /$path/ in
  */../* | */./* | *//* | /-*)
    _gs_say "git_server_new_repo: invalid path '$path'"
    return 2
    ;;
  esac
  if [[ $path =~ [^A-Za-z0-9._/+_-] ]]; then
    _gs_say "git_server_new_repo: invalid path '$path' (use [A-Za-z0-9._/+_-])"
    return 2
  fi
  dir=$(_gs_prepare "$1") || return 1
  repo=$dir/repos/$path
  if [[ -e $repo ]]; then
    _gs_say "git_server_new_repo: $repo exists"
    return 1
  fi
  _gs_as_user mkdir -p "$repo" &&
    _gs_as_user git init -q --bare --initial-branch=main "$repo" &&
    _gs_as_user git --git-dir="$repo" config http.receivepack true || {
    _gs_say "git_server_new_repo: FAILED to make $repo as $(_gs_user)"
    return 1
  }
  printf '%s\n' "$repo"
}

# ---------------------------------------------------------------------------------------------
# ssh_git_start DIR
# ---------------------------------------------------------------------------------------------

# The instance's authorized_keys directory in the git user's home (StrictModes wants it there).
_gs_ssh_keys_dir() {
  local home id
  home=$(getent passwd "$(_gs_user)" | cut -d: -f6) || return 1
  id=$(printf '%s' "$1" | sha256sum | cut -c1-16)
  printf '%s\n' "$home/.ssh/portcullis-test/$id"
}

# _gs_ssh_render_keys DIR: authorized_keys from DIR/ssh/keys/*.pub, each key with the forced
# command and no forwarding.
_gs_ssh_render_keys() {
  local dir=$1 u kd f name tmp
  u=$(_gs_user)
  kd=$(_gs_ssh_keys_dir "$dir") || return 1
  _gs_as_user mkdir -p "$kd" && _gs_as_user chmod 700 "$(dirname "$(dirname "$kd")")" "$(dirname "$kd")" "$kd" ||
    { _gs_say "gitserver: FAILED: cannot make $kd as $u"; return 1; }
  tmp=$dir/ssh/authorized_keys
  : >"$tmp" || return 1
  for f in "$dir"/ssh/keys/*.pub; do
    [[ -f $f ]] || continue
    name=$(basename "$f" .pub)
    printf 'command="%s %s",restrict %s\n' "$dir/ssh/git-serve" "$name" "$(cut -d' ' -f1,2 <"$f")" >>"$tmp"
  done
  # Written by the user itself: sshd (StrictModes) wants the file owned by it, mode 600.
  _gs_as_user sh -c 'umask 077 && cat >"$1.tmp" && mv -f "$1.tmp" "$1"' sh "$kd/authorized_keys" <"$tmp"
}

# ssh_git_add_key DIR NAME: a new ed25519 identity NAME, authorized on the server of DIR (a
# running sshd rereads authorized_keys at every connection); prints the private key's path.
ssh_git_add_key() {
  if [[ $# -ne 2 || ! $2 =~ ^[A-Za-z0-9._-]+$ ]]; then
    _gs_say "usage: ssh_git_add_key DIR NAME   (NAME: [A-Za-z0-9._-]+)"
    return 2
  fi
  local dir key
  dir=$(_gs_abs "$1") || { _gs_say "ssh_git_add_key: no directory $1"; return 1; }
  mkdir -p "$dir/ssh/keys" && chmod 700 "$dir/ssh/keys" || return 1
  key=$dir/ssh/keys/$2
  if [[ ! -f $key ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "$2@portcullis-test" -f "$key" </dev/null >/dev/null ||
      { _gs_say "ssh_git_add_key: ssh-keygen failed"; return 1; }
  fi
  _gs_ssh_render_keys "$dir" || return 1
  printf '%s\n' "$key"
}

# ssh_git_ssh_command KEY: a GIT_SSH_COMMAND for the server (needs ssh_git_start's exports).
ssh_git_ssh_command() {
  printf 'ssh -F /dev/null -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR\n' \
    "$1" "${SSH_GIT_KNOWN_HOSTS:?ssh_git_start first}"
}

_gs_write_git_serve() {
  local dir=$1
  cat >"$dir/ssh/git-serve.tmp" <<EOF
#!/bin/sh
# Forced command of every key of the Portcullis test sshd (written by tests/env/gitserver.sh):
# only git's transport commands, on repositories under the served root; the key's name
# becomes REMOTE_USER for the hooks.
root='$dir/repos'
REMOTE_USER=\$1
export REMOTE_USER
cmd=\${SSH_ORIGINAL_COMMAND-}
case \$cmd in
portcullis-ping) echo "pong \$REMOTE_USER"; exit 0 ;;
"git-upload-pack "* | "git-receive-pack "* | "git-upload-archive "*) ;;
*) echo "this Git server only runs git-upload-pack, git-receive-pack and git-upload-archive" >&2; exit 1 ;;
esac
verb=\${cmd%% *}
path=\${cmd#* }
case \$path in \\'*\\') path=\${path#\\'}; path=\${path%\\'} ;; esac
case \$path in *\\'* | *\\\\*) echo "unsupported repository path" >&2; exit 1 ;; esac
path=\${path#/}
case \$path in "~/"*) path=\${path#"~/"} ;; esac
case /\$path/ in */../* | */./* | //) echo "invalid repository path" >&2; exit 1 ;; esac
exec "\$verb" "\$root/\$path"
EOF
  chmod 755 "$dir/ssh/git-serve.tmp" && mv -f "$dir/ssh/git-serve.tmp" "$dir/ssh/git-serve"
}

ssh_git_start() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _gs_say "usage: ssh_git_start DIR"
    return 2
  fi
  local dir ms0 u kd attempt port pid rc deadline log conf sshd_bin got hostpub out
  ms0=$(_gs_ms)
  _gs_need ssh ssh-keygen ssh-keyscan setpriv getent useradd usermod git sha256sum || return 1
  sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
  [[ -x $sshd_bin ]] || { _gs_say "ssh_git_start: FAILED: sshd is missing (install/deps.sh installs openssh-server)"; return 1; }
  git_server_user_ensure || return 1
  u=$(_gs_user)
  dir=$(_gs_prepare "$1") || return 1
  mkdir -p "$dir/ssh" && chmod 755 "$dir/ssh" || return 1
  if [[ -f $dir/ssh/gitserver-sshd.pid ]]; then
    local old=""
    read -r old <"$dir/ssh/gitserver-sshd.pid" || true
    if _gs_alive "$old" sshd; then
      _gs_say "ssh_git_start: FAILED: an sshd already runs for $dir (ssh_git_stop it first)"
      return 1
    fi
    rm -f "$dir/ssh/gitserver-sshd.pid"
  fi
  mkdir -p /run/sshd && chmod 755 /run/sshd || return 1
  if [[ ! -f $dir/ssh/host_ed25519_key ]]; then
    ssh-keygen -q -t ed25519 -N '' -C portcullis-test-host -f "$dir/ssh/host_ed25519_key" </dev/null >/dev/null ||
      { _gs_say "ssh_git_start: FAILED: ssh-keygen (host key)"; return 1; }
  fi
  hostpub=$(cut -d' ' -f1,2 <"$dir/ssh/host_ed25519_key.pub")
  _gs_write_git_serve "$dir" || return 1
  ssh_git_add_key "$dir" client >/dev/null || return 1
  kd=$(_gs_ssh_keys_dir "$dir") || return 1
  log=$dir/ssh/sshd.log
  conf=$dir/ssh/sshd_config
  for attempt in 1 2 3; do
    port=$(gitserver_free_port) || return 1
    deadline=$((SECONDS + ${GIT_SERVER_START_TIMEOUT:-20}))
    cat >"$conf" <<EOF
# Written by tests/env/gitserver.sh
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh/host_ed25519_key
PidFile $dir/ssh/sshd.pid
AuthorizedKeysFile ${kd#"$(getent passwd "$u" | cut -d: -f6)/"}/authorized_keys
AllowUsers $u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes yes
AcceptEnv GIT_PROTOCOL
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
UseDNS no
LogLevel VERBOSE
EOF
    if ! "$sshd_bin" -t -f "$conf" >"$log" 2>&1; then
      _gs_say "ssh_git_start: FAILED: sshd -t rejects $conf"
      _gs_tail_logs "$log"
      return 1
    fi
    "$sshd_bin" -D -e -f "$conf" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/ssh/gitserver-sshd.pid"
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
      _gs_say "ssh_git_start: port $port taken (race), retrying with another"
      _gs_kill "$dir/ssh/gitserver-sshd.pid" sshd
      continue
    fi
    break
  done
  if ((rc != 0)); then
    _gs_say "ssh_git_start: FAILED: sshd on 127.0.0.1:$port $([[ $rc == 2 ]] && echo exited || echo 'did not answer in time')"
    _gs_tail_logs "$log"
    ssh_git_stop "$dir"
    return 1
  fi
  if [[ $got != "$hostpub" ]]; then
    _gs_say "ssh_git_start: FAILED: 127.0.0.1:$port presents '$got', not our host key '$hostpub'"
    ssh_git_stop "$dir"
    return 1
  fi
  printf '[127.0.0.1]:%s %s\n' "$port" "$hostpub" >"$dir/ssh/known_hosts"
  export SSH_GIT_PORT=$port SSH_GIT_URL=ssh://$u@127.0.0.1:$port SSH_GIT_KEY=$dir/ssh/keys/client
  export SSH_GIT_KNOWN_HOSTS=$dir/ssh/known_hosts SSH_GIT_HOST_KEY_PUB=$hostpub
  SSH_GIT_SSH_COMMAND=$(ssh_git_ssh_command "$SSH_GIT_KEY")
  export SSH_GIT_SSH_COMMAND
  # The whole chain: key authentication (account unlocked, StrictModes) and the forced command.
  if ! out=$($SSH_GIT_SSH_COMMAND -p "$port" "$u@127.0.0.1" portcullis-ping 2>&1) || [[ $out != "pong client" ]]; then
    _gs_say "ssh_git_start: FAILED: 'ssh $u@127.0.0.1 -p $port portcullis-ping' answered: $out"
    _gs_tail_logs "$log"
    ssh_git_stop "$dir"
    return 1
  fi
  (
    umask 077
    local v
    for v in SSH_GIT_PORT SSH_GIT_URL SSH_GIT_KEY SSH_GIT_KNOWN_HOSTS SSH_GIT_HOST_KEY_PUB SSH_GIT_SSH_COMMAND; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done >"$dir/ssh/ssh.env"
  )
  _gs_say "ssh_git_start: sshd ready at $SSH_GIT_URL (repositories in $dir/repos, user $u) in $(($(_gs_ms) - ms0)) ms"
  return 0
}

ssh_git_stop() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _gs_say "usage: ssh_git_stop DIR"
    return 2
  fi
  [[ -d $1/ssh ]] || return 0
  local dir rc=0 kd
  dir=$(_gs_abs "$1") || return 0
  _gs_kill "$dir/ssh/gitserver-sshd.pid" sshd || rc=1
  if getent passwd "$(_gs_user)" >/dev/null && kd=$(_gs_ssh_keys_dir "$dir"); then
    rm -rf "$kd"
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# http_git_start DIR
# ---------------------------------------------------------------------------------------------

_gs_http_pki() {
  local p=$1 log=$1/openssl.log
  mkdir -p "$p" && chmod 700 "$p" || return 1
  [[ -s $p/server.crt && -s $p/server.key && -s $p/ca.crt ]] && return 0
  cat >"$p/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:127.0.0.1, DNS:localhost
EOF
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -keyout "$p/ca.key" -out "$p/ca.crt" -subj "/CN=portcullis-test-git-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$p/server.key" -out "$p/server.csr" -subj "/CN=127.0.0.1" &&
      openssl x509 -req -in "$p/server.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -sha256 -days 3650 -extfile "$p/server.ext" -out "$p/server.crt" &&
      openssl verify -CAfile "$p/ca.crt" "$p/server.crt"
  } >"$log" 2>&1 || {
    cat "$log" >&2
    _gs_say "http_git_start: openssl failed to make the test PKI in $p"
    return 1
  }
  chmod 600 "$p"/*.key
  chmod 644 "$p/ca.crt"
}

# _gs_http_code URL [curl args...]: the HTTP status of a GET ("000" when nothing answered).
_gs_http_code() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" 2>/dev/null || true
}

http_git_start() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _gs_say "usage: http_git_start DIR"
    return 2
  fi
  local dir h ms0 u attempt port pport pid fpid rc deadline backend user pw code
  ms0=$(_gs_ms)
  _gs_need nginx fcgiwrap htpasswd openssl curl setpriv getent useradd usermod git || return 1
  backend=$(git --exec-path)/git-http-backend
  [[ -x $backend ]] || { _gs_say "http_git_start: FAILED: no $backend"; return 1; }
  git_server_user_ensure || return 1
  u=$(_gs_user)
  dir=$(_gs_prepare "$1") || return 1
  h=$dir/http
  mkdir -p "$h" "$h/tmp" && chmod 755 "$h" && chmod 711 "$h/tmp" || return 1
  local f old
  for f in gitserver-nginx:nginx gitserver-fcgiwrap:fcgiwrap; do
    [[ -f $h/${f%%:*}.pid ]] || continue
    old=""
    read -r old <"$h/${f%%:*}.pid" || true
    if _gs_alive "$old" "${f#*:}"; then
      _gs_say "http_git_start: FAILED: ${f#*:} already runs for $dir (http_git_stop it first)"
      return 1
    fi
    rm -f "$h/${f%%:*}.pid"
  done
  _gs_http_pki "$h/pki" || return 1
  # Basic auth: a random password, bcrypt in htpasswd (read from stdin, never on a command line).
  user=${HTTP_GIT_USERNAME:-portcullis}
  if [[ ! -s $h/password ]]; then
    (umask 077 && openssl rand -hex 16 >"$h/password") || return 1
  fi
  pw=$(<"$h/password")
  printf '%s\n' "$pw" | htpasswd -i -B -C 5 -c "$h/htpasswd.tmp" "$user" >/dev/null 2>&1 &&
    chgrp "$u" "$h/htpasswd.tmp" && chmod 640 "$h/htpasswd.tmp" && mv -f "$h/htpasswd.tmp" "$h/htpasswd" ||
    { _gs_say "http_git_start: FAILED: htpasswd"; return 1; }
  cat >"$h/askpass.tmp" <<EOF
#!/bin/sh
# GIT_ASKPASS for the test Git server (written by tests/env/gitserver.sh): root only.
case \$1 in
Username*) printf '%s\n' '$user' ;;
*) cat '$h/password' ;;
esac
EOF
  chmod 700 "$h/askpass.tmp" && mv -f "$h/askpass.tmp" "$h/askpass" || return 1

  # fcgiwrap as the repositories' owner, on a unix socket in a directory it owns.
  mkdir -p "$h/run" && chown "$u:" "$h/run" && chmod 700 "$h/run" || return 1
  rm -f "$h/run/fcgiwrap.sock"
  local home
  home=$(getent passwd "$u" | cut -d: -f6)
  setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- \
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" LANG=C.UTF-8 \
    "$(command -v fcgiwrap)" -c 4 -s "unix:$h/run/fcgiwrap.sock" </dev/null >"$h/fcgiwrap.log" 2>&1 &
  fpid=$!
  echo "$fpid" >"$h/gitserver-fcgiwrap.pid"
  deadline=$((SECONDS + ${GIT_SERVER_START_TIMEOUT:-20}))
  while [[ ! -S $h/run/fcgiwrap.sock ]]; do
    if ! _gs_running "$fpid" || ((SECONDS >= deadline)); then
      _gs_say "http_git_start: FAILED: fcgiwrap made no socket $h/run/fcgiwrap.sock"
      _gs_tail_logs "$h/fcgiwrap.log"
      http_git_stop "$dir"
      return 1
    fi
    sleep 0.02
  done

  for attempt in 1 2 3; do
    port=$(gitserver_free_port) && pport=$(gitserver_free_port) || { http_git_stop "$dir"; return 1; }
    [[ $port != "$pport" ]] || continue
    deadline=$((SECONDS + ${GIT_SERVER_START_TIMEOUT:-20}))
    cat >"$h/nginx.conf" <<EOF
# Written by tests/env/gitserver.sh
user $u $(id -gn "$u");
worker_processes 1;
pid $h/nginx.pid;
error_log $h/error.log info;
events { worker_connections 128; }
http {
  access_log $h/access.log;
  client_body_temp_path $h/tmp/client_body;
  proxy_temp_path $h/tmp/proxy;
  fastcgi_temp_path $h/tmp/fastcgi;
  uwsgi_temp_path $h/tmp/uwsgi;
  scgi_temp_path $h/tmp/scgi;
  client_max_body_size 0;
  server_tokens off;
  server {
    listen 127.0.0.1:$port ssl;
    listen 127.0.0.1:$pport;
    ssl_certificate $h/pki/server.crt;
    ssl_certificate_key $h/pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /.portcullis-ping { default_type text/plain; return 200 "pong\n"; }
    location / {
      auth_basic "Portcullis test Git server";
      auth_basic_user_file $h/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $backend;
      fastcgi_param GIT_PROJECT_ROOT $dir/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_pass unix:$h/run/fcgiwrap.sock;
    }
  }
}
EOF
    : >"$h/error.log"
    if ! nginx -t -q -p "$h/" -e "$h/error.log" -c "$h/nginx.conf" >>"$h/error.log" 2>&1; then
      _gs_say "http_git_start: FAILED: nginx -t rejects $h/nginx.conf"
      _gs_tail_logs "$h/error.log"
      http_git_stop "$dir"
      return 1
    fi
    nginx -p "$h/" -e "$h/error.log" -c "$h/nginx.conf" -g 'daemon off;' </dev/null >>"$h/error.log" 2>&1 &
    pid=$!
    echo "$pid" >"$h/gitserver-nginx.pid"
    rc=1
    while ((SECONDS < deadline)); do
      _gs_running "$pid" || { rc=2; break; }
      if [[ $(_gs_http_code "https://127.0.0.1:$port/.portcullis-ping" --cacert "$h/pki/ca.crt") == 200 &&
        $(_gs_http_code "http://127.0.0.1:$pport/.portcullis-ping") == 200 ]]; then
        rc=0
        break
      fi
      sleep 0.05
    done
    ((rc == 0)) && break
    if ((rc == 2 && attempt < 3)) && grep -q 'Address already in use' "$h/error.log"; then
      _gs_say "http_git_start: port $port or $pport taken (race), retrying with others"
      _gs_kill "$h/gitserver-nginx.pid" nginx
      continue
    fi
    break
  done
  if ((rc != 0)); then
    _gs_say "http_git_start: FAILED: nginx on 127.0.0.1:$port/$pport $([[ $rc == 2 ]] && echo exited || echo 'did not answer in time')"
    _gs_tail_logs "$h/error.log" "$h/fcgiwrap.log"
    http_git_stop "$dir"
    return 1
  fi
  # The chain: auth is enforced, and with it nginx -> fcgiwrap -> git http-backend answers (404:
  # no such repository; 502 would be a broken fcgiwrap).
  local probe="https://127.0.0.1:$port/.portcullis-no-such-repo.git/info/refs?service=git-upload-pack"
  code=$(_gs_http_code "$probe" --cacert "$h/pki/ca.crt")
  if [[ $code != 401 ]]; then
    _gs_say "http_git_start: FAILED: an anonymous request answered $code, not 401"
    _gs_tail_logs "$h/error.log"
    http_git_stop "$dir"
    return 1
  fi
  code=$(printf 'user = "%s:%s"\n' "$user" "$pw" | _gs_http_code "$probe" --cacert "$h/pki/ca.crt" -K -)
  if [[ $code != 404 ]]; then
    _gs_say "http_git_start: FAILED: an authenticated request for a missing repository answered $code, not 404"
    _gs_tail_logs "$h/error.log" "$h/fcgiwrap.log"
    http_git_stop "$dir"
    return 1
  fi
  export HTTP_GIT_PORT=$port HTTP_GIT_PLAIN_PORT=$pport
  export HTTP_GIT_URL=https://127.0.0.1:$port HTTP_GIT_PLAIN_URL=http://127.0.0.1:$pport
  export HTTP_GIT_CA_FILE=$h/pki/ca.crt HTTP_GIT_USERNAME=$user HTTP_GIT_PASSWORD=$pw
  export HTTP_GIT_PASSWORD_FILE=$h/password HTTP_GIT_ASKPASS=$h/askpass
  (
    umask 077
    local v
    for v in HTTP_GIT_PORT HTTP_GIT_PLAIN_PORT HTTP_GIT_URL HTTP_GIT_PLAIN_URL HTTP_GIT_CA_FILE \
      HTTP_GIT_USERNAME HTTP_GIT_PASSWORD HTTP_GIT_PASSWORD_FILE HTTP_GIT_ASKPASS; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done >"$h/http.env"
  )
  _gs_say "http_git_start: git http-backend ready at $HTTP_GIT_URL (and $HTTP_GIT_PLAIN_URL; repositories in $dir/repos, user $u) in $(($(_gs_ms) - ms0)) ms"
  return 0
}

http_git_stop() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _gs_say "usage: http_git_stop DIR"
    return 2
  fi
  [[ -d $1/http ]] || return 0
  local h rc=0
  h=$(_gs_abs "$1/http") || return 0
  _gs_kill "$h/gitserver-nginx.pid" nginx || rc=1
  _gs_kill "$h/gitserver-fcgiwrap.pid" fcgiwrap || rc=1
  rm -f "$h/run/fcgiwrap.sock"
  return "$rc"
}

# http_git_add_user DIR NAME: another basic-auth user NAME (random password) on the smart HTTP
# server of DIR, so pushes can come from several people (the hooks see REMOTE_USER=NAME);
# prints the path of a GIT_ASKPASS script (root only) that answers NAME and its password.  nginx
# reads htpasswd at every request, so a running server knows NAME at once; http_git_start makes
# a fresh htpasswd, so add users again after a restart.
http_git_add_user() {
  if [[ $# -ne 2 || ! $2 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
    _gs_say "usage: http_git_add_user DIR NAME   (NAME: [A-Za-z0-9][A-Za-z0-9._-]*)"
    return 2
  fi
  local h u name=$2 pw
  h=$(_gs_abs "$1/http") && [[ -f $h/htpasswd ]] || { _gs_say "http_git_add_user: http_git_start $1 first"; return 1; }
  u=$(_gs_user)
  mkdir -p "$h/users" && chmod 700 "$h/users" || return 1
  if [[ ! -s $h/users/$name.password ]]; then
    (umask 077 && openssl rand -hex 16 >"$h/users/$name.password") || return 1
  fi
  pw=$(<"$h/users/$name.password")
  cp "$h/htpasswd" "$h/htpasswd.tmp" &&
    printf '%s\n' "$pw" | htpasswd -i -B -C 5 "$h/htpasswd.tmp" "$name" >/dev/null 2>&1 &&
    chgrp "$u" "$h/htpasswd.tmp" && chmod 640 "$h/htpasswd.tmp" && mv -f "$h/htpasswd.tmp" "$h/htpasswd" ||
    { _gs_say "http_git_add_user: FAILED: htpasswd"; return 1; }
  cat >"$h/users/$name.askpass.tmp" <<EOS
#!/bin/sh
# GIT_ASKPASS of user $name for the test Git server (written by tests/env/gitserver.sh): root only.
case \$1 in
Username*) printf '%s\n' '$name' ;;
*) cat '$h/users/$name.password' ;;
esac
EOS
  chmod 700 "$h/users/$name.askpass.tmp" && mv -f "$h/users/$name.askpass.tmp" "$h/users/$name.askpass" || return 1
  printf '%s\n' "$h/users/$name.askpass"
}
