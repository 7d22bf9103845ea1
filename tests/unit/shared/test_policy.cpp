#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "shared/policy/policy.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using policy::Severity;

namespace {

const char* k_example = R"(protectedRefs: [refs/heads/main]
releaseTags: ["refs/tags/v*"]
environments:
  - {name: dev,     path: environments/dev}
  - {name: staging, path: environments/staging}
  - {name: prod,    path: environments/prod, protected: true, namespace: shop}
manifests:
  strict: true
  missingSchema: warn
  denyKinds: [Secret]
  exclude: ["**/values.yaml"]
rules:
  content.image-latest: warn
  content.plaintext-secret: off
)";

// The example with "off" quoted, for tests about something else than YAML 1.1 booleans.
std::string example_quoted() {
  std::string text = k_example;
  auto at = text.find("plaintext-secret: off");
  REQUIRE(at != std::string::npos);
  text.replace(at, 21, "plaintext-secret: 'off'");
  return text;
}

policy::Policy parse_ok(const std::string& text) {
  auto p = policy::parse_policy(text);
  INFO(text << "\n" << (p ? std::string() : p.error().describe()));
  REQUIRE(p);
  return std::move(*p);
}

const char* k_server = R"(schemaStore: /var/lib/portcullis/schemas
auditLog: /var/log/portcullis/audit.jsonl
timeBudget: 2500ms
failMode: open
limits:
  maxFileSize: 2MiB
  maxDepth: 50
  maxNodes: 5000
  maxExpandedNodes: 20000
  maxRefs: 7
identity:
  env: [GL_USER, REMOTE_USER]
defaultPolicy:
  protectedRefs: [refs/heads/trunk]
  manifests: {missingSchema: warn}
)";

}  // namespace

TEST_CASE("an empty policy file gives the defaults", "[policy]") {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n"}) {
    INFO("'" << text << "'");
    auto p = parse_ok(text);
    CHECK(p.protected_refs == std::vector<std::string>{"refs/heads/main", "refs/heads/master"});
    CHECK(p.release_tags == std::vector<std::string>{"refs/tags/v*"});
    CHECK(p.check_refs == std::vector<std::string>{"refs/heads/*"});
    CHECK(p.environments.empty());
    CHECK(p.discover_environments);
    CHECK(p.strict);
    CHECK(p.missing_schema == policy::MissingSchema::reject);
    CHECK(p.deny_kinds.empty());
    CHECK(p.exclude.empty());
    CHECK(p.rules.empty());
    CHECK(p.severity("content.image-latest") == Severity::error);
  }
  auto empty_map = parse_ok("{}\n");
  CHECK(empty_map.discover_environments);
  CHECK(empty_map.protected_refs.size() == 2);
}

