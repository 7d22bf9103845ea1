# Shared helpers of the end-to-end suites: real git, real receive-pack, the installed binary.
# A suite sources this file, defines test_* functions and ends with `run_suite`.
set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
PORTCULLIS=${PORTCULLIS_BIN:-${PORTCULLIS_BUILD_BIN:-$ROOT/build/hooks/portcullis}}
[[ -x $PORTCULLIS ]] || { echo "FATAL: no portcullis binary at $PORTCULLIS (set PORTCULLIS_BIN)"; exit 2; }

export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL=committer@example.com
export GIT_TERMINAL_PROMPT=0
# Who pushes: local file:// pushes have no hosting layer, so the suites set what smart HTTP
# would (REMOTE_USER); tests about identity unset it.
export REMOTE_USER=${REMOTE_USER:-tester}

SUITE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-e2e-XXXXXX")
export HOME=$SUITE_TMP/home
mkdir -p "$HOME"
git config --global init.defaultBranch main
git config --global advice.detachedHead false
git config --global protocol.file.allow always

FAILURES=0
CURRENT_TEST=""
OUT=""      # output of the last push / command
STATUS=0    # exit status of the last push / command

fail() {
  echo "    FAIL: $*"
  FAILURES=$((FAILURES + 1))
  TEST_FAILED=1
}

# new_server NAME [CONFIG]: a bare repository with Portcullis installed; prints its path.
new_server() {
  local name=$1 config=${2:-}
  local repo=$SUITE_TMP/$CURRENT_TEST/$name.git
  mkdir -p "$(dirname "$repo")"
  git init -q --bare "$repo"
  if [[ -n $config ]]; then
    "$PORTCULLIS" install --repo "$repo" --config "$config" >/dev/null || { echo "install failed" >&2; return 1; }
  else
    "$PORTCULLIS" install --repo "$repo" >/dev/null || { echo "install failed" >&2; return 1; }
  fi
  echo "$repo"
}

# new_clone SERVER: a work tree cloned from SERVER; prints its path.
new_clone() {
  local server=$1
  local dir
  dir=$(mktemp -d "$SUITE_TMP/$CURRENT_TEST/clone-XXXXXX")
  git clone -q "$server" "$dir" 2>/dev/null
  echo "$dir"
}

