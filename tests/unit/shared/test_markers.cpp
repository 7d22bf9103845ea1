#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "shared/imagepolicy/markers.hpp"

using namespace portcullis;
using namespace portcullis::imagepolicy;

namespace {

const std::string k_digest = "sha256:" + std::string(64, 'c');

Policy make_policy(std::string name, std::string image, std::vector<std::string> envs, Pin pin = Pin::tag) {
  Policy p;
  p.name = std::move(name);
  p.image = std::move(image);
  p.environments = std::move(envs);
  p.range = "*";
  p.pin = pin;
  return p;
}

std::vector<policy::Environment> envs() {
  return {policy::Environment{"dev", "environments/dev", false, "", std::nullopt},
          policy::Environment{"prod", "environments/prod", true, "", std::nullopt}};
}

const char* k_deploy =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: app\n"
    "        image: reg/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n"
    "      - name: side\n"
    "        image: 'reg/side:1.0' # portcullis:image side:tag\n";

}  // namespace

TEST_CASE("markers are found in their forms, malformed ones reported", "[markers]") {
  struct Case {
    const char* name;
    std::string line;
    std::string policy, ns;
    Field field;
    bool problem;
  };
  const Case cases[] = {
      {"flux whole reference", "image: r/a:1 # {\"$imagepolicy\": \"ns:app\"}", "app", "ns", Field::reference, false},
      {"flux tag", "tag: '1' # {\"$imagepolicy\": \"ns:app:tag\"}", "app", "ns", Field::tag, false},
      {"flux name", "repository: r/a # {\"$imagepolicy\": \"ns:app:name\"}", "app", "ns", Field::name, false},
      {"flux digest", "d: x # {\"$imagepolicy\": \"ns:app:digest\"}", "app", "ns", Field::digest, false},
      {"no namespace", "image: r/a:1 # {\"$imagepolicy\": \"app\"}", "app", "", Field::reference, false},
      {"no namespace, tag", "image: r/a:1 # {\"$imagepolicy\": \"app:tag\"}", "app", "", Field::tag, false},
      {"portcullis form", "image: r/a:1 # portcullis:image app", "app", "", Field::reference, false},
      {"portcullis form, name", "image: r/a # portcullis:image app:name", "app", "", Field::name, false},
      {"not a marker", "image: r/a:1 # just a comment", "", "", Field::reference, false},
      {"malformed json", "image: r/a:1 # {\"$imagepolicy\": app}", "", "", Field::reference, true},
      {"bad field", "image: r/a:1 # {\"$imagepolicy\": \"ns:app:size\"}", "", "", Field::reference, true},
      {"hostile name", "image: r/a:1 # portcullis:image ../../etc", "", "", Field::reference, true},
      {"too many parts", "image: r/a:1 # portcullis:image a:b:c:d", "", "", Field::reference, true},
      {"on a key line", "spec: # {\"$imagepolicy\": \"app\"}\n  x: 1", "", "", Field::reference, true},
      {"on a block scalar", "s: | # {\"$imagepolicy\": \"app\"}\n  x", "", "", Field::reference, true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Found f = find_markers("f.yaml", c.line + "\n");
    CHECK(f.problems.empty() != c.problem);
    if (c.policy.empty()) {
      CHECK(f.markers.empty());
      continue;
    }
    REQUIRE(f.markers.size() == 1);
    CHECK(f.markers[0].policy == c.policy);
    CHECK(f.markers[0].namespace_ == c.ns);
    CHECK(f.markers[0].field == c.field);
    CHECK(f.markers[0].line == 1);
  }
  Found bad = find_markers("f.yaml", "a: [\n");
  CHECK(bad.markers.empty());
  CHECK(bad.problems.size() == 1);
}

TEST_CASE("a plan edits the marked fields of the policy's environments only", "[markers]") {
  std::vector<Policy> policies{make_policy("app", "reg/app", {"dev"}), make_policy("side", "reg/side", {"dev", "prod"})};
  auto source = memory_source({{"environments/dev/deploy.yaml", k_deploy},
                               {"environments/prod/deploy.yaml", k_deploy},
                               {"environments/dev/notes.txt", "image: x # portcullis:image app"},
                               {"README.md", "# portcullis:image app"}});
  std::map<std::string, Choice> choices{{"app", {"1.2.0", k_digest}}, {"side", {"2.0", ""}}};
  auto p = plan(*source, envs(), policies, choices);
  REQUIRE(p);
  CHECK(p->problems.empty());
  REQUIRE(p->files.size() == 2);
  const FileEdit& dev = p->files[0];
  CHECK(dev.path == "environments/dev/deploy.yaml");
  std::string expected_dev = k_deploy;
  expected_dev.replace(expected_dev.find("reg/app:1.0.0"), 13, "reg/app:1.2.0");
  expected_dev.replace(expected_dev.find("'reg/side:1.0'"), 14, "'2.0'");
  CHECK(dev.new_text == expected_dev);
  REQUIRE(dev.updates.size() == 2);
  CHECK(dev.updates[0].old_value == "reg/app:1.0.0");
  CHECK(dev.updates[0].new_value == "reg/app:1.2.0");
  CHECK(dev.updates[0].line == 9);
  const FileEdit& prod = p->files[1];
  CHECK(prod.path == "environments/prod/deploy.yaml");
  REQUIRE(prod.updates.size() == 1);  // app is not a prod policy
  CHECK(prod.updates[0].policy == "side");

  std::string message = commit_message(*p);
  CHECK(message.starts_with("Update reg/app to 1.2.0 and 1 more\n\n"));
  CHECK(message.find("- reg/app: reg/app:1.0.0 -> reg/app:1.2.0 (policy app, environments/dev/deploy.yaml:9)") !=
        std::string::npos);

  // Applied again: nothing to do, so no empty commit.
  auto done = memory_source({{"environments/dev/deploy.yaml", dev.new_text}, {"environments/prod/deploy.yaml", prod.new_text}});
  auto again = plan(*done, envs(), policies, choices);
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("pinned digests, kustomization entries and problems", "[markers]") {
  std::vector<Policy> policies{make_policy("app", "reg/app", {"prod"}, Pin::digest), make_policy("web", "reg/web", {"prod"})};
  const std::string kustomization =
      "resources: [deploy.yaml]\n"
      "images:\n"
      "- name: app\n"
      "  newName: reg/app\n"
      "  newTag: \"1.0.0\"\n"
      "- name: reg/web\n"
      "  newTag: 1.0.0 # pinned by hand\n"
      "- name: other\n"
      "  newTag: '9'\n";
  const std::string deploy = "image: reg/app:1.0.0 # {\"$imagepolicy\": \"ns:app\"}\nx: 1 # {\"$imagepolicy\": \"ghost\"}\n";
  auto source = memory_source({{"environments/prod/kustomization.yaml", kustomization},
                               {"environments/prod/deploy.yaml", deploy}});
  std::map<std::string, Choice> choices{{"app", {"1.1.0", k_digest}}, {"web", {"1.1.0", ""}}};
  auto p = plan(*source, envs(), policies, choices);
  REQUIRE(p);
  REQUIRE(p->files.size() == 2);
  CHECK(p->files[0].path == "environments/prod/deploy.yaml");
  CHECK(p->files[0].new_text.starts_with("image: reg/app:1.1.0@" + k_digest + " # {"));
  CHECK(p->files[1].new_text ==
        "resources: [deploy.yaml]\n"
        "images:\n"
        "- name: app\n"
        "  newName: reg/app\n"
        "  newTag: \"1.1.0\"\n"
        "  digest: " + k_digest + "\n"
        "- name: reg/web\n"
        "  newTag: 1.1.0 # pinned by hand\n"
        "- name: other\n"
        "  newTag: '9'\n");
  REQUIRE(p->problems.size() == 1);
  CHECK(p->problems[0].find("no image policy named ghost") != std::string::npos);

  std::vector<policy::Environment> none;
  auto unknown = plan(*source, none, policies, choices);
  REQUIRE(unknown);
  CHECK(unknown->empty());
  CHECK(unknown->problems.size() == 2);
}

TEST_CASE("a marker whose scalar cannot be edited safely is a problem, not an edit", "[markers]") {
  std::vector<Policy> policies{make_policy("app", "reg/app", {"dev"})};
  const std::string text = "a: &img reg/app:1 # portcullis:image app\nb: *img\n";
  auto source = memory_source({{"environments/dev/x.yaml", text}});
  auto p = plan(*source, envs(), policies, {{"app", {"2", ""}}});
  REQUIRE(p);
  CHECK(p->empty());
  REQUIRE(p->problems.size() == 1);
  CHECK(p->problems[0].find("anchored") != std::string::npos);
}
