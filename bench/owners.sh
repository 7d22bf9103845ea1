#!/usr/bin/env bash
# What ownership, signatures and promotion cost the pre-receive hook, against the target of the
# ownership issue: "Ownership, signature and promotion checks add <= 20 ms to the hook's median
# wall time for a push of 100 changed files in a repository with 10,000 commits of history".
#
# One repository of 10,000 first-parent commits (a dev -> staging -> prod pipeline written by an
# awk script into `git fast-import`), served twice from bare copies with Portcullis' hooks:
#   policy.git  .portcullis.yaml with protectedRefs, prod promoted from staging (soak 1h) and a
#               codeowners section, .github/CODEOWNERS, and a server config with identity
#               (REMOTE_USER), teams and allowedSigners
#   plain.git   the same history, manifests and validation; no promotion, no codeowners section,
#               no CODEOWNERS, no identity section
# The pushes: bob (no owner) changes 100 prod files and alice, an owner and allowed signer,
# approves with an SSH-signed merge commit (`git commit-tree -S`, gpg.format=ssh). "release":
# the files are Deployments taking the images staging runs (a release train brought them to
# staging over the last 300 commits), so promotion with soak walks the history; "config": the
# files are ConfigMaps (ownership and signatures only). Measured alternately (policy, plain,
# plain, policy, ...) as real `git push`es through receive-pack (quarantine, pre-receive and
# post-receive), and as the hook alone (wall time, CPU time, and its own "checked in" figure).
#
# Usage: bench/owners.sh [--quick]
#   --quick   fewer runs (a smoke test of the harness; figures are noisier)
# Environment:
#   PORTCULLIS=PATH   measure this binary instead of building one (install/build.sh into bench/out)
#
# Needs git, awk, jq, ssh-keygen and gzip. Everything it makes lives in bench/out/owners/; the
# markdown report goes to stdout and to bench/out/owners/report.md. Method: docs/performance.md,
# "Ownership, signatures and promotion".
set -euo pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
out=$bench/out/owners

quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  *) echo "usage: bench/owners.sh [--quick]" >&2; exit 2 ;;
esac
if ((quick)); then
  runs=7 warmup=1
else
  runs=31 warmup=3
fi
commits=10000 apps=300 train=100 window=300

log() { printf 'owners: %s\n' "$*" >&2; }
die() { printf 'owners: error: %s\n' "$*" >&2; exit 1; }

for tool in git awk jq ssh-keygen gzip; do
  command -v "$tool" >/dev/null || die "$tool is missing; run install/deps.sh"
done
((window >= 3 * train)) || die "the release train needs 3 commits per app (window >= 3 x train)"

started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
rm -rf "$out"
mkdir -p "$out/bin"

# --- The binary under test (copied: other sessions may rebuild meanwhile) ------------------------
if [[ -n ${PORTCULLIS:-} ]]; then
  src_pc=$PORTCULLIS
else
  log "building Portcullis (install/build.sh into bench/out/build; log in bench/out/owners/build.log)"
  CMAKE_OPTIONS="-DPORTCULLIS_TESTS=OFF ${CMAKE_OPTIONS:-}" \
    "$root/install/build.sh" "$bench/out/build" "$bench/out/prefix" >"$out/build.log" 2>&1 ||
    { tail -n 30 "$out/build.log" >&2; die "the build failed"; }
  src_pc=$bench/out/prefix/bin/portcullis
fi
[[ -x $src_pc ]] || die "no portcullis binary at $src_pc"
cp "$src_pc" "$out/bin/portcullis"
pc=$out/bin/portcullis
bin_note="$src_pc ($(date -u -r "$src_pc" '+%Y-%m-%d %H:%M UTC'))"

export GIT_CONFIG_NOSYSTEM=1 HOME=$out/home
mkdir -p "$HOME"
git config --global init.defaultBranch main
git config --global protocol.file.allow always

log "importing the Kubernetes 1.20 schemas"
gzip -dc "$root/tests/fixtures/openapi-v2-kubernetes-1.20.json.gz" >"$out/openapi.json"
"$pc" schemas import --openapi "$out/openapi.json" --out "$out/schemas" >/dev/null

# --- Identities: SSH keys, allowed signers, teams -------------------------------------------------
keys=$out/keys
mkdir -p "$keys"
for who in alice bob carol; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$keys/$who"
done
for who in alice carol; do
  printf '%s namespaces="git" %s\n' "$who" "$(cut -d' ' -f1,2 "$keys/$who.pub")"