# put CLONE PATH [CONTENT]: writes a file (creating directories) and stages it; without
# CONTENT the file's content is read from stdin.
put() {
  local clone=$1 path=$2
  mkdir -p "$clone/$(dirname "$path")"
  if (($# >= 3)); then printf '%s' "$3" >"$clone/$path"; else cat >"$clone/$path"; fi
  git -C "$clone" add -- "$path"
}

# A valid ConfigMap named $1 (in namespace $2, if given).
configmap() {
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n' "$1"
  [[ -n ${2:-} ]] && printf '  namespace: %s\n' "$2"
  printf 'data:\n  key: value\n'
}

# A Deployment named $1 running image $2.
deployment() {
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
spec:
  replicas: 2
  selector:
    matchLabels: {app: $1}
  template:
    metadata:
      labels: {app: $1}
    spec:
      containers:
      - name: $1
        image: $2
YAML
}

commit() { git -C "$1" commit -q --allow-empty -m "${2:-change}"; }

# push CLONE [ARGS...]: git push, capturing output and status in OUT/STATUS.
push() {
  local clone=$1
  shift
  OUT=$(git -C "$clone" push "$@" 2>&1)
  STATUS=$?
}

# run CMD...: runs a command, capturing output and status.
run() {
  OUT=$("$@" 2>&1)
  STATUS=$?
}

expect_status() {
  [[ $STATUS -eq $1 ]] || fail "expected exit status $1, got $STATUS; output:"$'\n'"$(sed 's/^/      | /' <<<"$OUT")"
}
expect_accepted() {
  [[ $STATUS -eq 0 ]] || fail "push was rejected:"$'\n'"$(sed 's/^/      | /' <<<"$OUT")"
}
expect_rejected() {
  [[ $STATUS -ne 0 ]] || fail "push was accepted:"$'\n'"$(sed 's/^/      | /' <<<"$OUT")"
  grep -q "pre-receive hook declined" <<<"$OUT" || fail "git did not report the hook's rejection"
}
expect_output() {
  grep -qF -- "$1" <<<"$OUT" || fail "output lacks: $1"$'\n'"$(sed 's/^/      | /' <<<"$OUT")"
}
expect_no_output() {
  ! grep -qF -- "$1" <<<"$OUT" || fail "output unexpectedly has: $1"
}
expect_ref() {  # expect_ref SERVER REF SHA|absent
  local got
  got=$(git -C "$1" rev-parse -q --verify "$2" 2>/dev/null || echo absent)
  [[ $got == "$3" ]] || fail "ref $2 is $got, expected $3"
}

# object_count SERVER: every object in the repository, loose or packed.
object_count() {
  local repo=$1 n=0
  n=$(find "$repo/objects" -path '*/pack' -prune -o -type f -path '*/objects/??/*' -print | wc -l)
  for idx in "$repo"/objects/pack/*.idx; do
    [[ -f $idx ]] && n=$((n + $(git show-index <"$idx" | wc -l)))
  done
  echo "$n"
}

expect_unchanged_server() {  # expect_unchanged_server SERVER OBJECTS_BEFORE REFS_BEFORE
  local objects refs
  objects=$(object_count "$1")
  refs=$(git -C "$1" for-each-ref --format='%(refname) %(objectname)')
  [[ $objects == "$2" ]] || fail "the rejected push left objects behind: $2 -> $objects"
  [[ $refs == "$3" ]] || fail "the rejected push changed refs"
  if compgen -G "$1/objects/incoming-*" >/dev/null || compgen -G "$1/objects/tmp_objdir-*" >/dev/null; then
    fail "a quarantine directory was left behind"
  fi
}

snapshot() {  # snapshot SERVER -> sets SNAP_OBJECTS and SNAP_REFS
  SNAP_OBJECTS=$(object_count "$1")
  SNAP_REFS=$(git -C "$1" for-each-ref --format='%(refname) %(objectname)')
}

# poll_until TIMEOUT_SECONDS CMD...: polls CMD until it succeeds or the deadline passes.
poll_until() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

run_suite() {
  local name=${SUITE_NAME:-$(basename "$0" .sh)}
  local only=${1:-}
  local tests
  tests=$(declare -F | awk '{print $3}' | grep '^test_' || true)
  local count=0
  for t in $tests; do
    [[ -n $only && $t != *"$only"* ]] && continue
    CURRENT_TEST=$t
    TEST_FAILED=0
    mkdir -p "$SUITE_TMP/$t"
    echo "  $t"
    "$t"
    count=$((count + 1))
  done
  if ((count == 0)); then
    echo "$name: no tests ran"
    exit 2
  fi
  # A suite that started peers defines suite_teardown to stop them before its files go.
  if declare -F suite_teardown >/dev/null; then suite_teardown; fi
  if ((FAILURES > 0)); then
    echo "$name: $FAILURES failure(s); files kept in $SUITE_TMP"
    exit 1
  fi
  rm -rf "$SUITE_TMP"
  echo "$name: $count tests passed"
}

# A Secret as `sops --encrypt --age ... --encrypted-regex '^(data|stringData)$'` writes it: a
# complete sops stanza (key group, lastmodified, encrypted mac) over encrypted values.
SOPS_VALUE='ENC[AES256_GCM,data:Tr7o8Jw=,iv:qW9PqFq1aV8Yc4bq0l1bQw==,tag:3c4bq0l1bQ7Zb3VvYt0+DI==,type:str]'
SOPS_STANZA=$'sops:\n  kms: []\n  age:\n    - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n        YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBs\n        -----END AGE ENCRYPTED FILE-----\n  lastmodified: "2026-11-30T10:00:00Z"\n  mac: ENC[AES256_GCM,data:1Zb3VvYt0+DIqW9P,iv:qW9PqFq1aV8=,tag:3c4bq0l1bQ==,type:str]\n  encrypted_regex: ^(data|stringData)$\n  version: 3.8.1\n'
SOPS_SECRET=$'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ndata:\n  token: '"$SOPS_VALUE"$'\n'"$SOPS_STANZA"