TEST_CASE("the example policy parses into every field", "[policy]") {
  // The README lists the severities as "error, warn or off"; the example writes `off` unquoted,
  // which YAML 1.1 reads as the boolean false.
  auto verbatim = policy::parse_policy(k_example);
  INFO((verbatim ? std::string() : verbatim.error().describe()));
  CHECK(verbatim);
  if (verbatim) CHECK(verbatim->severity("content.plaintext-secret") == Severity::off);

  auto p = parse_ok(example_quoted());
  CHECK(p.protected_refs == std::vector<std::string>{"refs/heads/main"});
  CHECK(p.release_tags == std::vector<std::string>{"refs/tags/v*"});
  CHECK(p.check_refs == std::vector<std::string>{"refs/heads/*"});  // not given: default
  CHECK_FALSE(p.discover_environments);
  REQUIRE(p.environments.size() == 3);
  struct Env {
    const char* name;
    const char* path;
    bool protected_;
    const char* namespace_;
  };
  const Env expected[] = {
      {"dev", "environments/dev", false, ""},
      {"staging", "environments/staging", false, ""},
      {"prod", "environments/prod", true, "shop"},
  };
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(expected[i].name);
    CHECK(p.environments[i].name == expected[i].name);
    CHECK(p.environments[i].path == expected[i].path);
    CHECK(p.environments[i].protected_ == expected[i].protected_);
    CHECK(p.environments[i].namespace_ == expected[i].namespace_);
  }
  CHECK(p.strict);
  CHECK(p.missing_schema == policy::MissingSchema::warn);
  CHECK(p.deny_kinds == std::vector<std::string>{"Secret"});
  CHECK(p.exclude == std::vector<std::string>{"**/values.yaml"});

  struct Sev {
    const char* rule;
    Severity severity;
  };
  const Sev severities[] = {
      {"content.image-latest", Severity::warn},
      {"content.plaintext-secret", Severity::off},
      {"content.deny-kind", Severity::error},
      {"content.image-untagged", Severity::error},
      {"not.a.rule", Severity::error},
  };
  for (const auto& s : severities) {
    INFO(s.rule);
    CHECK(p.severity(s.rule) == s.severity);
  }

  auto lenient = parse_ok(
      "manifests: {strict: false}\nrules: {content.deny-kind: error, content.image-untagged: warn, content.image-latest: "
      "'warn'}\n");
  CHECK_FALSE(lenient.strict);
  CHECK(lenient.missing_schema == policy::MissingSchema::reject);
  CHECK(lenient.severity("content.deny-kind") == Severity::error);
  CHECK(lenient.severity("content.image-untagged") == Severity::warn);
  CHECK(lenient.severity("content.image-latest") == Severity::warn);

  // YAML 1.1 booleans: an unquoted off (or no, false) is off; on, yes, true keep the default.
  struct Bool {
    const char* value;
    Severity severity;
  };
  const Bool bools[] = {{"off", Severity::off},   {"no", Severity::off},    {"false", Severity::off},
                        {"'off'", Severity::off}, {"on", Severity::error},  {"true", Severity::error},
                        {"warn", Severity::warn}, {"error", Severity::error}};
  for (const auto& b : bools) {
    INFO(b.value);
    auto p2 = parse_ok(std::string("rules:\n  content.deny-kind: ") + b.value + "\n");
    CHECK(p2.severity("content.deny-kind") == b.severity);
  }
}

