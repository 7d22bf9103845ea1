#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "hooks/checks.hpp"
#include "shared/schema/store.hpp"
#include "shared/util/process.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/openapi_fixture.hpp"
#include "tests/unit/support/sops.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using test::k_widget_crd;

namespace {

schema::Program make_store(const test::TempDir& dir) {
  auto store = test::import_store(test::k_apiserver_openapi, dir / "store");
  REQUIRE(store.summary.cluster == 1);
  return std::move(store.program);
}

policy::Policy make_policy(const std::string& text) {
  if (text.empty()) return policy::Policy{};
  auto p = policy::parse_policy(text);
  INFO(text << (p ? std::string() : p.error().describe()));
  REQUIRE(p);
  return std::move(*p);
}

const policy::Environment k_dev{"dev", "environments/dev", false, "team", std::nullopt};
const policy::Environment k_prod{"prod", "environments/prod", true, "team", std::nullopt};

// The tree entry of a file with `content` and `mode`, read back through libgit2.
git::TreeEntry entry_of(const test::GitFixture& fx, const std::string& content,
                        const std::string& mode = "100644") {
  auto tree = fx.tree({{"f", content, mode}});
  auto repo = fx.open();
  auto e = repo.entry_at(tree, "f");
  REQUIRE(e);
  REQUIRE(*e);
  return **e;
}

struct Expected {
  const char* rule;
  Level level;
  std::uint32_t line;
  std::uint32_t column;
  const char* message_part;
};

void check_findings(const std::vector<Finding>& actual, const std::vector<Expected>& expected,
                    const std::string& path) {
  std::string all;
  for (const auto& f : actual)
    all += "finding: " + f.rule + " " + std::to_string(f.line) + ":" + std::to_string(f.column) + " " +
           f.message + "\n";
  INFO(all);
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& f = actual[i];
    const auto& e = expected[i];
    INFO("finding " << i << ": " << f.rule << " " << f.line << ":" << f.column << " " << f.message);
    CHECK(f.rule == e.rule);
    CHECK(f.level == e.level);
    CHECK(f.line == e.line);
    CHECK(f.column == e.column);
    CHECK_THAT(f.message, Catch::Contains(e.message_part));
    CHECK(f.file == path);
    CHECK(f.ref.empty());
  }
}

const std::string k_cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n";

std::string deployment(const std::string& image) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
         "      containers:\n      - name: web\n        image: " +
         image + "\n    metadata: {labels: {app: web}}\n  selector: {matchLabels: {app: web}}\n";
}

enum class Store { none, k8s };

}  // namespace