done >"$keys/allowed_signers"

server_config() { # NAME WITH_IDENTITY
  cat <<YAML
schemaStore: $out/schemas
auditLog: $out/audit-$1.jsonl
timeBudget: 4s
failMode: closed
YAML
  (($2)) || return 0
  cat <<YAML
identity:
  env: [REMOTE_USER]
  allowedSigners: $keys/allowed_signers
  breakGlass: ["@org/sre"]
  teams:
    "@org/platform": [carol, dave]
    "@org/dev": [erin, bob]
    "@org/sre": [carol]
YAML
  for ((t = 0; t < 40; t++)); do printf '    "@org/team-%02d": [dev-%02d, lead-%02d]\n' "$t" "$t" "$t"; done
}
server_config policy 1 >"$out/server-policy.yaml"
server_config plain 0 >"$out/server-plain.yaml"

# --- The repository: a fast-import stream --------------------------------------------------------
# Commit k (1..commits-1) of main's first-parent history changes one file; commit 1 holds
# environments/{dev,staging,prod}/apps/app-NNNN/{deployment,configmap}.yaml for `apps` apps.
# Outside the release train, commit k: 50% a new image in dev, 20% staging takes dev's image,
# 10% prod takes staging's, 20% a ConfigMap change; authors rotate over five people; one commit
# in ten has an (unsigned) approval tag, later moved to refs/approvals/<commit>/<who>.
# The train (the last `window` commits): app j = 1..train gets a new image in dev, then in
# staging one commit later; every third commit is noise on the other apps. So staging brought
# the image of app j to staging 2..window-1 commits before the tip (soak search depth).
# Commit `commits` exists twice: refs/bench/base-policy (adds the ownership and promotion policy
# and CODEOWNERS) and refs/bench/base-plain (a README change). On each, bob's commits
# refs/bench/change-release-{policy,plain} (prod takes the staging image of apps 1..train) and
# refs/bench/change-config-{policy,plain} (a new REVISION in the ConfigMaps of apps 1..train).
gen=$out/gen.awk
cat >"$gen" <<'AWK'
BEGIN {
  eof = "PORTCULLIS_BENCH_EOF"; t0 = 1690000000
  env[0] = "dev"; env[1] = "staging"; env[2] = "prod"
  replicas["dev"] = 1; replicas["staging"] = 2; replicas["prod"] = 3
  split("alice bob carol dave erin", people, " ")
  for (e = 0; e < 3; e++)
    for (a = 1; a <= apps; a++) { tag[env[e], a] = "1.0." (a % 5); rev[env[e], a] = 0 }

  header("refs/heads/main", 1, "", 1, "base: " apps " apps in dev, staging, prod")
  file(".portcullis.yaml", policy(0))
  file("README.md", "# config\n")
  for (e = 0; e < 3; e++)
    for (a = 1; a <= apps; a++) { dep(env[e], a); cfg(env[e], a) }

  first = commits - window
  for (k = 2; k < commits; k++) {
    if (k >= first && (k - first) % 3 != 2 && int((k - first) / 3) < train) {
      j = int((k - first) / 3) + 1
      if ((k - first) % 3 == 0) {
        tag["dev", j] = "2." k ".0"
        header("refs/heads/main", k, ":" (k - 1), k, "dev: " app(j) " " tag["dev", j]); dep("dev", j)
      } else {
        tag["staging", j] = tag["dev", j]
        header("refs/heads/main", k, ":" (k - 1), k, "staging: promote " app(j) " " tag["dev", j]); dep("staging", j)
      }
    } else noise(k, k >= first)
    if (k % 10 == 0) approval(k)
  }

  header("refs/bench/base-policy", commits, ":" (commits - 1), commits, "ownership and promotion")
  file(".portcullis.yaml", policy(1))
  file(".github/CODEOWNERS", codeowners())
  header("refs/bench/base-plain", commits + 1, ":" (commits - 1), commits, "readme")
  file("README.md", "# config\n\nThe desired state of dev, staging and prod.\n")
  for (v = 0; v < 2; v++) {
    header("refs/bench/change-release-" (v ? "plain" : "policy"), commits + 2 + v, ":" (commits + v), commits + 1,
           "prod: release train of " train " apps", "bob")
    for (j = 1; j <= train; j++) { tag["prod", j] = tag["staging", j]; dep("prod", j) }
  }
  for (j = 1; j <= train; j++) rev["prod", j] = commits + 1
  for (v = 0; v < 2; v++) {
    header("refs/bench/change-config-" (v ? "plain" : "policy"), commits + 4 + v, ":" (commits + v), commits + 1,
           "prod: configure " train " apps", "bob")
    for (j = 1; j <= train; j++) cfg("prod", j)
  }
}