TEST_CASE("ref and path globs decide protection, release tags, checks and exclusion", "[policy]") {
  auto defaults = parse_ok("");
  auto example = parse_ok(example_quoted());
  auto custom = parse_ok(
      "protectedRefs: [refs/heads/release/*, refs/heads/main]\ncheckRefs: [refs/heads/env/*, refs/tags/*]\n"
      "releaseTags: ['refs/tags/release-*', 'refs/tags/v[0-9]*']\nmanifests:\n  exclude: ['**/values.yaml', 'environments/*/tmp/**', '*.md']\n");

  enum class Q { protected_ref, release_tag, checked_ref, excluded };
  struct Case {
    const policy::Policy* p;
    const char* which;
    Q q;
    const char* input;
    bool expected;
  };
  const Case cases[] = {
      {&defaults, "defaults", Q::protected_ref, "refs/heads/main", true},
      {&defaults, "defaults", Q::protected_ref, "refs/heads/master", true},
      {&defaults, "defaults", Q::protected_ref, "refs/heads/mainline", false},
      {&defaults, "defaults", Q::protected_ref, "refs/heads/feature", false},
      {&defaults, "defaults", Q::protected_ref, "refs/tags/main", false},
      {&example, "example", Q::protected_ref, "refs/heads/main", true},
      {&example, "example", Q::protected_ref, "refs/heads/master", false},
      {&custom, "custom", Q::protected_ref, "refs/heads/release/1.0", true},
      {&custom, "custom", Q::protected_ref, "refs/heads/release", false},
      {&custom, "custom", Q::protected_ref, "refs/heads/main", true},
      {&custom, "custom", Q::protected_ref, "refs/heads/master", false},

      {&defaults, "defaults", Q::release_tag, "refs/tags/v1.2.3", true},
      {&defaults, "defaults", Q::release_tag, "refs/tags/v", true},
      {&defaults, "defaults", Q::release_tag, "refs/tags/x1", false},
      {&defaults, "defaults", Q::release_tag, "refs/heads/v1", false},
      {&custom, "custom", Q::release_tag, "refs/tags/release-7", true},
      {&custom, "custom", Q::release_tag, "refs/tags/v2", true},
      {&custom, "custom", Q::release_tag, "refs/tags/vx", false},
      {&custom, "custom", Q::release_tag, "refs/tags/v1", true},

      {&defaults, "defaults", Q::checked_ref, "refs/heads/feature", true},
      {&defaults, "defaults", Q::checked_ref, "refs/heads/main", true},
      {&defaults, "defaults", Q::checked_ref, "refs/tags/v1", false},
      {&defaults, "defaults", Q::checked_ref, "refs/notes/commits", false},
      {&custom, "custom", Q::checked_ref, "refs/heads/env/prod", true},
      {&custom, "custom", Q::checked_ref, "refs/heads/main", false},
      {&custom, "custom", Q::checked_ref, "refs/tags/v1", true},

      {&defaults, "defaults", Q::excluded, "environments/dev/values.yaml", false},
      {&example, "example", Q::excluded, "environments/dev/values.yaml", true},
      {&example, "example", Q::excluded, "environments/prod/app/chart/values.yaml", true},
      {&example, "example", Q::excluded, "values.yaml", true},
      {&example, "example", Q::excluded, "environments/dev/my-values.yaml", false},
      {&example, "example", Q::excluded, "environments/dev/values.yaml.bak", false},
      {&example, "example", Q::excluded, "environments/dev/deploy.yaml", false},
      {&custom, "custom", Q::excluded, "environments/dev/tmp/x.yaml", true},
      {&custom, "custom", Q::excluded, "environments/dev/tmp/a/b/c.yaml", true},
      {&custom, "custom", Q::excluded, "environments/dev/app/tmp/x.yaml", false},
      {&custom, "custom", Q::excluded, "README.md", true},
      {&custom, "custom", Q::excluded, "environments/README.md", false},  // '*' stops at '/'
  };
  for (const auto& c : cases) {
    INFO(c.which << ": " << c.input);
    bool got = false;
    switch (c.q) {
      case Q::protected_ref: got = c.p->is_protected_ref(c.input); break;
      case Q::release_tag: got = c.p->is_release_tag(c.input); break;
      case Q::checked_ref: got = c.p->is_checked_ref(c.input); break;
      case Q::excluded: got = c.p->is_excluded(c.input); break;
    }
    CHECK(got == c.expected);
  }
}

TEST_CASE("discovered environments are protected when named prod or production", "[policy]") {
  struct Case {
    const char* dir;
    bool protected_;
  };
  const Case cases[] = {{"prod", true}, {"production", true}, {"dev", false}, {"staging", false}, {"prod-eu", false},
                        {"preprod", false}};
  for (const auto& c : cases) {
    INFO(c.dir);
    auto e = policy::discovered_environment(c.dir);
    CHECK(e.name == c.dir);
    CHECK(e.path == std::string("environments/") + c.dir);
    CHECK(e.protected_ == c.protected_);
    CHECK(e.namespace_.empty());
  }
}

