#!/usr/bin/env python3
"""Writes random kustomize overlays for tests/e2e/kustomize.sh: bases of Deployments, Services,
ConfigMaps, ServiceAccounts, CronJobs and RoleBindings, overlays on them with namespaces, name
prefixes and suffixes, labels, annotations, images, replicas, generators (literals, files, env
files, merges), strategic-merge and JSON 6902 patches, and components.

Usage: random_overlays.py OUT_DIR SEED COUNT   (writes OUT_DIR/case-N/..., prints the directories to build)"""
import os
import random
import sys

out, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
WORDS = ["alpha", "beta", "gamma", "delta", "web", "api", "db", "cache", "queue", "auth"]
IMAGES = ["nginx", "redis", "postgres", "registry.example.com/team/app", "busybox"]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def kustomization(body, component=False):
    head = ("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" if component else
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
    return head + body


def deployment(name, cm, sa, secret):
    containers = ""
    for i in range(rng.randint(1, 3)):
        image = rng.choice(IMAGES) + rng.choice(["", ":1.0", ":2.3.4", "@sha256:" + "a" * 64])
        containers += (f"      - name: c{i}\n        image: {image}\n"
                       f"        env:\n        - name: MODE\n          value: base\n"
                       f"        - name: FROM_CM\n          valueFrom:\n            configMapKeyRef:\n"
                       f"              name: {cm}\n              key: mode\n"
                       f"        envFrom:\n        - secretRef:\n            name: {secret}\n"
                       f"        ports:\n        - containerPort: {8000 + i}\n")
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n"
            f"spec:\n  replicas: {rng.randint(1, 3)}\n  selector:\n    matchLabels:\n      app: {name}\n"
            f"  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n"
            f"      serviceAccountName: {sa}\n      containers:\n{containers}"
            f"      volumes:\n      - name: config\n        configMap:\n          name: {cm}\n")


def service(name):
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n"
            f"  ports:\n  - port: 80\n    targetPort: 8000\n")


def cronjob(name, cm):
    return (f"apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: '*/5 * * * *'\n"
            f"  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n"
            f"          containers:\n          - name: job\n            image: {rng.choice(IMAGES)}:1.0\n"
            f"            envFrom:\n            - configMapRef:\n                name: {cm}\n")


def rolebinding(name, sa):
    return (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n"
            f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {name}-role\n"
            f"subjects:\n- kind: ServiceAccount\n  name: {sa}\n")


def role(name):
    return (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}-role\n"
            f"rules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get]\n")


