# shellcheck shell=bash
# tests/env/kube.sh -- a real Kubernetes API server (kube-apiserver 1.20.2 + etcd 3.4) for
# Portcullis' end-to-end suites and CI.  Source it; do not execute it.
#
#   source tests/env/kube.sh
#   kube_build                      # build/cache the binaries (once per machine), exports KUBE_BIN_DIR
#   dir=$(mktemp -d); trap 'kube_stop "$dir"; rm -rf "$dir"' EXIT
#   kube_start "$dir" || exit 1     # etcd + kube-apiserver, exports KUBE_API_URL, KUBECONFIG_ADMIN, ...
#   kube_start_controller_manager "$dir" || exit 1   # optional: Deployments get ReplicaSets
#   kube_stop "$dir"                # idempotent, by pid
#
# Needs (install/deps.sh installs them on Debian 12): golang-go, make, rsync, dpkg-dev and
# deb-src lines in apt (only to build), etcd-server, openssl, curl.  kubectl is used from PATH;
# if there is none, kube_build builds kubectl 1.20.2 too and appends KUBE_BIN_DIR to PATH.
#
# The functions never change the caller's shell options and return non-zero (with a message on
# stderr) on failure; they work with and without `set -euo pipefail` in the caller.
#
# Environment knobs:
#   PORTCULLIS_CACHE        cache root (default /var/cache/portcullis); binaries go to
#                           $PORTCULLIS_CACHE/kube-1.20.2/bin
#   KUBE_SRC_TARBALL        use this kubernetes_1.20.5+really1.20.2.orig.tar.gz instead of apt-get source
#   KUBE_REFLECT2_TARBALL   use this golang-github-modern-go-reflect2_1.0.2.orig.tar.gz instead of apt-get source
#   KUBE_BUILD_LOCK_TIMEOUT seconds to wait for a concurrent build (default 3600)
#   KUBE_START_TIMEOUT      seconds kube_start waits for /readyz (default 60)
#
# Exports after kube_start DIR:
#   KUBE_DIR KUBE_API_URL KUBE_CA_FILE KUBE_ADMIN_TOKEN KUBE_VIEWER_TOKEN KUBECONFIG_ADMIN
#   KUBECONFIG_VIEWER KUBE_ETCD_URL KUBECTL.  The same values are written to DIR/kube.env
#   (sourceable) so that another shell can use the instance.
# Files in DIR: kubeconfig, kubeconfig-viewer, *.log, *.pid, pki/, etcd-data/, tokens.csv.
#
# Users: "admin" (group system:masters), "viewer" (no RBAC bindings: only discovery and
# public-info), "portcullisd" (group portcullis:reconcilers, no bindings until a suite
# applies install/kubernetes RBAC; kubeconfig-portcullisd), "system:kube-controller-manager" (system:masters, for the controller manager).
#
# Facts for suite writers (kubectl 1.32 from the machine image against this 1.20 server):
#  - The 1.20 server has no server-side field validation; kubectl sends fieldValidation=Strict,
#    the server ignores it, and kubectl falls back to client-side validation against
#    /openapi/v2 (after a 404 on /openapi/v3).  With --validate=false a client-side apply of an
#    unknown field is silently dropped by the server; --server-side apply rejects it.
#  - kubectl >= 1.21 hides metadata.managedFields unless --show-managed-fields (a flag kubectl
#    1.20 lacks); `kubectl auth whoami` does not work (no SelfSubjectReview API in 1.20).
#  - No scheduler and no kubelet: Pods stay Pending, Deployments never become available.

KUBE_VERSION=1.20.2
_KUBE_SRC_TARBALL_NAME=kubernetes_1.20.5+really1.20.2.orig.tar.gz
# What the cached binaries were built from; a different value in bin/.recipe forces a rebuild.
# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which corrupts memory when built
# with Go >= 1.18 (Debian 12 has Go 1.19): json-iterator's map encoding calls
# reflect.mapiterinit with a too-small hiter, and the apiserver then panics on JSON requests
# (e.g. "stream error ... INTERNAL_ERROR" on `kubectl apply --dry-run=server`).  v1.0.2, the
# upstream fix, comes from Debian's golang-github-modern-go-reflect2 source package.
_KUBE_RECIPE="kubernetes-1.20.2 orig + reflect2-1.0.2; recipe 2"

_kube_say() { printf '%s\n' "$*" >&2; }

