#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "hooks/index_cache.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  test::TempDir tmp;
  test::GitFixture git{tmp, "repo.git", true};
  git::Oid root = git.tree({{"environments/dev/kustomization.yaml", "resources: [a.yaml]\n"},
                            {"environments/dev/a.yaml", "kind: ConfigMap\n"},
                            {"environments/prod/a.yaml", "kind: ConfigMap\n"},
                            {"environments/staging/Kustomization", "resources: []\n"}});
  git::Repository repo = test::open_repo(git.dir());
  policy::ServerConfig config;
  Deadline deadline{std::chrono::seconds(60)};
  fs::path dir = tmp / "index";

  IndexCache cache() { return IndexCache(repo, config, nullptr, dir, deadline); }
  std::string tree_of(const std::string& env) { return git.rev(root.hex() + ":environments/" + env).hex(); }
  std::vector<std::string> memo_lines() {
    auto text = util::read_file(dir / "kustomized");
    std::vector<std::string> out;
    if (text)
      for (auto l : util::split(*text, '\n'))
        if (!l.empty()) out.emplace_back(l);
    return out;
  }
};

}  // namespace

TEST_CASE("is_kustomized answers as the render does and remembers the answer by the environment's tree", "[index_cache]") {
  Fixture f;
  fs::create_directories(f.dir);
  struct Case {
    std::string env;
    bool kustomized;
  };
  const Case cases[] = {{"dev", true}, {"prod", false}, {"staging", true}, {"qa", false}};
  auto cache = f.cache();
  for (const auto& c : cases) {
    INFO(c.env);
    CHECK(cache.is_kustomized(f.root, "environments/" + c.env).value() == c.kustomized);
  }
  // A missing environment has no tree to remember; the three others are remembered.
  auto lines = f.memo_lines();
  CHECK(lines.size() == 3);
  CHECK(std::find(lines.begin(), lines.end(), f.tree_of("dev") + " 1") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), f.tree_of("prod") + " 0") != lines.end());
  // The next run reads the memo, not the tree: a memo that says otherwise is believed (the file
  // is the server's own, beside the indexes), which shows the tree is not read again.
  REQUIRE(util::write_file(f.dir / "kustomized", f.tree_of("prod") + " 1\n"));
  CHECK(f.cache().is_kustomized(f.root, "environments/prod").value());
}

TEST_CASE("a damaged memo is asked again, and the memo keeps the newest 256 trees", "[index_cache]") {
  Fixture f;
  fs::create_directories(f.dir);
  std::string text = "garbage\n" + f.tree_of("prod") + " 2\n" + std::string(40, 'g') + " 1\n" + f.tree_of("dev") + " 0 extra\n";
  for (unsigned i = 0; i < 300; ++i) {
    char hex[41];
    std::snprintf(hex, sizeof hex, "%040x", i);
    text += std::string(hex) + " 0\n";
  }
  REQUIRE(util::write_file(f.dir / "kustomized", text));
  auto cache = f.cache();
  CHECK_FALSE(cache.is_kustomized(f.root, "environments/prod").value());
  CHECK(cache.is_kustomized(f.root, "environments/dev").value());
  auto lines = f.memo_lines();
  CHECK(lines.size() == 256);
  CHECK(lines.front() == f.tree_of("dev") + " 1");
  CHECK(lines[1] == f.tree_of("prod") + " 0");
  for (const auto& l : lines) CHECK(l.size() == 42);
}

TEST_CASE("is_kustomized works where the memo cannot be written", "[index_cache]") {
  Fixture f;
  f.dir = f.tmp / "not-a-dir";
  REQUIRE(util::write_file(f.dir, "a file where the directory should be\n"));
  auto cache = f.cache();
  CHECK(cache.is_kustomized(f.root, "environments/dev").value());
  CHECK_FALSE(cache.is_kustomized(f.root, "environments/prod").value());
}