def make_case(root):
    names = rng.sample(WORDS, rng.randint(1, 3))
    base = os.path.join(root, "base")
    files, body = [], ""
    cm, sa, secret = "settings", "runner", "creds"
    for n in names:
        write(f"{base}/{n}.yaml", deployment(n, cm, sa, secret) + "---\n" + service(n))
        files.append(f"{n}.yaml")
    has_cron = rng.random() < 0.5
    if has_cron:
        write(f"{base}/cron.yaml", cronjob("nightly", cm))
        files.append("cron.yaml")
    has_widget = rng.random() < 0.5
    if has_widget:  # a custom resource: no schema, its lists are replaced by a patch
        write(f"{base}/widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gadget\nspec:\n"
              "  parts:\n  - name: a\n    size: 1\n  - name: b\n    size: 2\n")
        files.append("widget.yaml")
    has_extra = rng.random() < 0.6
    if has_extra:  # more referrers: Ingress, HPA, StatefulSet with claim templates, PVC, ClusterRoleBinding
        n0 = names[0]
        write(f"{base}/extra.yaml",
              f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {n0}\nspec:\n"
              f"  tls:\n  - secretName: {secret}\n  rules:\n  - http:\n      paths:\n      - path: /\n"
              f"        pathType: Prefix\n        backend:\n          service:\n            name: {n0}\n"
              f"            port:\n              number: 80\n"
              f"---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {n0}\nspec:\n"
              f"  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: {n0}\n"
              f"  minReplicas: 1\n  maxReplicas: 3\n"
              f"---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n"
              f"  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n"
              f"---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: store\nspec:\n  serviceName: {n0}\n"
              f"  replicas: 1\n  selector:\n    matchLabels:\n      app: store\n  template:\n    metadata:\n"
              f"      labels:\n        app: store\n    spec:\n      containers:\n      - name: db\n"
              f"        image: postgres:15\n        volumeMounts:\n        - name: data\n          mountPath: /data\n"
              f"      volumes:\n      - name: scratch\n        persistentVolumeClaim:\n          claimName: data\n"
              f"  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n"
              f"      resources:\n        requests:\n          storage: 1Gi\n"
              f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {n0}-crb\n"
              f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\n"
              f"subjects:\n- kind: ServiceAccount\n  name: {sa}\n  namespace: default\n")
        files.append("extra.yaml")
    write(f"{base}/rbac.yaml", role(names[0]) + "---\n" + rolebinding(names[0], sa) +
          f"---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {sa}\n")
    files.append("rbac.yaml")
    write(f"{base}/app.properties", "".join(f"key{i}=value{rng.randint(0, 999)}\n" for i in range(rng.randint(1, 4))))
    body += "resources:\n" + "".join(f"- {f}\n" for f in files)
    body += (f"configMapGenerator:\n- name: {cm}\n  literals:\n  - mode=base\n  - level={rng.randint(0, 9)}\n"
             f"  files:\n  - app.properties\n")
    body += f"secretGenerator:\n- name: {secret}\n  literals:\n  - password=p{rng.randint(0, 10**6)}\n"
    if rng.random() < 0.3:
        body += "generatorOptions:\n  labels:\n    generated: \"yes\"\n"
    if rng.random() < 0.4:
        body += f"commonLabels:\n  tier: {rng.choice(WORDS)}\n"
    write(f"{base}/kustomization.yaml", kustomization(body))

    component = None
    if rng.random() < 0.4:
        component = os.path.join(root, "components", "extra")
        write(f"{component}/kustomization.yaml", kustomization(
            f"configMapGenerator:\n- name: {cm}\n  behavior: merge\n  literals:\n  - component=on\n"
            f"patches:\n- target:\n    kind: Deployment\n  patch: |\n    - op: add\n"
            f"      path: /metadata/annotations\n      value:\n        component: extra\n", component=True))

    overlay = os.path.join(root, "overlay")
    body = "resources:\n- ../base\n"
    if component:
        body += "components:\n- ../components/extra\n"
    if rng.random() < 0.7:
        body += f"namespace: ns-{rng.choice(WORDS)}\n"
    if rng.random() < 0.6:
        body += f"namePrefix: {rng.choice(WORDS)}-\n"
    if rng.random() < 0.4:
        body += f"nameSuffix: -{rng.choice(WORDS)}\n"
    r = rng.random()
    if r < 0.3:
        body += f"commonLabels:\n  env: {rng.choice(WORDS)}\n"
    elif r < 0.6:
        body += (f"labels:\n- pairs:\n    team: {rng.choice(WORDS)}\n  includeSelectors: "
                 f"{rng.choice(['true', 'false'])}\n  includeTemplates: {rng.choice(['true', 'false'])}\n")
    if rng.random() < 0.5:
        body += f"commonAnnotations:\n  owner: {rng.choice(WORDS)}\n"
    if rng.random() < 0.7:
        body += "images:\n"
        for image in rng.sample(IMAGES, rng.randint(1, 3)):
            choice = rng.random()
            body += f"- name: {image}\n"
            if choice < 0.4:
                body += f"  newTag: \"{rng.randint(1, 9)}.{rng.randint(0, 9)}\"\n"
            elif choice < 0.7:
                body += f"  newName: mirror.example.com/{image.split('/')[-1]}\n  newTag: v{rng.randint(1, 9)}\n"
            else:
                body += f"  digest: sha256:{'b' * 64}\n"
    if rng.random() < 0.5:
        body += f"replicas:\n- name: {names[0]}\n  count: {rng.randint(0, 9)}\n"
        if has_extra:
            body += f"- name: store\n  count: {rng.randint(0, 9)}\n"
    write(f"{overlay}/mode.env", f"mode=overlay\nextra={rng.randint(0, 99)}\n")
    body += f"configMapGenerator:\n- name: {cm}\n  behavior: merge\n  envs:\n  - mode.env\n"
    if rng.random() < 0.5:
        body += f"- name: overlay-only\n  literals:\n  - x={rng.randint(0, 99)}\n"
    if rng.random() < 0.3:
        body += f"secretGenerator:\n- name: {secret}\n  behavior: replace\n  literals:\n  - token=t{rng.randint(0, 99)}\n"
    if rng.random() < 0.3:
        write(f"{overlay}/legacy.yaml", f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {names[-1]}\nspec:\n"
              f"  ports:\n  - port: 80\n    targetPort: 9000\n  - port: 9090\n    name: metrics\n")
        body += "patchesStrategicMerge:\n- legacy.yaml\n"
    if rng.random() < 0.3:
        write(f"{overlay}/ops.yaml", "- op: remove\n  path: /spec/template/spec/volumes\n"
              "- op: add\n  path: /metadata/labels/patched\n  value: \"true\"\n")
        body += (f"patchesJson6902:\n- target:\n    group: apps\n    version: v1\n    kind: Deployment\n"
                 f"    name: {names[0]}\n  path: ops.yaml\n")
    patches = []
    target = rng.choice(names)
    if rng.random() < 0.8:
        write(f"{overlay}/smp.yaml",
              f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {target}\nspec:\n  template:\n    spec:\n"
              f"      containers:\n      - name: c0\n        env:\n        - name: MODE\n          value: overlay\n"
              f"        - name: ADDED\n          value: \"1\"\n"
              + ("      - name: sidecar\n        image: busybox:1.0\n" if rng.random() < 0.5 else ""))
        patches.append("- path: smp.yaml\n")
    if rng.random() < 0.5:
        patches.append(f"- target:\n    kind: Deployment\n    name: {target}\n  patch: |\n    - op: replace\n"
                       f"      path: /spec/template/spec/containers/0/image\n      value: patched:{rng.randint(1, 9)}\n")
    if rng.random() < 0.4:
        patches.append("- target:\n    kind: Service\n  patch: |\n    apiVersion: v1\n    kind: Service\n"
                       "    metadata:\n      name: any\n    spec:\n      type: NodePort\n")
    if has_widget and rng.random() < 0.7:
        patches.append("- patch: |\n    apiVersion: example.com/v1\n    kind: Widget\n    metadata:\n"
                       "      name: gadget\n    spec:\n      parts:\n      - name: b\n        size: 3\n")
    if has_cron and rng.random() < 0.7:
        patches.append("- patch: |\n    apiVersion: batch/v1\n    kind: CronJob\n    metadata:\n      name: nightly\n"
                       "    spec:\n      jobTemplate:\n        spec:\n          template:\n            spec:\n"
                       "              containers:\n              - name: helper\n                image: busybox:1.0\n")
    if patches:
        body += "patches:\n" + "".join(patches)
    if rng.random() < 0.3:
        body += "sortOptions:\n  order: fifo\n"
    write(f"{overlay}/kustomization.yaml", kustomization(body))
    return overlay


for i in range(count):
    print(make_case(os.path.join(out, f"case-{i}")))