function noise(k, in_train,    r, a, e) {
  r = k % 10
  a = in_train ? train + 1 + (k * 37) % (apps - train) : (k * 37) % apps + 1
  if (r <= 4) {
    tag["dev", a] = "1." k ".0"
    header("refs/heads/main", k, ":" (k - 1), k, "dev: " app(a) " " tag["dev", a]); dep("dev", a)
  } else if (r <= 6 && tag["staging", a] != tag["dev", a]) {
    tag["staging", a] = tag["dev", a]
    header("refs/heads/main", k, ":" (k - 1), k, "staging: promote " app(a)); dep("staging", a)
  } else if (r == 7 && tag["prod", a] != tag["staging", a]) {
    tag["prod", a] = tag["staging", a]
    header("refs/heads/main", k, ":" (k - 1), k, "prod: promote " app(a)); dep("prod", a)
  } else {
    e = env[k % 3]; rev[e, a] = k
    header("refs/heads/main", k, ":" (k - 1), k, e ": configure " app(a)); cfg(e, a)
  }
}

function header(ref, mark, from, k, message, who,    when) {
  if (who == "") who = people[k % 5 + 1]
  when = (t0 + k * 900) " +0000"
  print "commit " ref
  print "mark :" mark
  print "author " who " <" who "@example.com> " when
  print "committer " who " <" who "@example.com> " when
  print "data <<" eof
  print message
  print eof
  if (from != "") print "from " from
}

function approval(k,    who) {
  who = people[(k + 1) % 5 + 1]
  print "tag approval-" k "-" who
  print "from :" k
  print "tagger " who " <" who "@example.com> " (t0 + k * 900 + 600) " +0000"
  print "data <<" eof
  print "approve"
  print eof
}

function file(path, text) {
  print "M 100644 inline " path
  print "data <<" eof
  printf "%s", text
  print eof
}

function app(a) { return sprintf("app-%04d", a) }
function team(a) { return sprintf("team-%02d", a % 40) }

function dep(e, a,    s) {
  s = \
    "apiVersion: apps/v1\n" \
    "kind: Deployment\n" \
    "metadata:\n" \
    "  name: " app(a) "\n" \
    "  labels: {app.kubernetes.io/name: " app(a) ", app.kubernetes.io/part-of: " team(a) ", environment: " e "}\n" \
    "  annotations: {owner: " team(a) "@example.com}\n" \
    "spec:\n" \
    "  replicas: " replicas[e] "\n" \
    "  selector:\n" \
    "    matchLabels: {app.kubernetes.io/name: " app(a) "}\n" \
    "  template:\n" \
    "    metadata:\n" \
    "      labels: {app.kubernetes.io/name: " app(a) ", environment: " e "}\n" \
    "    spec:\n" \
    "      securityContext: {runAsNonRoot: true, runAsUser: 10001}\n" \
    "      containers:\n" \
    "      - name: app\n" \
    "        image: registry.example.com/" team(a) "/" app(a) ":" tag[e, a] "\n" \
    "        args: [\"--config=/etc/app/app.properties\"]\n" \
    "        ports:\n" \
    "        - {name: http, containerPort: 8080}\n" \
    "        envFrom:\n" \
    "        - configMapRef: {name: " app(a) "-config}\n" \
    "        resources:\n" \
    "          requests: {cpu: 250m, memory: 256Mi}\n" \
    "          limits: {cpu: \"1\", memory: 512Mi}\n" \
    "        readinessProbe:\n" \
    "          httpGet: {path: /ready, port: http}\n" \
    "          periodSeconds: 5\n" \
    "        volumeMounts:\n" \
    "        - {name: config, mountPath: /etc/app, readOnly: true}\n"
  if (a % 3 == 0)
    s = s \
      "      - name: proxy\n" \
      "        image: registry.example.com/platform/envoy:1.28." (a % 7) "\n" \
      "        resources:\n" \
      "          requests: {cpu: 50m, memory: 64Mi}\n"
  s = s \
    "      volumes:\n" \
    "      - name: config\n" \
    "        configMap: {name: " app(a) "-config}\n"
  file("environments/" e "/apps/" app(a) "/deployment.yaml", s)
}

