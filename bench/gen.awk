# Writes a `git fast-import` stream of a GitOps config repository, for bench/run.sh.
# POSIX awk (Debian's mawk is enough); no input is read.
#
#   awk -v manifests=20000 -v many=5000 -f bench/gen.awk | git --git-dir=REPO fast-import --quiet
#
# Variables:
#   manifests  files in the base commit (refs/heads/main), spread over
#              environments/{dev,staging,prod}/apps/app-NNNN/{deployment,configmap,service}.yaml
#   layout     "nested" (default, as above) or "flat": every file of an environment in its one
#              directory, environments/{dev,staging,prod}/app-NNNN-{deployment,configmap,service}.yaml
#   many       if > 0: refs/bench/many changes many/2 Deployments and many/2 ConfigMaps
#   invalid    if 1: refs/bench/invalid adds a few invalid manifests (one finding each)
#
# Refs written, all with fixed dates so object ids are reproducible:
#   refs/heads/main       the base commit: .portcullis.yaml and the manifests
#   refs/bench/one        main + one changed Deployment in prod (a routine image bump)
#   refs/bench/many       main + `many` changed manifests (a fleet-wide change)
#   refs/bench/invalid    main + invalid manifests (checks that both validators reject them)

BEGIN {
  if (manifests == "") manifests = 2000
  if (many == "") many = 0
  if (invalid == "") invalid = 0
  env[0] = "dev"; env[1] = "staging"; env[2] = "prod"
  replicas["dev"] = 1; replicas["staging"] = 2; replicas["prod"] = 3
  files_per_app = 3
  # Apps per environment, so that 3 environments x 3 files cover `manifests`.
  apps = int((manifests + 3 * files_per_app - 1) / (3 * files_per_app))
  eof = "PORTCULLIS_BENCH_EOF"
  when = "1700000000 +0000"

  commit_header("refs/heads/main", 1, "", "base: " manifests " manifests")
  file(".portcullis.yaml", policy())
  n = 0
  for (e = 0; e < 3 && n < manifests; e++)
    for (a = 1; a <= apps && n < manifests; a++) {
      file(app_file(env[e], a, "deployment"), deployment(env[e], a, 0)); n++
      if (n < manifests) { file(app_file(env[e], a, "configmap"), configmap(env[e], a, 0)); n++ }
      if (n < manifests) { file(app_file(env[e], a, "service"), service(env[e], a)); n++ }
    }

  # One routine change: a new image tag for one prod Deployment (in the middle of prod).
  commit_header("refs/bench/one", 2, ":1", "prod: bump one app")
  a = int(last_app("prod") / 2); if (a < 1) a = 1
  file(app_file("prod", a, "deployment"), deployment("prod", a, 1))

  if (many > 0) {
    # A fleet-wide change: new image tags and configuration for the first many/2 apps
    # (across environments, in order), each changing its Deployment and its ConfigMap.
    commit_header("refs/bench/many", 3, ":1", "fleet: bump " many / 2 " apps")
    changed = 0
    for (e = 0; e < 3 && changed < many; e++)
      for (a = 1; a <= last_app(env[e]) && changed < many; a++) {
        file(app_file(env[e], a, "deployment"), deployment(env[e], a, 1))
        file(app_file(env[e], a, "configmap"), configmap(env[e], a, 1))
        changed += 2
      }
    if (changed < many) {
      print "gen.awk: the base commit has too few apps for many=" many > "/dev/stderr"
      exit 1
    }
  }

  if (invalid) {
    commit_header("refs/bench/invalid", 4, ":1", "invalid manifests")
    d = deployment("dev", 1, 0)
    sub(/        resources:/, "        resourcess:", d)  # unknown field
    file("environments/dev/apps/invalid/unknown-field.yaml", rename(d, "invalid-1"))
    d = deployment("dev", 2, 0)
    sub(/  replicas: [0-9]+/, "  replicas: three", d)  # wrong type
    file("environments/dev/apps/invalid/wrong-type.yaml", rename(d, "invalid-2"))
    d = deployment("dev", 3, 0)
    sub(/      - name: app\n        image:/, "      - image:", d)  # a container without its required name
    file("environments/dev/apps/invalid/missing-required.yaml", rename(d, "invalid-3"))
    c = configmap("dev", 4, 0)
    sub(/\ndata:/, "\ndatas:", c)  # unknown top-level field
    file("environments/dev/apps/invalid/configmap-unknown-field.yaml", rename(c, "invalid-4"))
  }
}

function commit_header(ref, mark, from, message) {
  print "commit " ref
  print "mark :" mark
  print "author Bench <bench@example.com> " when
  print "committer Bench <bench@example.com> " when
  print "data <<" eof
  print message
  print eof
  if (from != "") print "from " from
}

# An inline file of the current commit; `text` ends with a newline.
function file(path, text) {
  print "M 100644 inline " path
  print "data <<" eof
  printf "%s", text
  print eof
}

