#!/usr/bin/env bash
# The README's first command: the whole loop on one machine.
#   - installs dependencies (apt), builds and installs Portcullis into .demo/prefix;
#   - starts a local Kubernetes API server (kube-apiserver 1.20 + etcd, tests/env/kube.sh; the
#     first run builds it from Debian's source package, about 10 minutes);
#   - makes a Git server: a bare "config" repository with Portcullis' hooks, schemas imported
#     from the cluster, dev, staging and prod environments;
#   - starts portcullisd with least-privilege credentials (install/kubernetes/rbac-for-kinds.sh);
#   - pushes: a valid push is validated and applied (kubectl shows it), a bad push is rejected
#     with messages a person can act on, and `portcullis status` shows every target Synced.
# Everything stays running in .demo/ for you to try; `install/demo.sh --stop` stops it.
#
# Usage: install/demo.sh [--stop]
# Environment: DEMO_DIR (default <checkout>/.demo), DEMO_BUILD_DIR (default <checkout>/build),
#              PORTCULLIS_CACHE (where kube-apiserver is cached, default /var/cache/portcullis).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
demo=${DEMO_DIR:-$root/.demo}
build=${DEMO_BUILD_DIR:-$root/build}

bold=$'\033[1m' dim=$'\033[2m' green=$'\033[32m' red=$'\033[31m' reset=$'\033[0m'
if [[ ! -t 1 ]]; then bold="" dim="" green="" red="" reset=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
note() { printf '%s%s%s\n' "$dim" "$*" "$reset"; }
# show CMD...: prints the command as typed, then runs it.
show() {
  printf '%s$ %s%s\n' "$bold" "$*" "$reset"
  "$@"
}
die() {
  printf '%sdemo: %s%s\n' "$red" "$*" "$reset" >&2
  exit 1
}

# shellcheck source=tests/env/kube.sh
source "$root/tests/env/kube.sh"

# stop_demo: stops portcullisd (by its recorded pid, only if it is portcullisd) and the cluster.
stop_demo() {
  local pid=""
  if [[ -f $demo/portcullisd.pid ]]; then
    read -r pid <"$demo/portcullisd.pid" || true
    if [[ $pid =~ ^[0-9]+$ ]] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */portcullisd ]]; then
      kill -TERM "$pid"
      local deadline=$((SECONDS + 10))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$demo/portcullisd.pid"
  fi
  [[ -d $demo/kube ]] && kube_stop "$demo/kube"
  return 0
}

if [[ ${1:-} == --stop ]]; then
  stop_demo
  echo "demo: stopped portcullisd and the local cluster (files stay in $demo; remove it to start afresh)"
  exit 0
elif [[ -n ${1:-} ]]; then
  echo "usage: install/demo.sh [--stop]" >&2
  exit 2
fi

say "Installing dependencies (apt) and building"
install/deps.sh
note "Building into $build (a few minutes the first time)"
install/build.sh "$build" "$demo/prefix" | tail -n 1
pc=$demo/prefix/bin/portcullis
pcd=$demo/prefix/bin/portcullisd
[[ -x $pc && -x $pcd ]] || die "the build did not install portcullis and portcullisd into $demo/prefix"