# kube_free_port: print a TCP port nobody on this machine uses now.  Pure bash + /proc (no python,
# no ss): picks a random port below the kernel's ephemeral range (so an outgoing connection can
# not take it between our pick and the server's bind) and skips every port that appears in
# /proc/net/tcp{,6} in any state.  A remaining race with another process is handled by
# kube_start, which retries with new ports when a server reports "address already in use".
kube_free_port() {
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
    # One grep per candidate: bash's `read` over /proc/net/tcp is quadratic in the kernel and
    # takes over a minute with thousands of sockets in TIME_WAIT.
    grep -qs ":$(printf '%04X' "$port") " /proc/net/tcp /proc/net/tcp6 && continue
    printf '%s\n' "$port"
    return 0
  done
  _kube_say "kube_free_port: no free port found in $min-$max"
  return 1
}

# ---------------------------------------------------------------------------------------------
# kube_build
# ---------------------------------------------------------------------------------------------

_kube_cache_dir() { printf '%s\n' "${PORTCULLIS_CACHE:-/var/cache/portcullis}/kube-$KUBE_VERSION"; }

# The binaries kube_build must provide (kubectl only when there is none on PATH).
_kube_wanted_bins() {
  local w="kube-apiserver kube-controller-manager"
  command -v kubectl >/dev/null 2>&1 || w+=" kubectl"
  printf '%s\n' "$w"
}

_kube_bins_cached() {
  local bin b
  bin="$(_kube_cache_dir)/bin"
  for b in $(_kube_wanted_bins); do
    [[ -x $bin/$b && -s $bin/$b ]] || return 1
  done
  [[ -f $bin/.recipe && $(<"$bin/.recipe") == "$_KUBE_RECIPE" ]]
}

_kube_build_export() {
  KUBE_BIN_DIR="$(_kube_cache_dir)/bin"
  export KUBE_BIN_DIR
  if command -v kubectl >/dev/null 2>&1; then
    KUBECTL=$(command -v kubectl)
  else
    KUBECTL=$KUBE_BIN_DIR/kubectl
    PATH="$PATH:$KUBE_BIN_DIR"
    export PATH
  fi
  export KUBECTL
}