function cfg(e, a) {
  file("environments/" e "/apps/" app(a) "/configmap.yaml", \
    "apiVersion: v1\n" \
    "kind: ConfigMap\n" \
    "metadata:\n" \
    "  name: " app(a) "-config\n" \
    "  labels: {app.kubernetes.io/name: " app(a) ", environment: " e "}\n" \
    "data:\n" \
    "  LOG_LEVEL: info\n" \
    "  REVISION: \"" rev[e, a] "\"\n" \
    "  app.properties: |\n" \
    "    server.port=8080\n" \
    "    environment=" e "\n" \
    "    db.pool.max=" (10 + a % 20) "\n")
}

function policy(owned) {
  return \
    "protectedRefs: [refs/heads/main]\n" \
    "releaseTags: [\"refs/tags/v*\"]\n" \
    "environments:\n" \
    "  - {name: dev, path: environments/dev}\n" \
    "  - {name: staging, path: environments/staging}\n" \
    "  - name: prod\n" \
    "    path: environments/prod\n" \
    "    protected: true\n" \
    (owned ? "    promotion: {from: staging, soak: 1h}\n" : "") \
    "manifests:\n" \
    "  strict: true\n" \
    "  missingSchema: reject\n" \
    "  denyKinds: [Secret]\n" \
    (owned ? "codeowners:\n  dialect: github\n" : "")
}

function codeowners(    s, a) {
  s = \
    "# Platform owns everything not named below.\n" \
    "* @org/platform\n" \
    "/.portcullis.yaml @org/platform @alice\n" \
    "/.github/ @org/platform\n" \
    "/environments/dev/ @org/dev\n" \
    "/environments/staging/ @org/platform\n" \
    "/environments/prod/ @alice @org/platform\n" \
    "# Each production app: the platform lead and its team.\n"
  for (a = 1; a <= apps; a++) s = s "/environments/prod/apps/" app(a) "/ @alice @org/" team(a) "\n"
  return s
}
AWK

src=$out/src.git
log "generating $commits commits of history (awk | git fast-import; git repack)"
git init -q --bare "$src"
awk -v commits=$commits -v apps=$apps -v train=$train -v window=$window -f "$gen" |
  git --git-dir="$src" fast-import --quiet --export-marks="$out/marks"
# Approval tags live under refs/approvals/<commit>/<who>, as `portcullis approve` pushes them.
git --git-dir="$src" for-each-ref --format='%(refname) %(objectname) %(*objectname)' 'refs/tags/approval-*' |
  awk '{n = split($1, p, "-"); printf "create refs/approvals/%s/%s %s\ndelete %s %s\n", $3, p[n], $2, $1, $2}' |
  git --git-dir="$src" update-ref --stdin
git --git-dir="$src" repack -a -d -f -q
git --git-dir="$src" pack-refs --all
approvals=$(git --git-dir="$src" for-each-ref 'refs/approvals/' | wc -l)
depth=$(git --git-dir="$src" rev-list --first-parent --count refs/bench/base-policy)
((depth == commits)) || die "refs/bench/base-policy has $depth first-parent commits, expected $commits"

# alice's SSH-signed merges of bob's changes: the approval. Scenarios: release (100 prod
# Deployments take the images staging runs: ownership, signature and promotion with soak) and
# config (100 prod ConfigMaps change: ownership and signature; no image is new).
scenarios="release config"
for sc in $scenarios; do
  for v in policy plain; do
    base=$(git --git-dir="$src" rev-parse "refs/bench/base-$v")
    change=$(git --git-dir="$src" rev-parse "refs/bench/change-$sc-$v")
    merge=$(GIT_AUTHOR_NAME=alice GIT_AUTHOR_EMAIL=alice@example.com GIT_COMMITTER_NAME=alice \
      GIT_COMMITTER_EMAIL=alice@example.com GIT_AUTHOR_DATE="@$((1690000000 + (commits + 2) * 900)) +0000" \
      GIT_COMMITTER_DATE="@$((1690000000 + (commits + 2) * 900)) +0000" \
      git --git-dir="$src" -c gpg.format=ssh -c user.signingkey="$keys/alice" \
      commit-tree -S -p "$base" -p "$change" -m "Merge the $sc change (reviewed by alice)" "$change^{tree}")
    git --git-dir="$src" update-ref "refs/bench/push-$sc-$v" "$merge"
    changed=$(git --git-dir="$src" diff --name-only "$base" "$merge" | wc -l)
    ((changed == train)) || die "the $sc push into $v changes $changed files, expected $train"
  done