TEST_CASE("check_file reports each problem of a file with its rule, level and location", "[checks]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = make_store(tmp);
  const Level E = Level::error, W = Level::warning;

  struct Case {
    const char* name;
    std::string file;  // under the environment's directory
    std::string content;
    std::vector<Expected> findings = {};
    bool checked = true;
    std::size_t objects = 1;
    std::string policy = {};  // .portcullis.yaml; empty: the defaults
    bool protected_env = false;
    Store with = Store::k8s;
    std::string mode = "100644";
    std::uint64_t max_file_size = 1 << 20;
    bool deferred = false;
  };
  const std::string secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n";
  const std::string big_cm = k_cm + "data:\n  a: " + std::string(100, 'x') + "\n";
  const Case cases[] = {
      {"valid ConfigMap", "cfg.yaml", k_cm + "data:\n  a: x\n", {}},
      {"valid JSON manifest",
       "cfg.json",
       R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}})",
       {}},
      {.name = "several documents and a List",
       .file = "all.yaml",
       .content = k_cm + "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, "
                         "metadata: {name: a}}\n"
                         "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
       .objects = 3},
      {.name = "empty documents", .file = "empty.yaml", .content = "---\n---\n", .objects = 0},
      {.name = "YAML syntax error",
       .file = "broken.yaml",
       .content = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n bad: [\n",
       .findings = {{"yaml.syntax", E, 5, 2, "did not find expected key"}},
       .objects = 0},
      {.name = "JSON syntax error",
       .file = "unclosed.json",
       .content = "{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\"",
       .findings = {{"yaml.syntax", E, 2, 21, ""}},
       .objects = 0},
      {.name = "duplicate key",
       .file = "dup.yaml",
       .content = k_cm + "data:\n  a: x\n  a: y\n",
       .findings = {{"yaml.duplicate-key", E, 7, 3, "duplicate key \"a\" (first at line 6)"}},
       .objects = 0},
      {.name = "invalid UTF-8",
       .file = "utf8.yaml",
       .content = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n",
       .findings = {{"yaml.encoding", E, 4, 12, "invalid UTF-8"}},
       .objects = 0},
      {.name = "scalar document",
       .file = "scalar.yaml",
       .content = "just a string\n",
       .findings = {{"k8s.not-an-object", E, 1, 1, "document 1 is a scalar, not a Kubernetes object"}},
       .objects = 0},
      {"array document after an object",
       "array.yaml",
       k_cm + "---\n- a\n- b\n",
       {{"k8s.not-an-object", E, 6, 1, "document 2 is an array"}}},
      {"List item that is not an object",
       "list.yaml",
       "apiVersion: v1\nkind: List\nitems:\n- 3\n",
       {{"k8s.not-an-object", E, 4, 3, "list item is not a Kubernetes object"}}},
      {"missing name",
       "nameless.yaml",
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
       {{"k8s.missing-field", E, 1, 1, "missing metadata.name"}}},
      {"missing apiVersion and kind",
       "kindless.yaml",
       "metadata:\n  name: k\n",
       {{"k8s.missing-field", E, 1, 1, "missing apiVersion, kind"}}},
      {"plaintext Secret data",
       "secret.yaml",
       secret + "data:\n  password: aHVudGVyMg==\n",
       {{"content.plaintext-secret", E, 6, 3, "Secret carries data in plaintext"}}},
      {"plaintext Secret stringData",
       "secret.yaml",
       secret + "stringData: {password: hunter2}\n",
       {{"content.plaintext-secret", E, 5, 13, "Secret carries stringData in plaintext"}}},
      {"Secret without data",
       "secret.yaml",
       secret + "type: Opaque\ndata: {}\nstringData: {}\n",
       {}},
      {"SOPS-encrypted Secret",
       "secret.yaml",
       secret + "data:\n  password: " + test::k_sops_value + "\n" + test::k_sops_stanza,
       {}},
      {"a made-up sops stanza is no encryption",
       "secret.yaml",
       secret + "data:\n  password: aHVudGVyMg==\nsops:\n  mac: ENC[AES256_GCM,data:x,type:str]\n",
       {{"content.sops-invalid", E, 7, 1,
         "the document has a sops stanza but is not SOPS-encrypted: sops.mac"},
        {"content.plaintext-secret", E, 6, 3, "Secret carries data in plaintext"}}},
      {"a complete stanza over plaintext data",
       "secret.yaml",
       secret + "data:\n  password: aHVudGVyMg==\n  token: " + test::k_sops_value + "\n" +
           test::k_sops_stanza,
       {{"content.sops-invalid", E, 8, 1, "data.password is not encrypted"},
        {"content.plaintext-secret", E, 6, 3, "Secret carries data in plaintext"},
        {"schema.format", E, 7, 10, "data.token: must be base64-encoded"}}},
      {.name = "plaintext Secret as a warning",
       .file = "secret.yaml",
       .content = secret + "data:\n  password: aHVudGVyMg==\n",
       .findings = {{"content.plaintext-secret", W, 6, 3, "plaintext"}},
       .policy = "rules:\n  content.plaintext-secret: warn\n"},
      {.name = "plaintext Secret switched off",
       .file = "secret.yaml",
       .content = secret + "data:\n  password: aHVudGVyMg==\n",
       .policy = "rules:\n  content.plaintext-secret: 'off'\n"},
      {.name = "denied Kind",
       .file = "cfg.yaml",
       .content = k_cm,
       .findings = {{"content.deny-kind", E, 1, 1, "kind ConfigMap may not be committed"}},
       .policy = "manifests:\n  denyKinds: [ConfigMap]\n"},
      {.name = "denied group/Kind",
       .file = "web.yaml",
       .content = deployment("nginx:1.25"),
       .findings = {{"content.deny-kind", E, 1, 1, "kind Deployment may not be committed"}},
       .policy = "manifests:\n  denyKinds: [apps/Deployment]\n"},
      {.name = "group/Kind of another group",
       .file = "web.yaml",
       .content = deployment("nginx:1.25"),
       .policy = "manifests:\n  denyKinds: [extensions/Deployment, Deploy]\n"},
      {.name = "denied Kind as a warning",
       .file = "cfg.yaml",
       .content = k_cm,
       .findings = {{"content.deny-kind", W, 1, 1, "ConfigMap"}},
       .policy = "manifests:\n  denyKinds: [ConfigMap]\nrules:\n  content.deny-kind: warn\n"},
      {.name = "denied Kind switched off",
       .file = "cfg.yaml",
       .content = k_cm,
       .policy = "manifests:\n  denyKinds: [ConfigMap]\nrules:\n  content.deny-kind: 'off'\n"},
      {.name = ":latest in a protected environment",
       .file = "web.yaml",
       .content = deployment("nginx:latest"),
       .findings = {{"content.image-latest", E, 10, 16,
                     "image nginx:latest (container web) uses :latest in protected environment prod"}},
       .protected_env = true},
      {.name = "untagged image in a protected environment",
       .file = "web.yaml",
       .content = deployment("nginx"),
       .findings = {{"content.image-untagged", E, 10, 16,
                     "image nginx (container web) has no tag or digest"}},
       .protected_env = true},
      {.name = "registry port is not a tag",
       .file = "web.yaml",
       .content = deployment("registry:5000/team/app"),
       .findings = {{"content.image-untagged", E, 10, 16, "registry:5000/team/app"}},
       .protected_env = true},
      {.name = "digest pins :latest",
       .file = "web.yaml",
       .content =
           deployment("nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
       .protected_env = true},
      {.name = "tagged image in a protected environment",
       .file = "web.yaml",
       .content = deployment("nginx:1.25"),
       .protected_env = true},
      {":latest in an unprotected environment", "web.yaml", deployment("nginx:latest"), {}},
      {"untagged in an unprotected environment", "web.yaml", deployment("nginx"), {}},
      {.name = ":latest as a warning",
       .file = "web.yaml",
       .content = deployment("nginx:latest"),
       .findings = {{"content.image-latest", W, 10, 16, ":latest"}},
       .policy = "rules:\n  content.image-latest: warn\n",
       .protected_env = true},
      {.name = "untagged switched off",
       .file = "web.yaml",
       .content = deployment("nginx"),
       .policy = "rules:\n  content.image-untagged: 'off'\n",
       .protected_env = true},
      {.name = "excluded path",
       .file = "values/v.yaml",
       .content = "not: [valid\n",
       .checked = false,
       .objects = 0,
       .policy = "manifests:\n  exclude: ['environments/*/values/**']\n"},
      {.name = "exclusion of another directory",
       .file = "other/v.yaml",
       .content = "not: [valid\n",
       .findings = {{"yaml.syntax", E, 2, 1, ""}},
       .objects = 0,
       .policy = "manifests:\n  exclude: ['environments/*/values/**']\n"},
      {.name = "kustomization is checked for syntax only",
       .file = "kustomization.yaml",
       .content = "resources:\n- web.yaml\n",
       .objects = 0},
      {.name = "kustomization with a syntax error",
       .file = "kustomization.yaml",
       .content = "resources: [\n",
       .findings = {{"yaml.syntax", E, 2, 1, ""}},
       .objects = 0},
      {.name = "text file that is not a manifest",
       .file = "README.md",
       .content = "# notes: [\n",
       .checked = false,
       .objects = 0},
      {.name = "binary file",
       .file = "logo.png",
       .content = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16),
       .findings = {{"file.binary", E, 0, 0, "binary file inside environment dev"}},
       .checked = false,
       .objects = 0},
      {.name = "binary content in a .yaml file",
       .file = "cfg.yaml",
       .content = k_cm + std::string("\0", 1),
       .findings = {{"file.binary", E, 0, 0, "binary file"}},
       .checked = false,
       .objects = 0},
      {.name = "symbolic link",
       .file = "link.yaml",
       .content = "../prod/cfg.yaml",
       .findings = {{"file.symlink", E, 0, 0, "symbolic links are not allowed inside environment dev"}},
       .checked = false,
       .objects = 0,
       .mode = "120000"},
      {.name = "submodule",
       .file = "vendor",
       .content = "0123456789abcdef0123456789abcdef01234567",
       .findings = {{"file.submodule", E, 0, 0, "submodules are not allowed inside environment dev"}},
       .checked = false,
       .objects = 0,
       .mode = "160000"},
      {.name = "file over the size limit",
       .file = "cfg.yaml",
       .content = big_cm,
       .findings = {{"file.too-large", E, 0, 0, "bytes; the limit is 64"}},
       .checked = false,
       .objects = 0,
       .max_file_size = 64},
      {.name = "file at the size limit",
       .file = "cfg.yaml",
       .content = big_cm,
       .max_file_size = big_cm.size()},
      {"schema type violation",
       "cfg.yaml",
       k_cm + "data:\n  a: 1\n",
       {{"schema.type", E, 6, 6, "data.a: expected string, got integer 1"}}},
      {"schema violations in a List item",
       "list.yaml",
       "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  "
       "data: {a: 1}\n",
       {{"schema.type", E, 7, 13, "data.a: expected string"}}},
      {"unknown field in strict mode",
       "cfg.yaml",
       k_cm + "extra: 1\n",
       {{"schema.unknown-field", E, 5, 1, "unknown field \"extra\""}}},
      {.name = "unknown field in lenient mode",
       .file = "cfg.yaml",
       .content = k_cm + "extra: 1\n",
       .policy = "manifests:\n  strict: false\n"},
      {.name = "wrong type in lenient mode",
       .file = "web.yaml",
       .content = deployment("nginx:1.25") + "  replicas: three\n",
       .findings = {{"schema.type", E, 13, 13, "spec.replicas: expected integer, got string \"three\""}},
       .policy = "manifests:\n  strict: false\n"},
      {.name = "no schema store: no schema validation",
       .file = "cfg.yaml",
       .content = k_cm + "data:\n  a: 1\nextra: 1\n",
       .with = Store::none},
      {.name = "no schema store: unknown kinds are not deferred",
       .file = "w.yaml",
       .content = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
       .with = Store::none},
      {.name = "unknown kind in the first pass is deferred",
       .file = "w.yaml",
       .content = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
       .deferred = true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto entry = entry_of(fx, c.content, c.mode);
    auto repo = fx.open();
    policy::ServerConfig config;
    config.max_file_size = c.max_file_size;
    auto policy = make_policy(c.policy);
    const auto& env = c.protected_env ? k_prod : k_dev;
    CrdRegistry crds;
    const render::Selection selection{policy.exclude};  // the policy's excludes, as at the new tip
    CheckContext ctx{repo, config, policy, env, c.with == Store::k8s ? &store : nullptr, crds, selection};
    const std::string path = env.path + "/" + c.file;
    FileResult r = check_file(ctx, path, entry, Pass::first);
    check_findings(r.findings, c.findings, path);
    CHECK(r.checked == c.checked);
    CHECK(r.objects == c.objects);
    CHECK(r.deferred == c.deferred);
  }
}

