#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "daemon/mirror.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using namespace portcullis::test;
namespace fs = std::filesystem;

namespace {

fs::path loose_path(const fs::path& objects, const git::Oid& id) {
  std::string h = id.hex();
  return objects / h.substr(0, 2) / h.substr(2);
}

std::vector<std::string> packs(const fs::path& objects) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(objects / "pack", ec))
    if (e.path().extension() == ".pack") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

Mirror open_mirror(const std::string& url, const fs::path& state, MirrorOptions options = {}) {
  RepositoryConfig rc;
  rc.url = url;
  rc.branch = "main";
  auto m = Mirror::open(rc, state, std::move(options));
  INFO((m ? std::string() : m.error().message));
  REQUIRE(m);
  return std::move(*m);
}

}  // namespace

TEST_CASE("a first fetch from a repository on this machine copies its object files", "[mirror]") {
  TempDir tmp;
  GitFixture src(tmp, "src.git", /*bare=*/true);
  git::Oid c1 = src.commit({{"environments/dev/a.yaml", "kind: ConfigMap\n"}, {"README.md", "one\n"}});
  src.set_ref("refs/heads/main", c1);
  src.git({"repack", "-a", "-d", "-q"});
  // One packed commit and one loose one on top, as a server has after a gc and a push.
  git::Oid c2 = src.commit({{"environments/dev/a.yaml", "kind: ConfigMap\n"}, {"README.md", "two\n"}}, {c1});
  src.set_ref("refs/heads/main", c2);

  Mirror m = open_mirror("file://" + src.dir().string(), tmp / "state");
  auto head = m.fetch();
  INFO((head ? std::string() : head.error().message));
  REQUIRE(head);
  CHECK(*head == c2);
  CHECK(m.last_fetch().seeded_files >= 5);  // a pack, its index, three loose objects
  CHECK_FALSE(m.last_fetch().recreated);
  fs::path mirror = tmp / "state" / "mirror.git";
  // The source's pack itself, and no pack of libgit2's making.
  CHECK(packs(mirror / "objects") == packs(src.dir() / "objects"));
  CHECK(missing_object(mirror, c2.hex()) == std::nullopt);
  CHECK(missing_object(mirror, c1.hex()) == std::nullopt);

  // Later fetches go through libgit2 and bring what is new.
  git::Oid c3 = src.commit({{"environments/dev/a.yaml", "kind: Secret\n"}}, {c2});
  src.set_ref("refs/heads/main", c3);
  auto next = m.fetch();
  REQUIRE(next);
  CHECK(*next == c3);
  CHECK(m.last_fetch().seeded_files == 0);
  CHECK(missing_object(mirror, c3.hex()) == std::nullopt);
  auto blob = m.repository().entry_at(*m.repository().commit_tree(c3), "environments/dev/a.yaml");
  REQUIRE(blob);
  REQUIRE(*blob);
  CHECK(*m.repository().read_blob((*blob)->oid, 1000) == "kind: Secret\n");
}

TEST_CASE("repositories a copy cannot stand for are fetched through libgit2", "[mirror]") {
  TempDir tmp;
  GitFixture src(tmp, "src.git", /*bare=*/true);
  git::Oid c1 = src.commit({{"a.yaml", "a: 1\n"}});
  src.set_ref("refs/heads/main", c1);
  GitFixture work(tmp, "work");  // a repository with a work tree: objects in .git/objects
  git::Oid w1 = work.commit({{"b.yaml", "b: 1\n"}});
  work.set_ref("refs/heads/main", w1);
  // A repository borrowing its objects (GitLab's object pools do): a copy of its own files
  // would lack them.
  REQUIRE(run_git(tmp.path(), {"clone", "-q", "--bare", "--shared", src.dir().string(), (tmp / "borrower.git").string()}).status == 0);

  struct Case {
    const char* name;
    std::string url;
    bool seed_local;
    git::Oid want;
    bool seeded;
  };
  const Case cases[] = {
      {"a path, not a URL", src.dir().string(), true, c1, true},
      {"a repository with a work tree", "file://" + work.dir().string(), true, w1, true},
      {"alternates", "file://" + (tmp / "borrower.git").string(), true, c1, false},
      {"seeding turned off", "file://" + src.dir().string(), false, c1, false},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    fs::path state = tmp / ("state-" + std::to_string(n++));
    MirrorOptions options;
    options.seed_local = c.seed_local;
    Mirror m = open_mirror(c.url, state, options);
    auto head = m.fetch();
    INFO((head ? std::string() : head.error().message));
    REQUIRE(head);
    CHECK(*head == c.want);
    CHECK((m.last_fetch().seeded_files > 0) == c.seeded);
    CHECK(missing_object(state / "mirror.git", c.want.hex()) == std::nullopt);
  }
}

TEST_CASE("a copy that misses objects is made anew the usual way", "[mirror]") {
  TempDir tmp;
  GitFixture src(tmp, "src.git", /*bare=*/true);
  git::Oid blob = src.blob("kind: Namespace\n");
  git::Oid c1 = src.commit({{"ns.yaml", "kind: Namespace\n"}, {"other.yaml", "x: 1\n"}});
  src.set_ref("refs/heads/main", c1);
  REQUIRE(fs::exists(loose_path(src.dir() / "objects", blob)));

  // As if a push or a repack moved files while they were copied: one object never arrives.
  int copies = 0;
  MirrorOptions options;
  options.after_seed = [&](const fs::path& objects) {
    ++copies;
    fs::remove(loose_path(objects, blob));
  };
  Mirror m = open_mirror("file://" + src.dir().string(), tmp / "state", options);
  auto head = m.fetch();
  INFO((head ? std::string() : head.error().message));
  REQUIRE(head);
  CHECK(*head == c1);
  CHECK(copies == 2);  // copied again once before starting over
  CHECK(m.last_fetch().recreated);
  fs::path mirror = tmp / "state" / "mirror.git";
  CHECK(missing_object(mirror, c1.hex()) == std::nullopt);
  CHECK(*m.repository().read_blob(blob, 100) == "kind: Namespace\n");
}

TEST_CASE("missing_object names what a repository lacks", "[mirror]") {
  TempDir tmp;
  GitFixture repo(tmp, "r.git", /*bare=*/true);
  git::Oid blob = repo.blob("b: 2\n");
  git::Oid c1 = repo.commit({{"dir/a.yaml", "a: 1\n"}, {"dir/sub/b.yaml", "b: 2\n"}});
  CHECK(missing_object(repo.dir(), c1.hex()) == std::nullopt);
  CHECK(missing_object(repo.dir(), std::string(40, 'e')) == "commit " + std::string(40, 'e'));
  CHECK(missing_object(repo.dir(), "not-hex").has_value());
  fs::remove(loose_path(repo.dir() / "objects", blob));
  CHECK(missing_object(repo.dir(), c1.hex()) == "blob " + blob.hex());
}
