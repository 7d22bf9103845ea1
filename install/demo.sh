#!/usr/bin/env bash
# The README's first command: installs dependencies, builds and installs Portcullis into a
# local prefix, and runs the gate on a local demo: a bare "config" repository with dev,
# staging and prod environments, one accepted push and one rejected push.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
demo=$root/.demo
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing dependencies (apt) and building"
install/deps.sh --build-only
install/build.sh "$root/build" "$demo/prefix" | tail -n 1
pc=$demo/prefix/bin/portcullis

rm -rf "$demo/server" "$demo/work" "$demo/schemas" "$demo/server.yaml" "$demo/audit.jsonl"
mkdir -p "$demo"

say "Importing Kubernetes 1.20 schemas into a schema store"
gzip -dc tests/fixtures/openapi-v2-kubernetes-1.20.json.gz >"$demo/openapi.json"
"$pc" schemas import --openapi "$demo/openapi.json" --out "$demo/schemas"

cat >"$demo/server.yaml" <<YAML
schemaStore: $demo/schemas
auditLog: $demo/audit.jsonl
timeBudget: 4s
failMode: closed
YAML

say "Creating the config repository and installing the hooks"
# A real Git server's ssh or HTTP layer names the pusher (GL_USER, REMOTE_USER, ...); this local
# demo pushes over file://, so it says who it is itself.
export REMOTE_USER=demo
export GIT_AUTHOR_NAME=Demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=Demo GIT_COMMITTER_EMAIL=demo@example.com
git init -q --bare --initial-branch=main "$demo/server/config.git"
"$pc" install --repo "$demo/server/config.git" --config "$demo/server.yaml"
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
YAML
done
git add -A
git commit -q -m "shop in dev, staging and prod"

say "A valid push is accepted"
echo "\$ git push origin main"
git push origin main 2>&1 | sed 's/[[:space:]]*$//'

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
echo "\$ git push origin main"
git push origin main 2>&1 | sed 's/[[:space:]]*$//' || true

say "Done"
cat <<EOF2
The demo lives in .demo/: the server repository is .demo/server/config.git, your clone is
.demo/work, the audit log is .demo/audit.jsonl. Edit manifests in .demo/work and push.
EOF2
