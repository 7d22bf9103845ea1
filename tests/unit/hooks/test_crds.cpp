#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "hooks/crds.hpp"
#include "shared/schema/validator.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::hooks;

namespace {

// A v1 CRD with two versions whose schemas disagree on the type of spec.size.
const char* k_widget_crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: string}
)";

// A v1beta1 CRD: one schema for all versions in spec.validation, the version in spec.version.
const char* k_gadget_crd = R"(apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  version: v1alpha1
  scope: Cluster
  names: {kind: Gadget, plural: gadgets}
  validation:
    openAPIV3Schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            color: {type: string, enum: [red, blue]}
)";

// A v1beta1 CRD listing versions that share spec.validation.
const char* k_gizmo_crd = R"(apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  names: {kind: Gizmo}
  versions:
  - {name: v1, served: true, storage: true}
  - {name: v2, served: true, storage: false}
  validation:
    openAPIV3Schema:
      type: object
      properties:
        spec: {type: object, properties: {count: {type: integer, minimum: 0}}}
)";

// No schema at all: any custom resource of the kind is valid.
const char* k_free_crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.org
spec:
  group: example.org
  names: {kind: Thing}
  versions:
  - {name: v1, served: true, storage: true}
)";

yaml::Stream parse(const std::string& text) {
  auto s = yaml::parse_yaml(text);
  INFO(text);
  REQUIRE(s);
  REQUIRE(s->documents.size() == 1);
  REQUIRE(s->documents[0].root);
  return std::move(*s);
}

void add(CrdRegistry& crds, const char* text) {
  auto doc = parse(text);
  auto r = crds.add(*doc.documents[0].root);
  INFO((r ? std::string() : r.error().describe()));
  REQUIRE(r);
}

// The rule ids of the violations of custom resource `cr` (apiVersion/kind/metadata are implicit,
// as in the gate), through the registry's compiled program.
std::vector<std::string> violations(CrdRegistry& crds, const std::string& cr) {
  auto doc = parse(cr);
  const yaml::Node& root = *doc.documents[0].root;
  auto found = crds.find(root.get_string("apiVersion"), root.get_string("kind"));
  REQUIRE(found);
  static constexpr std::string_view implicit[] = {"apiVersion", "kind", "metadata"};
  schema::ValidateOptions options;
  options.strictness = schema::Strictness::strict;
  options.ignored_root_keys = implicit;
  std::vector<schema::Violation> out;
  schema::validate(*found->program, found->root.node, root, options, out);
  std::vector<std::string> rules;
  for (const auto& v : out) rules.push_back(v.rule);
  return rules;
}

using Rules = std::vector<std::string>;

}  // namespace

TEST_CASE("is_crd recognises apiextensions.k8s.io CustomResourceDefinitions only", "[crds]") {
  struct Case {
    const char* api_version;
    const char* kind;
    bool crd;
  };
  const Case cases[] = {
      {"apiextensions.k8s.io/v1", "CustomResourceDefinition", true},
      {"apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", true},
      {"apiextensions.k8s.io/v1", "CustomResourceDefinitionList", false},
      {"apiextensions.k8s.io/v1", "Widget", false},
      {"example.com/v1", "CustomResourceDefinition", false},
      {"v1", "CustomResourceDefinition", false},
      {"apiextensions.k8s.io", "CustomResourceDefinition", false},
      {"", "CustomResourceDefinition", false},
      {"apiextensions.k8s.io/v1", "", false},
  };
  for (const auto& c : cases) {
    INFO(c.api_version << " " << c.kind);
    CHECK(is_crd(c.api_version, c.kind) == c.crd);
  }
}

