#include <catch2/catch.hpp>

#include <string>

#include "hooks/promote.hpp"
#include "tests/unit/support/git_fixture.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using test::GitItem;

namespace {

const std::string k_digest = "sha256:" + std::string(64, 'd');

std::string deployment(const std::string& name, const std::string& image) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\nspec:\n  template:\n    spec:\n      containers:\n      - name: " + name + "\n        image: " + image +
         " # keep\n";
}

std::string policy_file(const std::string& promotion) {
  return "version: 1\nenvironments:\n  - {name: staging, path: environments/staging}\n"
         "  - {name: prod, path: environments/prod, promotion: {" + promotion + "}}\n";
}

}  // namespace

TEST_CASE("plan_promotion copies the source's references into the target's files", "[promote]") {
  test::TempDir tmp;
  test::GitFixture repo(tmp);
  auto commit = repo.commit({
      {".portcullis.yaml", policy_file("from: staging")},
      {"environments/staging/web.yaml", deployment("web", "reg/web:2.0")},
      {"environments/staging/api.yaml", deployment("api", "reg/api:3.1") + "---\n" + deployment("api2", "reg/api:3.2")},
      {"environments/prod/web.yaml", deployment("web", "'reg/web:1.0'")},
      {"environments/prod/api.yaml", deployment("api", "reg/api:3.0")},
      {"environments/prod/kustomize/kustomization.yaml",
       "images:\n- name: reg/web\n  newTag: \"1.0\"\n  digest: " + k_digest + "\n"},
      {"environments/other/web.yaml", deployment("web", "reg/web:1.0")},
  });
  auto r = test::open_repo(repo.dir());
  auto plan = plan_promotion(r, commit, {"staging", "prod", std::nullopt});
  REQUIRE(plan);
  CHECK(plan->source.at("reg/web") == "reg/web:2.0");
  REQUIRE(plan->blocked.size() == 1);  // staging runs two versions of reg/api
  CHECK(plan->blocked[0].image == "reg/api");
  CHECK(plan->problems.empty());
  REQUIRE(plan->files.size() == 2);
  CHECK(plan->files[0].path == "environments/prod/kustomize/kustomization.yaml");
  CHECK(plan->files[0].new_text == "images:\n- name: reg/web\n  newTag: \"2.0\"\n");
  CHECK(plan->files[1].path == "environments/prod/web.yaml");
  CHECK(plan->files[1].new_text == deployment("web", "'reg/web:2.0'"));
  CHECK(plan->references() == std::vector<std::string>{"reg/web:2.0"});

  auto only_web = plan_promotion(r, commit, {"staging", "prod", std::string("web")});
  REQUIRE(only_web);
  CHECK(only_web->blocked.empty());
  CHECK(only_web->files.size() == 2);

  CHECK_FALSE(plan_promotion(r, commit, {"staging", "nowhere", std::nullopt}));
  CHECK_FALSE(plan_promotion(r, commit, {"prod", "prod", std::nullopt}));
}

TEST_CASE("plan_promotion copies only pinned references where digests are required", "[promote]") {
  test::TempDir tmp;
  test::GitFixture repo(tmp);
  auto commit = repo.commit({
      {".portcullis.yaml", policy_file("from: staging, requireDigest: true, soak: 1h")},
      {"environments/staging/web.yaml", deployment("web", "reg/web:2.0@" + k_digest)},
      {"environments/staging/api.yaml", deployment("api", "reg/api:3.1")},
      {"environments/prod/web.yaml", deployment("web", "reg/web:1.0@" + k_digest)},
      {"environments/prod/api.yaml", deployment("api", "reg/api:3.0")},
  });
  auto r = test::open_repo(repo.dir());
  auto plan = plan_promotion(r, commit, {"staging", "prod", std::nullopt});
  REQUIRE(plan);
  REQUIRE(plan->blocked.size() == 1);
  CHECK(plan->blocked[0].reason.find("requires images pinned by digest") != std::string::npos);
  REQUIRE(plan->files.size() == 1);
  CHECK(plan->files[0].new_text == deployment("web", "reg/web:2.0@" + k_digest));

  // Soak: by the ledger, never by commit dates.
  SoakLedger ledger{{"reg/web:2.0@" + k_digest, Arrival{1000, commit}}};
  auto early = soak_verdicts(*plan, &ledger, 1000 + 1800);
  REQUIRE(early.size() == 1);
  CHECK(early[0].known);
  CHECK_FALSE(early[0].met);
  CHECK(early[0].ready_at == 1000 + 3600);
  CHECK(soak_verdicts(*plan, &ledger, 1000 + 3600)[0].met);
  SoakLedger other{{"reg/web:1.0@" + k_digest, Arrival{0, commit}}};
  auto unknown = soak_verdicts(*plan, &other, 1'000'000);
  CHECK_FALSE(unknown[0].known);
  CHECK_FALSE(unknown[0].met);

  std::string message = promote_message(*plan, early);
  CHECK(message.starts_with("Promote staging to prod: reg/web:2.0@" + k_digest + "\n\n"));
  CHECK(message.find("- reg/web: reg/web:1.0@" + k_digest + " -> reg/web:2.0@" + k_digest +
                     " (environments/prod/web.yaml:10)") != std::string::npos);
  CHECK(message.find("has NOT soaked yet") != std::string::npos);
}

TEST_CASE("plan_promotion says why when the environments cannot be read", "[promote]") {
  test::TempDir tmp;
  test::GitFixture repo(tmp);
  const git::Oid web = repo.blob(deployment("web", "reg/web:2.0"));
  const git::Oid env = test::to_oid(repo.git({"mktree"}, "100644 blob " + web.hex() + "\tweb.yaml\n"));
  auto entry = [&](const std::string& name) {
    return "40000 " + name + std::string(1, '\0') + std::string(reinterpret_cast<const char*>(env.bytes.data()), 20);
  };
  // environments/ lists staging twice (git takes such a tree when receive.fsckObjects is off).
  const std::string envs = repo.git({"hash-object", "-t", "tree", "-w", "--literally", "--stdin"},
                                    entry("prod") + entry("staging") + entry("staging"));
  const std::string root = repo.git({"mktree"}, "040000 tree " + envs + "\tenvironments\n");
  const git::Oid commit = test::to_oid(repo.git({"commit-tree", root, "-m", "twice"}));
  auto r = test::open_repo(repo.dir());
  auto plan = plan_promotion(r, commit, {"staging", "prod", std::nullopt});
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().message, Catch::Contains("lists staging twice"));
}