function last_app(e,    first, i) {
  # Apps present in environment `e` (the last environment may be cut short by `manifests`).
  first = 0
  for (i = 0; i < 3; i++) if (env[i] == e) first = i * apps * files_per_app
  if (manifests - first <= 0) return 0
  if (manifests - first >= apps * files_per_app) return apps
  return int((manifests - first) / files_per_app)
}

function app_file(e, a, what) {
  if (layout == "flat") return "environments/" e "/" app_name(a) "-" what ".yaml"
  return "environments/" e "/apps/" app_name(a) "/" what ".yaml"
}
function app_name(a) { return sprintf("app-%04d", a) }
function team(a) { return sprintf("team-%02d", a % 40) }
function rename(text, name) { gsub(/app-[0-9][0-9][0-9][0-9]/, name, text); return text }

function policy() {
  return \
    "protectedRefs: [refs/heads/main]\n" \
    "releaseTags: [\"refs/tags/v*\"]\n" \
    "environments:\n" \
    "  - {name: dev,     path: environments/dev}\n" \
    "  - {name: staging, path: environments/staging}\n" \
    "  - {name: prod,    path: environments/prod, protected: true}\n" \
    "manifests:\n" \
    "  strict: true\n" \
    "  missingSchema: reject\n" \
    "  denyKinds: [Secret]\n"
}

function labels(e, a, indent) {
  return \
    indent "app.kubernetes.io/name: " app_name(a) "\n" \
    indent "app.kubernetes.io/part-of: " team(a) "\n" \
    indent "app.kubernetes.io/managed-by: portcullis\n" \
    indent "environment: " e "\n"
}

# A Deployment like those of a real environment; `rev` 1 is the next release of the app.
function deployment(e, a, rev,    name, t, tag, cpu, s) {
  name = app_name(a); t = team(a)
  tag = sprintf("%d.%d.%d", 1 + a % 3, a % 17, rev + a % 5)
  cpu = (a % 4 == 0) ? "1" : "\"1500m\""
  s = \
    "apiVersion: apps/v1\n" \
    "kind: Deployment\n" \
    "metadata:\n" \
    "  name: " name "\n" \
    "  namespace: " t "\n" \
    "  labels:\n" labels(e, a, "    ") \
    "  annotations:\n" \
    "    owner: " t "@example.com\n" \
    "    description: \"" name " of " t " in " e "\"\n" \
    "spec:\n" \
    "  replicas: " replicas[e] "\n" \
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
  if (e == "prod")
    s = s \
      "      nodeSelector:\n" \
      "        node.kubernetes.io/pool: general\n" \
      "      tolerations:\n" \
      "      - key: dedicated\n" \
      "        operator: Equal\n" \
      "        value: general\n" \
      "        effect: NoSchedule\n"
  return s
}

function configmap(e, a, rev,    name, t) {
  name = app_name(a); t = team(a)
  return \
    "apiVersion: v1\n" \
    "kind: ConfigMap\n" \
    "metadata:\n" \
    "  name: " name "-config\n" \
    "  namespace: " t "\n" \
    "  labels:\n" labels(e, a, "    ") \
    "  annotations:\n" \
    "    owner: " t "@example.com\n" \
    "data:\n" \
    "  LOG_LEVEL: " (e == "prod" ? "info" : "debug") "\n" \
    "  FEATURE_NEW_CHECKOUT: \"" (rev ? "true" : "false") "\"\n" \
    "  CACHE_TTL_SECONDS: \"" (300 + 60 * rev) "\"\n" \
    "  UPSTREAM_URL: http://" app_name(a % apps + 1) "." t ".svc.cluster.local:8080\n" \
    "  app.properties: |\n" \
    "    server.port=8080\n" \
    "    server.shutdown=graceful\n" \
    "    management.port=9090\n" \
    "    db.pool.min=2\n" \
    "    db.pool.max=" (10 + a % 20) "\n" \
    "    db.timeout.ms=" (2000 + 500 * rev) "\n" \
    "    cache.enabled=true\n" \
    "    tracing.sample.rate=0.1\n" \
    "    environment=" e "\n"
}

function service(e, a,    name, t) {
  name = app_name(a); t = team(a)
  return \
    "apiVersion: v1\n" \
    "kind: Service\n" \
    "metadata:\n" \
    "  name: " name "\n" \
    "  namespace: " t "\n" \
    "  labels:\n" labels(e, a, "    ") \
    "spec:\n" \
    "  type: ClusterIP\n" \
    "  selector:\n" \
    "    app.kubernetes.io/name: " name "\n" \
    "  ports:\n" \
    "  - name: http\n" \
    "    port: 80\n" \
    "    targetPort: http\n" \
    "    protocol: TCP\n" \
    "  - name: metrics\n" \
    "    port: 9090\n" \
    "    targetPort: 9090\n" \
    "    protocol: TCP\n"
}