# A demo that ran before is stopped first: one demo at a time, always from a clean state.
stop_demo
rm -rf "$demo/server" "$demo/work" "$demo/schemas" "$demo/state" "$demo/kube" "$demo"/*.yaml \
  "$demo"/*.log "$demo"/*.jsonl "$demo"/*.kubeconfig "$demo/notify.secret"
mkdir -p "$demo"

say "Starting a local Kubernetes cluster (kube-apiserver $KUBE_VERSION + etcd)"
if ! _kube_bins_cached; then
  note "The first run builds kube-apiserver from Debian's source package: about 10 minutes on 2 cores."
  note "It is cached in $(_kube_cache_dir)/bin; later runs start in seconds."
fi
kube_build || die "cannot build kube-apiserver (see above)"
kube_start "$demo/kube" || die "the local cluster did not start (logs in $demo/kube)"
export KUBECONFIG=$demo/kube/kubeconfig  # the cluster's administrator, for kubectl below
note "No kubelet runs in this cluster: objects are stored and served, but Pods never start."

say "Importing the cluster's schemas into a schema store"
show "$pc" schemas import --kubeconfig "$demo/kube/kubeconfig-viewer" --out "$demo/schemas"

port=$(kube_free_port)
daemon_url=http://127.0.0.1:$port
(umask 077 && openssl rand -hex 32 >"$demo/notify.secret")
cat >"$demo/server.yaml" <<YAML
schemaStore: $demo/schemas
auditLog: $demo/audit.jsonl
timeBudget: 4s
failMode: closed
notify:
  targets:
    - url: $daemon_url/v1/events
      secretFile: $demo/notify.secret
YAML

say "Creating the config repository and installing the hooks"
# A real Git server's ssh or HTTP layer names the pusher (GL_USER, REMOTE_USER, ...); this local
# demo pushes over file://, so it says who it is itself.
export REMOTE_USER=demo
export GIT_AUTHOR_NAME=Demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=Demo GIT_COMMITTER_EMAIL=demo@example.com
git init -q --bare --initial-branch=main "$demo/server/config.git"
"$pc" install --repo "$demo/server/config.git" --config "$demo/server.yaml"

say "Starting portcullisd with least-privilege credentials"
note "The reconciler logs in as the user \"portcullisd\" ($demo/reconciler.kubeconfig), which may"
note "only do what these roles grant (a real cluster gives each target an identity of its own:"
note "install/kubernetes/portcullisd-rbac.yaml); each target writes only into its own namespace:"
install/kubernetes/rbac-for-kinds.sh --user portcullisd v1/services apps/deployments >"$demo/rbac.yaml"
show kubectl apply -f "$demo/rbac.yaml"
# One kubeconfig context per environment, as if dev, staging and prod were three clusters (here
# all three are the one local cluster).
reconciler=$demo/reconciler.kubeconfig
(umask 077 && cp "$demo/kube/kubeconfig-portcullisd" "$reconciler")
for env in dev staging prod; do
  kubectl config --kubeconfig "$reconciler" set-context "$env" --cluster portcullis-test --user portcullisd \
    --namespace "shop-$env" >/dev/null
done
{
  cat <<YAML
listen: 127.0.0.1:$port
secretFile: $demo/notify.secret
stateDir: $demo/state
pollInterval: 30s
repository:
  url: file://$demo/server/config.git
  branch: main
targets:
YAML
  for env in dev staging prod; do
    printf '  - {name: %s, path: environments/%s, kubeconfig: %s, context: %s}\n' "$env" "$env" "$reconciler" "$env"
  done
} >"$demo/daemon.yaml"
# Its own session: it keeps running after this script, away from the terminal's signals.
setsid "$pcd" --config "$demo/daemon.yaml" </dev/null >>"$demo/portcullisd.log" 2>&1 &
echo "$!" >"$demo/portcullisd.pid"
deadline=$((SECONDS + 20))
until curl -fsS -o /dev/null "$daemon_url/healthz" 2>/dev/null; do
  ((SECONDS < deadline)) || die "portcullisd did not start: $(tail -n 5 "$demo/portcullisd.log")"
  kill -0 "$(cat "$demo/portcullisd.pid")" 2>/dev/null || die "portcullisd exited: $(tail -n 5 "$demo/portcullisd.log")"
  sleep 0.1
done
echo "portcullisd listens on $daemon_url (log: $demo/portcullisd.log)"

git clone -q "$demo/server/config.git" "$demo/work" 2>/dev/null
cd "$demo/work"
git checkout -q -b main
cat >.portcullis.yaml <<'YAML'
protectedRefs: [refs/heads/main]
releaseTags: ["refs/tags/v*"]
environments:
  - {name: dev,     path: environments/dev}
  - {name: staging, path: environments/staging}
  - {name: prod,    path: environments/prod, protected: true}
manifests:
  strict: true
  missingSchema: reject
  denyKinds: [Secret]
YAML
for env in dev staging prod; do
  mkdir -p "environments/$env"
  cat >"environments/$env/namespace.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: shop-$env
YAML
  cat >"environments/$env/shop.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: shop-$env
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: shop
        image: registry.example.com/shop:1.4.2
        ports:
        - containerPort: 8080
          protocol: TCP
---
apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: shop-$env
spec:
  selector: {app: shop}
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP     # kube-apiserver 1.20's server-side apply needs it (no default in the merge key)
YAML
done
git add -A
git commit -q -m "shop in dev, staging and prod"

# synced_at REVISION: every target of the daemon is Synced at REVISION.
synced_at() {
  curl -fsS "$daemon_url/v1/targets" 2>/dev/null |
    jq -e --arg rev "$1" '[.targets[] | .state == "Synced" and .appliedRevision == $rev] | all' >/dev/null
}
wait_synced() {
  local rev deadline=$((SECONDS + 60))
  rev=$(git -C "$demo/server/config.git" rev-parse main)
  until synced_at "$rev"; do
    ((SECONDS < deadline)) || die "the reconciler did not sync ${rev:0:12} within 60 s: $(curl -fsS "$daemon_url/v1/targets")"
    sleep 0.2
  done
}

say "A valid push is validated by the gate, then applied by the reconciler"
echo "$ git push origin main"
git push origin main 2>&1 | sed 's/[[:space:]]*$//'
wait_synced
printf '%sApplied to the cluster:%s\n' "$green" "$reset"
show kubectl get namespaces,deployments,services -l portcullis.io/target -A

say "A bad push is rejected, with messages a person can act on"
cat >environments/prod/shop.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: shop-prod
spec:
  replicas: three
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: shop
        image: registry.example.com/shop:latest
        resourcess: {}
YAML
cat >environments/prod/db-credentials.yaml <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: shop-prod
stringData:
  password: hunter2
YAML
git add -A
git commit -q -m "prod: scale up, new credentials"
echo "$ git push origin main"
git push origin main 2>&1 | sed 's/[[:space:]]*$//' || true
printf '%sNothing of it reached Git or the cluster:%s\n' "$green" "$reset"
show kubectl get deployment shop -n shop-prod -o 'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,IMAGE:.spec.template.spec.containers[0].image'
git reset -q --hard origin/main

say "The reconciler's view"
show "$pc" status --daemon "$daemon_url"
note "(HEALTH is Progressing: this cluster runs no controllers and no kubelet, so Deployments never roll out.)"

say "Done: the demo keeps running"
cat <<EOF
  Git server    $demo/server/config.git (hooks installed, audit log $demo/audit.jsonl)
  your clone    $demo/work: edit manifests under environments/, commit, git push
  cluster       KUBECONFIG=$KUBECONFIG kubectl get all -n shop-dev
  reconciler    $pc status --daemon $daemon_url
                (log $demo/portcullisd.log, config $demo/daemon.yaml)

Stop it with:   install/demo.sh --stop
EOF
