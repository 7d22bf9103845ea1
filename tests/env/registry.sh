# shellcheck shell=bash
# tests/env/registry.sh -- a real OCI registry on loopback for Portcullis' end-to-end suites:
# Debian's docker-registry (distribution 2.8.2) with htpasswd (bcrypt) auth and TLS from a CA
# made here.  Source it; do not execute it.
#
#   source tests/env/registry.sh
#   dir=$(mktemp -d)
#   trap 'registry_stop "$dir"' EXIT
#   registry_start "$dir" || exit 1           # exports REGISTRY_* (below)
#   registry_push_image team/app 1.2.3        # prints the manifest digest
#
# registry_start DIR   the registry (config, data, htpasswd, PKI and log under DIR/registry) on
#                      a free loopback port; waits (deadline) until /v2/ answers 401.  Exports:
#     REGISTRY_URL (https://127.0.0.1:PORT) REGISTRY_HOST (127.0.0.1:PORT) REGISTRY_PORT
#     REGISTRY_CA_FILE REGISTRY_USERNAME REGISTRY_PASSWORD
#     REGISTRY_CREDENTIALS_FILE (0600, one line "username:password", for the daemon's config)
# registry_push_image REPO TAG [CONTENT]   pushes a small OCI image through the distribution
#                      API (config blob + one layer made from CONTENT, then the manifest under
#                      TAG); prints the manifest's digest.  CONTENT defaults to "REPO:TAG".
# registry_stop DIR    stops it (by pid); idempotent, safe in an EXIT trap.
# Functions return non-zero with a message (and the log's tail) on failure.

_reg_say() { printf '%s\n' "$*" >&2; }

_reg_free_port() {
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + (RANDOM % 12000)))
    grep -qs ":$(printf '%04X' "$port") " /proc/net/tcp /proc/net/tcp6 && continue
    printf '%s\n' "$port"
    return 0
  done
  return 1
}

_reg_alive() {
  local pid=$1 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline) || return 1
  [[ $cmd == *docker-registry* ]]
}

# _reg_exec_wait PID: waits (5 s at most) until the child forked to run docker-registry has
# exec'd it: right after the fork its command line is still the shell's, and a busy machine
# showed that window (the start was taken for a death). Fails when the child is gone.
_reg_exec_wait() {
  local pid=$1 deadline=$((SECONDS + 5)) state
  while ((SECONDS < deadline)); do
    _reg_alive "$pid" && return 0
    state=$(cut -d' ' -f3 /proc/"$pid"/stat 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]] || return 1
    sleep 0.02
  done
  return 1
}

