# Writes the manifests of one environment for bench/reconcile.sh, one object per file:
#   DIR/apps/app-NNNN/deployment.yaml   a Deployment (~3 KB, as in bench/gen.awk)
#   DIR/apps/app-NNNN/configmap.yaml    its ConfigMap (five keys, an embedded properties file,
#                                        and RELEASE, the value the push-latency poller watches)
# Objects name no namespace: the reconciler's target (or kubectl -n) gives it.
# POSIX awk (Debian's mawk is enough); no input is read. The caller makes the directories:
#
#   mkdir -p $(seq -f "DIR/apps/app-%04g" 1 N)
#   awk -v dir=DIR -v apps=N -v env=NAME -f bench/reconcile-gen.awk
#
# Variables: dir (required), apps (Deployment + ConfigMap pairs, default 50), env (the
# environment's name, used in labels and values; default bench).

BEGIN {
  if (dir == "") { print "reconcile-gen.awk: -v dir=DIR is required" > "/dev/stderr"; exit 2 }
  if (apps == "") apps = 50
  if (env == "") env = "bench"
  for (a = 1; a <= apps; a++) {
    base = dir "/apps/" app_name(a)
    f = base "/deployment.yaml"; printf "%s", deployment(env, a) > f; close(f)
    f = base "/configmap.yaml"; printf "%s", configmap(env, a) > f; close(f)
  }
}

function app_name(a) { return sprintf("app-%04d", a) }
function team(a) { return sprintf("team-%02d", a % 40) }

function labels(e, a, indent) {
  return \
    indent "app.kubernetes.io/name: " app_name(a) "\n" \
    indent "app.kubernetes.io/part-of: " team(a) "\n" \
    indent "app.kubernetes.io/managed-by: portcullis\n" \
    indent "environment: " e "\n"
}

function deployment(e, a,    name, t, tag, cpu, s) {
  name = app_name(a); t = team(a)
  tag = sprintf("%d.%d.%d", 1 + a % 3, a % 17, a % 5)
  cpu = (a % 4 == 0) ? "\"1\"" : "\"1500m\""
  s = \
    "apiVersion: apps/v1\n" \
    "kind: Deployment\n" \
    "metadata:\n" \
    "  name: " name "\n" \
    "  labels:\n" labels(e, a, "    ") \
    "  annotations:\n" \
    "    owner: " t "@example.com\n" \
    "    description: \"" name " of " t " in " e "\"\n" \
    "spec:\n" \
    "  replicas: 2\n" \
    "  revisionHistoryLimit: 5\n" \
    "  selector:\n" \
    "    matchLabels:\n" \
    "      app.kubernetes.io/name: " name "\n" \
    "  strategy:\n" \
    "    type: RollingUpdate\n" \
    "    rollingUpdate:\n" \
    "      maxSurge: 25%\n" \
    "      maxUnavailable: 0\n" \
    "  template:\n" \
    "    metadata:\n" \
    "      labels:\n" labels(e, a, "        ") \
    "      annotations:\n" \
    "        prometheus.io/scrape: \"true\"\n" \
    "        prometheus.io/port: \"9090\"\n" \
    "    spec:\n" \
    "      serviceAccountName: default\n" \
    "      terminationGracePeriodSeconds: 30\n" \
    "      securityContext:\n" \
    "        runAsNonRoot: true\n" \
    "        runAsUser: 10001\n" \
    "        fsGroup: 10001\n" \
    "      containers:\n" \
    "      - name: app\n" \
    "        image: registry.example.com/" t "/" name ":" tag "\n" \
    "        imagePullPolicy: IfNotPresent\n" \
    "        args: [\"--config=/etc/app/app.properties\", \"--port=8080\"]\n" \
    "        ports:\n" \
    "        - name: http\n" \
    "          containerPort: 8080\n" \
    "          protocol: TCP\n" \
    "        - name: metrics\n" \
    "          containerPort: 9090\n" \
    "        env:\n" \
    "        - name: APP_ENV\n" \
    "          value: " e "\n" \
    "        - name: LOG_LEVEL\n" \
    "          valueFrom:\n" \
    "            configMapKeyRef:\n" \
    "              name: " name "-config\n" \
    "              key: LOG_LEVEL\n" \
    "        - name: POD_NAME\n" \
    "          valueFrom:\n" \
    "            fieldRef:\n" \
    "              fieldPath: metadata.name\n" \
    "        - name: CPU_LIMIT\n" \
    "          valueFrom:\n" \
    "            resourceFieldRef:\n" \
    "              resource: limits.cpu\n" \
    "        envFrom:\n" \
    "        - configMapRef:\n" \
    "            name: " name "-config\n" \
    "        resources:\n" \
    "          requests:\n" \
    "            cpu: 250m\n" \
    "            memory: 256Mi\n" \
    "          limits:\n" \
    "            cpu: " cpu "\n" \
    "            memory: 512Mi\n" \
    "        livenessProbe:\n" \
    "          httpGet:\n" \
    "            path: /healthz\n" \
    "            port: http\n" \
    "          initialDelaySeconds: 10\n" \
    "          periodSeconds: 10\n" \
    "        readinessProbe:\n" \
    "          httpGet:\n" \
    "            path: /ready\n" \
    "            port: 8080\n" \
    "          periodSeconds: 5\n" \
    "          failureThreshold: 3\n" \
    "        volumeMounts:\n" \
    "        - name: config\n" \
    "          mountPath: /etc/app\n" \
    "          readOnly: true\n" \
    "        - name: tmp\n" \
    "          mountPath: /tmp\n" \
    "        securityContext:\n" \
    "          allowPrivilegeEscalation: false\n" \
    "          readOnlyRootFilesystem: true\n" \
    "          capabilities:\n" \
    "            drop: [ALL]\n"
  if (a % 3 == 0)
    s = s \
      "      - name: proxy\n" \
      "        image: registry.example.com/platform/envoy:1.28." (a % 7) "\n" \
      "        ports:\n" \
      "        - name: proxy\n" \
      "          containerPort: 15001\n" \
      "        resources:\n" \
      "          requests: {cpu: 50m, memory: 64Mi}\n" \
      "          limits: {cpu: 200m, memory: 128Mi}\n"
  s = s \
    "      volumes:\n" \
    "      - name: config\n" \
    "        configMap:\n" \
    "          name: " name "-config\n" \
    "      - name: tmp\n" \
    "        emptyDir: {}\n"
  return s
}

function configmap(e, a,    name, t) {
  name = app_name(a); t = team(a)
  return \
    "apiVersion: v1\n" \
    "kind: ConfigMap\n" \
    "metadata:\n" \
    "  name: " name "-config\n" \
    "  labels:\n" labels(e, a, "    ") \
    "  annotations:\n" \
    "    owner: " t "@example.com\n" \
    "data:\n" \
    "  RELEASE: \"r0\"\n" \
    "  LOG_LEVEL: info\n" \
    "  FEATURE_NEW_CHECKOUT: \"false\"\n" \
    "  CACHE_TTL_SECONDS: \"300\"\n" \
    "  UPSTREAM_URL: http://" app_name(a % apps + 1) "." t ".svc.cluster.local:8080\n" \
    "  app.properties: |\n" \
    "    server.port=8080\n" \
    "    server.shutdown=graceful\n" \
    "    management.port=9090\n" \
    "    db.pool.min=2\n" \
    "    db.pool.max=" (10 + a % 20) "\n" \
    "    db.timeout.ms=2000\n" \
    "    cache.enabled=true\n" \
    "    tracing.sample.rate=0.1\n" \
    "    environment=" e "\n"
}