TEST_CASE("invalid policies are rejected with file, line and rule", "[policy]") {
  struct Case {
    const char* name;
    std::string text;
    std::uint32_t line;
    const char* message_part;
  };
  const Case cases[] = {
      {"unknown top-level key with a suggestion", "releaseTags: [refs/tags/v*]\nprotectedRef: [refs/heads/main]\n", 2,
       "did you mean \"protectedRefs\""},
      {"unknown key without a close match", "protectedRefs: []\nfrobnicate: 1\n", 2, "unknown field \"frobnicate\""},
      {"wrong type for a list", "protectedRefs: refs/heads/main\n", 1, "protectedRefs"},
      {"wrong type for a boolean", "manifests:\n  strict: maybe\n", 2, "strict"},
      {"bad missingSchema", "manifests:\n  strict: true\n  missingSchema: ignore\n", 3, "missingSchema"},
      {"bad severity", "rules:\n  content.image-latest: loud\n", 2, "content.image-latest"},
      {"unknown rule", "rules:\n  content.image-lates: warn\n", 2, "did you mean \"content.image-latest\""},
      {"environment without path", "environments:\n  - name: dev\n    path: environments/dev\n  - name: prod\n", 4,
       "path"},
      {"environment with a leading slash", "environments:\n  - {name: dev, path: /environments/dev}\n", 2, "path"},
      {"environment with an invalid name", "environments:\n  - {name: Dev_1, path: environments/dev}\n", 2, "name"},
      {"duplicate environment name",
       "environments:\n  - {name: dev, path: environments/dev}\n  - {name: prod, path: environments/prod}\n"
       "  - {name: dev, path: environments/dev2}\n",
       4, "\"dev\" is declared twice"},
      {"protectedRefs entry without refs/", "protectedRefs:\n  - refs/heads/main\n  - main\n", 3, "protectedRefs"},
      {"releaseTags entry without refs/", "releaseTags: [v*]\n", 1, "releaseTags"},
      {"invalid YAML", "protectedRefs: [refs/heads/main\nreleaseTags: []\n", 2, "invalid policy"},
      {"duplicate key", "protectedRefs: []\nprotectedRefs: []\n", 2, "invalid policy"},
      {"two YAML documents", "protectedRefs: [refs/heads/main]\n---\nreleaseTags: []\n", 2, "single YAML document"},
      {"not a mapping", "- refs/heads/main\n", 1, "policy"},
  };
  for (const auto& c : cases) {
    INFO(c.name << "\n" << c.text);
    auto p = policy::parse_policy(c.text, "repo/.portcullis.yaml");
    CHECK_FALSE(p);
    if (p) continue;
    INFO(p.error().describe());
    CHECK(p.error().rule == "policy.invalid");
    CHECK(p.error().file == "repo/.portcullis.yaml");
    CHECK(p.error().line == c.line);
    CHECK_THAT(p.error().message, Catch::Contains(c.message_part));
  }
  auto default_name = policy::parse_policy("bogus: 1\n");
  REQUIRE_FALSE(default_name);
  CHECK(default_name.error().file == ".portcullis.yaml");
}

