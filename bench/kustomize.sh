#!/usr/bin/env bash
# The native kustomize build against `kubectl kustomize` on one generated overlay: a base of
# 1,000 objects (Deployments, Services, ConfigMaps, ServiceAccounts), an overlay with a
# namespace, a prefix, labels, images, three patches (a strategic merge on every Deployment by
# label selector, a JSON 6902 patch on every Service, a strategic merge on one Deployment) and
# ConfigMap/Secret generators (literals, files, an env file, a merge into the base's).
#
# Usage: bench/kustomize.sh [--quick]     Environment: PORTCULLIS=PATH (else build-k's or build's)
# Needs hyperfine, jq and kubectl (kustomize v5 inside). Prints the mean times and the ratio; both
# outputs are first checked to hold the same objects.
set -euo pipefail
export LC_ALL=C
bench=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench/.." && pwd)
out=$bench/out/kustomize
runs=20
[[ ${1:-} == --quick ]] && runs=5
for tool in hyperfine jq kubectl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
portcullis=${PORTCULLIS:-}
if [[ -z $portcullis ]]; then
  for b in "$root/build-k/hooks/portcullis" "$root/build/hooks/portcullis"; do
    [[ -x $b ]] && { portcullis=$b; break; }
  done
fi
[[ -x $portcullis ]] || { echo "bench: no portcullis binary (set PORTCULLIS)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/base" "$out/overlay"
deployments=300 services=300 configmaps=200 accounts=200
awk -v d=$deployments -v s=$services -v c=$configmaps -v a=$accounts -v dir="$out/base" 'BEGIN {
  k = dir "/kustomization.yaml"
  print "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:" > k
  for (i = 0; i < d; i++) {
    f = sprintf("%s/deploy-%04d.yaml", dir, i)
    printf "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%d\n  labels:\n    app: app-%d\n    tier: web\n", i, i > f
    printf "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-%d\n  template:\n    metadata:\n      labels:\n        app: app-%d\n", i, i > f
    printf "    spec:\n      serviceAccountName: sa-%d\n      containers:\n      - name: main\n        image: registry.example.com/app:1.%d\n", i % a, i > f
    printf "        env:\n        - name: MODE\n          value: base\n        envFrom:\n        - configMapRef:\n            name: cm-%d\n", i % c > f
    printf "        ports:\n        - containerPort: 8080\n      - name: proxy\n        image: envoyproxy/envoy:v1.28\n" > f
    printf "      volumes:\n      - name: shared\n        configMap:\n          name: shared\n" > f
    printf "- deploy-%04d.yaml\n", i > k
  }
  f = dir "/services.yaml"
  for (i = 0; i < s; i++)
    printf "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-%d\nspec:\n  selector:\n    app: app-%d\n  ports:\n  - port: 80\n    targetPort: 8080\n", i, i > f
  f = dir "/config.yaml"
  for (i = 0; i < c; i++)
    printf "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n", i, i > f
  for (i = 0; i < a; i++)
    printf "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-%d\n", i > f
  print "- services.yaml\n- config.yaml\nconfigMapGenerator:\n- name: shared\n  literals:\n  - mode=base" > k
}'
printf 'mode=prod\nregion=eu\n' >"$out/overlay/prod.env"
printf 'log.level=info\n' >"$out/overlay/app.properties"
cat >"$out/overlay/kustomization.yaml" <<'K'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../base
namespace: prod
namePrefix: prod-
commonLabels:
  env: prod
commonAnnotations:
  owner: platform
images:
- name: registry.example.com/app
  newTag: "2.0"
- name: envoyproxy/envoy
  digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
configMapGenerator:
- name: shared
  behavior: merge
  envs:
  - prod.env
- name: app-config
  files:
  - app.properties
secretGenerator:
- name: credentials
  literals:
  - password=s3cret
patches:
- target:
    kind: Deployment
    labelSelector: tier=web
  patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        spec:
          containers:
          - name: main
            env:
            - name: MODE
              value: prod
            resources:
              limits:
                memory: 256Mi
- target:
    kind: Service
  patch: |
    - op: add
      path: /spec/type
      value: ClusterIP
- path: one.yaml
K
cat >"$out/overlay/one.yaml" <<'K'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-0
spec:
  replicas: 5
K
kubectl kustomize "$out/overlay" >"$out/kubectl.yaml"
"$portcullis" render "$out/overlay" >"$out/portcullis.yaml"
python3 - "$out/kubectl.yaml" "$out/portcullis.yaml" <<'PY'
import json, sys, yaml
a, b = ([json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(open(p)) if d] for p in sys.argv[1:])
if a != b:
    sys.exit(f"bench: the two builds differ ({len(a)} and {len(b)} objects)")
print(f"bench: both builds yield the same {len(a)} objects", file=sys.stderr)
PY
hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$out/hyperfine.json" \
  -n "kubectl kustomize" "kubectl kustomize $out/overlay" \
  -n "portcullis render" "$portcullis render $out/overlay" >"$out/hyperfine.txt"
jq -r '.results | (.[0].mean / .[1].mean) as $r |
  "kubectl kustomize: \(.[0].mean * 1000 | floor) ms (±\(.[0].stddev * 1000 | floor)), portcullis render: \(.[1].mean * 1000 * 10 | floor / 10) ms (±\(.[1].stddev * 1000 * 10 | floor / 10)), ratio \($r * 10 | floor / 10)x"' \
  "$out/hyperfine.json"