TEST_CASE("check_file declares the identities of objects, namespaced by the environment", "[checks]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = make_store(tmp);
  struct Case {
    const char* name;
    std::string content;
    Store with;
    std::vector<std::string> keys;
    std::vector<std::uint32_t> lines;
  };
  const Case cases[] = {
      {"namespace defaulted from the environment",
       k_cm,
       Store::k8s,
       {object_key({"", "ConfigMap", "team", "cfg"})},
       {1}},
      {"namespace of the manifest",
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: other}\n",
       Store::k8s,
       {object_key({"", "ConfigMap", "other", "cfg"})},
       {1}},
      {"group of the apiVersion",
       deployment("nginx:1.25"),
       Store::k8s,
       {object_key({"apps", "Deployment", "team", "web"})},
       {1}},
      {"cluster-scoped kind loses its namespace",
       "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1, namespace: x}\n",
       Store::k8s,
       {object_key({"", "Namespace", "", "ns1"})},
       {1}},
      {"cluster-scoped kind without a namespace",
       "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n",
       Store::k8s,
       {object_key({"", "Namespace", "", "ns1"})},
       {1}},
      {"without a store the scope is unknown",
       "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n",
       Store::none,
       {object_key({"", "Namespace", "team", "ns1"})},
       {1}},
      {"unknown kinds are namespaced by default",
       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
       Store::k8s,
       {object_key({"example.com", "Widget", "team", "w"})},
       {1}},
      {"every document and List item",
       k_cm + "---\napiVersion: v1\nkind: List\nitems:\n"
              "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
              "- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n",
       Store::k8s,
       {object_key({"", "ConfigMap", "team", "cfg"}), object_key({"", "ConfigMap", "team", "a"}),
        object_key({"", "Secret", "team", "b"})},
       {1, 9, 10}},
      {"objects with problems are still declared",
       k_cm + "data: {a: 1}\n",
       Store::k8s,
       {object_key({"", "ConfigMap", "team", "cfg"})},
       {1}},
      {"objects without a name are not",
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
       Store::k8s,
       {},
       {}},
      {"a CRD declares itself and its kind",
       k_widget_crd,
       Store::k8s,
       {object_key({"apiextensions.k8s.io", "CustomResourceDefinition", "team", "widgets.example.com"}),
        crd_key("example.com", "Widget")},
       {1, 1}},
      {"SOPS-encrypted names are not declared",
       "apiVersion: v1\nkind: Secret\nmetadata: {name: '" + test::k_sops_value + "'}\ndata: {a: '" +
           test::k_sops_value + "'}\n" + test::k_sops_stanza,
       Store::k8s,
       {},
       {}},
      {"SOPS-encrypted files with plain names are",
       "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: '" + test::k_sops_value + "'}\n" +
           test::k_sops_stanza,
       Store::k8s,
       {object_key({"", "Secret", "team", "s"})},
       {1}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto entry = entry_of(fx, c.content);
    auto repo = fx.open();
    policy::ServerConfig config;
    policy::Policy policy;
    CrdRegistry crds;
    const schema::Program* s = c.with == Store::k8s ? &store : nullptr;
    CheckContext ctx{repo, config, policy, k_dev, s, crds, {}};
    const std::string path = "environments/dev/f.yaml";
    FileResult r = check_file(ctx, path, entry, Pass::first);
    std::vector<std::string> keys;
    std::vector<std::uint32_t> lines;
    for (const auto& d : r.declared) {
      keys.push_back(d.key);
      lines.push_back(d.line);
      CHECK_FALSE(d.object.empty());
    }
    std::vector<std::string> described;
    for (const auto& k : keys) described.push_back(describe_key(k));
    INFO("declared: " << Catch::Detail::stringify(described));
    CHECK(keys == c.keys);
    CHECK(lines == c.lines);

    // The identity index records the same keys for the file (and, under image keys, the
    // images it runs).
    std::vector<std::string> indexed;
    for (const auto& rec : index_records(repo, path, entry, k_dev, config, s, {})) {
      CHECK(rec.path == path);
      if (!rec.key.starts_with("i\x1f")) indexed.push_back(rec.key);
    }
    CHECK(indexed == c.keys);
  }
}