TEST_CASE("the server configuration parses every field", "[policy]") {
  auto c = policy::parse_server_config(k_server, "/etc/portcullis/config.yaml");
  INFO((c ? std::string() : c.error().describe()));
  REQUIRE(c);
  CHECK(c->schema_store == "/var/lib/portcullis/schemas");
  CHECK(c->audit_log == "/var/log/portcullis/audit.jsonl");
  CHECK(c->time_budget_ms == 2500);
  CHECK(c->fail_mode == policy::FailMode::open);
  CHECK(c->max_file_size == 2u * 1024 * 1024);
  CHECK(c->yaml_limits.max_depth == 50);
  CHECK(c->yaml_limits.max_nodes == 5000);
  CHECK(c->yaml_limits.max_expanded == 20000);
  CHECK(c->max_refs == 7);
  CHECK(c->identity_env == std::vector<std::string>{"GL_USER", "REMOTE_USER"});
  REQUIRE(c->default_policy);
  CHECK(c->default_policy->protected_refs == std::vector<std::string>{"refs/heads/trunk"});
  CHECK(c->default_policy->missing_schema == policy::MissingSchema::warn);
  CHECK(c->default_policy->strict);

  SECTION("defaults") {
    auto d = policy::parse_server_config("", "config.yaml");
    REQUIRE(d);
    CHECK(d->schema_store.empty());
    CHECK(d->audit_log.empty());
    CHECK(d->time_budget_ms == 4000);
    CHECK(d->fail_mode == policy::FailMode::closed);
    CHECK(d->max_file_size == 1u << 20);
    CHECK(d->yaml_limits.max_depth == yaml::Limits{}.max_depth);
    CHECK(d->max_refs == 10'000);
    CHECK(d->identity_env.front() == "GL_USER");
    CHECK_FALSE(d->default_policy);
  }

  SECTION("values in other spellings") {
    struct Case {
      const char* text;
      std::int64_t budget_ms;
      std::uint64_t max_file_size;
    };
    const Case cases[] = {
        {"timeBudget: 2s\nlimits: {maxFileSize: 4096}\n", 2000, 4096},
        {"timeBudget: 1m30s\nlimits: {maxFileSize: 512KiB}\n", 90'000, 512 * 1024},
        {"timeBudget: 1.5s\nlimits: {maxFileSize: '3 M'}\n", 1500, 3u * 1024 * 1024},
        {"timeBudget: 250ms\nlimits: {maxFileSize: 1G}\n", 250, 1024ull * 1024 * 1024},
        {"failMode: closed\nlimits: {maxFileSize: \"100\"}\n", 4000, 100},
        {"timeBudget: 1h\n", 3'600'000, 1u << 20},
    };
    for (const auto& k : cases) {
      INFO(k.text);
      auto r = policy::parse_server_config(k.text, "c.yaml");
      INFO((r ? std::string() : r.error().describe()));
      CHECK(r);
      if (!r) continue;
      CHECK(r->time_budget_ms == k.budget_ms);
      CHECK(r->max_file_size == k.max_file_size);
    }
  }
}

TEST_CASE("the server config's confinement: per environment path, with the daemon's defaults", "[policy]") {
  auto c = policy::parse_server_config(
      "confinement:\n"
      "  inventoryNamespace: gitops\n"
      "  environments:\n"
      "    environments/prod/: {namespace: shop, namespaces: [shop, 'shop-*'], clusterKinds: [Namespace, "
      "rbac.authorization.k8s.io/ClusterRole]}\n"
      "    environments/dev: {namespace: dev}\n"
      "    environments/lab: {}\n",
      "c.yaml");
  INFO((c ? std::string() : c.error().describe()));
  REQUIRE(c);
  REQUIRE(c->confinement.size() == 3);
  const auto& prod = c->confinement.at("environments/prod");  // a trailing '/' is the same path
  CHECK(prod.namespace_ == "shop");
  CHECK(prod.confinement.namespaces == std::vector<std::string>{"shop", "shop-*"});
  CHECK(prod.confinement.cluster_kinds == std::vector<std::string>{"Namespace", "rbac.authorization.k8s.io/ClusterRole"});
  CHECK(prod.confinement.inventory_namespace == "gitops");
  const auto& dev = c->confinement.at("environments/dev");  // defaults: its namespace, Namespaces
  CHECK(dev.confinement.namespaces == std::vector<std::string>{"dev"});
  CHECK(dev.confinement.cluster_kinds == std::vector<std::string>{"Namespace"});
  // Nothing named: the gate cannot know the target's default namespace; reserved ones stay refused.
  CHECK(c->confinement.at("environments/lab").confinement.namespaces == std::vector<std::string>{"*"});
  auto d = policy::parse_server_config("confinement: {environments: {environments/x: {}}}\n", "c.yaml");
  REQUIRE(d);
  CHECK(d->confinement.at("environments/x").confinement.inventory_namespace == "portcullis-system");
}

TEST_CASE("invalid server configurations are rejected", "[policy]") {
  struct Case {
    const char* name;
    const char* text;
    std::uint32_t line;
    const char* message_part;
  };
  const Case cases[] = {
      {"duration without a unit", "timeBudget: \"4\"\n", 1, "timeBudget"},
      {"duration as a number", "timeBudget: 4\n", 1, "timeBudget"},
      {"duration too large to represent", "failMode: open\ntimeBudget: 3000000000h\n", 2, "timeBudget"},
      {"duration longer than an hour", "timeBudget: 61m\n", 1, "timeBudget"},
      {"unknown failMode", "failMode: ajar\n", 1, "failMode"},
      {"unknown key", "schemaStore: /s\nauditlog: /a\n", 2, "did you mean \"auditLog\""},
      {"maxDepth below the minimum", "limits:\n  maxDepth: 3\n", 2, "maxDepth"},
      {"maxRefs zero", "limits:\n  maxRefs: 0\n", 2, "maxRefs"},
      {"maxFileSize with a bad unit", "limits:\n  maxFileSize: 2 parsecs\n", 2, "maxFileSize"},
      {"maxFileSize zero", "limits:\n  maxFileSize: 0\n", 2, "maxFileSize"},
      {"maxFileSize zero as a string", "limits:\n  maxFileSize: '0'\n", 2, "maxFileSize"},
      {"maxFileSize too large to represent", "limits:\n  maxFileSize: '99999999999999999999'\n", 2, "maxFileSize"},
      {"maxFileSize overflowing with a unit", "limits:\n  maxFileSize: 20000000000GiB\n", 2, "maxFileSize"},
      {"unknown limit", "limits:\n  maxDepht: 50\n", 2, "did you mean \"maxDepth\""},
      {"identity env not a variable name", "identity:\n  env: [GL_USER, 'not a var']\n", 2, "env"},
      {"empty schemaStore", "schemaStore: ''\n", 1, "schemaStore"},
      {"invalid defaultPolicy", "defaultPolicy:\n  protectedRefs: [main]\n", 2, "protectedRefs"},
      {"two documents", "failMode: open\n---\nfailMode: closed\n", 2, "single YAML document"},
      {"confinement: a namespace that is no DNS label", "confinement:\n  environments:\n    environments/dev: {namespace: Dev}\n",
       3, "namespace"},
      {"confinement: an unknown key", "confinement:\n  environments:\n    environments/dev: {namespaes: [dev]}\n", 3,
       "namespaes"},
  };
  for (const auto& c : cases) {
    INFO(c.name << "\n" << c.text);
    auto r = policy::parse_server_config(c.text, "/etc/portcullis/config.yaml");
    CHECK_FALSE(r);
    if (r) continue;
    INFO(r.error().describe());
    CHECK(r.error().file == "/etc/portcullis/config.yaml");
    CHECK(r.error().line == c.line);
    CHECK_THAT(r.error().message, Catch::Contains(c.message_part));
  }
  auto bad_yaml = policy::parse_server_config("limits: {maxDepth: 50\n", "/etc/portcullis/config.yaml");
  REQUIRE_FALSE(bad_yaml);
  CHECK(bad_yaml.error().file == "/etc/portcullis/config.yaml");
  CHECK(bad_yaml.error().line != 0);
  CHECK_THAT(bad_yaml.error().message, Catch::Contains("invalid server config"));
}

TEST_CASE("load_server_config resolves relative paths against the file's directory", "[policy]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    std::string text;
    std::filesystem::path schema_store;  // relative to tmp/etc when relative
    std::filesystem::path audit_log;
  };
  const Case cases[] = {
      {"relative paths", "schemaStore: schemas\nauditLog: ../log/audit.jsonl\ntimeBudget: 2500ms\n", "schemas",
       "../log/audit.jsonl"},
      {"absolute paths", "schemaStore: /var/lib/s\nauditLog: /var/log/a.jsonl\n", "/var/lib/s", "/var/log/a.jsonl"},
      {"nothing set", "failMode: open\n", "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto path = tmp.write("etc/config.yaml", c.text);
    auto r = policy::load_server_config(path);
    INFO((r ? std::string() : r.error().describe()));
    CHECK(r);
    if (!r) continue;
    CHECK(r->source == std::filesystem::absolute(path));
    auto expect = [&](const std::filesystem::path& p) {
      return p.empty() || p.is_absolute() ? p : tmp.path() / "etc" / p;
    };
    CHECK(r->schema_store == expect(c.schema_store));
    CHECK(r->audit_log == expect(c.audit_log));
  }

  SECTION("a relative config path is made absolute first") {
    tmp.write("etc/config.yaml", "schemaStore: schemas\n");
    auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(tmp.path());
    auto r = policy::load_server_config("etc/config.yaml");
    std::filesystem::current_path(cwd);
    REQUIRE(r);
    CHECK(r->schema_store == std::filesystem::absolute(tmp.path() / "etc/schemas"));
    CHECK(r->source.is_absolute());
  }

  SECTION("errors") {
    auto missing = policy::load_server_config(tmp / "nope.yaml");
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains("nope.yaml"));
    auto path = tmp.write("bad.yaml", "failMode: ajar\n");
    auto bad = policy::load_server_config(path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().file == path.string());
    CHECK(bad.error().line == 1);
  }
}
