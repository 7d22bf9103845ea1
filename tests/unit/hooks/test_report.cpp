#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

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
        "  environments/prod/web.yaml:30:1: error [yaml.syntax] bad \"quote\"\\n\n"
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
                           "ref.invalid-name", "gate.budget", "gate.internal", "gate.audit"}) {
    INFO(rule);
    CHECK_FALSE(default_hint(rule).empty());
  }
}

TEST_CASE("printable escapes what could forge or hide terminal output and keeps the rest", "[report]") {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"refs/heads/main", "refs/heads/main"},
      {"", ""},
      {"refs/heads/$(touch x)`id`;a|b&c>d 'q\"", "refs/heads/$(touch x)`id`;a|b&c>d 'q\""},
      {"back\\slash \\n stays", "back\\slash \\n stays"},
      {"line\nremote: portcullis: push accepted", "line\\nremote: portcullis: push accepted"},
      {"tab\tcr\r", "tab\\tcr\\r"},
      {"esc\x1b[31mred\x1b[0m bel\x07 nul-free del\x7f", "esc\\x1b[31mred\\x1b[0m bel\\x07 nul-free del\\x7f"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x9a\x80", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x9a\x80"},
      {"c1-\xc2\x85-\xc2\x9b", "c1-\\u0085-\\u009b"},
      {"rtl-\xe2\x80\xae-txt.yaml", "rtl-\\u202e-txt.yaml"},
      {"isolate-\xe2\x81\xa6-\xe2\x81\xa9", "isolate-\\u2066-\\u2069"},
      {"latin1-caf\xe9", "latin1-caf\\xe9"},
      {"\xff\xfe", "\\xff\\xfe"},
      {"truncated-\xe2\x9c", "truncated-\\xe2\\x9c"},
      {"overlong-\xc0\xaf", "overlong-\\xc0\\xaf"},
      {"surrogate-\xed\xa0\x80", "surrogate-\\xed\\xa0\\x80"},
      {"lone-\x80", "lone-\\x80"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(printable(c.in) == c.out);
  }
}

TEST_CASE("text reports show hostile names escaped, one finding per line", "[report]") {
  Report r;
  r.stats = Stats{1, 1, 0, 1};
  r.add(Finding{Level::error, "ref.invalid-name", "refs/heads/x\x1b[2J\nportcullis: push accepted", "", 0, 0, "",
                "bad name", ""});
  r.add(Finding{Level::error, "yaml.syntax", "refs/heads/main", "environments/dev/a\nb\xe2\x80\xae.yaml", 1, 1,
                "ConfigMap \"\x07\"", "m\r", ""});
  r.notes.push_back("the policy in refs/heads/\x1b] cannot be used");
  std::string text = render_text(r);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\x07') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("\xe2\x80\xae") == std::string::npos);
  CHECK_THAT(text, Catch::StartsWith("refs/heads/x\\x1b[2J\\nportcullis: push accepted:\n"));
  CHECK_THAT(text, Catch::Contains("  environments/dev/a\\nb\\u202e.yaml:1:1: error [yaml.syntax] ConfigMap \"\\x07\": m\\r\n"));
  CHECK_THAT(text, Catch::Contains("note: the policy in refs/heads/\\x1b] cannot be used\n"));
  // Exactly: 2 ref headers, 2 findings, 2 fixes, 1 note, 1 summary.
  CHECK(std::count(text.begin(), text.end(), '\n') == 8);
}