TEST_CASE("index_records skips what check_file does not read as manifests", "[checks]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  struct Case {
    const char* name;
    std::string file;
    std::string content;
    std::string mode;
  };
  const Case cases[] = {
      {"kustomization", "kustomization.yaml", k_cm, "100644"},
      {"text file", "README.md", k_cm, "100644"},
      {"YAML syntax error", "broken.yaml", k_cm + " bad: [\n", "100644"},
      {"binary", "cfg.yaml", k_cm + std::string("\0", 1), "100644"},
      {"symbolic link", "link.yaml", "cfg.yaml", "120000"},
      {"submodule", "sub.yaml", "0123456789abcdef0123456789abcdef01234567", "160000"},
      {"scalar document", "scalar.yaml", "just text\n", "100644"},
      {"too large", "big.yaml", k_cm + "data:\n  a: " + std::string(2000, 'x') + "\n", "100644"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto entry = entry_of(fx, c.content, c.mode);
    auto repo = fx.open();
    policy::ServerConfig config;
    config.max_file_size = 1024;
    CHECK(index_records(repo, c.file, entry, k_dev, config, nullptr, {}).empty());
  }
  // An executable manifest is still a manifest.
  auto entry = entry_of(fx, k_cm, "100755");
  auto repo = fx.open();
  CHECK(entry.kind == git::EntryKind::executable);
  CHECK(index_records(repo, "cfg.yaml", entry, k_dev, {}, nullptr, {}).size() == 1);
}

