#!/usr/bin/env python3
"""The differential corpus: valid objects of the kinds people keep in GitOps repositories, and
mutations of them field by field (removed, wrong type, boundary values, invalid strings,
duplicates), each judged by a real kube-apiserver with server-side dry runs: a create
(`kubectl apply --dry-run=server` of a new object) and a server-side apply (what portcullisd
does). The unit suite (tests/unit/hooks/test_checks.cpp) holds the gate to these verdicts
without a cluster.

Usage (tests/differential/run.sh starts etcd + kube-apiserver and calls this):
  generate.py --api URL --token TOKEN --ca FILE --out tests/fixtures/differential/corpus.jsonl
  generate.py --list            # the mutations only, no apiserver (for a look)

Standard library only. Objects go to the apiserver as JSON request bodies; nothing is passed
to a shell.
"""
import argparse
import copy
import http.client
import json
import ssl
import sys
import urllib.parse

CONTAINER = {
    "name": "web",
    "image": "nginx:1.25",
    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
    "env": [{"name": "MODE", "value": "prod"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 10},
    "livenessProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 3},
    "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
    "securityContext": {"runAsUser": 1000, "allowPrivilegeEscalation": False},
    "imagePullPolicy": "IfNotPresent",
}


def pod_spec(restart=None):
    spec = {
        "containers": [copy.deepcopy(CONTAINER)],
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
        "volumes": [{"name": "config", "configMap": {"name": "web-config"}},
                    {"name": "cache", "emptyDir": {}}],
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
    }
    if restart:
        spec["restartPolicy"] = restart
    return spec


def template(labels, restart=None):
    return {"metadata": {"labels": dict(labels)}, "spec": pod_spec(restart)}


LABELS = {"app": "web"}

BASES = [
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "web", "labels": dict(LABELS), "annotations": {"example.com/owner": "team-a"}},
     "spec": {"replicas": 2, "selector": {"matchLabels": dict(LABELS)}, "template": template(LABELS),
              "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
              "minReadySeconds": 5, "revisionHistoryLimit": 3, "progressDeadlineSeconds": 600}},
    {"apiVersion": "apps/v1", "kind": "StatefulSet",
     "metadata": {"name": "db"},
     "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
              "template": template({"app": "db"}), "podManagementPolicy": "OrderedReady",
              "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
              "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                        "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}}}]}},
    {"apiVersion": "apps/v1", "kind": "DaemonSet",
     "metadata": {"name": "agent"},
     "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template({"app": "agent"}),
              "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}}},
    {"apiVersion": "batch/v1", "kind": "Job",
     "metadata": {"name": "migrate"},
     "spec": {"backoffLimit": 2, "completions": 1, "parallelism": 1, "activeDeadlineSeconds": 600,
              "template": template({"app": "migrate"}, "OnFailure")}},
    {"apiVersion": "batch/v1beta1", "kind": "CronJob",
     "metadata": {"name": "report"},
     "spec": {"schedule": "*/15 * * * *", "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 60,
              "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
              "jobTemplate": {"spec": {"template": template({"app": "report"}, "Never")}}}},
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "web"},
     "spec": {"type": "ClusterIP", "selector": dict(LABELS), "sessionAffinity": "None",
              "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                        {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]}},
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "edge"},
     "spec": {"type": "NodePort", "selector": dict(LABELS), "externalTrafficPolicy": "Local",
              "ports": [{"port": 443, "targetPort": 8443, "nodePort": 30443, "protocol": "TCP"}]}},
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "upstream"},
     "spec": {"type": "ExternalName", "externalName": "api.example.com"}},
    {"apiVersion": "v1", "kind": "ConfigMap",
     "metadata": {"name": "web-config", "labels": dict(LABELS)},
     "data": {"app.properties": "a=b\n", "LOG_LEVEL": "info"}, "binaryData": {"logo.png": "iVBORw0KGgo="}},
    {"apiVersion": "v1", "kind": "Secret",
     "metadata": {"name": "web-tls"}, "type": "kubernetes.io/tls",
     "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}},
    {"apiVersion": "v1", "kind": "Secret",
     "metadata": {"name": "web-auth"}, "type": "kubernetes.io/basic-auth",
     "stringData": {"username": "admin", "password": "secret"}},
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "web"}, "imagePullSecrets": [{"name": "registry"}], "automountServiceAccountToken": False},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
     "metadata": {"name": "data"},
     "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "volumeMode": "Filesystem",
              "resources": {"requests": {"storage": "10Gi"}, "limits": {"storage": "20Gi"}}}},
    {"apiVersion": "v1", "kind": "Namespace",
     "metadata": {"name": "team-a", "labels": {"team": "a"}}},
    {"apiVersion": "v1", "kind": "LimitRange",
     "metadata": {"name": "limits"},
     "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"},
                          "max": {"cpu": "2"}, "min": {"cpu": "50m"}}]}},
    {"apiVersion": "v1", "kind": "ResourceQuota",
     "metadata": {"name": "quota"},
     "spec": {"hard": {"pods": "20", "requests.cpu": "4", "limits.memory": "8Gi"}, "scopes": ["NotTerminating"]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "metadata": {"name": "web"},
     "spec": {"ingressClassName": "nginx",
              "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
              "rules": [{"host": "web.example.com", "http": {"paths": [
                  {"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                  {"path": "/api", "pathType": "Exact",
                   "backend": {"service": {"name": "api", "port": {"name": "http"}}}}]}}]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "web"},
     "spec": {"podSelector": {"matchLabels": dict(LABELS)}, "policyTypes": ["Ingress", "Egress"],
              "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}},
                                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                           "ports": [{"protocol": "TCP", "port": 80}]}],
              "egress": [{"to": [{"podSelector": {"matchExpressions": [
                  {"key": "app", "operator": "In", "values": ["db"]}]}}],
                          "ports": [{"port": "postgres"}]}]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
     "metadata": {"name": "nginx"},
     "spec": {"controller": "k8s.io/ingress-nginx",
              "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "nginx"}}},
    {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
     "metadata": {"name": "web"},
     "spec": {"minAvailable": "50%", "selector": {"matchLabels": dict(LABELS)}}},
    {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
     "metadata": {"name": "web"},
     "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
              "minReplicas": 2, "maxReplicas": 10,
              "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                            "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
    {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
     "metadata": {"name": "web-v1"},
     "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
              "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "reader"},
     "rules": [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "watch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "metrics-reader"},
     "rules": [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get"]},
               {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "reader"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
     "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "default"},
                  {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "metrics-reader"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics-reader"},
     "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "default"},
                  {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}]},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
     "metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Retain",
     "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True, "parameters": {"type": "gp3"}},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
     "metadata": {"name": "policy"},
     "webhooks": [{"name": "policy.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                   "failurePolicy": "Fail", "timeoutSeconds": 5,
                   "clientConfig": {"service": {"name": "policy", "namespace": "default", "path": "/validate", "port": 443}},
                   "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                              "resources": ["deployments"], "scope": "Namespaced"}]}]},
    {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
     "metadata": {"name": "widgets.example.com"},
     "spec": {"group": "example.com", "scope": "Namespaced",
              "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList",
                        "shortNames": ["wd"]},
              "versions": [{"name": "v1", "served": True, "storage": True,
                            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                "spec": {"type": "object", "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "tags": {"type": "array", "items": {"type": "string"}},
                                    "port": {"x-kubernetes-int-or-string": True}}}}}}}]}},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "PreemptLowerPriority"},
]

# Fields whose verdict depends on the cluster's state or configuration rather than on the object
# (other objects, admission configuration, allocators): not mutated.
SKIP_KEYS = {"apiVersion", "kind", "namespace", "clusterIP", "serviceAccountName", "priorityClassName",
             "runtimeClassName", "privileged", "nodeName"}

STRINGS = ["", "Invalid Value", "-x-", "a" * 64, "a/b", "..", "1.5.3Gi", "every minute", "x" * 254]
INTS = [0, -1, 1, 65535, 65536, 2147483648]


def paths(node, prefix=()):
    """Every (path, value) under `node`, depth first."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            if k in SKIP_KEYS and prefix[-1:] != ("labels",):
                continue
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def set_at(obj, path, value, remove=False):
    out = copy.deepcopy(obj)
    node = out
    for p in path[:-1]:
        node = node[p]
    if remove:
        if isinstance(node, list):
            del node[path[-1]]
        else:
            del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def name_of(path):
    s = ""
    for p in path:
        s += "[%d]" % p if isinstance(p, int) else ("." if s else "") + p
    return s


def mutations(base):
    """(description, object) for every mutation of `base`."""
    for path, value in paths(base):
        if not path:
            continue
        where = name_of(path)
        if path[:2] == ("metadata", "name"):
            for s in ["Web", "web_1", "a" * 64, "a" * 254, "-web", "web.", "1web", "web:1", "a..b"]:
                yield where + " = " + json.dumps(s), set_at(base, path, s)
            continue
        if path[-1] != "name" or len(path) > 2:
            yield where + " removed", set_at(base, path, None, remove=True)
        if isinstance(value, bool):
            yield where + " = \"yes\"", set_at(base, path, "yes")
        elif isinstance(value, int):
            for i in INTS:
                if i != value:
                    yield where + " = " + str(i), set_at(base, path, i)
            yield where + " = \"" + str(value) + "\"", set_at(base, path, str(value))
        elif isinstance(value, str):
            for s in STRINGS:
                if s != value:
                    yield where + " = " + json.dumps(s[:20] + ("..." if len(s) > 20 else "")), set_at(base, path, s)
            if value and value[0].isdigit() is False and len(value) < 60:
                yield where + " = " + json.dumps(value.upper()), set_at(base, path, value.upper())
        elif isinstance(value, list):
            if value:
                yield where + " = []", set_at(base, path, [])
                yield where + " duplicated item", set_at(base, path, value + [copy.deepcopy(value[0])])
        elif isinstance(value, dict):
            if value:
                yield where + " = {}", set_at(base, path, {})
            if path[-1] in ("labels", "matchLabels", "selector", "nodeSelector", "annotations", "data"):
                for k in ["bad key", "a/b/c", "Example.com/x", "k" * 64]:
                    yield where + " + " + json.dumps(k[:20]), set_at(base, path, dict(value, **{k: "v"}))
                if path[-1] != "data":
                    for v in ["v" * 64, "-v", "a b"]:
                        yield where + " + value " + json.dumps(v[:20]), set_at(base, path, dict(value, k=v))
    yield from targeted(base)


def targeted(base):
    """Mutations the generic walk does not make: fields absent from the base, kind-specific values."""
    kind = base["kind"]
    if "template" in base.get("spec", {}) or kind == "CronJob":
        spec_path = ("spec", "jobTemplate", "spec", "template", "spec") if kind == "CronJob" else ("spec", "template", "spec")
        def put(desc, key, value):
            out = copy.deepcopy(base)
            node = out
            for p in spec_path:
                node = node[p]
            node[key] = value
            return name_of(spec_path + (key,)) + " = " + desc, out
        for r in ["Always", "OnFailure", "Never", "Sometimes"]:
            yield put(r, "restartPolicy", r)
        yield put("activeDeadlineSeconds 30", "activeDeadlineSeconds", 30)
        yield put("hostNetwork", "hostNetwork", True)
        yield put("dnsPolicy None", "dnsPolicy", "None")
        yield put("two containers named alike", "containers", [copy.deepcopy(CONTAINER), copy.deepcopy(CONTAINER)])
        c = copy.deepcopy(CONTAINER)
        c["env"].append({"name": "MODE", "value": "again"})
        yield put("an env var twice", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["ports"] = [{"containerPort": 80}]
        yield put("a port without protocol", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["ports"] = [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 80, "protocol": "TCP"}]
        yield put("the same port twice", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["ports"] = [{"containerPort": 80, "protocol": "TCP", "hostPort": 80}, {"containerPort": 81, "protocol": "TCP", "hostPort": 80}]
        yield put("one host port twice", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
        yield put("requests above limits", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["resources"] = {"requests": {"example.com/gpu": "1"}}
        yield put("an extended resource without limit", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["resources"] = {"requests": {"gpu": "1"}, "limits": {"gpu": "1"}}
        yield put("a resource name that is not standard", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["volumeMounts"] = [{"name": "config", "mountPath": "/a"}, {"name": "cache", "mountPath": "/a"}]
        yield put("two mounts on one path", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["volumeMounts"] = [{"name": "config", "mountPath": "/a", "subPath": "../x"}]
        yield put("a subPath with ..", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["livenessProbe"] = {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}
        yield put("a probe with two handlers", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": False}
        yield put("privileged without privilege escalation", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["envFrom"] = [{"configMapRef": {"name": "x"}, "secretRef": {"name": "y"}}]
        yield put("an envFrom with two sources", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["env"] = [{"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        yield put("an env var with value and valueFrom", "containers", [c])
        c = copy.deepcopy(CONTAINER)
        c["env"] = [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers"}}}]
        yield put("an unsupported fieldPath", "containers", [c])
        yield put("a volume with two sources", "volumes",
                  [{"name": "config", "configMap": {"name": "a"}, "emptyDir": {}}, {"name": "cache", "emptyDir": {}}])
        yield put("two volumes named alike", "volumes",
                  [{"name": "config", "configMap": {"name": "a"}}, {"name": "config", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}])
        yield put("a toleration without key and Equal", "tolerations", [{"operator": "Equal", "value": "x"}])
        yield put("a toleration with seconds and NoSchedule", "tolerations",
                  [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}])
        yield put("an affinity without terms", "affinity",
                  {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}})
        yield put("a pod anti-affinity without topologyKey", "affinity",
                  {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                      {"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": ""}]}})
        yield put("a topology spread with maxSkew 0", "topologySpreadConstraints",
                  [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"a": "b"}}}])
        yield put("a hostAlias without IP", "hostAliases", [{"ip": "x", "hostnames": ["a"]}])
        yield put("an ephemeral container", "ephemeralContainers", [{"name": "debug", "image": "busybox"}])
    if kind == "Service":
        out = copy.deepcopy(base)
        out["spec"]["ports"] = [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "TCP", "name": "b"}]
        yield "spec.ports: one port twice", out
        out = copy.deepcopy(base)
        for p in out["spec"].get("ports", []):
            p.pop("protocol", None)
        yield "spec.ports: without protocol", out
    if kind == "Deployment":
        out = copy.deepcopy(base)
        out["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
        yield "spec.strategy: Recreate with rollingUpdate", out
        out = copy.deepcopy(base)
        out["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
        yield "spec.strategy: both 0", out
        out = copy.deepcopy(base)
        out["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}
        yield "spec.selector: Exists with values", out
    if kind == "Job":
        out = copy.deepcopy(base)
        out["spec"]["selector"] = {"matchLabels": {"app": "migrate"}}
        yield "spec.selector: set without manualSelector", out
    if kind == "CronJob":
        for s in ["@hourly", "@every 5m", "0 0 * * MON-FRI", "* * * * * *", "61 * * * *", "0 0 31 2 *", "@yearly 1"]:
            out = copy.deepcopy(base)
            out["spec"]["schedule"] = s
            yield "spec.schedule = " + json.dumps(s), out
    if kind == "ConfigMap":
        out = copy.deepcopy(base)
        out["binaryData"]["LOG_LEVEL"] = "aW5mbw=="
        yield "data and binaryData share a key", out


def collection_path(obj):
    api = obj["apiVersion"]
    group, _, version = api.rpartition("/")
    base = "/api/v1" if not group else "/apis/%s/%s" % (group, version)
    plural = {
        "Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Job": "jobs",
        "CronJob": "cronjobs", "Service": "services", "ConfigMap": "configmaps", "Secret": "secrets",
        "ServiceAccount": "serviceaccounts", "PersistentVolumeClaim": "persistentvolumeclaims",
        "Namespace": "namespaces", "LimitRange": "limitranges", "ResourceQuota": "resourcequotas",
        "Ingress": "ingresses", "NetworkPolicy": "networkpolicies", "IngressClass": "ingressclasses",
        "PodDisruptionBudget": "poddisruptionbudgets", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
        "Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
        "ClusterRoleBinding": "clusterrolebindings", "StorageClass": "storageclasses",
        "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
        "CustomResourceDefinition": "customresourcedefinitions", "PriorityClass": "priorityclasses",
    }[obj["kind"]]
    cluster = obj["kind"] in {"Namespace", "IngressClass", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                              "ValidatingWebhookConfiguration", "CustomResourceDefinition", "PriorityClass"}
    return base + ("" if cluster else "/namespaces/default") + "/" + plural


class Api:
    def __init__(self, url, token, ca):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token = token
        self.conn = None

    def request(self, method, path, body, content_type):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
                self.conn.request(method, path, body=body, headers={
                    "Authorization": "Bearer " + self.token, "Content-Type": content_type,
                    "Accept": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def verdict(self, status, data):
        if 200 <= status < 300:
            return {"verdict": "accept", "code": status}
        try:
            message = json.loads(data).get("message", "")
        except ValueError:
            message = data.decode("utf-8", "replace")
        return {"verdict": "reject", "code": status, "message": message[:400]}

    def create(self, obj):
        status, data = self.request("POST", collection_path(obj) + "?dryRun=All", json.dumps(obj).encode(),
                                    "application/json")
        return self.verdict(status, data)

    def apply(self, obj):
        name = obj.get("metadata", {}).get("name") if isinstance(obj.get("metadata"), dict) else None
        if not isinstance(name, str) or not name:
            return None
        path = collection_path(obj) + "/" + urllib.parse.quote(name, safe="") + \
            "?dryRun=All&fieldManager=portcullis-differential&force=true"
        status, data = self.request("PATCH", path, json.dumps(obj).encode(), "application/apply-patch+yaml")
        return self.verdict(status, data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api")
    ap.add_argument("--token")
    ap.add_argument("--ca")
    ap.add_argument("--out")
    ap.add_argument("--version", default="v1.20.2")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    cases = []
    seen = set()
    for b, base in enumerate(BASES):
        cases.append(("%s/%s valid" % (base["kind"], base["metadata"]["name"]), base))
        for desc, obj in mutations(base):
            key = json.dumps(obj, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            cases.append(("%s/%s %s" % (base["kind"], base["metadata"]["name"], desc), obj))
    if args.list:
        for desc, _ in cases:
            print(desc)
        print(len(cases), "cases", file=sys.stderr)
        return 0
    api = Api(args.api, args.token, args.ca)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(json.dumps({"kubernetes": args.version, "cases": len(cases)}) + "\n")
        for i, (desc, obj) in enumerate(cases):
            create = api.create(obj)
            apply = api.apply(obj)
            rec = {"id": i, "case": desc, "create": create, "apply": apply, "object": obj}
            out.write(json.dumps(rec, sort_keys=True) + "\n")
            if i % 500 == 0:
                print("%d/%d" % (i, len(cases)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
