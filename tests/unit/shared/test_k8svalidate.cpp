#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shared/k8svalidate/syntax.hpp"
#include "shared/k8svalidate/validate.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::k8svalidate;

namespace {

struct GrammarCase {
  std::string (*grammar)(std::string_view);
  const char* name;
  std::string input;
  bool valid;
};

std::string all_text(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) out += std::string(f.rule) + " " + f.text() + "\n";
  return out;
}

std::vector<Finding> validate_text(const std::string& text, std::optional<Version> cluster = Version{1, 20}) {
  auto stream = yaml::parse_yaml(text);
  INFO(text);
  REQUIRE(stream);
  REQUIRE(stream->documents.size() == 1);
  std::vector<Finding> out;
  validate(*stream->documents[0].root, Options{cluster}, out);
  return out;
}

const std::string k_deployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
          protocol: TCP
)";

// `k_deployment` with the line holding `from` replaced by `to` (several lines allowed).
std::string deployment_with(const std::string& from, const std::string& to) {
  std::string text = k_deployment;
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

}  // namespace

TEST_CASE("the apiserver's string grammars", "[k8svalidate]") {
  const std::vector<GrammarCase> cases = {
      {dns1123_label, "label", "web-1", true},
      {dns1123_label, "label", "Web", false},
      {dns1123_label, "label", "-web", false},
      {dns1123_label, "label", std::string(63, 'a'), true},
      {dns1123_label, "label", std::string(64, 'a'), false},
      {dns1123_label, "label", "a.b", false},
      {dns1035_label, "1035", "svc", true},
      {dns1035_label, "1035", "1svc", false},
      {dns1123_subdomain, "subdomain", "a.b-c.d", true},
      {dns1123_subdomain, "subdomain", "a..b", false},
      {dns1123_subdomain, "subdomain", "my_name", false},
      {dns1123_subdomain, "subdomain", std::string(254, 'a'), false},
      {dns1123_subdomain, "subdomain", "", false},
      {qualified_name, "qualified", "app.kubernetes.io/name", true},
      {qualified_name, "qualified", "My_Key.1", true},
      {qualified_name, "qualified", "/name", false},
      {qualified_name, "qualified", "a/b/c", false},
      {qualified_name, "qualified", "Example.com/x", false},
      {qualified_name, "qualified", std::string(64, 'k'), false},
      {qualified_name, "qualified", "bad key", false},
      {label_value, "label value", "", true},
      {label_value, "label value", "v1.2_3-x", true},
      {label_value, "label value", std::string(63, 'v'), true},
      {label_value, "label value", std::string(64, 'v'), false},
      {label_value, "label value", "-v", false},
      {port_name, "port name", "http", true},
      {port_name, "port name", "http-2", true},
      {port_name, "port name", "80", false},
      {port_name, "port name", "a--b", false},
      {port_name, "port name", "http-metrics-long", false},
      {port_name, "port name", "HTTP", false},
      {env_var_name, "env", "MY_VAR.x-1", true},
      {env_var_name, "env", "1VAR", false},
      {env_var_name, "env", "MY VAR", false},
      {config_map_key, "config key", "app.properties", true},
      {config_map_key, "config key", "..data", false},
      {config_map_key, "config key", "a/b", false},
      {path_segment_name, "segment", "system:admin", true},
      {path_segment_name, "segment", "a/b", false},
      {path_segment_name, "segment", "..", false},
      {cron_schedule, "cron", "*/5 * * * *", true},
      {cron_schedule, "cron", "0 0 1 jan,JUL mon-fri", true},
      {cron_schedule, "cron", "0-59/15 0,12 ? * sun", true},
      {cron_schedule, "cron", "@hourly", true},
      {cron_schedule, "cron", "@every 1h30m", true},
      {cron_schedule, "cron", "5/10 * * * *", true},
      {cron_schedule, "cron", "every minute", false},
      {cron_schedule, "cron", "* * * *", false},
      {cron_schedule, "cron", "60 * * * *", false},
      {cron_schedule, "cron", "* 24 * * *", false},
      {cron_schedule, "cron", "* * 0 * *", false},
      {cron_schedule, "cron", "* * * 13 *", false},
      {cron_schedule, "cron", "* * * * 7", false},
      {cron_schedule, "cron", "*/0 * * * *", false},
      {cron_schedule, "cron", "5-1 * * * *", false},
      {cron_schedule, "cron", "1-2-3 * * * *", false},
      {cron_schedule, "cron", "@every forever", false},
      {cron_schedule, "cron", "@fortnightly", false},
      {cron_schedule, "cron", "* * * * * *", false},
  };
  for (const auto& c : cases) {
    INFO(c.name << ": \"" << c.input << "\"");
    CHECK(c.grammar(c.input).empty() == c.valid);
  }
}