done
git --git-dir="$src" cat-file commit refs/bench/push-release-policy | grep -q '^gpgsig -----BEGIN SSH SIGNATURE-----' ||
  die "the merge commit is not SSH-signed"

# The served copies: without refs/bench/*, so that each push sends its objects into quarantine.
zero=0000000000000000000000000000000000000000
for v in policy plain; do
  git clone -q --bare --mirror "$src" "$out/$v.git"
  git --git-dir="$out/$v.git" for-each-ref --format='delete %(refname)' refs/bench/ | git --git-dir="$out/$v.git" update-ref --stdin
  git --git-dir="$out/$v.git" update-ref refs/heads/main "$(git --git-dir="$src" rev-parse "refs/bench/base-$v")"
  "$pc" install --repo "$out/$v.git" --config "$out/server-$v.yaml" >/dev/null
  for sc in $scenarios; do
    echo "$(git --git-dir="$src" rev-parse "refs/bench/base-$v") $(git --git-dir="$src" rev-parse "refs/bench/push-$sc-$v") refs/heads/main" >"$out/$sc-$v.in"
  done
  echo "$zero $(git --git-dir="$src" rev-parse "refs/bench/base-$v") refs/heads/main" >"$out/$v-base.in"
  # The identity indexes of main's environment trees and the soak ledgers, as post-receive leaves
  # them; the ledgers' arrival times set two hours back, as a server that saw the release train
  # arrive in staging would have recorded them (the soak is a lookup, whenever they arrived).
  (cd "$out/$v.git" && GIT_DIR=. "$pc" hook post-receive --config "$out/server-$v.yaml" <"$out/$v-base.in")
  if [[ -d $out/$v.git/portcullis/index/soak ]]; then
    find "$out/$v.git/portcullis/index/soak" -name '*.soak' -exec \
      sed -i -E "s/^([^\t]+\t[0-9a-f]{40}\t)[0-9]+$/\1$(($(date +%s) - 7200))/" {} +
  fi
done

# push SCENARIO VARIANT [REF]: the push as bob; prints its wall time in ms; fails when rejected.
push() {
  local sc=$1 v=$2 ref=${3:-refs/bench/push-$1-$2} t0 t1
  git --git-dir="$out/$v.git" update-ref refs/heads/main "$(git --git-dir="$src" rev-parse "refs/bench/base-$v")"
  t0=${EPOCHREALTIME/./}
  REMOTE_USER=bob git --git-dir="$src" push -q "$out/$v.git" "$ref:refs/heads/main" 2>"$out/push-$v.out" ||
    { cat "$out/push-$v.out" >&2; return 1; }
  t1=${EPOCHREALTIME/./}
  awk -v d=$((t1 - t0)) 'BEGIN {printf "%.2f\n", d / 1000}'
}
# hook SCENARIO VARIANT: the pre-receive hook alone, as receive-pack runs it; prints its wall
# time in ms and appends its CPU time (user + sys, ms; bash's `time`, from wait4's rusage) to
# hook-SCENARIO-VARIANT.cpu and its own "checked in N ms" to hook-SCENARIO-VARIANT.self.
hook() {
  local sc=$1 v=$2 TIMEFORMAT='%3R %3U %3S' rc=0
  { time (cd "$out/$v.git" && GIT_DIR=. REMOTE_USER=bob "$pc" hook pre-receive --config "$out/server-$v.yaml" \
    <"$out/$sc-$v.in" >"$out/hook-$v.out" 2>&1); } 2>"$out/hook-$v.time" || rc=$?
  ((rc == 0)) || { cat "$out/hook-$v.out" >&2; return 1; }
  awk '{printf "%.0f\n", ($2 + $3) * 1000}' "$out/hook-$v.time" >>"$out/hook-$sc-$v.cpu"
  sed -n 's/.*checked in \([0-9]*\) ms.*/\1/p' "$out/hook-$v.out" >>"$out/hook-$sc-$v.self"
  awk '{printf "%.2f\n", $1 * 1000}' "$out/hook-$v.time"
}

