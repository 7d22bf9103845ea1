#include <catch2/catch.hpp>

#include "daemon/claim.hpp"

using namespace portcullis::daemon;

TEST_CASE("judge_claim reads the live ownership marks, another target's first", "[claim]") {
  const std::string expected = "dev//ConfigMap/dev/settings";
  struct Case {
    const char* name;
    const char* label;
    const char* annotation;
    Claim claim;
    const char* owner;
  };
  const Case cases[] = {
      {"no marks", "", "", Claim::unowned, ""},
      {"this target's marks of this object", "dev", "dev//ConfigMap/dev/settings", Claim::ours, ""},
      {"this target's annotation without the label", "", "dev//ConfigMap/dev/settings", Claim::ours, ""},
      {"this target's label alone", "dev", "", Claim::unowned, ""},
      {"this target's annotation of another object", "dev", "dev//ConfigMap/dev/other", Claim::unowned, ""},
      {"another target's label", "prod", "", Claim::other_target, "prod"},
      {"another target's annotation", "", "prod//ConfigMap/dev/settings", Claim::other_target, "prod"},
      {"another target's label over this target's annotation", "prod", "dev//ConfigMap/dev/settings",
       Claim::other_target, "prod"},
      {"another target's annotation beside this target's label", "dev", "prod/apps/Deployment/prod/web",
       Claim::other_target, "prod"},
      {"a target named like a prefix of this one", "de", "", Claim::other_target, "de"},
      {"an annotation without a slash", "", "devx", Claim::other_target, "devx"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    LiveClaim got = judge_claim("dev", expected, c.label, c.annotation);
    CHECK(got.claim == c.claim);
    CHECK(got.owner == c.owner);
  }
}

TEST_CASE("claim_problem refuses another target's object always and an unowned one without adopt", "[claim]") {
  const std::string what = "v1 ConfigMap dev/settings";
  CHECK_FALSE(claim_problem(LiveClaim{Claim::absent, "", ""}, "dev", what, false));
  CHECK_FALSE(claim_problem(LiveClaim{Claim::ours, "", "5"}, "dev", what, false));
  CHECK_FALSE(claim_problem(LiveClaim{Claim::unowned, "", "5"}, "dev", what, true));
  auto unowned = claim_problem(LiveClaim{Claim::unowned, "", "5"}, "dev", what, false);
  REQUIRE(unowned);
  CHECK_THAT(*unowned, Catch::Contains(what) && Catch::Contains("adopt: true"));
  for (bool adopt : {false, true}) {
    auto other = claim_problem(LiveClaim{Claim::other_target, "prod", "5"}, "dev", what, adopt);
    REQUIRE(other);
    CHECK_THAT(*other, Catch::Contains("owned by target \"prod\"") && Catch::Contains(what));
  }
}