TEST_CASE("quantities follow resource.ParseQuantity", "[k8svalidate]") {
  const std::vector<std::pair<std::string, std::optional<double>>> cases = {
      {"1", 1},        {"500m", 0.5},    {"1.5Gi", 1.5 * 1073741824.0}, {"2Ki", 2048},  {"1e3", 1000},
      {"1E-3", 0.001}, {"+5", 5},        {"-1", -1},                   {".5", 0.5},    {"5.", 5},
      {"0", 0},        {"1.5.3Gi", {}},  {"1Gb", {}},                  {"", {}},       {"1 Gi", {}},
      {"Gi", 0},      {"1e", {}},       {"1ki", {}},                  {"1m5", {}},    {"abc", {}},
  };
  for (const auto& [input, value] : cases) {
    INFO("\"" << input << "\"");
    auto q = parse_quantity(input);
    REQUIRE(q.has_value() == value.has_value());
    if (value) CHECK(q->value == Approx(*value));
  }
}

TEST_CASE("versions: parsing, and which rules a cluster version applies", "[k8svalidate]") {
  CHECK(parse_version("v1.20.2") == Version{1, 20});
  CHECK(parse_version("1.27") == Version{1, 27});
  CHECK(parse_version("v1.21.3-gke.100") == Version{1, 21});
  CHECK_FALSE(parse_version("latest"));
  CHECK_FALSE(parse_version("v1"));
  const Rule* ssa = nullptr;
  const Rule* ephemeral = nullptr;
  std::string previous;
  for (const auto& r : rules()) {
    CHECK(r.id.starts_with("k8s."));
    CHECK(std::string(r.id) > previous);  // sorted, no duplicates
    previous = r.id;
    if (r.id == "k8s.ssa.port-protocol") ssa = &r;
    if (r.id == "k8s.pod.ephemeral-containers") ephemeral = &r;
  }
  REQUIRE(ssa);
  REQUIRE(ephemeral);
  CHECK(applies(*ssa, Version{1, 20}));
  CHECK_FALSE(applies(*ssa, Version{1, 21}));
  CHECK_FALSE(applies(*ssa, std::nullopt));
  CHECK_FALSE(applies(*ephemeral, Version{1, 20}));
  CHECK(applies(*ephemeral, Version{1, 23}));
}