TEST_CASE("unknown kinds are deferred, then validated through CRDs or reported as schema.missing",
          "[checks]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = make_store(tmp);
  policy::ServerConfig config;

  const std::string good =
      "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: good}\nspec: {size: 3}\n";
  const std::string bad =
      "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\nspec:\n  size: big\n";
  const std::string labels =
      "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: labelled\n  labels:\n    tier: 1\nspec: "
      "{size: 3}\n";
  const std::string other_version = "apiVersion: example.com/v9\nkind: Widget\nmetadata: {name: w9}\n";
  const std::string unknown = "apiVersion: other.io/v1\nkind: Gizmo\nmetadata: {name: g}\n";
  const std::string mixed = k_cm + "---\n" + unknown;

  for (auto missing : {policy::MissingSchema::reject, policy::MissingSchema::warn}) {
    const Level missing_level = missing == policy::MissingSchema::warn ? Level::warning : Level::error;
    INFO("missingSchema " << (missing == policy::MissingSchema::warn ? "warn" : "reject"));
    policy::Policy policy;
    policy.missing_schema = missing;
    CrdRegistry crds;
    auto first = [&](const std::string& content, const std::string& file) {
      auto entry = entry_of(fx, content);
      auto again = fx.open();
      CheckContext c{again, config, policy, k_dev, &store, crds, {}};
      return check_file(c, "environments/dev/" + file, entry, Pass::first);
    };
    auto deferred = [&](const std::string& content, const std::string& file) {
      auto entry = entry_of(fx, content);
      auto again = fx.open();
      CheckContext c{again, config, policy, k_dev, &store, crds, {}};
      return check_file(c, "environments/dev/" + file, entry, Pass::deferred);
    };

    // Before the CRD is known, its custom resources wait.
    auto r = first(good, "good.yaml");
    CHECK(r.deferred);
    CHECK(r.findings.empty());
    CHECK(r.objects == 1);

    // A CRD is registered as it is read.
    r = first(k_widget_crd, "crd.yaml");
    CHECK(crds.declares("example.com", "Widget"));

    // Once it is known, custom resources are validated in the first pass already.
    r = first(bad, "bad.yaml");
    CHECK_FALSE(r.deferred);
    check_findings(r.findings,
                   {{"schema.type", Level::error, 5, 9, "spec.size: expected integer, got string \"big\""}},
                   "environments/dev/bad.yaml");
    CHECK(r.findings[0].object == "Widget \"bad\"");

    // Their metadata is validated against the store's ObjectMeta.
    r = first(labels, "labels.yaml");
    check_findings(r.findings,
                   {{"schema.type", Level::error, 6, 11, "metadata.labels.tier: expected string"}},
                   "environments/dev/labels.yaml");

    // The deferred pass validates what was deferred, reports missing schemas, and nothing else.
    struct Case {
      const char* name;
      std::string content;
      std::vector<Expected> findings;
    };
    const std::vector<Case> cases = {
        {"now valid", good, {}},
        {"now invalid", bad, {{"schema.type", Level::error, 5, 9, "spec.size: expected integer"}}},
        {"version no CRD declares",
         other_version,
         {{"schema.missing", missing_level, 1, 1,
           "no schema for example.com/v9/Widget (a CRD in the repository declares other versions of this "
           "kind)"}}},
        {"kind nobody declares",
         unknown,
         {{"schema.missing", missing_level, 1, 1,
           "no schema for other.io/v1/Gizmo in the server's schema store or in a CRD in the repository"}}},
        {"known kinds are not reported again",
         mixed,
         {{"schema.missing", missing_level, 6, 1, "no schema for other.io/v1/Gizmo"}}},
        {"known kinds with problems are not reported again", k_cm + "data: {a: 1}\n", {}},
        {"syntax errors are not reported again", k_cm + " bad: [\n", {}},
        {"objects without names are not reported again",
         "apiVersion: other.io/v1\nkind: Gizmo\nmetadata: {}\n",
         {}},
        {"SOPS files are not validated",
         unknown + "spec: {k: '" + test::k_sops_value + "'}\n" + test::k_sops_stanza,
         {}},
    };
    for (const auto& c : cases) {
      INFO(c.name);
      auto d = deferred(c.content, "f.yaml");
      check_findings(d.findings, c.findings, "environments/dev/f.yaml");
      CHECK(d.declared.empty());
      CHECK(d.objects == 0);
    }
  }
}