# --- Honesty checks: the policy is really enforced, and only in policy.git ----------------------
log "checking that ownership and promotion are enforced in policy.git and absent in plain.git"
for sc in $scenarios; do
  if push $sc policy "refs/bench/change-$sc-policy" >/dev/null 2>&1; then die "policy.git accepted bob's unapproved $sc change"; fi
  grep -q 'error \[owners.approval-required\]' "$out/push-policy.out" ||
    { cat "$out/push-policy.out" >&2; die "policy.git rejected the unapproved $sc change, but not for want of approval"; }
  push $sc plain "refs/bench/change-$sc-plain" >/dev/null || die "plain.git rejected bob's $sc change"
  push $sc policy >/dev/null || die "policy.git rejected the signed $sc push"
  grep -q 'portcullis: push accepted' "$out/push-policy.out" || die "no acceptance line from policy.git ($sc)"
done
last=$(tail -n 1 "$out/audit-policy.jsonl")
# An image staging does not run is refused: the promotion check really looks.
git --git-dir="$out/policy.git" update-ref refs/heads/main "$(git --git-dir="$src" rev-parse refs/bench/base-policy)"
bad_blob=$(git --git-dir="$src" show refs/bench/push-release-policy:environments/prod/apps/app-0001/deployment.yaml |
  sed 's|/app-0001:[0-9.]*$|/app-0001:9.9.9|' | git --git-dir="$src" hash-object -w --stdin)
GIT_INDEX_FILE=$out/bad.index git --git-dir="$src" read-tree refs/bench/push-release-policy
GIT_INDEX_FILE=$out/bad.index git --git-dir="$src" update-index --cacheinfo "100644,$bad_blob,environments/prod/apps/app-0001/deployment.yaml"
bad_tree=$(GIT_INDEX_FILE=$out/bad.index git --git-dir="$src" write-tree)
bad=$(GIT_AUTHOR_NAME=alice GIT_AUTHOR_EMAIL=alice@example.com GIT_COMMITTER_NAME=alice GIT_COMMITTER_EMAIL=alice@example.com \
  git --git-dir="$src" -c gpg.format=ssh -c user.signingkey="$keys/alice" commit-tree -S \
  -p refs/bench/base-policy -p refs/bench/change-release-policy -m "unpromoted" "$bad_tree")
git --git-dir="$src" update-ref refs/bench/unpromoted "$bad"
if push release policy refs/bench/unpromoted >/dev/null 2>&1; then die "policy.git accepted an image staging never ran"; fi
grep -q 'error \[promotion.not-promoted\] image registry.example.com/team-01/app-0001:9.9.9' "$out/push-policy.out" ||
  { cat "$out/push-policy.out" >&2; die "the unpromoted image was not refused for promotion"; }
git --git-dir="$src" update-ref -d refs/bench/unpromoted

# --- Measurements --------------------------------------------------------------------------------
# Alternating order (ABBA) so that a drift of the machine's load favours neither side.
measure() { # WHAT(push|hook) SCENARIO
  local what=$1 sc=$2 i a b
  for ((i = 1; i <= warmup; i++)); do
    "$what" $sc policy >/dev/null || die "$what $sc policy failed (warm-up)"
    "$what" $sc plain >/dev/null || die "$what $sc plain failed (warm-up)"
  done
  : >"$out/$what-$sc-policy.txt"
  : >"$out/$what-$sc-plain.txt"
  rm -f "$out/hook-$sc-"*.cpu "$out/hook-$sc-"*.self
  for ((i = 1; i <= runs; i++)); do
    if ((i % 2)); then a=policy b=plain; else a=plain b=policy; fi
    "$what" $sc $a >>"$out/$what-$sc-$a.txt" || die "$what $sc $a failed (run $i)"
    "$what" $sc $b >>"$out/$what-$sc-$b.txt" || die "$what $sc $b failed (run $i)"
  done
}
for sc in $scenarios; do
  log "$sc: git push of the $train-file change, with and without the policy ($runs runs each after $warmup warm-up, alternating)"
  measure push $sc
  log "$sc: the pre-receive hook alone ($runs runs each after $warmup warm-up, alternating)"
  measure hook $sc
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - started))

