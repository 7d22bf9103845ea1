#include <catch2/catch.hpp>

#include "hooks/report.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::hooks;

namespace {

Report sample() {
  Report r;
  r.stats = Stats{2, 3, 5, 42};
  r.add(Finding{Level::error, "schema.type", "refs/heads/main", "environments/prod/web.yaml", 12, 7, "Deployment \"web\"",
                "spec.replicas: expected integer, got string \"three\"", ""});
  r.add(Finding{Level::warning, "schema.missing", "refs/heads/main", "environments/prod/x.yaml", 1, 1, "Widget \"w\"",
                "no schema", ""});
  r.add(Finding{Level::error, "ref.protected-force", "refs/heads/release", "", 0, 0, "", "can only move forward", ""});
  r.add(Finding{Level::error, "yaml.syntax", "refs/heads/main", "environments/prod/web.yaml", 30, 1, "", "bad \"quote\"\n",
                "custom hint"});
  return r;
}

}  // namespace

TEST_CASE("text reports group by ref and file, with rule ids, locations, fixes and a summary", "[report]") {
  std::string text = render_text(sample());
  CHECK(text ==
        "refs/heads/main:\n"
        "  environments/prod/web.yaml:12:7: error [schema.type] Deployment \"web\": spec.replicas: expected integer, "
        "got string \"three\"\n"
        "      fix: give the field a value of the expected type (quote strings such as \"yes\" or \"1.0\")\n"
        "  environments/prod/web.yaml:30:1: error [yaml.syntax] bad \"quote\"\n\n"
        "      fix: custom hint\n"
        "  environments/prod/x.yaml:1:1: warning [schema.missing] Widget \"w\": no schema\n"
        "      fix: import the cluster's schemas (`portcullis schemas import`) or add the CRD to the repository\n"
        "refs/heads/release:\n"
        "  error [ref.protected-force] can only move forward\n"
        "      fix: rebase onto the current tip and push without --force\n"
        "portcullis: push rejected: 3 errors, 1 warning (3 files, 5 objects in 2 refs checked in 42 ms)\n");
}

TEST_CASE("an accepted push says so in one line", "[report]") {
  Report r;
  r.stats = Stats{1, 1, 1, 3};
  CHECK(render_text(r) == "portcullis: push accepted: 0 errors, 0 warnings (1 file, 1 object in 1 ref checked in 3 ms)\n");
  r.fail_open = true;
  CHECK_THAT(render_text(r), Catch::Contains("ACCEPTED WITHOUT A VERDICT"));
}

TEST_CASE("JSON reports are valid JSON carrying every field", "[report]") {
  std::string json = render_json(sample());
  auto parsed = yaml::parse_json(json);
  REQUIRE(parsed);
  const auto* root = parsed->documents[0].root;
  CHECK(root->get_string("decision") == "rejected");
  CHECK(root->get("errors")->value.integer == 3);
  CHECK(root->get("warnings")->value.integer == 1);
  const auto* findings = root->get("findings");
  REQUIRE(findings->items.size() == 4);
  CHECK(findings->items[0]->get_string("rule") == "schema.type");
  CHECK(findings->items[0]->get("line")->value.integer == 12);
  CHECK(findings->items[3]->get_string("message") == "bad \"quote\"\n");
  CHECK(findings->items[3]->get_string("hint") == "custom hint");
  CHECK_FALSE(findings->items[0]->get_string("hint").empty());
}

TEST_CASE("every rule the gate emits has a default hint", "[report]") {
  for (const char* rule : {"yaml.syntax", "yaml.duplicate-key", "yaml.encoding", "yaml.limit", "file.too-large",
                           "file.binary", "file.symlink", "file.submodule", "k8s.not-an-object", "k8s.missing-field", "k8s.invalid-name",
                           "k8s.duplicate", "schema.type", "schema.unknown-field", "schema.required", "schema.enum",
                           "schema.missing", "schema.format", "schema.pattern", "schema.range", "schema.length",
                           "schema.unique", "schema.invalid", "content.deny-kind", "content.plaintext-secret",
                           "content.image-latest", "content.image-untagged", "policy.invalid", "ref.protected-delete",
                           "ref.protected-force", "ref.release-tag-move", "ref.release-tag-delete", "ref.not-a-commit",
                           "gate.budget", "gate.internal", "gate.audit"}) {
    INFO(rule);
    CHECK_FALSE(default_hint(rule).empty());
  }
}