TEST_CASE("a CRD whose schema does not compile is a schema.invalid finding", "[checks]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = make_store(tmp);
  const std::string broken = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: brokens.example.com
spec:
  group: example.com
  names: {kind: Broken}
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        type: object
        properties:
          size: {type: strin}
)";
  const std::string nameless =
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n"
      "spec: {group: example.com, versions: [{name: v1}]}\n";
  struct Case {
    const char* name;
    std::string content;
    std::vector<Expected> findings = {};
    std::size_t declared;
  };
  const Case cases[] = {
      {"schema that does not compile",
       broken,
       {{"schema.invalid", Level::error, 14, 0, "the openAPIV3Schema of version v1 does not compile"}},
       1},
      {"CRD without a kind", nameless, {{"schema.invalid", Level::error, 1, 1, "spec.names.kind"}}, 1},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto entry = entry_of(fx, c.content);
    auto repo = fx.open();
    policy::ServerConfig config;
    policy::Policy policy;
    CrdRegistry crds;
    CheckContext ctx{repo, config, policy, k_dev, &store, crds, {}};
    auto r = check_file(ctx, "environments/dev/crd.yaml", entry, Pass::first);
    for (const auto& f : r.findings) INFO(f.rule << " " << f.line << ":" << f.column << " " << f.message);
    REQUIRE(r.findings.size() == c.findings.size());
    CHECK(r.findings[0].rule == c.findings[0].rule);
    CHECK(r.findings[0].line == c.findings[0].line);
    if (c.findings[0].column) CHECK(r.findings[0].column == c.findings[0].column);
    CHECK_THAT(r.findings[0].message, Catch::Contains(c.findings[0].message_part));
    CHECK(r.declared.size() == c.declared);  // the CRD object, but no CRD kind
    CHECK(crds.empty());
  }
}

TEST_CASE("confinement: an environment writes only where the server config lets its target write", "[checks]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = make_store(tmp);
  policy::EnvironmentConfinement dev;
  dev.namespace_ = "dev";
  dev.confinement = {{"dev", "dev-*", "*"}, {"Namespace"}, "portcullis-system"};
  auto object = [](const std::string& api, const std::string& kind, const std::string& name, const std::string& ns = "") {
    return "apiVersion: " + api + "\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n" +
           (ns.empty() ? "" : "  namespace: " + ns + "\n");
  };
  struct Case {
    const char* name;
    std::string content;
    const char* denied;  // part of the message; "" when allowed
  };
  const Case cases[] = {
      {"its namespace, named", object("v1", "ConfigMap", "a", "dev"), ""},
      {"its namespace, by default", object("v1", "ConfigMap", "a"), ""},
      {"a namespace its globs allow", object("apps/v1", "Deployment", "a", "dev-tools"), ""},
      {"even '*' does not grant kube-system", object("v1", "ConfigMap", "a", "kube-system"),
       "namespace \"kube-system\" is reserved"},
      {"nor the inventories", object("v1", "ConfigMap", "portcullis-inventory-prod", "portcullis-system"),
       "holds the inventories"},
      {"a cluster-scoped kind it may not write (scope from the repository's CRD)",
       object("example.com/v1", "Gadget", "everywhere"),
       "cluster-scoped kind example.com/Gadget is not among the allowed cluster kinds"},
      {"its own Namespace", object("v1", "Namespace", "dev-tools"), ""},
      {"another Namespace", object("v1", "Namespace", "kube-system"), "is reserved"},
      {"a List smuggling one in", "apiVersion: v1\nkind: List\nitems:\n- " + std::string("{apiVersion: v1, kind: ConfigMap, ") +
                                      "metadata: {name: a, namespace: kube-system}}\n",
       "reserved"},
      {"an unknown kind with a namespace is namespaced", object("example.com/v1", "Widget", "w", "kube-public"),
       "namespace \"kube-public\" is reserved"},
      {"an encrypted object is not applied", "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: kube-system}\n"
                                             "data: {k: '" + test::k_sops_value + "'}\n" + test::k_sops_stanza,
       ""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto entry = entry_of(fx, c.content);
    auto repo = fx.open();
    policy::ServerConfig config;
    policy::Policy policy;
    CrdRegistry crds;
    auto crd = yaml::parse_yaml(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.example.com}\n"
        "spec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Gadget, plural: gadgets}\n"
        "  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, "
        "x-kubernetes-preserve-unknown-fields: true}}}]\n");
    REQUIRE(crd);
    REQUIRE(crds.add(*crd->documents[0].root));
    const render::Selection selection;
    CheckContext ctx{repo, config, policy, k_dev, &store, crds, selection, &dev};
    FileResult r = check_file(ctx, k_dev.path + "/f.yaml", entry, Pass::first);
    std::vector<std::string> denied;
    for (const auto& f : r.findings)
      if (f.rule == "confinement.denied") denied.push_back(f.message);
    if (!*c.denied) {
      CHECK(denied.empty());
      continue;
    }
    REQUIRE(denied.size() == 1);
    CHECK_THAT(denied[0], Catch::StartsWith("environment dev may not write this: ") && Catch::Contains(c.denied));
  }
  SECTION("without a confinement in the server config, the daemon alone confines") {
    auto entry = entry_of(fx, object("v1", "ConfigMap", "a", "kube-system"));
    auto repo = fx.open();
    policy::ServerConfig config;
    policy::Policy policy;
    CrdRegistry crds;
    CheckContext ctx{repo, config, policy, k_dev, &store, crds, {}, nullptr};
    for (const auto& f : check_file(ctx, k_dev.path + "/f.yaml", entry, Pass::first).findings)
      CHECK(f.rule != "confinement.denied");
  }
}

