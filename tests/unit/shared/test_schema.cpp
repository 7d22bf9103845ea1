#include <catch2/catch.hpp>

#include <fstream>

#include "shared/schema/compiler.hpp"
#include "shared/schema/store.hpp"
#include "shared/schema/validator.hpp"
#include "shared/util/fs.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/openapi_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;

namespace {

// A miniature OpenAPI v2 document shaped like the apiserver's.
const char* k_openapi = R"({
  "swagger": "2.0",
  "paths": {
    "/apis/apps/v1/namespaces/{namespace}/deployments": {
      "post": {"x-kubernetes-group-version-kind": {"group": "apps", "version": "v1", "kind": "Deployment"}}
    },
    "/api/v1/namespaces": {
      "post": {"x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "Namespace"}}
    }
  },
  "definitions": {
    "io.k8s.api.apps.v1.Deployment": {
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      "type": "object",
      "required": ["selector"],
      "properties": {
        "replicas": {"type": "integer", "format": "int32"},
        "selector": {"type": "object", "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "strategy": {"type": "object", "properties": {"type": {"type": "string"},
          "rollingUpdate": {"type": "object", "properties": {"maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}}}}},
        "template": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
          "containers": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}}}}}}
      }
    },
    "io.k8s.api.core.v1.Container": {
      "type": "object",
      "required": ["name"],
      "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "resources": {"type": "object", "properties": {"limits": {"type": "object",
          "additionalProperties": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}}}}
      }
    },
    "io.k8s.api.core.v1.Namespace": {
      "type": "object",
      "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                     "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}},
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Namespace", "version": "v1"}]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
      "type": "object",
      "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                     "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                     "creationTimestamp": {"type": "string", "format": "date-time"}}
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
      "type": "object",
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"},
                                          {"group": "apps", "kind": "DeleteOptions", "version": "v1"}]
    }
  }
})";

schema::Program import_program(test::TempDir& dir) {
  auto store = test::import_store(k_openapi, dir / "store");
  CHECK(store.summary.kinds == 2);
  return std::move(store.program);
}

std::vector<schema::Violation> check(const schema::Program& p, const std::string& manifest,
                                     schema::Strictness strictness = schema::Strictness::strict) {
  auto stream = yaml::parse_yaml(manifest);
  REQUIRE(stream);
  const auto* root = stream->documents.at(0).root;
  auto found = p.find(root->get_string("apiVersion"), root->get_string("kind"));
  REQUIRE(found);
  std::vector<schema::Violation> out;
  schema::ValidateOptions opts;
  opts.strictness = strictness;
  schema::validate(p, found->node, *root, opts, out);
  return out;
}

const std::string k_deploy_head = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {}\n";

}  // namespace

TEST_CASE("the store imports an OpenAPI v2 document into kinds with scopes and files", "[schema]") {
  test::TempDir dir;
  auto p = import_program(dir);
  auto d = p.find("apps/v1", "Deployment");
  REQUIRE(d);
  CHECK(d->scope == schema::Scope::namespaced);
  auto ns = p.find("v1", "Namespace");
  REQUIRE(ns);
  CHECK(ns->scope == schema::Scope::cluster);
  CHECK_FALSE(p.find("v1", "DeleteOptions"));
  CHECK_FALSE(p.find("apps/v1", "StatefulSet"));
  CHECK(p.find(schema::k_object_meta_api_version, schema::k_object_meta_kind));
  CHECK(std::filesystem::exists(dir / "store/apps/v1/Deployment.json"));
  CHECK(std::filesystem::exists(dir / "store/core/v1/Namespace.json"));
  CHECK(std::filesystem::exists(dir / "store/_definitions.json"));
  auto index = util::read_file(dir / "store/index.json");
  REQUIRE(index);
  CHECK(index->find("\"scope\":\"Namespaced\"") != std::string::npos);
  // Every file the store writes is valid JSON.
  for (auto& entry : std::filesystem::recursive_directory_iterator(dir / "store")) {
    if (entry.path().extension() != ".json") continue;
    auto text = util::read_file(entry.path());
    REQUIRE(text);
    INFO(entry.path());
    CHECK(yaml::parse_json(*text, yaml::Limits{256, 10'000'000, 10'000'000}));
  }
}

TEST_CASE("re-importing replaces the store atomically", "[schema]") {
  test::TempDir dir;
  auto first = import_program(dir);  // stays mapped, like a hook that is running
  auto again = schema::import_openapi_v2(k_openapi, dir / "store");
  REQUIRE(again);
  CHECK(first.find("apps/v1", "Deployment"));
  std::size_t siblings = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++siblings;
  CHECK(siblings == 1);  // no staging or old directories left behind
}