# --- Report --------------------------------------------------------------------------------------
median() { sort -n "$1" | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
quart() { sort -n "$1" | awk -v q="$2" '{a[NR] = $1} END {i = int(q * (NR - 1)) + 1; print a[i]}'; }
pass() { if awk "BEGIN {exit !($1)}"; then echo pass; else echo "**MISS**"; fi; }
f1() { awk -v v="$1" 'BEGIN {printf "%.1f", v}'; }
# diffrow LABEL FILE-PREFIX SUFFIX: medians of policy.git and plain.git, their difference and ratio.
diffrow() {
  local m p
  m=$(median "$out/$2-policy$3") p=$(median "$out/$2-plain$3")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(f1 "$m")" "$(f1 "$p")" "$(awk -v a="$m" -v b="$p" 'BEGIN {printf "%+.1f", a - b}')" \
    "$(awk -v a="$m" -v b="$p" 'BEGIN {printf "%.2f", b ? a / b : 0}')" "$(pass "$m - $p <= 20")"
}
spread() { # SCENARIO
  local w v p
  for w in push hook; do
    for v in policy plain; do
      p=$out/$w-$1-$v.txt
      printf '| %s | %s | %s | %s | %s-%s | %s |\n' "$1" "$([[ $w == push ]] && echo "git push" || echo "hook alone")" "$v" \
        "$(f1 "$(median "$p")")" "$(f1 "$(quart "$p" 0.25)")" "$(f1 "$(quart "$p" 0.75)")" "$(f1 "$(sort -n "$p" | head -n 1)")"
    done
  done
}
busy_note=""
if awk -v l="${load_start%% *}" -v n="$(nproc)" 'BEGIN {exit !(l > n / 2)}'; then
  busy_note=" **The machine was not quiet at the start (1-minute load above half its CPUs): wall-clock figures are inflated; the alternating order keeps the difference fair, not small.**"
fi
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

{
  cat <<EOF
# Portcullis ownership, signature and promotion cost

$date_start$( ((quick)) && echo ' (--quick: fewer runs, noisier figures)'). $("$pc" version); git $(git --version | awk '{print $3}'), $(ssh -V 2>&1 | cut -d, -f1).
Binary: $bin_note.
Machine: $cpu_model, $(nproc) CPUs, Linux $(uname -r); load average $load_start at the start, $load_end at the end.$busy_note

Repository: $commits first-parent commits on main, $apps apps x (Deployment + ConfigMap) in each of dev, staging and prod
($((6 * apps)) manifests), $approvals approval tags under refs/approvals/, a CODEOWNERS of $((apps + 6)) rules (policy.git).
Each push: bob's commit changing $train prod files and alice's SSH-signed merge of it (2 commits, $train changed files);
pusher bob (REMOTE_USER) owns nothing, the approval is alice's signature. **release**: the $train files are Deployments
taking the images staging runs (staging got them 2-$((window - 1)) commits before the tip: the soak search depth), so
every image is new in prod and needs promotion with soak; **config**: the $train files are ConfigMaps (no new image).

$runs runs of each after $warmup warm-up runs, alternating (policy, plain, plain, policy, ...); medians in ms.
Target: ownership, signature and promotion checks add <= 20 ms to the median of the hook's wall time.

| scenario: measurement | policy.git | plain.git | added | ratio | <= 20 ms |
|---|---:|---:|---:|---:|---|
$(for sc in $scenarios; do
  diffrow "$sc: git push, wall time (receive-pack, quarantine, pre- and post-receive)" "push-$sc" .txt
  diffrow "$sc: pre-receive hook alone, wall time" "hook-$sc" .txt
  diffrow "$sc: pre-receive hook alone, CPU time (user + sys)" "hook-$sc" .cpu
  diffrow "$sc: the hook's own \"checked in\" figure" "hook-$sc" .self
done)

| scenario | measurement | repository | median | interquartile | min |
|---|---|---|---:|---:|---:|
$(for sc in $scenarios; do spread $sc; done)

Checks: policy.git refuses bob's changes without alice's merge (owners.approval-required) and an image staging never ran
(promotion.not-promoted); plain.git accepts bob's changes. Audit of the last accepted push: \`$(jq -c '{decision, pusher}' <<<"$last" 2>/dev/null || echo "$last")\`.

Harness time: ${elapsed} s.
EOF
} | tee "$out/report.md"