// The differential corpus (tests/differential/run.sh): valid objects and mutations of them, each
// with the verdicts of a real kube-apiserver's server-side dry runs (create and apply). The gate
// must accept every object the apiserver accepts and refuse what it refuses; the figures are
// printed, and the floor is the one docs/validation.md states.
TEST_CASE("the gate agrees with kube-apiserver's dry runs on the differential corpus", "[checks][corpus]") {
  const std::filesystem::path fixtures = PORTCULLIS_FIXTURES_DIR;
  auto openapi = util::run_process({"gzip", "-dc", (fixtures / "openapi-v2-kubernetes-1.20.json.gz").string()});
  REQUIRE(openapi);
  REQUIRE(openapi->status == 0);
  auto corpus = util::run_process({"gzip", "-dc", (fixtures / "differential" / "corpus.jsonl.gz").string()});
  REQUIRE(corpus);
  REQUIRE(corpus->status == 0);

  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = test::import_store(openapi->out, tmp / "store");
  REQUIRE(schema::kubernetes_version(store.program) == "v1.20.2");

  struct Case {
    std::string name;
    bool refused;
    std::string why;
  };
  std::vector<Case> cases;
  std::vector<test::GitItem> items;
  std::istringstream lines(corpus->out);
  std::string line;
  std::getline(lines, line);  // {"kubernetes": ..., "cases": N}
  auto head = yaml::parse_json(line);
  REQUIRE(head);
  CHECK(head->documents[0].root->get_string("kubernetes") == "v1.20.2");
  while (std::getline(lines, line)) {
    auto rec = yaml::parse_json(line);
    REQUIRE(rec);
    const yaml::Node* root = rec->documents[0].root;
    auto refused = [](const yaml::Node* v) { return v && v->is_mapping() && v->get_string("verdict") == "reject"; };
    const yaml::Node* create = root->get("create");
    const yaml::Node* apply = root->get("apply");
    bool no = refused(create) || refused(apply);
    std::string why = refused(create) ? std::string(create->get_string("message"))
                      : no            ? "apply: " + std::string(apply->get_string("message"))
                                      : "";
    cases.push_back({std::string(root->get_string("case")), no, why});
    std::string object;
    yaml::append_json(object, *root->get("object"));
    items.push_back({"environments/dev/" + std::to_string(cases.size()) + ".json", object});
  }
  REQUIRE(cases.size() >= 1000);
  // Trees of a few hundred files each: the fixture's pipes to git stay below a pipe's buffer.
  std::vector<git::Oid> trees;
  for (std::size_t i = 0; i < items.size(); i += 200)
    trees.push_back(fx.tree_batched({items.begin() + static_cast<std::ptrdiff_t>(i),
                                     items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + 200))}));
  auto repo = fx.open();
  policy::ServerConfig config;
  policy::Policy policy;
  const render::Selection selection{policy.exclude};

  std::size_t accepted = 0, refused = 0, accepted_agree = 0, refused_agree = 0, schema_only_refused = 0;
  std::string wrongly_refused, wrongly_accepted;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto entry = repo.entry_at(trees[i / 200], items[i].path);
    REQUIRE(entry);
    REQUIRE(*entry);
    CrdRegistry crds;
    CheckContext ctx{repo, config, policy, k_dev, &store.program, crds, selection};
    FileResult r = check_file(ctx, items[i].path, **entry, Pass::first);
    if (r.deferred) r = check_file(ctx, items[i].path, **entry, Pass::deferred);
    std::string findings;
    for (const auto& f : r.findings)
      if (f.level == Level::error) findings += "  [" + f.rule + "] " + f.message + "\n";
    const bool gate_refuses = !findings.empty();
    // Refused only by the OpenAPI schema (required fields the apiserver's create path does not
    // check, e.g. in 1.20 StatefulSet templates): kubectl's client-side validation, part of
    // `kubectl apply --dry-run=server`, refuses these too. Counted apart.
    const bool schema_only = gate_refuses && findings.find("[k8s.") == std::string::npos;
    // The gate's own requirement: objects the daemon applies by name have one.
    const bool by_design = findings.find("[k8s.missing-field]") != std::string::npos;
    if (!cases[i].refused && (schema_only || by_design)) {
      ++schema_only_refused;
      continue;
    }
    if (cases[i].refused) {
      ++refused;
      if (gate_refuses) ++refused_agree;
      else wrongly_accepted += cases[i].name + "\n  apiserver: " + cases[i].why + "\n";
    } else {
      ++accepted;
      if (!gate_refuses) ++accepted_agree;
      else wrongly_refused += cases[i].name + "\n" + findings;
    }
  }
  const double accepted_pct = 100.0 * static_cast<double>(accepted_agree) / static_cast<double>(accepted);
  const double refused_pct = 100.0 * static_cast<double>(refused_agree) / static_cast<double>(refused);
  std::ostringstream figures;
  figures.precision(4);
  figures << "differential corpus (kube-apiserver v1.20.2, " << cases.size() << " objects): " << accepted_agree
          << "/" << accepted << " accepted objects accepted (" << accepted_pct << "%), " << refused_agree << "/"
          << refused << " refused objects refused (" << refused_pct << "%); " << schema_only_refused
          << " more accepted by the apiserver's create path are refused by the OpenAPI schema alone (as kubectl's "
             "client-side validation refuses them) or lack metadata.name";
  WARN(figures.str());
  if (const char* out = std::getenv("PORTCULLIS_CORPUS_REPORT"))
    std::ofstream(out) << figures.str() << "\n\nrefused by the gate, accepted by the apiserver:\n"
                       << wrongly_refused << "\naccepted by the gate, refused by the apiserver:\n"
                       << wrongly_accepted;
  INFO("refused by the gate, accepted by the apiserver:\n" << wrongly_refused.substr(0, 6000));
  CHECK(accepted_agree == accepted);
  INFO("accepted by the gate, refused by the apiserver:\n" << wrongly_accepted.substr(0, 6000));
  CHECK(refused_pct >= 99.0);
}