_reg_pki() {
  local p=$1
  mkdir -p "$p" && chmod 700 "$p" || return 1
  cat >"$p/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -keyout "$p/ca.key" -out "$p/ca.crt" -subj "/CN=portcullis-test-registry-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$p/server.key" -out "$p/server.csr" -subj "/CN=127.0.0.1" &&
      openssl x509 -req -in "$p/server.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -sha256 -days 3650 -extfile "$p/server.ext" -out "$p/server.crt"
  } >"$p/openssl.log" 2>&1 || {
    cat "$p/openssl.log" >&2
    return 1
  }
  chmod 600 "$p"/*.key
}

registry_start() {
  local dir=$1 r port deadline code attempt
  command -v docker-registry >/dev/null || { _reg_say "registry_start: docker-registry is not installed (install/deps.sh)"; return 1; }
  command -v htpasswd >/dev/null || { _reg_say "registry_start: htpasswd is not installed (apache2-utils)"; return 1; }
  r=$(cd "$dir" && pwd -P)/registry
  mkdir -p "$r/data" || return 1
  _reg_pki "$r/pki" || { _reg_say "registry_start: openssl failed to make the test PKI"; return 1; }
  export REGISTRY_USERNAME=portcullis-bot
  REGISTRY_PASSWORD=$(openssl rand -hex 16) || return 1
  export REGISTRY_PASSWORD
  htpasswd -B -b -c "$r/htpasswd" "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" >/dev/null 2>&1 || return 1
  (umask 077 && printf '%s:%s\n' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" >"$r/credentials") || return 1
  for attempt in 1 2 3; do
    port=$(_reg_free_port) || { _reg_say "registry_start: no free port"; return 1; }
    cat >"$r/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $r/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(openssl rand -hex 16)
  tls:
    certificate: $r/pki/server.crt
    key: $r/pki/server.key
auth:
  htpasswd:
    realm: portcullis-test
    path: $r/htpasswd
EOF
    docker-registry serve "$r/config.yml" >"$r/registry.log" 2>&1 &
    echo $! >"$r/pid"
    _reg_exec_wait "$(cat "$r/pid")"
    deadline=$((SECONDS + ${REGISTRY_START_TIMEOUT:-20}))
    code=000
    while ((SECONDS < deadline)) && _reg_alive "$(cat "$r/pid")"; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$r/pki/ca.crt" "https://127.0.0.1:$port/v2/" || true)
      [[ $code == 401 ]] && break
      sleep 0.05
    done
    [[ $code == 401 ]] && break
    if grep -q 'address already in use' "$r/registry.log" 2>/dev/null && ((attempt < 3)); then
      registry_stop "$dir"
      continue
    fi
    tail -n 20 "$r/registry.log" >&2
    _reg_say "registry_start: docker-registry did not answer on 127.0.0.1:$port (last status $code)"
    registry_stop "$dir"
    return 1
  done
  export REGISTRY_PORT=$port REGISTRY_HOST=127.0.0.1:$port REGISTRY_URL=https://127.0.0.1:$port
  export REGISTRY_CA_FILE=$r/pki/ca.crt REGISTRY_CREDENTIALS_FILE=$r/credentials
}

# _reg_curl ARGS...: curl against the registry with its CA and the credentials.
_reg_curl() { curl -sS --cacert "$REGISTRY_CA_FILE" -u "$REGISTRY_USERNAME:$REGISTRY_PASSWORD" "$@"; }

# _reg_upload REPO FILE: uploads FILE as a blob; prints its digest.
_reg_upload() {
  local repo=$1 file=$2 digest location code
  digest=sha256:$(sha256sum "$file" | cut -d' ' -f1)
  location=$(_reg_curl -X POST -o /dev/null -D - "$REGISTRY_URL/v2/$repo/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ -n $location ]] || { _reg_say "registry_push_image: no upload location for $repo"; return 1; }
  [[ $location == /* ]] && location=$REGISTRY_URL$location
  [[ $location == *\?* ]] && location="$location&digest=$digest" || location="$location?digest=$digest"
  code=$(_reg_curl -X PUT -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
    --data-binary @"$file" "$location")
  [[ $code == 201 ]] || { _reg_say "registry_push_image: blob upload to $repo answered $code"; return 1; }
  printf '%s\n' "$digest"
}

registry_push_image() {
  local repo=$1 tag=$2 content=${3:-$1:$2} tmp cfg layer manifest code
  tmp=$(mktemp -d) || return 1
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]},"comment":"%s"}' \
    "$content" >"$tmp/config.json"
  printf '%s\n' "$content" | gzip -n >"$tmp/layer.tar.gz"
  cfg=$(_reg_upload "$repo" "$tmp/config.json") && layer=$(_reg_upload "$repo" "$tmp/layer.tar.gz") || {
    rm -rf "$tmp"
    return 1
  }
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},'\
'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$cfg" "$(stat -c %s "$tmp/config.json")" "$layer" "$(stat -c %s "$tmp/layer.tar.gz")" >"$tmp/manifest.json"
  code=$(_reg_curl -X PUT -o /dev/null -w '%{http_code}' -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$tmp/manifest.json" "$REGISTRY_URL/v2/$repo/manifests/$tag")
  manifest=sha256:$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
  rm -rf "$tmp"
  [[ $code == 201 ]] || { _reg_say "registry_push_image: manifest PUT $repo:$tag answered $code"; return 1; }
  printf '%s\n' "$manifest"
}

registry_stop() {
  local r=$1/registry pid deadline
  [[ -f $r/pid ]] || return 0
  read -r pid <"$r/pid" || true
  if _reg_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while _reg_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    _reg_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$r/pid"
}
