// The follow-up's in-place edits (daemon/followup.hpp): live values into the manifest that
// declares the object, only the changed fields, comments and layout kept.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon/followup.hpp"

using namespace portcullis::daemon;

namespace {

const char* k_manifest = R"(# the web tier
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep
  labels:
    tier: web
    app: web
spec:
  replicas: 0  # scaled by hand in incidents
  template:
    spec:
      containers:
      - name: web
        image: "nginx:1.25.3"
        args: [--fast]
)";

const char* k_live = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"tier":"web"}},
"spec":{"replicas":3,"paused":true,"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.25.4","args":["--slow"]}]}}}})";

FollowUpObject web(std::vector<std::string> pointers, std::string live = k_live) {
  return {"apps/v1 Deployment prod/web", "web.yaml", "apps/v1", "Deployment", "web", std::move(pointers), std::move(live)};
}

}  // namespace

TEST_CASE("follow-up edits: only the drifted fields change, in place") {
  struct Case {
    const char* name;
    std::vector<std::string> pointers;
    std::string live;
    std::string expected_text;  // a substring of the result; "" when the text stays
    std::size_t notes;
  };
  const std::vector<Case> cases{
      {"scale", {"/spec/replicas"}, k_live, "  replicas: 3  # scaled by hand in incidents\n", 0},
      {"set image keeps the quotes", {"/spec/template/spec/containers/0/image"}, k_live, "        image: \"nginx:1.25.4\"\n", 0},
      {"a field set live is inserted", {"/spec/paused"}, k_live, "  paused: true\n", 0},
      {"a field removed live is removed", {"/metadata/labels/tier"}, R"({"metadata":{"name":"web","labels":{"app":"web"}}})",
       "  labels:\n    app: web\nspec:\n", 0},
      {"a list is not a scalar", {"/spec/template/spec/containers/0/args"}, k_live, "", 1},
      {"a deleted object is a note", {}, "", "", 1},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      std::vector<std::string> notes;
      std::string out = edit_manifest(k_manifest, web(c.pointers, c.live), notes);
      INFO(out);
      CHECK(notes.size() == c.notes);
      if (std::string(c.expected_text).empty()) {
        CHECK(out == k_manifest);
      } else {
        CHECK(out.find(c.expected_text) != std::string::npos);
        // Everything else byte for byte: one line differs (or one is added).
        CHECK(out.starts_with("# the web tier\napiVersion: v1\nkind: ConfigMap\n"));
        CHECK(out.find("  name: web   # keep\n") != std::string::npos);
        CHECK(out.size() < std::string(k_manifest).size() + 20);
      }
    }
  }
}

TEST_CASE("follow-up edits: several fields of one object in one pass") {
  std::vector<std::string> notes;
  std::string out = edit_manifest(k_manifest, web({"/spec/replicas", "/spec/template/spec/containers/0/image"}), notes);
  CHECK(notes.empty());
  std::string expected = k_manifest;
  expected.replace(expected.find("replicas: 0"), 11, "replicas: 3");
  expected.replace(expected.find("nginx:1.25.3"), 12, "nginx:1.25.4");
  CHECK(out == expected);
}

TEST_CASE("follow-up edits: an object the file does not declare is a note, the file unchanged") {
  std::vector<std::string> notes;
  auto o = web({"/spec/replicas"});
  o.name = "api";
  CHECK(edit_manifest(k_manifest, o, notes) == k_manifest);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("not declared") != std::string::npos);
}
