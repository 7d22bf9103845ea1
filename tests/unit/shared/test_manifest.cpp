#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "shared/manifest/object.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using manifest::FileRole;

namespace {

yaml::Stream parse(const std::string& text) {
  auto s = yaml::parse_yaml(text);
  INFO(text);
  REQUIRE(s);
  return std::move(*s);
}

// Objects of every document of `stream`, as collect_objects expands them.
std::vector<manifest::Object> objects_of(const yaml::Stream& stream) {
  std::vector<manifest::Object> out;
  for (std::size_t i = 0; i < stream.documents.size(); ++i)
    if (stream.documents[i].root) manifest::collect_objects(*stream.documents[i].root, i, out);
  return out;
}

// A pod spec with one container of each list, indented for `indent` spaces.
std::string pod_spec(int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  return pad + "initContainers:\n" + pad + "- name: init\n" + pad + "  image: busybox:1.36\n" +  //
         pad + "containers:\n" + pad + "- name: app\n" + pad + "  image: nginx:1.25\n" +         //
         pad + "- name: side\n" + pad + "  image: envoy@sha256:abc\n" +                          //
         pad + "- name: no-image\n" +                                                            //
         pad + "ephemeralContainers:\n" + pad + "- name: debug\n" + pad + "  image: busybox\n";
}

using Pairs = std::vector<std::pair<std::string, std::string>>;  // (container, image)

const Pairs k_all_images = {
    {"app", "nginx:1.25"}, {"debug", "busybox"}, {"init", "busybox:1.36"}, {"side", "envoy@sha256:abc"}};

Pairs sorted_images(const manifest::Object& o) {
  Pairs out;
  for (const auto& img : manifest::images_of(o)) {
    REQUIRE(img.node);
    CHECK(img.node->text == img.reference);
    out.emplace_back(img.container, std::string(img.reference));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("group_of takes the group from an apiVersion", "[manifest]") {
  struct Case {
    const char* api_version;
    const char* group;
  };
  const Case cases[] = {
      {"apps/v1", "apps"},
      {"v1", ""},
      {"networking.k8s.io/v1", "networking.k8s.io"},
      {"example.com/v1alpha1", "example.com"},
      {"", ""},
  };
  for (const auto& c : cases) {
    INFO(c.api_version);
    CHECK(manifest::group_of(c.api_version) == c.group);
  }
}

TEST_CASE("Identity::describe names group, kind, namespace and name", "[manifest]") {
  struct Case {
    manifest::Identity id;
    const char* expected;
  };
  const Case cases[] = {
      {{"apps", "Deployment", "prod", "web"}, "apps/Deployment prod/web"},
      {{"", "ConfigMap", "shop", "cfg"}, "ConfigMap shop/cfg"},
      {{"", "Namespace", "", "shop"}, "Namespace shop"},
      {{"rbac.authorization.k8s.io", "ClusterRole", "", "admin"},
       "rbac.authorization.k8s.io/ClusterRole admin"},
  };
  for (const auto& c : cases) {
    INFO(c.expected);
    CHECK(c.id.describe() == c.expected);
  }
}

TEST_CASE("role_of decides what a file is from its name", "[manifest]") {
  struct Case {
    const char* path;
    FileRole role;
  };
  const Case cases[] = {
      {"kustomization.yaml", FileRole::kustomization},
      {"kustomization.yml", FileRole::kustomization},
      {"Kustomization", FileRole::kustomization},
      {"environments/prod/kustomization.yaml", FileRole::kustomization},
      {"environments/prod/base/Kustomization", FileRole::kustomization},
      {"deploy.yaml", FileRole::manifest},
      {"environments/dev/app/deploy.yml", FileRole::manifest},
      {"environments/dev/crd.json", FileRole::manifest},
      {"my-kustomization.yaml", FileRole::manifest},
      {"kustomization.yaml/deploy.yaml", FileRole::manifest},
      {"README.md", FileRole::ignored},
      {"environments/prod/README.md", FileRole::ignored},
      {"kustomization.yaml.bak", FileRole::ignored},
      {"deploy.yaml/notes.txt", FileRole::ignored},
      {"Kustomization/notes", FileRole::ignored},
      {"environments/prod/.gitkeep", FileRole::ignored},
      {"yaml", FileRole::ignored},
  };
  for (const auto& c : cases) {
    INFO(c.path);
    CHECK(manifest::role_of(c.path) == c.role);
  }
}

TEST_CASE("is_sops recognises complete SOPS documents only; a made-up stanza is no encryption",
          "[manifest]") {
  const std::string enc = "ENC[AES256_GCM,data:c2VjcmV0,iv:aXY=,tag:dGFn,type:str]";
  const std::string stanza =
      "sops:\n  age:\n    - recipient: age1abc\n      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n"
      "  lastmodified: \"2026-01-01T00:00:00Z\"\n  mac: " +
      enc + "\n  version: 3.8.1\n";
  const std::string secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: " + enc + "\n";
  auto replace = [](std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  struct Case {
    std::string name;
    std::string text;
    const char* problem;  // "" when it is SOPS
  };
  const Case cases[] = {
      {"an encrypted Secret", secret + stanza, ""},
      {"key groups (Shamir)", secret + replace(stanza, "  age:\n", "  key_groups:\n  - age:\n"), ""},
      {"pgp keys", secret + replace(stanza, "  age:\n    - recipient: age1abc\n", "  pgp:\n    - fp: ABCD\n"),
       ""},
      {"an empty value encrypts to empty data", replace(secret, "data:c2VjcmV0", "data:") + stanza, ""},
      {"a ConfigMap with one encrypted value",
       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  plain: x\n  k: " + enc + "\n" +
           stanza,
       ""},
      {"no stanza", secret, "there is no sops stanza"},
      {"sops as a scalar", secret + "sops: mac\n", "sops is not a mapping"},
      {"only a mac (the old test)", secret + "sops:\n  mac: x\n", "sops.mac is missing"},
      {"a mac in plaintext", secret + replace(stanza, "mac: " + enc, "mac: 0123abcd"), "sops.mac is missing"},
      {"no lastmodified", secret + replace(stanza, "  lastmodified: \"2026-01-01T00:00:00Z\"\n", ""),
       "sops.lastmodified is missing"},
      {"no key group",
       secret + replace(stanza, "      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n", ""),
       "names no key group"},
      {"empty key lists", secret + "sops:\n  age: []\n  kms: []\n  lastmodified: x\n  mac: " + enc + "\n",
       "names no key group"},
      {"plaintext data under a complete stanza", replace(secret, enc, "cGFzc3dvcmQ=") + stanza,
       "no value is encrypted"},
      {"one plaintext key beside an encrypted one", secret + "  plain: cGFzc3dvcmQ=\n" + stanza,
       "data.plain is not encrypted"},
      {"plaintext stringData", secret + "stringData:\n  password: hunter2\n" + stanza,
       "stringData.password is not encrypted"},
      {"a truncated ciphertext", replace(secret, enc, "ENC[AES256_GCM,data:abc]") + stanza,
       "not a well-formed ENC"},
      {"an unknown type", replace(secret, "type:str", "type:evil") + stanza, "not a well-formed ENC"},
      {"a ciphertext with a space", replace(secret, "data:c2VjcmV0", "data:c2Vj cmV0") + stanza,
       "not a well-formed ENC"},
      {"nested sops key", "kind: Secret\ndata:\n  sops: {mac: x}\n", "there is no sops stanza"},
  };
  for (const auto& c : cases) {
    INFO(c.name << "\n" << c.text);
    auto s = parse(c.text);
    REQUIRE(s.documents.size() == 1);
    auto problem = manifest::sops_problem(*s.documents[0].root);
    CHECK(manifest::is_sops(*s.documents[0].root) == (std::string(c.problem).empty()));
    if (*c.problem) {
      REQUIRE(problem);
      CHECK_THAT(*problem, Catch::Contains(c.problem));
    }
  }
  CHECK(manifest::is_sops_ciphertext(enc));
  CHECK_FALSE(manifest::is_sops_ciphertext("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str"));
  CHECK_FALSE(manifest::is_sops_ciphertext("ENC[AES256_GCM,data:x,iv:,tag:z,type:str]"));
  CHECK_FALSE(manifest::is_sops_ciphertext("ENC[AES128,data:x,iv:y,tag:z,type:str]"));
}

TEST_CASE("collect_objects expands Lists and keeps other documents whole", "[manifest]") {
  struct Expected {
    const char* api_version;
    const char* kind;
    const char* namespace_;
    const char* name;
  };
  struct Case {
    const char* name;
    std::string text;
    std::vector<Expected> objects;
  };
  const Case cases[] = {
      {"plain document",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n",
       {{"apps/v1", "Deployment", "shop", "web"}}},
      {"no metadata", "apiVersion: v1\nkind: ConfigMap\n", {{"v1", "ConfigMap", "", ""}}},
      {"v1 List",
       "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, "
       "namespace: x}}\n"
       "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: b}}\n",
       {{"v1", "ConfigMap", "x", "a"}, {"apps/v1", "Deployment", "", "b"}}},
      {"v1 ConfigMapList",
       "apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: "
       "a}}\n"
       "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n- {apiVersion: v1, kind: ConfigMap, "
       "metadata: {name: c}}\n",
       {{"v1", "ConfigMap", "", "a"}, {"v1", "ConfigMap", "", "b"}, {"v1", "ConfigMap", "", "c"}}},
      {"empty v1 List", "apiVersion: v1\nkind: List\nitems: []\n", {}},
      {"apps/v1 DeploymentList",
       "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- {apiVersion: apps/v1, kind: Deployment, "
       "metadata: {name: d}}\n",
       {{"apps/v1", "Deployment", "", "d"}}},
      {"List of a custom group",
       "apiVersion: example.com/v1\nkind: WidgetList\nitems:\n- {kind: Widget}\n- {kind: Widget}\n",
       {{"", "Widget", "", ""}, {"", "Widget", "", ""}}},
      {"kind not ending in List keeps its items",
       "apiVersion: v1\nkind: Inventory\nitems:\n- {kind: ConfigMap}\n",
       {{"v1", "Inventory", "", ""}}},
      {"List whose items are not a sequence",
       "apiVersion: v1\nkind: List\nitems: {a: 1}\n",
       {{"v1", "List", "", ""}}},
      {"kind named just like a List suffix",
       "apiVersion: v1\nkind: Checklist\nitems:\n- {kind: ConfigMap}\n",
       {{"v1", "Checklist", "", ""}}},
      {"sequence document", "- a\n- b\n", {{"", "", "", ""}}},
      {"scalar document", "just text\n", {{"", "", "", ""}}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto s = parse(c.text);
    REQUIRE(s.documents.size() == 1);
    std::vector<manifest::Object> out{manifest::Object{}};  // collect_objects appends
    manifest::collect_objects(*s.documents[0].root, 7, out);
    CHECK(out.size() == c.objects.size() + 1);
    if (out.size() != c.objects.size() + 1) continue;
    for (std::size_t i = 0; i < c.objects.size(); ++i) {
      INFO("object " << i);
      const auto& o = out[i + 1];
      const auto& e = c.objects[i];
      CHECK(o.document == 7);
      REQUIRE(o.node);
      CHECK(o.api_version == e.api_version);
      CHECK(o.kind == e.kind);
      CHECK(o.namespace_ == e.namespace_);
      CHECK(o.name == e.name);
    }
  }

  SECTION("items point at their own nodes and carry their identity") {
    auto s = parse(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n"
        "    name: web\n    namespace: shop\n");
    std::vector<manifest::Object> out;
    manifest::collect_objects(*s.documents[0].root, 0, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].node == s.documents[0].root->get("items")->items[0]);
    CHECK(out[0].node->mark.line == 4);
    CHECK(out[0].identity() == manifest::Identity{"apps", "Deployment", "shop", "web"});
  }

  SECTION("documents keep their index in a multi-document stream") {
    auto s = parse(
        "kind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems: [{kind: B}, {kind: C}]\n"
        "---\nkind: D\n");
    auto objects = objects_of(s);
    REQUIRE(objects.size() == 4);
    const std::pair<const char*, std::size_t> expected[] = {{"A", 0}, {"B", 1}, {"C", 1}, {"D", 2}};
    for (std::size_t i = 0; i < 4; ++i) {
      INFO(i);
      CHECK(objects[i].kind == expected[i].first);
      CHECK(objects[i].document == expected[i].second);
    }
  }
}

TEST_CASE("parse_image splits name, tag and digest", "[manifest]") {
  struct Case {
    const char* reference;
    const char* name;
    const char* tag;
    const char* digest;
  };
  const Case cases[] = {
      {"nginx", "nginx", "", ""},
      {"nginx:1.25", "nginx", "1.25", ""},
      {"registry:5000/team/app", "registry:5000/team/app", "", ""},
      {"registry:5000/team/app:1.2", "registry:5000/team/app", "1.2", ""},
      {"app@sha256:abc", "app", "", "sha256:abc"},
      {"app:1.2@sha256:abc", "app", "1.2", "sha256:abc"},
      {"localhost:5000/x", "localhost:5000/x", "", ""},
      {"ghcr.io/o/r:latest", "ghcr.io/o/r", "latest", ""},
      {"registry:5000/team/app:1.2@sha256:abc", "registry:5000/team/app", "1.2", "sha256:abc"},
      {"docker.io/library/nginx", "docker.io/library/nginx", "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.reference);
    auto r = manifest::parse_image(c.reference);
    CHECK(r.name == c.name);
    CHECK(r.tag == c.tag);
    CHECK(r.digest == c.digest);
  }
}

TEST_CASE("images_of finds the images of every container list, whatever the kind", "[manifest]") {
  struct Case {
    const char* kind;
    std::string text;
    Pairs expected;
  };
  const std::string head = "metadata:\n  name: w\n";
  const Case cases[] = {
      {"Pod", "apiVersion: v1\nkind: Pod\n" + head + "spec:\n" + pod_spec(2), k_all_images},
      {"Deployment",
       "apiVersion: apps/v1\nkind: Deployment\n" + head + "spec:\n  template:\n    spec:\n" + pod_spec(6),
       k_all_images},
      {"StatefulSet",
       "apiVersion: apps/v1\nkind: StatefulSet\n" + head + "spec:\n  template:\n    spec:\n" + pod_spec(6),
       k_all_images},
      {"DaemonSet",
       "apiVersion: apps/v1\nkind: DaemonSet\n" + head + "spec:\n  template:\n    spec:\n" + pod_spec(6),
       k_all_images},
      {"ReplicaSet",
       "apiVersion: apps/v1\nkind: ReplicaSet\n" + head + "spec:\n  template:\n    spec:\n" + pod_spec(6),
       k_all_images},
      {"ReplicationController",
       "apiVersion: v1\nkind: ReplicationController\n" + head + "spec:\n  template:\n    spec:\n" +
           pod_spec(6),
       k_all_images},
      {"Job", "apiVersion: batch/v1\nkind: Job\n" + head + "spec:\n  template:\n    spec:\n" + pod_spec(6),
       k_all_images},
      {"CronJob",
       "apiVersion: batch/v1\nkind: CronJob\n" + head +
           "spec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" +
           pod_spec(10),
       k_all_images},
      {"PodTemplate", "apiVersion: v1\nkind: PodTemplate\n" + head + "template:\n  spec:\n" + pod_spec(4),
       k_all_images},
      // By shape, not kind: container lists wherever they are (custom resources embed pod
      // templates anywhere); an object with one where its kind has none is judged too.
      {"a custom resource with a pod template",
       "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n" + head + "spec:\n  template:\n    spec:\n" +
           pod_spec(6),
       k_all_images},
      // ConfigMaps, Secrets (data) and CRDs (schema examples) run nothing, whatever they hold.
      {"ConfigMap", "apiVersion: v1\nkind: ConfigMap\n" + head + "spec:\n" + pod_spec(2), {}},
      {"CRD", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n" + head + "spec:\n" + pod_spec(2), {}},
      {"Deployment with the pod spec at a Pod's path",
       "apiVersion: apps/v1\nkind: Deployment\n" + head + "spec:\n" + pod_spec(2), k_all_images},
      {"Pod with the pod spec at a Deployment's path",
       "apiVersion: v1\nkind: Pod\n" + head + "spec:\n  template:\n    spec:\n" + pod_spec(6), k_all_images},
      {"not in metadata or status", "apiVersion: v1\nkind: Pod\n" + head + "status:\n" + pod_spec(2), {}},
      {"Pod without containers", "apiVersion: v1\nkind: Pod\n" + head + "spec: {}\n", {}},
      {"image that is not a string",
       "apiVersion: v1\nkind: Pod\n" + head +
           "spec:\n  containers:\n  - {name: a, image: 1.5}\n  - {name: b, image: [x]}\n",
       {}},
      {"container that is not a mapping",
       "apiVersion: v1\nkind: Pod\n" + head + "spec:\n  containers: [nginx, {name: c, image: x}]\n",
       {{"c", "x"}}},
      {"unnamed container",
       "apiVersion: v1\nkind: Pod\n" + head + "spec:\n  containers:\n  - image: 'redis:7'\n",
       {{"", "redis:7"}}},
  };
  for (const auto& c : cases) {
    INFO(c.kind << "\n" << c.text);
    auto s = parse(c.text);
    auto objects = objects_of(s);
    REQUIRE(objects.size() == 1);
    CHECK(sorted_images(objects[0]) == c.expected);
  }

  SECTION("each image points at its scalar") {
    auto s = parse(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: "
        "nginx:1.25\n"
        "  - name: b\n    image: \"redis:7\"\n");
    auto objects = objects_of(s);
    REQUIRE(objects.size() == 1);
    auto images = manifest::images_of(objects[0]);
    REQUIRE(images.size() == 2);
    std::sort(images.begin(), images.end(),
              [](const auto& a, const auto& b) { return a.container < b.container; });
    CHECK(images[0].reference == "nginx:1.25");
    CHECK(images[0].node->mark.line == 7);
    CHECK(images[1].reference == "redis:7");
    CHECK(images[1].node->mark.line == 9);
  }

  SECTION("objects without a node or of a non-mapping document have no images") {
    CHECK(manifest::images_of(manifest::Object{}).empty());
    auto s = parse("- kind: Pod\n");
    auto objects = objects_of(s);
    REQUIRE(objects.size() == 1);
    CHECK(manifest::images_of(objects[0]).empty());
  }
}