TEST_CASE("schema validation reports what is wrong, where, with a rule id", "[schema]") {
  test::TempDir dir;
  auto p = import_program(dir);
  struct Case {
    const char* name;
    std::string manifest;
    const char* rule;  // nullptr: valid
    const char* path;
    const char* message_part;
    std::uint32_t line;
  };
  const Case cases[] = {
      {"valid", k_deploy_head + "  replicas: 3\n", nullptr, "", "", 0},
      {"integral float is an integer to Kubernetes", k_deploy_head + "  replicas: 3.0\n", nullptr, "", "", 0},
      {"null counts as unset", k_deploy_head + "  replicas: null\n", nullptr, "", "", 0},
      {"int-or-string takes both", k_deploy_head + "  strategy: {rollingUpdate: {maxSurge: 25%}}\n", nullptr, "", "", 0},
      {"int-or-string integer", k_deploy_head + "  strategy: {rollingUpdate: {maxSurge: 1}}\n", nullptr, "", "", 0},
      {"quantity as a number", k_deploy_head + "  template: {spec: {containers: [{name: a, resources: {limits: {cpu: 1}}}]}}\n", nullptr, "", "", 0},
      {"string for integer", k_deploy_head + "  replicas: three\n", "schema.type", "spec.replicas",
       "expected integer, got string \"three\"", 7},
      {"fractional for integer", k_deploy_head + "  replicas: 1.5\n", "schema.type", "spec.replicas", "expected integer", 7},
      {"int32 overflow", k_deploy_head + "  replicas: 3000000000\n", "schema.range", "spec.replicas", "32-bit", 7},
      {"unknown field with suggestion", k_deploy_head + "  replicass: 3\n", "schema.unknown-field", "spec",
       "unknown field \"replicass\" (did you mean \"replicas\"?)", 7},
      {"unknown top-level field", k_deploy_head + "extra: 1\n", "schema.unknown-field", "", "unknown field \"extra\"", 7},
      {"missing required", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n",
       "schema.required", "spec", "missing required field \"selector\"", 5},
      {"required item field", k_deploy_head + "  template:\n    spec:\n      containers:\n      - image: nginx:1.25\n",
       "schema.required", "spec.template.spec.containers[0]", "missing required field \"name\"", 10},
      {"yaml boolean for a string label", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    enabled: no\nspec:\n  selector: {}\n",
       "schema.type", "metadata.labels.enabled", "YAML reads unquoted no as a boolean; quote it", 6},
      {"integer label value", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    tier: 1\nspec:\n  selector: {}\n",
       "schema.type", "metadata.labels.tier", "expected string, got integer 1", 6},
      {"dotted label key path", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app.kubernetes.io/name: 1\nspec:\n  selector: {}\n",
       "schema.type", "metadata.labels[\"app.kubernetes.io/name\"]", "expected string", 6},
      {"object for string", k_deploy_head + "  template: {spec: {containers: [{name: {a: 1}}]}}\n", "schema.type",
       "spec.template.spec.containers[0].name", "expected string, got object", 7},
      {"bad date-time", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  creationTimestamp: yesterday\n",
       "schema.format", "metadata.creationTimestamp", "RFC 3339", 5},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto v = check(p, c.manifest);
    if (!c.rule) {
      for (auto& x : v) INFO(x.path << ": " << x.message);
      CHECK(v.empty());
      continue;
    }
    REQUIRE(v.size() == 1);
    CHECK(v[0].rule == c.rule);
    CHECK(v[0].path == c.path);
    CHECK_THAT(v[0].message, Catch::Contains(c.message_part));
    CHECK(v[0].mark.line == c.line);
  }
}

TEST_CASE("lenient mode allows unknown fields but not wrong types", "[schema]") {
  test::TempDir dir;
  auto p = import_program(dir);
  CHECK(check(p, k_deploy_head + "  replicass: 3\n", schema::Strictness::lenient).empty());
  CHECK(check(p, k_deploy_head + "  replicas: x\n", schema::Strictness::lenient).size() == 1);
}