kube_build() {
  if _kube_bins_cached; then
    _kube_build_export
    _kube_say "kube_build: cached in $KUBE_BIN_DIR"
    return 0
  fi
  local kdir
  kdir=$(_kube_cache_dir)
  if ! mkdir -p "$kdir/bin" 2>/dev/null || [[ ! -w $kdir ]]; then
    _kube_say "kube_build: FAILED: cannot create or write the cache directory $kdir"
    _kube_say "kube_build: run as root, or 'sudo install -d -o \$USER ${PORTCULLIS_CACHE:-/var/cache/portcullis}', or set PORTCULLIS_CACHE"
    return 1
  fi
  local rc=0
  # The build runs in a subshell: its traps clean the temp dir on any exit, and its fd 9 holds
  # the build lock (flock), so concurrent suites on one machine build only once.
  (
    set +e -o pipefail
    fail() { _kube_say "kube_build: FAILED: $*"; exit 1; }
    command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is missing"
    if ! flock -n 9; then
      _kube_say "kube_build: another kube_build holds $kdir/.lock; waiting"
      flock -w "${KUBE_BUILD_LOCK_TIMEOUT:-3600}" 9 || fail "timed out waiting for $kdir/.lock"
    fi
    if _kube_bins_cached; then
      _kube_say "kube_build: built meanwhile by another process"
      exit 0
    fi
    if [[ -f $kdir/bin/.recipe ]]; then
      _kube_say "kube_build: cached binaries are from '$(<"$kdir/bin/.recipe")', want '$_KUBE_RECIPE'; rebuilding"
    fi
    # Leftovers of builds that were killed (we hold the lock, so nobody else is building).
    rm -rf "$kdir"/.build.* 2>/dev/null || { chmod -R u+w "$kdir"/.build.* && rm -rf "$kdir"/.build.*; }

    local t want what tool gover tarball src log mpid rc start b f
    want=$(_kube_wanted_bins)
    for tool in go make rsync tar gzip; do
      command -v "$tool" >/dev/null 2>&1 ||
        fail "'$tool' is missing (install/deps.sh installs golang-go, build-essential, rsync)"
    done
    gover=$(GOFLAGS='' go version) || fail "'go version' failed"
    _kube_say "kube_build: building $want $KUBE_VERSION with $gover (about 10 min on 2 cores)"

    # Inside the cache dir: same file system, so installing the results is an atomic rename.
    t=$(mktemp -d "$kdir/.build.XXXXXX") || fail "mktemp in $kdir"
    trap 'chmod -R u+w "$t" 2>/dev/null; rm -rf "$t"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    chmod 755 "$t" # apt's _apt user must be able to write the download
    start=$SECONDS

    if [[ -n ${KUBE_SRC_TARBALL:-} ]]; then
      tarball=$KUBE_SRC_TARBALL
      [[ -r $tarball ]] || fail "KUBE_SRC_TARBALL=$tarball is not readable"
    else
      command -v apt-get >/dev/null 2>&1 || fail "apt-get is missing (set KUBE_SRC_TARBALL instead)"
      _kube_say "kube_build: apt-get source --download-only kubernetes"
      if ! (cd "$t" && apt-get source --download-only kubernetes) >"$t/apt.log" 2>&1; then
        tail -n 20 "$t/apt.log" >&2
        fail "apt-get source kubernetes failed; deb-src lines must be enabled and 'apt-get update' run (install/deps.sh does both)"
      fi
      tarball=$t/$_KUBE_SRC_TARBALL_NAME
      [[ -f $tarball ]] || fail "apt-get source did not produce $_KUBE_SRC_TARBALL_NAME (got: $(ls "$t"))"
    fi
    _kube_say "kube_build: unpacking $(basename "$tarball")"
    tar -xzf "$tarball" -C "$t" || fail "cannot unpack $tarball"
    src=$t/kubernetes-$KUBE_VERSION
    [[ -f $src/Makefile ]] || fail "$tarball did not contain kubernetes-$KUBE_VERSION/"
    rm -f "$t/$_KUBE_SRC_TARBALL_NAME"
    mkdir -p "$src/.go/src/k8s.io" "$t/home" || fail "mkdir"
    ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes" || fail "symlink"

    # Replace the vendored reflect2 v1.0.1 by v1.0.2 (see _KUBE_RECIPE).
    local r2tar r2dir r2vendor=$src/vendor/github.com/modern-go/reflect2
    if [[ -n ${KUBE_REFLECT2_TARBALL:-} ]]; then
      r2tar=$KUBE_REFLECT2_TARBALL
      [[ -r $r2tar ]] || fail "KUBE_REFLECT2_TARBALL=$r2tar is not readable"
    else
      _kube_say "kube_build: apt-get source --download-only golang-github-modern-go-reflect2"
      mkdir -p "$t/r2" && chmod 755 "$t/r2" || fail "mkdir"
      if ! (cd "$t/r2" && apt-get source --download-only golang-github-modern-go-reflect2) >"$t/apt-r2.log" 2>&1; then
        tail -n 20 "$t/apt-r2.log" >&2
        fail "apt-get source golang-github-modern-go-reflect2 failed"
      fi
      r2tar=$(ls "$t"/r2/golang-github-modern-go-reflect2_*.orig.tar.gz 2>/dev/null | head -n 1)
      [[ -n $r2tar ]] || fail "apt-get source did not produce golang-github-modern-go-reflect2_*.orig.tar.gz"
    fi
    mkdir -p "$t/r2x" && tar -xzf "$r2tar" -C "$t/r2x" || fail "cannot unpack $r2tar"
    r2dir=$(dirname "$(ls "$t"/r2x/*/reflect2.go 2>/dev/null | head -n 1)")
    [[ -f $r2dir/go_above_118.go ]] ||
      fail "$r2tar is not reflect2 >= 1.0.2 (no go_above_118.go); Go >= 1.18 needs it"
    [[ -f $r2vendor/reflect2.go ]] || fail "vendor/github.com/modern-go/reflect2 missing in the kubernetes source"
    rm -f "$r2vendor"/*.go "$r2vendor"/*.s || fail "rm in $r2vendor"
    for f in "$r2dir"/*.go "$r2dir"/*.s; do
      [[ $f == *_test.go ]] && continue
      cp "$f" "$r2vendor/" || fail "cp $f"
    done
    sed -i 's|^\(# github.com/modern-go/reflect2\) v1.0.1 => github.com/modern-go/reflect2 v1.0.1$|\1 v1.0.2 => github.com/modern-go/reflect2 v1.0.2|; s|^\(# github.com/modern-go/reflect2 => github.com/modern-go/reflect2\) v1.0.1$|\1 v1.0.2|' \
      "$src/vendor/modules.txt" || fail "sed vendor/modules.txt"
    _kube_say "kube_build: vendored github.com/modern-go/reflect2 replaced by $(basename "$r2tar" .orig.tar.gz)"

    what=""
    for b in $want; do what+=" cmd/$b"; done
    what=${what# }
    log=$t/make.log
    _kube_say "kube_build: make WHAT=\"$what\" (log: $log, removed afterwards)"
    (
      cd "$src" || exit 1
      exec env -u GOFLAGS -u GO111MODULE -u GOBIN -u GOROOT -u KUBE_GIT_VERSION_FILE \
        GOPATH="$src/.go" CGO_ENABLED=0 HOME="$t/home" GOPROXY=off GOTOOLCHAIN=local \
        make WHAT="$what"
    ) </dev/null >"$log" 2>&1 &
    mpid=$!
    local next=$((SECONDS + 60))
    while kill -0 "$mpid" 2>/dev/null; do
      sleep 1
      if ((SECONDS >= next)); then
        _kube_say "kube_build: still building ($((SECONDS - start)) s)"
        next=$((SECONDS + 60))
      fi
    done
    rc=0
    wait "$mpid" || rc=$?
    if ((rc != 0)); then
      tail -n 60 "$log" >&2
      fail "make exited with $rc"
    fi
    local vcmd
    for b in $want; do
      [[ -x $src/_output/bin/$b ]] || fail "make did not produce _output/bin/$b"
      vcmd=(--version)
      [[ $b != kubectl ]] || vcmd=(version --client)
      "$src/_output/bin/$b" "${vcmd[@]}" 2>/dev/null | grep -q "v$KUBE_VERSION" ||
        fail "'$b ${vcmd[*]}' does not report v$KUBE_VERSION: $("$src/_output/bin/$b" "${vcmd[@]}" 2>&1)"
    done
    for b in $want; do
      # rename(2) within one file system: readers never see a partial binary.
      cp -p "$src/_output/bin/$b" "$t/$b.new" && mv -f "$t/$b.new" "$kdir/bin/$b" ||
        fail "cannot install $b into $kdir/bin"
    done
    # A kubectl of an older recipe that this build did not replace would be stale.
    [[ " $want " == *" kubectl "* ]] || rm -f "$kdir/bin/kubectl"
    printf '%s\n' "$_KUBE_RECIPE" >"$t/recipe.new" && mv -f "$t/recipe.new" "$kdir/bin/.recipe" ||
      fail "cannot write $kdir/bin/.recipe"
    _kube_say "kube_build: built and cached in $kdir/bin in $((SECONDS - start)) s; cleaning up"
    exit 0
  ) 9>"$kdir/.lock" || rc=$?
  ((rc == 0)) || return "$rc"
  _kube_bins_cached || { _kube_say "kube_build: FAILED: binaries missing in $kdir/bin after build"; return 1; }
  _kube_build_export
  return 0
}

# ---------------------------------------------------------------------------------------------
# process helpers
# ---------------------------------------------------------------------------------------------

# _kube_running PID: true when PID exists and is not a zombie.
_kube_running() {
  local pid=$1 state rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  read -r _ rest 2>/dev/null </proc/"$pid"/stat || return 1
  state=${rest##*) }
  state=${state%% *}
  [[ $state != Z && $state != X ]]
}

# _kube_alive PID NAME: true when PID runs and is NAME (guards against pid reuse).  Not usable
# in the first milliseconds after `cmd &`: until the exec, the child's cmdline is the shell's.
_kube_alive() {
  local pid=$1 name=$2 cmd rest ppid
  _kube_running "$pid" || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline) || return 1
  [[ $cmd == *"$name"* ]] && return 0
  # Not exec'd yet but forked by this shell: ours too.
  read -r _ rest 2>/dev/null </proc/"$pid"/stat || return 1
  rest=${rest##*) }
  read -r _ ppid _ <<<"$rest"
  [[ $ppid == "$$" || $ppid == "${BASHPID:-$$}" ]]
}

# _kube_kill DIR NAME: stop the process recorded in DIR/NAME.pid, TERM then KILL.
_kube_kill() {
  local dir=$1 name=$2 pid deadline
  [[ -f $dir/$name.pid ]] || return 0
  pid=""
  read -r pid <"$dir/$name.pid" || true
  if _kube_alive "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + ${KUBE_STOP_TIMEOUT:-15}))
    while _kube_alive "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.1; done
    if _kube_alive "$pid" "$name"; then
      _kube_say "kube_stop: $name (pid $pid) ignored TERM; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while _kube_alive "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.1; done
    fi
    if _kube_alive "$pid" "$name"; then
      _kube_say "kube_stop: $name (pid $pid) does not die"
      return 1
    fi
  fi
  # Reap it when it is our child (no-op otherwise).
  wait "$pid" 2>/dev/null || true
  rm -f "$dir/$name.pid"
  return 0
}

_kube_tail_logs() {
  local dir=$1 f
  shift
  for f in "$@"; do
    [[ -f $dir/$f ]] || continue
    _kube_say "----- last 40 lines of $dir/$f -----"
    tail -n 40 "$dir/$f" >&2
  done
  _kube_say "-----"
}

# _kube_ms: milliseconds since the epoch (bash >= 5 has EPOCHREALTIME; else whole seconds).
_kube_ms() {
  local r=${EPOCHREALTIME:-}
  if [[ $r == *[.,]* ]]; then
    r=${r/,/.}
    printf '%s\n' "$((${r%.*} * 1000 + 10#${r#*.} / 1000))"
  else
    printf '%s\n' "$(($(date +%s) * 1000))"
  fi
}

_kube_abs() { (cd "$1" 2>/dev/null && pwd -P); }

# _kube_write_kubeconfig FILE SERVER CAFILE USER TOKEN
_kube_write_kubeconfig() {
  local file=$1 server=$2 ca=$3 user=$4 token=$5 ca64
  ca64=$(base64 -w0 <"$ca") || return 1
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: portcullis-test
  cluster:
    server: $server
    certificate-authority-data: $ca64
users:
- name: $user
  user:
    token: $token
contexts:
- name: portcullis-test
  context:
    cluster: portcullis-test
    user: $user
    namespace: default
current-context: portcullis-test
preferences: {}
EOF
  )
}

# _kube_pki DIR/pki: CA, serving cert for 127.0.0.1/localhost, service-account key pair (all
# ECDSA P-256: RSA key generation is slow on a loaded 2-core machine; tokens are then ES256).
_kube_pki() {
  local p=$1 log=$1/openssl.log
  mkdir -p "$p" && chmod 700 "$p" || return 1
  cat >"$p/serving.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, IP:10.0.0.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
EOF
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -keyout "$p/ca.key" -out "$p/ca.crt" -subj "/CN=portcullis-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$p/serving.key" -out "$p/serving.csr" -subj "/CN=kube-apiserver" &&
      openssl x509 -req -in "$p/serving.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -sha256 -days 3650 -extfile "$p/serving.ext" -out "$p/serving.crt" &&
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p/sa.key" &&
      openssl pkey -in "$p/sa.key" -pubout -out "$p/sa.pub" &&
      openssl verify -CAfile "$p/ca.crt" "$p/serving.crt"
  } >"$log" 2>&1 || {
    cat "$log" >&2
    _kube_say "kube_start: openssl failed to make the test PKI in $p"
    return 1
  }
  chmod 600 "$p"/*.key
}

# _kube_wait_http NAME PID URL DEADLINE [curl args...]: poll URL until it answers 2xx.
# Returns 0 ready, 1 timeout, 2 process died.
_kube_wait_http() {
  local pid=$2 url=$3 deadline=$4
  shift 4
  while ((SECONDS < deadline)); do
    if ! _kube_running "$pid"; then return 2; fi
    if curl -fsS --max-time 2 -o /dev/null "$@" "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# kube_start DIR
# ---------------------------------------------------------------------------------------------

# _kube_launch_apiserver DIR ETCD_PORT PORT: starts kube-apiserver in the background (the
# caller reads $! and waits for it); remembers its ports so kube_restart_apiserver can reuse them.
_kube_launch_apiserver() {
  local dir=$1 cport=$2 port=$3 pki=$1/pki
  printf '%s %s\n' "$cport" "$port" >"$dir/apiserver.ports"
  "$KUBE_BIN_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$cport" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --cert-dir "$dir/apiserver-certs" \
    --tls-cert-file "$pki/serving.crt" --tls-private-key-file "$pki/serving.key" \
    --client-ca-file "$pki/ca.crt" \
    --token-auth-file "$dir/tokens.csv" \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --api-audiences "https://kubernetes.default.svc.cluster.local" \
    --authorization-mode RBAC \
    --service-cluster-ip-range 10.0.0.0/24 \
    --endpoint-reconciler-type none \
    --profiling=false \
    </dev/null >>"$dir/kube-apiserver.log" 2>&1 &
}

# kube_stop_apiserver DIR / kube_restart_apiserver DIR: stop the apiserver alone (etcd and its
# data stay), and start it again on the same port, waiting for /readyz (60 s at most).
kube_stop_apiserver() {
  _kube_kill "$1" kube-apiserver
}

kube_restart_apiserver() {
  local dir=$1 cport port apid deadline
  read -r cport port <"$dir/apiserver.ports" || return 1
  _kube_kill "$dir" kube-apiserver
  _kube_launch_apiserver "$dir" "$cport" "$port"
  apid=$!
  echo "$apid" >"$dir/kube-apiserver.pid"
  deadline=$((SECONDS + ${KUBE_START_TIMEOUT:-60}))
  _kube_wait_http kube-apiserver "$apid" "https://127.0.0.1:$port/readyz" "$deadline" \
    --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cut -d, -f1 <"$dir/tokens.csv" | head -n 1)"
}

kube_start() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _kube_say "usage: kube_start DIR"
    return 2
  fi
  local dir t0 tool ms0 ms1 ms2 ms3
  t0=$SECONDS
  ms0=$(_kube_ms)
  mkdir -p "$1" || { _kube_say "kube_start: cannot create $1"; return 1; }
  dir=$(_kube_abs "$1") || return 1
  for tool in etcd openssl curl base64 tr; do
    command -v "$tool" >/dev/null 2>&1 ||
      { _kube_say "kube_start: FAILED: '$tool' is missing (install/deps.sh installs it)"; return 1; }
  done
  if [[ ! -x ${KUBE_BIN_DIR:-/nonexistent}/kube-apiserver ]]; then
    kube_build || return 1
  fi
  if [[ -f $dir/kube-apiserver.pid || -f $dir/etcd.pid ]]; then
    local p1="" p2=""
    [[ ! -f $dir/etcd.pid ]] || read -r p1 <"$dir/etcd.pid" || true
    [[ ! -f $dir/kube-apiserver.pid ]] || read -r p2 <"$dir/kube-apiserver.pid" || true
    if _kube_alive "${p1:-}" etcd || _kube_alive "${p2:-}" kube-apiserver; then
      _kube_say "kube_start: FAILED: an instance is already running in $dir (kube_stop it first)"
      return 1
    fi
    rm -f "$dir/etcd.pid" "$dir/kube-apiserver.pid"
  fi
  local deadline=$((t0 + ${KUBE_START_TIMEOUT:-60}))

  # --- etcd (retried with new ports if one was taken meanwhile); the PKI is made while it boots
  local pki=$dir/pki admin_token="" viewer_token kcm_token reconciler_token
  local attempt rc epid cport pport unset_etcd=() v
  # etcd also reads ETCD_* variables; keep the caller's out of it.
  for v in $(compgen -e ETCD_ || true); do unset_etcd+=(-u "$v"); done
  for attempt in 1 2 3; do
    cport=$(kube_free_port) && pport=$(kube_free_port) || { kube_stop "$dir"; return 1; }
    [[ $cport != "$pport" ]] || continue
    rm -rf "$dir/etcd-data"
    # A single member: short election timeout so it elects itself in ~0.3 s instead of ~1 s.
    env "${unset_etcd[@]}" \
      etcd --name portcullis-test --data-dir "$dir/etcd-data" \
      --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
      --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
      --initial-cluster "portcullis-test=http://127.0.0.1:$pport" --initial-cluster-state new \
      --initial-cluster-token "portcullis-test-$$-$RANDOM" \
      --heartbeat-interval 50 --election-timeout 250 \
      --logger zap --log-outputs stderr --snapshot-count 10000 --quota-backend-bytes 2147483648 \
      </dev/null >"$dir/etcd.log" 2>&1 &
    epid=$!
    echo "$epid" >"$dir/etcd.pid"
    if [[ -z $admin_token ]]; then
      if ! _kube_pki "$pki"; then
        kube_stop "$dir"
        return 1
      fi
      admin_token=$(openssl rand -hex 24) && viewer_token=$(openssl rand -hex 24) &&
        kcm_token=$(openssl rand -hex 24) && reconciler_token=$(openssl rand -hex 24) && (
        umask 077
        cat >"$dir/tokens.csv" <<EOF
$admin_token,admin,uid-admin,"system:masters"
$viewer_token,viewer,uid-viewer
$kcm_token,system:kube-controller-manager,uid-kcm,"system:masters"
$reconciler_token,portcullisd,uid-portcullisd,"portcullis:reconcilers"
EOF
      ) || {
        _kube_say "kube_start: FAILED: cannot make tokens in $dir"
        kube_stop "$dir"
        return 1
      }
      ms1=$(_kube_ms)
    fi
    rc=0
    _kube_wait_http etcd "$epid" "http://127.0.0.1:$cport/health" "$deadline" || rc=$?
    ((rc == 0)) && break
    if ((rc == 2 && attempt < 3)) && grep -q 'address already in use' "$dir/etcd.log"; then
      _kube_say "kube_start: etcd port taken (race), retrying with other ports"
      _kube_kill "$dir" etcd
      continue
    fi
    break
  done
  if ((rc != 0)); then
    _kube_say "kube_start: FAILED: etcd did not become healthy on 127.0.0.1:$cport (rc=$rc)"
    _kube_tail_logs "$dir" etcd.log
    kube_stop "$dir"
    return 1
  fi

  ms2=$(_kube_ms)
  # --- kube-apiserver
  # --endpoint-reconciler-type none: the default (lease) tries every 10 s to write 127.0.0.1 into
  # the endpoints of service "kubernetes" and fails ("may not be in the loopback range").
  local port apid url="" hdr=$dir/.auth-header
  (
    umask 077
    printf 'Authorization: Bearer %s\n' "$admin_token" >"$hdr"
  ) || return 1
  for attempt in 1 2 3; do
    port=$(kube_free_port) || { kube_stop "$dir"; return 1; }
    url=https://127.0.0.1:$port
    _kube_launch_apiserver "$dir" "$cport" "$port"
    apid=$!
    echo "$apid" >"$dir/kube-apiserver.pid"
    rc=0
    _kube_wait_http kube-apiserver "$apid" "$url/readyz" "$deadline" --cacert "$pki/ca.crt" -H "@$hdr" || rc=$?
    ((rc == 0)) && break
    if ((rc == 2 && attempt < 3)) && grep -q 'address already in use' "$dir/kube-apiserver.log"; then
      _kube_say "kube_start: apiserver port taken (race), retrying with another port"
      _kube_kill "$dir" kube-apiserver
      continue
    fi
    break
  done
  # /readyz can answer before the bootstrap controller made the default namespaces.
  if ((rc == 0)); then
    local ns
    for ns in default kube-system kube-public; do
      _kube_wait_http kube-apiserver "$apid" "$url/api/v1/namespaces/$ns" "$deadline" \
        --cacert "$pki/ca.crt" -H "@$hdr" || { rc=$?; break; }
    done
  fi
  if ((rc != 0)); then
    local why="did not become ready within ${KUBE_START_TIMEOUT:-60} s"
    ((rc == 2)) && why="exited"
    _kube_say "kube_start: FAILED: kube-apiserver on $url $why"
    _kube_tail_logs "$dir" etcd.log kube-apiserver.log
    kube_stop "$dir"
    return 1
  fi

  ms3=$(_kube_ms)
  rm -f "$hdr"
  # --- kubeconfigs and exports
  _kube_write_kubeconfig "$dir/kubeconfig" "$url" "$pki/ca.crt" admin "$admin_token" &&
    _kube_write_kubeconfig "$dir/kubeconfig-viewer" "$url" "$pki/ca.crt" viewer "$viewer_token" &&
    _kube_write_kubeconfig "$dir/kubeconfig-portcullisd" "$url" "$pki/ca.crt" portcullisd "$reconciler_token" &&
    _kube_write_kubeconfig "$dir/kubeconfig-controller-manager" "$url" "$pki/ca.crt" \
      system:kube-controller-manager "$kcm_token" || {
    _kube_say "kube_start: FAILED: cannot write kubeconfigs in $dir"
    kube_stop "$dir"
    return 1
  }
  export KUBE_DIR=$dir KUBE_API_URL=$url KUBE_CA_FILE=$pki/ca.crt
  export KUBE_ADMIN_TOKEN=$admin_token KUBE_VIEWER_TOKEN=$viewer_token
  export KUBECONFIG_ADMIN=$dir/kubeconfig KUBECONFIG_VIEWER=$dir/kubeconfig-viewer
  export KUBECONFIG_RECONCILER=$dir/kubeconfig-portcullisd
  export KUBE_ETCD_URL=http://127.0.0.1:$cport
  [[ -n ${KUBECTL:-} ]] || KUBECTL=$(command -v kubectl || echo "$KUBE_BIN_DIR/kubectl")
  export KUBECTL
  (
    umask 077
    local v
    for v in KUBE_DIR KUBE_API_URL KUBE_CA_FILE KUBE_ADMIN_TOKEN KUBE_VIEWER_TOKEN \
      KUBECONFIG_ADMIN KUBECONFIG_VIEWER KUBE_ETCD_URL KUBE_BIN_DIR KUBECTL; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done >"$dir/kube.env"
  )
  _kube_say "kube_start: kube-apiserver $KUBE_VERSION ready at $url (etcd $KUBE_ETCD_URL) in $(((ms3 - ms0) / 1000)).$(printf '%03d' $(((ms3 - ms0) % 1000))) s (pki $((ms1 - ms0)) ms, etcd ready at $((ms2 - ms0)) ms, apiserver $((ms3 - ms2)) ms); kubeconfig $dir/kubeconfig"
  return 0
}

# kube_start_controller_manager DIR: kube-controller-manager against the apiserver of DIR.
kube_start_controller_manager() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _kube_say "usage: kube_start_controller_manager DIR"
    return 2
  fi
  local dir t0 port pid rc attempt pki apid
  t0=$SECONDS
  dir=$(_kube_abs "$1") || { _kube_say "kube_start_controller_manager: no directory $1"; return 1; }
  pki=$dir/pki
  apid=""
  [[ ! -f $dir/kube-apiserver.pid ]] || read -r apid <"$dir/kube-apiserver.pid" || true
  if ! _kube_alive "${apid:-}" kube-apiserver || [[ ! -f $dir/kubeconfig-controller-manager ]]; then
    _kube_say "kube_start_controller_manager: FAILED: no running kube_start instance in $dir"
    return 1
  fi
  if [[ ! -x ${KUBE_BIN_DIR:-/nonexistent}/kube-controller-manager ]]; then
    kube_build || return 1
  fi
  local kc=$dir/kubeconfig-controller-manager deadline=$((t0 + ${KUBE_START_TIMEOUT:-60}))
  for attempt in 1 2 3; do
    port=$(kube_free_port) || { _kube_kill "$dir" kube-controller-manager; return 1; }
    "$KUBE_BIN_DIR/kube-controller-manager" \
      --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
      --bind-address 127.0.0.1 --secure-port "$port" --port 0 \
      --tls-cert-file "$pki/serving.crt" --tls-private-key-file "$pki/serving.key" \
      --cert-dir "$dir/controller-manager-certs" \
      --controllers '*' --use-service-account-credentials=false --leader-elect=false \
      --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
      --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
      --service-cluster-ip-range 10.0.0.0/24 --profiling=false \
      </dev/null >"$dir/kube-controller-manager.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/kube-controller-manager.pid"
    rc=0
    _kube_wait_http kube-controller-manager "$pid" "https://127.0.0.1:$port/healthz" "$deadline" \
      --cacert "$pki/ca.crt" || rc=$?
    ((rc == 0)) && break
    if ((rc == 2 && attempt < 3)) && grep -q 'address already in use' "$dir/kube-controller-manager.log"; then
      _kube_say "kube_start_controller_manager: port taken (race), retrying with another port"
      _kube_kill "$dir" kube-controller-manager
      continue
    fi
    break
  done
  if ((rc != 0)); then
    _kube_say "kube_start_controller_manager: FAILED: /healthz on 127.0.0.1:$port did not answer (rc=$rc)"
    _kube_tail_logs "$dir" kube-controller-manager.log
    _kube_kill "$dir" kube-controller-manager
    return 1
  fi
  export KUBE_CONTROLLER_MANAGER_URL=https://127.0.0.1:$port
  printf 'export KUBE_CONTROLLER_MANAGER_URL=%q\n' "$KUBE_CONTROLLER_MANAGER_URL" >>"$dir/kube.env"
  _kube_say "kube_start_controller_manager: ready at $KUBE_CONTROLLER_MANAGER_URL in $((SECONDS - t0)) s"
  return 0
}

# ---------------------------------------------------------------------------------------------
# kube_stop DIR  (idempotent; safe in EXIT traps, also when kube_start never ran or failed)
# ---------------------------------------------------------------------------------------------

kube_stop() {
  if [[ $# -ne 1 || -z $1 ]]; then
    _kube_say "usage: kube_stop DIR"
    return 2
  fi
  [[ -d $1 ]] || return 0
  local dir=$1 name rc=0
  for name in kube-controller-manager kube-apiserver etcd; do
    _kube_kill "$dir" "$name" || rc=1
  done
  rm -f "$dir/.auth-header"
  return "$rc"
}