TEST_CASE("a v1 CRD compiles one schema per version", "[crds]") {
  CrdRegistry crds;
  CHECK(crds.empty());
  CHECK_FALSE(crds.find("example.com/v1", "Widget"));
  add(crds, k_widget_crd);
  CHECK_FALSE(crds.empty());

  auto v1 = crds.find("example.com/v1", "Widget");
  REQUIRE(v1);
  CHECK(v1->root.scope == schema::Scope::namespaced);
  REQUIRE(crds.find("example.com/v2", "Widget"));

  struct Case {
    const char* cr;
    Rules rules;
  };
  const Case cases[] = {
      {"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n", {}},
      {"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: big}\n", {"schema.type"}},
      {"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n", {"schema.required"}},
      {"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, colour: red}\n",
       {"schema.unknown-field"}},
      {"apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\nspec: {size: big}\n", {}},
      {"apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n", {"schema.type"}},
      {"apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\nspec: {}\n", {}},
  };
  for (const auto& c : cases) {
    INFO(c.cr);
    CHECK(violations(crds, c.cr) == c.rules);
  }

  // A violation names the field and where it was written.
  auto doc = parse("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  size: big\n");
  static constexpr std::string_view implicit[] = {"apiVersion", "kind", "metadata"};
  schema::ValidateOptions options;
  options.ignored_root_keys = implicit;
  std::vector<schema::Violation> out;
  schema::validate(*v1->program, v1->root.node, *doc.documents[0].root, options, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].path == "spec.size");
  CHECK(out[0].mark.line == 5);
  CHECK_THAT(out[0].message, Catch::Contains("expected integer"));
}

TEST_CASE("v1beta1 CRDs take their schema from spec.validation", "[crds]") {
  CrdRegistry crds;
  add(crds, k_gadget_crd);
  add(crds, k_gizmo_crd);

  auto gadget = crds.find("example.com/v1alpha1", "Gadget");
  REQUIRE(gadget);
  CHECK(gadget->root.scope == schema::Scope::cluster);
  CHECK(crds.find("example.com/v1", "Gizmo"));
  CHECK(crds.find("example.com/v2", "Gizmo"));

  struct Case {
    const char* cr;
    Rules rules;
  };
  const Case cases[] = {
      {"apiVersion: example.com/v1alpha1\nkind: Gadget\nmetadata: {name: g}\nspec: {color: red}\n", {}},
      {"apiVersion: example.com/v1alpha1\nkind: Gadget\nmetadata: {name: g}\nspec: {color: green}\n",
       {"schema.enum"}},
      {"apiVersion: example.com/v1alpha1\nkind: Gadget\nmetadata: {name: g}\nspec: {color: 1}\n",
       {"schema.type"}},
      {"apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\nspec: {count: 2}\n", {}},
      {"apiVersion: example.com/v2\nkind: Gizmo\nmetadata: {name: g}\nspec: {count: -1}\n", {"schema.range"}},
      {"apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\nspec: {count: many}\n", {"schema.type"}},
  };
  for (const auto& c : cases) {
    INFO(c.cr);
    CHECK(violations(crds, c.cr) == c.rules);
  }
}

TEST_CASE("a CRD without a schema accepts any custom resource of its kind", "[crds]") {
  CrdRegistry crds;
  add(crds, k_free_crd);
  for (const char* cr : {"apiVersion: example.org/v1\nkind: Thing\nmetadata: {name: t}\n",
                         "apiVersion: example.org/v1\nkind: Thing\nmetadata: {name: t}\nspec: {anything: [1, a, {b: c}]}\n",
                         "apiVersion: example.org/v1\nkind: Thing\nmetadata: {name: t}\nstatus: 3\nextra: x\n"}) {
    INFO(cr);
    CHECK(violations(crds, cr).empty());
  }
}

TEST_CASE("find answers only for the group, versions and kind a CRD declares", "[crds]") {
  CrdRegistry crds;
  add(crds, k_widget_crd);
  struct Case {
    const char* api_version;
    const char* kind;
    bool found;
  };
  const Case cases[] = {
      {"example.com/v1", "Widget", true},
      {"example.com/v2", "Widget", true},
      {"example.com/v3", "Widget", false},
      {"example.com/v1", "Gadget", false},
      {"example.com/v1", "widget", false},
      {"other.example.com/v1", "Widget", false},
      {"v1", "Widget", false},
      {"example.com", "Widget", false},
  };
  for (const auto& c : cases) {
    INFO(c.api_version << " " << c.kind);
    CHECK(crds.find(c.api_version, c.kind).has_value() == c.found);
  }
  CHECK(crds.declares("example.com", "Widget"));
  CHECK_FALSE(crds.declares("example.com", "Gadget"));
  CHECK_FALSE(crds.declares("other.example.com", "Widget"));
  CHECK_FALSE(crds.declares("", "Widget"));

  // Adding another CRD later recompiles; what was found before is still found.
  add(crds, k_gadget_crd);
  CHECK(crds.find("example.com/v1", "Widget"));
  CHECK(crds.find("example.com/v1alpha1", "Gadget"));
  CHECK(crds.declares("example.com", "Gadget"));
}