TEST_CASE("compiled keywords of structural and draft-07 schemas", "[schema]") {
  auto schema_doc = yaml::parse_yaml(R"(
type: object
additionalProperties: false
required: [mode]
properties:
  mode: {type: string, enum: [open, closed]}
  name: {type: string, pattern: '^[a-z][a-z0-9-]*$', minLength: 2, maxLength: 8}
  count: {type: integer, minimum: 1, maximum: 10}
  ratio: {type: number, exclusiveMinimum: 0, multipleOf: 0.5}
  tags: {type: array, items: {type: string}, uniqueItems: true, maxItems: 3}
  data: {type: string, format: byte}
  port: {x-kubernetes-int-or-string: true}
  free: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {a: {type: string}}}
  either: {anyOf: [{type: integer}, {type: string, pattern: '^[0-9]+%$'}]}
  one: {oneOf: [{type: string}, {type: string, minLength: 3}]}
  neg: {not: {type: string}}
  fixed: {const: 3}
  nullable: {type: string, nullable: true}
  nested: {$ref: '#/$defs/node'}
$defs:
  node:
    type: object
    properties:
      child: {$ref: '#/$defs/node'}
      value: {type: integer}
)");
  REQUIRE(schema_doc);
  const auto& root = *schema_doc->documents[0].root;
  schema::Compiler compiler;
  auto id = compiler.compile(root, root);
  REQUIRE(id);
  compiler.add_root("t/v1", "T", *id, schema::Scope::unknown);
  auto program = compiler.finish();
  REQUIRE(program);

  struct Case {
    const char* doc;
    const char* rule;
  };
  const Case cases[] = {
      {"{mode: open}", nullptr},
      {"{}", "schema.required"},
      {"{mode: ajar}", "schema.enum"},
      {"{mode: open, other: 1}", "schema.unknown-field"},
      {"{mode: open, name: Web}", "schema.pattern"},
      {"{mode: open, name: w}", "schema.length"},
      {"{mode: open, name: abcdefghij}", "schema.length"},
      {"{mode: open, count: 0}", "schema.range"},
      {"{mode: open, count: 11}", "schema.range"},
      {"{mode: open, count: 10}", nullptr},
      {"{mode: open, ratio: 0}", "schema.range"},
      {"{mode: open, ratio: 1.25}", "schema.range"},
      {"{mode: open, ratio: 1.5}", nullptr},
      {"{mode: open, tags: [a, a]}", "schema.unique"},
      {"{mode: open, tags: [a, b, c, d]}", "schema.length"},
      {"{mode: open, data: aGVsbG8=}", nullptr},
      {"{mode: open, data: 'not base64!'}", "schema.format"},
      {"{mode: open, port: 80}", nullptr},
      {"{mode: open, port: http}", nullptr},
      {"{mode: open, port: [1]}", "schema.type"},
      {"{mode: open, free: {a: x, anything: [1]}}", nullptr},
      {"{mode: open, either: 5}", nullptr},
      {"{mode: open, either: 50%}", nullptr},
      {"{mode: open, either: lots}", "schema.pattern"},
      {"{mode: open, one: ab}", nullptr},
      {"{mode: open, one: abc}", "schema.invalid"},
      {"{mode: open, neg: 1}", nullptr},
      {"{mode: open, neg: x}", "schema.invalid"},
      {"{mode: open, fixed: 3}", nullptr},
      {"{mode: open, fixed: 4}", "schema.enum"},
      {"{mode: open, nested: {child: {child: {value: 1}}}}", nullptr},
      {"{mode: open, nested: {child: {child: {value: x}}}}", "schema.type"},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    auto doc = yaml::parse_yaml(c.doc);
    REQUIRE(doc);
    std::vector<schema::Violation> out;
    schema::validate(*program, program->find("t/v1", "T")->node, *doc->documents[0].root, {}, out);
    if (!c.rule) {
      CHECK(out.empty());
    } else {
      REQUIRE(out.size() == 1);
      CHECK(out[0].rule == c.rule);
    }
  }
}

TEST_CASE("malformed schemas fail to compile with a location", "[schema]") {
  const char* bad[] = {
      "{type: strin}",
      "{properties: [a]}",
      "{$ref: '#/nowhere'}",
      "{required: a}",
      "{minLength: -1}",
      "{allOf: {type: string}}",
  };
  for (const char* text : bad) {
    INFO(text);
    auto doc = yaml::parse_yaml(text);
    REQUIRE(doc);
    schema::Compiler c;
    auto id = c.compile(*doc->documents[0].root, *doc->documents[0].root);
    REQUIRE_FALSE(id);
    CHECK(id.error().line == 1);
  }
}

TEST_CASE("a corrupt or foreign store file is refused, never trusted", "[schema]") {
  test::TempDir dir;
  auto p = import_program(dir);
  auto bytes = p.bytes();
  std::string good(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  dir.write("garbage.bin", "definitely not a schema program");
  CHECK_FALSE(schema::Program::map_file(dir / "garbage.bin"));
  dir.write("truncated.bin", good.substr(0, good.size() / 2));
  CHECK_FALSE(schema::Program::map_file(dir / "truncated.bin"));
  std::string flipped = good;
  // Point the first property's node id far outside the node table.
  flipped[flipped.size() / 3] = '\xff';
  flipped[flipped.size() / 3 + 1] = '\xff';
  flipped[flipped.size() / 3 + 2] = '\xff';
  flipped[flipped.size() / 3 + 3] = '\x7f';
  dir.write("flipped.bin", flipped);
  auto f = schema::Program::map_file(dir / "flipped.bin");
  if (f) {
    // If the flipped bytes happened to land in string data the program is still sound.
    CHECK(f->find("apps/v1", "Deployment"));
  }
  CHECK_FALSE(schema::open_store(dir / "missing"));
  CHECK_THAT(schema::open_store(dir / "missing").error().message, Catch::Contains("portcullis schemas import"));
}