// x-kubernetes-validations of a CRD of the push judge its custom resources when the store's
// cluster runs them (1.25 and later), with the apiserver's path and message (k8s.crd.cel).
TEST_CASE("check_file runs the CEL rules of CRDs for clusters from 1.25", "[checks][cel]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store_of = [&](const char* version) {
    std::string openapi = test::k_apiserver_openapi;
    const std::string swagger = "\"swagger\": \"2.0\",";
    openapi.replace(openapi.find(swagger), swagger.size(), swagger + " \"info\": {\"version\": \"" + version + "\"},");
    return test::import_store(openapi, tmp / (std::string("store-") + version)).program;
  };
  const std::string crd_text =
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"
      "spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n"
      "  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
      "        type: object\n        properties:\n          spec:\n            type: object\n"
      "            x-kubernetes-validations: [{rule: 'self.min <= self.max', message: min must not exceed max}]\n"
      "            properties:\n              min: {type: integer}\n              max: {type: integer}\n"
      "              replicas: {type: integer, x-kubernetes-validations: [{rule: self < 10}]}\n";
  const std::string cr = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  min: 5\n  max: 2\n  replicas: 12\n";
  struct Case {
    const char* version;
    std::string policy;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"v1.20.2", "", {}},
      {"v1.24.0", "", {}},
      {"v1.25.3",
       "",
       {"error k8s.crd.cel spec: Invalid value: \"object\": min must not exceed max",
        "error k8s.crd.cel spec.replicas: Invalid value: \"integer\": failed rule: self < 10"}},
      {"v1.29.0", "rules:\n  k8s.crd.cel: warn\n",
       {"warning k8s.crd.cel spec: Invalid value: \"object\": min must not exceed max",
        "warning k8s.crd.cel spec.replicas: Invalid value: \"integer\": failed rule: self < 10"}},
      {"v1.29.0", "rules:\n  k8s.crd.cel: 'off'\n", {}},
  };
  auto crd = yaml::parse_yaml(crd_text);
  REQUIRE(crd);
  for (const auto& c : cases) {
    INFO(c.version << " " << c.policy);
    auto store = store_of(c.version);
    CrdRegistry crds;
    crds.set_rules(rule_features_of(&store));
    REQUIRE(crds.add(*crd->documents[0].root));
    auto entry = entry_of(fx, cr);
    auto repo = fx.open();
    policy::ServerConfig config;
    auto policy = make_policy(c.policy);
    const render::Selection selection;
    CheckContext ctx{repo, config, policy, k_dev, &store, crds, selection};
    FileResult r = check_file(ctx, k_dev.path + "/f.yaml", entry, Pass::first);
    std::vector<std::string> got;
    for (const auto& f : r.findings) {
      if (!f.rule.starts_with("k8s.crd.cel")) continue;
      got.push_back(std::string(f.level == Level::error ? "error " : "warning ") + f.rule + " " + f.message);
      CHECK(f.line >= 4);  // at the field (spec: line 4, replicas: line 7), not the document
    }
    CHECK(got == c.want);
  }
  CHECK_FALSE(rule_features_of(nullptr));
}