TEST_CASE("a version that is not served is not found", "[crds]") {
  // The header promises "if a registered CRD serves it": the apiserver refuses objects of a
  // version with served: false, so the gate must not accept them as valid.
  CrdRegistry crds;
  add(crds, R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
  - {name: v1alpha1, served: false, storage: false, schema: {openAPIV3Schema: {type: object}}}
)");
  CHECK(crds.find("example.com/v1", "Widget"));
  CHECK_FALSE(crds.find("example.com/v1alpha1", "Widget"));
  CHECK(crds.declares("example.com", "Widget"));
}

TEST_CASE("malformed CRDs are schema.invalid errors and register nothing", "[crds]") {
  const std::string head = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n";
  struct Case {
    const char* name;
    std::string text;
    const char* message_part;
    std::uint32_t line;  // 0: none expected
  };
  const Case cases[] = {
      {"no spec", head, "has no spec", 0},
      {"spec not a mapping", head + "spec: [a]\n", "has no spec", 0},
      {"no group", head + "spec:\n  names: {kind: Broken}\n  versions: [{name: v1}]\n", "spec.group", 0},
      {"no kind", head + "spec:\n  group: example.com\n  names: {plural: brokens}\n  versions: [{name: v1}]\n",
       "spec.names.kind", 0},
      {"no versions", head + "spec:\n  group: example.com\n  names: {kind: Broken}\n", "declares no versions", 0},
      {"empty versions", head + "spec:\n  group: example.com\n  names: {kind: Broken}\n  versions: []\n",
       "declares no versions", 0},
      {"versions that are not mappings", head + "spec:\n  group: example.com\n  names: {kind: Broken}\n  versions: [v1]\n",
       "declares no versions", 0},
      {"schema that does not compile",
       head + "spec:\n  group: example.com\n  names: {kind: Broken}\n  versions:\n  - name: v1\n    schema:\n"
              "      openAPIV3Schema:\n        type: object\n        properties:\n          size: {type: strin}\n",
       "the openAPIV3Schema of version v1 does not compile", 13},
      {"v1beta1 validation that does not compile",
       "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n"
       "spec:\n  group: example.com\n  version: v1\n  names: {kind: Broken}\n  validation:\n"
       "    openAPIV3Schema: {type: object, required: size}\n",
       "the openAPIV3Schema of version v1 does not compile", 9},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CrdRegistry crds;
    auto doc = parse(c.text);
    auto r = crds.add(*doc.documents[0].root);
    REQUIRE_FALSE(r);
    CHECK(r.error().rule == "schema.invalid");
    CHECK_THAT(r.error().message, Catch::Contains(c.message_part));
    if (c.line) CHECK(r.error().line == c.line);
    CHECK(crds.empty());
    CHECK_FALSE(crds.declares("example.com", "Broken"));
    CHECK_FALSE(crds.find("example.com/v1", "Broken"));
  }
}

TEST_CASE("a CRD rejected for one bad version serves none of its versions", "[crds]") {
  // add() fails for the whole CRD, so none of its versions may be used to validate, even
  // after another CRD makes the registry compile again.
  CrdRegistry crds;
  auto doc = parse(R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: brokens.example.com}
spec:
  group: example.com
  names: {kind: Broken}
  versions:
  - {name: v1, schema: {openAPIV3Schema: {type: object}}}
  - {name: v2, schema: {openAPIV3Schema: {type: strin}}}
)");
  REQUIRE_FALSE(crds.add(*doc.documents[0].root));
  add(crds, k_widget_crd);
  CHECK_FALSE(crds.declares("example.com", "Broken"));
  CHECK_FALSE(crds.find("example.com/v1", "Broken"));
  CHECK_FALSE(crds.find("example.com/v2", "Broken"));
  CHECK(crds.find("example.com/v1", "Widget"));
}
