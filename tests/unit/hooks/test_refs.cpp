#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "hooks/refs.hpp"
#include "hooks/update.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using git::Oid;

TEST_CASE("a new branch named like an environment is refused; environments that cannot be read refuse it too",
          "[refs]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp, "repo");
  const Oid manifest = fx.blob("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base}\n");
  const Oid prod = test::to_oid(fx.git({"mktree"}, "100644 blob " + manifest.hex() + "\tbase.yaml\n"));
  const std::string prod_entry =
      "40000 prod" + std::string(1, '\0') + std::string(reinterpret_cast<const char*>(prod.bytes.data()), 20);
  // environments/ as git writes it, and one that lists prod twice (git takes such a tree when
  // receive.fsckObjects is off): read as "no environments", refs/heads/prod would be a branch
  // like any other.
  const std::string readable = fx.git({"hash-object", "-t", "tree", "-w", "--stdin"}, prod_entry);
  const std::string twice =
      fx.git({"hash-object", "-t", "tree", "-w", "--literally", "--stdin"}, prod_entry + prod_entry);
  struct Case {
    const char* name;
    const std::string& environments;
    const char* ref;
    const char* rule;  // nullptr: no finding
  };
  const Case cases[] = {
      {"an environment's name", readable, "refs/heads/prod", "ref.environment-branch"},
      {"env/ and an environment's name", readable, "refs/heads/env/prod", "ref.environment-branch"},
      {"another name", readable, "refs/heads/feature", nullptr},
      {"environments that cannot be read", twice, "refs/heads/prod", "gate.internal"},
      {"environments that cannot be read, another name", twice, "refs/heads/feature", "gate.internal"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string root = fx.git({"mktree"}, "040000 tree " + c.environments + "\tenvironments\n");
    const Oid commit = test::to_oid(fx.git({"commit-tree", root, "-m", "base"}));
    fx.git({"update-ref", "refs/heads/main", commit.hex()});
    fx.git({"symbolic-ref", "HEAD", "refs/heads/main"});
    auto repo = fx.open();
    const RefUpdate raw{Oid{}, commit, c.ref};  // the Update points at it
    const Update u = describe_update(repo, policy::ServerConfig{}, raw, Reading::index);
    const RefVerdict v = check_ref_rules(repo, u);
    if (!c.rule) {
      CHECK(v.findings.empty());
      continue;
    }
    REQUIRE(v.findings.size() == 1);
    CHECK(v.findings[0].rule == c.rule);
  }
}

TEST_CASE("a new ref is judged against the default branch; a HEAD that cannot be read fails it", "[refs]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp, "repo");
  const std::string root = fx.git({"mktree"}, "");
  const Oid commit = test::to_oid(fx.git({"commit-tree", root, "-m", "base"}));
  fx.git({"symbolic-ref", "HEAD", "refs/heads/main"});
  const RefUpdate raw{Oid{}, commit, "refs/heads/feature"};
  SECTION("an unborn default branch: a first push has nothing to be judged against") {
    auto repo = fx.open();
    const Update u = describe_update(repo, policy::ServerConfig{}, raw);
    CHECK(u.problem.empty());
    CHECK_FALSE(u.base_commit);
  }
  SECTION("the default branch's tip") {
    fx.git({"update-ref", "refs/heads/main", commit.hex()});
    auto repo = fx.open();
    const Update u = describe_update(repo, policy::ServerConfig{}, raw);
    CHECK(u.problem.empty());
    CHECK(u.base_commit == commit);
  }
  SECTION("a default branch whose tip is missing (a damaged repository)") {
    const std::string missing(40, '7');
    std::ofstream(fx.dir() / ".git/refs/heads/main") << missing << "\n";
    auto repo = fx.open();
    const Update u = describe_update(repo, policy::ServerConfig{}, raw);
    CHECK_THAT(u.problem, Catch::Contains("HEAD does not lead to a commit"));
  }
}