TEST_CASE("a valid Deployment has no findings; each mutation the apiserver refuses has its finding", "[k8svalidate]") {
  CHECK(all_text(validate_text(k_deployment)).empty());
  struct Case {
    const char* what;
    std::string text;
    const char* rule;
    const char* expected;  // part of path + message
  };
  const std::vector<Case> cases = {
      {"an invalid object name", deployment_with("name: web\n  labels", "name: Web_1\n  labels"), "k8s.invalid-name",
       "metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain"},
      {"a label value of 64 characters", deployment_with("labels: {app: web}\nspec", "labels: {app: " + std::string(64, 'w') + "}\nspec"),
       "k8s.meta.labels", "metadata.labels: Invalid value: \"wwww"},
      {"a bad label key", deployment_with("labels: {app: web}\nspec", "labels: {\"a b\": web}\nspec"), "k8s.meta.labels",
       "metadata.labels: Invalid value: \"a b\""},
      {"selector and template labels differ", deployment_with("      labels: {app: web}", "      labels: {app: api}"),
       "k8s.selector", "spec.template.metadata.labels: Invalid value: map[...]: `selector` does not match template `labels`"},
      {"no selector", deployment_with("  selector:\n    matchLabels: {app: web}\n", ""), "k8s.selector",
       "spec.selector: Required value"},
      {"an empty selector", deployment_with("    matchLabels: {app: web}\n", "    matchLabels: {}\n"), "k8s.selector",
       "empty selector is invalid for deployment"},
      {"a port of 70000", deployment_with("containerPort: 80", "containerPort: 70000"), "k8s.pod.ports",
       "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"},
      {"a container without image", deployment_with("        image: nginx:1.25\n", ""), "k8s.pod.containers",
       "spec.template.spec.containers[0].image: Required value"},
      {"a quantity 1.5.3Gi is left to the schema; a negative one is not",
       deployment_with("        ports:", "        resources: {limits: {memory: \"-1Gi\"}}\n        ports:"), "k8s.pod.resources",
       "spec.template.spec.containers[0].resources.limits[memory]: Invalid value: \"-1Gi\": must be greater than or equal to 0"},
      {"requests above limits",
       deployment_with("        ports:", "        resources: {limits: {cpu: 500m}, requests: {cpu: \"1\"}}\n        ports:"),
       "k8s.pod.resources", "must be less than or equal to cpu limit"},
      {"an unknown restartPolicy", deployment_with("      containers:", "      restartPolicy: Sometimes\n      containers:"),
       "k8s.pod.spec", "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\""},
      {"a Deployment that does not restart always", deployment_with("      containers:", "      restartPolicy: Never\n      containers:"),
       "k8s.workload", "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""},
      {"two containers with one name",
       deployment_with("          protocol: TCP\n", "          protocol: TCP\n      - name: web\n        image: busybox\n"),
       "k8s.pod.containers", "spec.template.spec.containers[1].name: Duplicate value: \"web\""},
      {"an env var name with a space",
       deployment_with("        ports:", "        env: [{name: \"MY VAR\", value: x}]\n        ports:"), "k8s.pod.env",
       "spec.template.spec.containers[0].env[0].name: Invalid value: \"MY VAR\""},
      {"a mount of an unknown volume",
       deployment_with("        ports:", "        volumeMounts: [{name: data, mountPath: /data}]\n        ports:"),
       "k8s.pod.volumes", "spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\""},
      {"a volume with two sources",
       deployment_with("      containers:", "      volumes: [{name: data, emptyDir: {}, secret: {secretName: s}}]\n      containers:"),
       "k8s.pod.volumes", "spec.template.spec.volumes[0].secret: Forbidden: may not specify more than 1 volume type"},
      {"a probe without handler",
       deployment_with("        ports:", "        livenessProbe: {periodSeconds: 5}\n        ports:"), "k8s.pod.probes",
       "spec.template.spec.containers[0].livenessProbe: Required value: must specify a handler type"},
      {"a liveness probe with successThreshold 2",
       deployment_with("        ports:", "        livenessProbe: {tcpSocket: {port: 80}, successThreshold: 2}\n        ports:"),
       "k8s.pod.probes", "livenessProbe.successThreshold: Invalid value: 2: must be 1"},
      {"a negative runAsUser",
       deployment_with("        ports:", "        securityContext: {runAsUser: -1}\n        ports:"), "k8s.pod.security-context",
       "securityContext.runAsUser: Invalid value: -1"},
      {"a port name of 16 characters",
       deployment_with("        - containerPort: 80", "        - containerPort: 80\n          name: abcdefghijklmnop"),
       "k8s.pod.ports", "ports[0].name: Invalid value: \"abcdefghijklmnop\": must be no more than 15 characters"},
      {"maxUnavailable and maxSurge both 0",
       deployment_with("  template:", "  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}\n  template:"),
       "k8s.workload", "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"},
      {"minReadySeconds past the default progress deadline",
       deployment_with("  template:", "  minReadySeconds: 600\n  template:"), "k8s.workload",
       "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"},
      {"a toleration with Exists and a value",
       deployment_with("      containers:", "      tolerations: [{key: k, operator: Exists, value: v}]\n      containers:"),
       "k8s.pod.spec", "value must be empty when `operator` is 'Exists'"},
  };
  for (const auto& c : cases) {
    INFO(c.what << "\n" << c.text);
    auto findings = validate_text(c.text);
    std::string all = all_text(findings);
    INFO(all);
    CHECK(all.find(std::string(c.rule) + " ") != std::string::npos);
    CHECK(all.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("other kinds: each case names what the apiserver refuses, or accepts", "[k8svalidate]") {
  struct Case {
    const char* what;
    std::string text;
    const char* expected;  // "" when valid
  };
  const std::string job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n"
                          "      containers: [{name: c, image: busybox}]\n";
  const std::string cron = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: \"*/5 * * * *\"\n"
                           "  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n"
                           "          containers: [{name: c, image: busybox}]\n";
  const std::vector<Case> cases = {
      {"a Job without restartPolicy (defaulted to Always)", job, "spec.template.spec.restartPolicy: Required value"},
      {"a Job with restartPolicy Always", job.substr(0, job.find("      containers")) + "      restartPolicy: Always\n" +
                                              job.substr(job.find("      containers")),
       "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""},
      {"a Job with OnFailure", job.substr(0, job.find("      containers")) + "      restartPolicy: OnFailure\n" +
                                   job.substr(job.find("      containers")),
       ""},
      {"a Job with its own selector", job.substr(0, job.find("  template")) + "  selector: {matchLabels: {a: b}}\n" +
                                          job.substr(job.find("  template")),
       "spec.selector: Invalid value: {...}: `selector` not auto-generated"},
      {"a valid CronJob", cron, ""},
      {"a CronJob schedule `every minute`",
       cron.substr(0, cron.find("  schedule")) + "  schedule: every minute\n" + cron.substr(cron.find("  jobTemplate")),
       "spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields"},
      {"a CronJob name of 53 characters", "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: " + std::string(53, 'c') + "}\n" +
                                              cron.substr(cron.find("spec:")),
       "metadata.name: Invalid value: \"ccc"},
      {"an Ingress path without pathType",
       "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec:\n  rules:\n  - host: a.example.com\n"
       "    http:\n      paths:\n      - path: /\n        backend: {service: {name: web, port: {number: 80}}}\n",
       "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"},
      {"a v1beta1 Ingress path without pathType (defaulted)",
       "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: i}\nspec:\n  rules:\n  - host: a.example.com\n"
       "    http:\n      paths:\n      - path: /\n        backend: {serviceName: web, servicePort: 80}\n",
       ""},
      {"an Ingress host that is an IP",
       "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec:\n  rules:\n  - host: 10.0.0.1\n"
       "    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n",
       "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address"},
      {"a Service name starting with a digit", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec:\n  ports: [{port: 80, protocol: TCP}]\n",
       "metadata.name: Invalid value: \"1web\": a DNS-1035 label"},
      {"a Service without ports", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {a: b}}\n",
       "spec.ports: Required value"},
      {"a headless Service without ports", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: None}\n", ""},
      {"two unnamed Service ports",
       "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, protocol: TCP}, {port: 81, protocol: TCP}]\n",
       "spec.ports[0].name: Required value"},
      {"a NodePort on a ClusterIP Service",
       "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, protocol: TCP, nodePort: 30080}]\n",
       "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
      {"a ConfigMap key with a slash", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"a/b\": x}\n",
       "data[a/b]: Invalid value: \"a/b\""},
      {"a TLS Secret without key",
       "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==}\n",
       "data[tls.key]: Required value"},
      {"a PVC without access modes",
       "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\nspec: {resources: {requests: {storage: 1Gi}}}\n",
       "spec.accessModes: Required value: at least 1 access mode is required"},
      {"a Namespace with a dot", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n", "metadata.name: Invalid value: \"a.b\""},
      {"a PDB with both bounds",
       "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec: {minAvailable: 1, maxUnavailable: 1}\n",
       "spec: Invalid value: {...}: minAvailable and maxUnavailable cannot be both set"},
      {"an HPA with max below min",
       "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  minReplicas: 3\n  maxReplicas: 2\n"
       "  scaleTargetRef: {kind: Deployment, name: web}\n",
       "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"},
      {"a Role rule without verbs",
       "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{apiGroups: [\"\"], resources: [pods]}]\n",
       "rules[0].verbs: Required value"},
      {"a ClusterRoleBinding to a Role",
       "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
       "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: User, name: u}]\n",
       "roleRef.kind: Unsupported value: \"Role\""},
      {"an RBAC name with a colon is fine",
       "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:x\"}\nrules: []\n", ""},
      {"a NetworkPolicy peer with ipBlock and a selector",
       "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec:\n  podSelector: {}\n  ingress:\n"
       "  - from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]\n",
       "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"},
      {"a StorageClass without provisioner", "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: s}\n",
       "provisioner: Required value"},
      {"a webhook name with two segments",
       "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: w}\nwebhooks:\n"
       "- name: a.b\n  sideEffects: None\n  admissionReviewVersions: [v1]\n  clientConfig: {url: \"https://x.example.com/\"}\n",
       "webhooks[0].name: Invalid value: \"a.b\": should be a domain with at least three segments separated by dots"},
      {"a CRD whose schema has a field without type",
       "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n"
       "  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n  versions:\n"
       "  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n"
       "        properties:\n          spec: {properties: {size: {type: integer}}}\n",
       "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"},
      {"a CRD named after another plural",
       "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.example.com}\nspec:\n"
       "  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n  versions:\n"
       "  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object}\n",
       "metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"},
      {"a finalizer that is neither standard nor qualified",
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, finalizers: [cleanup]}\n",
       "metadata.finalizers: Invalid value: \"cleanup\": name is neither a standard finalizer name nor is it fully qualified"},
      {"an owner reference without uid",
       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: o}]\n",
       "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"},
      {"a kind not covered yields nothing", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: \"NOT valid\"}\n", ""},
  };
  for (const auto& c : cases) {
    INFO(c.what << "\n" << c.text);
    std::string all = all_text(validate_text(c.text));
    INFO(all);
    if (std::string_view(c.expected).empty())
      CHECK(all.empty());
    else
      CHECK(all.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("versioned rules: CEL rules of CRDs compile from 1.25; 1.20 drops them", "[k8svalidate][cel]") {
  const std::string crd =
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n"
      "  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n  versions:\n"
      "  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n"
      "        properties:\n          spec:\n            type: object\n"
      "            x-kubernetes-validations: [{rule: 'self.size <'}, {rule: 'self.size < 10'}, "
      "{rule: 'true', reason: Odd}]\n            properties: {size: {type: integer}}\n";
  auto rules_of = [](const std::vector<Finding>& found) {
    std::string out;
    for (const auto& f : found)
      if (f.rule == "k8s.crd.cel.compile") out += f.text() + "\n";
    return out;
  };
  std::string at125 = rules_of(validate_text(crd, Version{1, 25}));
  CHECK_THAT(at125, Catch::Contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: "
                                    "Invalid value: \"self.size <\": compilation failed: ERROR: <input>:1:12: unexpected end"));
  // reason is a 1.28 field: the 1.25 apiserver drops it, 1.28 checks its value.
  CHECK_THAT(at125, !Catch::Contains("reason"));
  CHECK_THAT(rules_of(validate_text(crd, Version{1, 28})), Catch::Contains("x-kubernetes-validations[2].reason: Unsupported value: \"Odd\""));
  CHECK(rules_of(validate_text(crd, Version{1, 24})).empty());
  CHECK(rules_of(validate_text(crd, Version{1, 20})).empty());
  CHECK_FALSE(rules_of(validate_text(crd, std::nullopt)).empty());
}

TEST_CASE("versioned rules: 1.20's server-side apply quirks only up to 1.20, ephemeral containers from 1.23",
          "[k8svalidate]") {
  const std::string no_protocol =
      "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n";
  auto has = [](const std::vector<Finding>& f, std::string_view rule) {
    return std::any_of(f.begin(), f.end(), [&](const Finding& x) { return x.rule == rule; });
  };
  auto old = validate_text(no_protocol, Version{1, 20});
  CHECK(has(old, "k8s.ssa.port-protocol"));
  CHECK(all_text(old).find("spec.ports[0].protocol: Required value") != std::string::npos);
  CHECK_FALSE(has(validate_text(no_protocol, Version{1, 21}), "k8s.ssa.port-protocol"));
  CHECK_FALSE(has(validate_text(no_protocol, std::nullopt), "k8s.ssa.port-protocol"));
  // Container ports without protocol: 1.20.2's server-side apply defaults them (checked against it).
  CHECK(all_text(validate_text(deployment_with("          protocol: TCP\n", ""), Version{1, 20})).empty());

  std::string twice = deployment_with("        ports:", "        env: [{name: A, value: x}, {name: A, value: y}]\n        ports:");
  auto dup = validate_text(twice, Version{1, 20});
  CHECK(all_text(dup).find("k8s.ssa.duplicate-key spec.template.spec.containers[0].env[1].name: Duplicate value: \"A\"") !=
        std::string::npos);
  CHECK(validate_text(twice, Version{1, 21}).empty());

  std::string ephemeral = deployment_with("      containers:", "      ephemeralContainers: [{name: debug}]\n      containers:");
  CHECK_FALSE(has(validate_text(ephemeral, Version{1, 20}), "k8s.pod.containers"));
  auto newer = validate_text(ephemeral, Version{1, 23});
  INFO(all_text(newer));
  CHECK(all_text(newer).find("spec.template.spec.ephemeralContainers[0].image: Required value") != std::string::npos);
}

TEST_CASE("hostile shapes never crash: every field of the wrong type is skipped", "[k8svalidate]") {
  const std::vector<std::string> texts = {
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: 5\nspec: [1, 2]\n",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {selector: 1, template: {spec: {containers: [1, [], {ports: 3}]}}}\n",
      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: \"x\", targetPort: [1]}, 7]}\n",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
      "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\nspec: {schedule: 5, jobTemplate: []}\n",
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\nspec: {versions: [{schema: {openAPIV3Schema: {items: [1], properties: 3}}}]}\n",
      "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec: {rules: [{http: {paths: [{}]}}], tls: 1}\n",
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n",
      "- a\n- b\n",
  };
  for (const auto& t : texts) {
    INFO(t);
    auto stream = yaml::parse_yaml(t);
    REQUIRE(stream);
    std::vector<Finding> out;
    validate(*stream->documents[0].root, Options{Version{1, 20}}, out);
    for (const auto& f : out) CHECK_FALSE(f.message.empty());
  }
}
