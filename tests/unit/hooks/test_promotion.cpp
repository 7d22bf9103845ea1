#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "hooks/checks.hpp"
#include "hooks/index.hpp"
#include "hooks/promotion.hpp"
#include "hooks/soak.hpp"
#include "shared/render/environment.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using git::Oid;
using test::GitItem;
namespace fs = std::filesystem;

namespace {

// path -> content; k_deleted removes the path.
using Files = std::map<std::string, std::string>;
const std::string k_deleted = "\x7f deleted";

const std::string k_web_digest = "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31";
constexpr std::int64_t k_now = 1'800'000'000;

std::string configmap(const std::string& name) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n";
}

// A Deployment whose containers run `images`; the first image is on line 11, column 18.
std::string deployment(const std::string& name, const std::vector<std::string>& images, int replicas = 1) {
  std::string s = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
                  "\nspec:\n  replicas: " + std::to_string(replicas) +
                  "\n  template:\n    spec:\n      containers:\n";
  for (std::size_t i = 0; i < images.size(); ++i)
    s += "        - name: c" + std::to_string(i) + "\n          image: " + images[i] + "\n";
  return s + "    metadata: {labels: {app: x}}\n  selector: {matchLabels: {app: x}}\n";
}

std::string web(const std::string& tag) {
  return deployment("web", {"registry.example.com/web" + tag});
}

std::string kustomization(const std::string& image_entry) {
  return "resources: [base.yaml]\nimages:\n  - name: web\n    newName: registry.example.com/web\n    " +
         image_entry + "\n";
}

const Files k_base = {{"environments/dev/base.yaml", configmap("dev")},
                      {"environments/staging/base.yaml", configmap("staging")},
                      {"environments/prod/base.yaml", configmap("prod")}};

Files apply(Files files, const Files& changes) {
  for (const auto& [path, content] : changes) {
    if (content == k_deleted)
      files.erase(path);
    else
      files[path] = content;
  }
  return files;
}

std::vector<GitItem> items_of(const Files& files) {
  std::vector<GitItem> items;
  for (const auto& [path, content] : files) items.push_back(GitItem{path, content});
  return items;
}

// A commit of `files` on `parents`, committed at `when` (unix seconds; the fixture's fixed date
// when 0) and authored at `authored` (the commit date when 0).
Oid commit_at(const test::GitFixture& fx, const Files& files, const std::vector<Oid>& parents,
              std::int64_t when = 0, std::int64_t authored = 0) {
  std::vector<std::string> args{"commit-tree", fx.tree(items_of(files)).hex(), "-m", "change"};
  for (const auto& p : parents) args.insert(args.end(), {"-p", p.hex()});
  test::EnvVars env;
  if (when) env.emplace_back("GIT_COMMITTER_DATE", std::to_string(when) + " +0000");
  if (authored || when)
    env.emplace_back("GIT_AUTHOR_DATE", std::to_string(authored ? authored : when) + " +0000");
  return test::to_oid(fx.git(args, {}, env));
}

std::vector<policy::Environment> environments(std::int64_t soak_ms = 0, bool require_digest = false) {
  return {{"dev", "environments/dev", false, "", std::nullopt},
          {"staging", "environments/staging", false, "", std::nullopt},
          {"prod", "environments/prod", true, "", policy::Promotion{"staging", soak_ms, require_digest}}};
}

// Identity indexes built from Git into `dir`, as the gate builds a missing one.
class Indexes {
 public:
  Indexes(const git::Repository& repo, const policy::ServerConfig& config, fs::path dir,
          render::Selection selection = {})
      : m_repo(repo), m_config(config), m_dir(std::move(dir)), m_selection(std::move(selection)) {}

  const IdentityIndex* get(const policy::Environment& env, const Oid& tree) {
    if (auto it = m_indexes.find(tree.hex()); it != m_indexes.end()) return &it->second;
    std::vector<IndexRecord> records;
    auto walked = m_repo.walk(tree, "", [&](const std::string& path, const git::TreeEntry& e) {
      auto rs = index_records(m_repo, path, e, env, m_config, nullptr, m_selection);
      records.insert(records.end(), rs.begin(), rs.end());
      return true;
    });
    REQUIRE(walked);
    auto stored = IdentityIndex::store(m_dir, tree, std::move(records));
    INFO((stored ? std::string() : stored.error().describe()));
    REQUIRE(stored);
    auto loaded = IdentityIndex::load(m_dir, tree);
    REQUIRE(loaded);
    return &m_indexes.emplace(tree.hex(), std::move(*loaded)).first->second;
  }

 private:
  const git::Repository& m_repo;
  const policy::ServerConfig& m_config;
  fs::path m_dir;
  render::Selection m_selection;
  std::map<std::string, IdentityIndex> m_indexes;
};

// A push that moved `ref` to `commit`, as post-receive saw it at `time` (the server's clock).
struct Push {
  std::string ref;
  Oid commit;
  std::int64_t time;
};

// The soak ledgers post-receive leaves after `pushes`, in order: staging's images at each new
// tip, tip to tip from the ref's previous ledger (from nothing for a ref's first push).
void record_pushes(const git::Repository& repo, const policy::ServerConfig& config, const fs::path& dir,
                   const std::vector<Push>& pushes) {
  const policy::Environment staging{"staging", "environments/staging", false, "", std::nullopt};
  std::map<std::string, Oid> tips;
  for (const auto& p : pushes) {
    auto tree = repo.commit_tree(p.commit);
    REQUIRE(tree);
    std::vector<std::string> images;
    auto env = repo.entry_at(*tree, staging.path);
    REQUIRE(env);
    if (*env)
      REQUIRE(repo.walk((*env)->oid, "", [&](const std::string& path, const git::TreeEntry& e) {
        for (const auto& rec : index_records(repo, path, e, staging, config, nullptr, {}))
          if (rec.key.starts_with("i\x1f")) images.push_back(rec.key.substr(2));
        return true;
      }));
    std::optional<SoakLedger> previous;
    if (auto it = tips.find(p.ref); it != tips.end())
      previous = load_soak_ledger(dir, p.ref, staging.path, it->second);
    REQUIRE(store_soak_ledger(dir, p.ref, staging.path, p.commit,
                              next_soak_ledger(previous, images, p.commit, p.time)));
    tips[p.ref] = p.commit;
  }
}

// check_promotion for the update `base` -> `tip` of refs/heads/main, with the images of the
// changed files collected as the gate collects them (the render's selection at the base), and
// the soak ledgers `pushes` leave.
std::vector<Finding> promote(const test::GitFixture& fx, const fs::path& index_dir,
                             const std::vector<policy::Environment>& envs, const Oid& base, const Oid& tip,
                             std::int64_t now = k_now, const std::vector<Push>& pushes = {}) {
  const policy::ServerConfig config;
  auto repo = fx.open();
  const fs::path ledger_dir = index_dir / "ledgers";
  record_pushes(repo, config, ledger_dir, pushes);
  auto selection = render::selection_at(repo, base);
  REQUIRE(selection);
  Indexes indexes(repo, config, index_dir, *selection);
  auto old_tree = repo.commit_tree(base);
  auto new_tree = repo.commit_tree(tip);
  REQUIRE(old_tree);
  REQUIRE(new_tree);
  auto subtree = [&](const Oid& tree, const std::string& path) -> std::optional<Oid> {
    auto e = repo.entry_at(tree, path);
    REQUIRE(e);
    if (*e && (*e)->kind == git::EntryKind::tree) return (*e)->oid;
    return std::nullopt;
  };
  std::vector<EnvImages> changes;
  for (const auto& env : envs) {
    auto before = subtree(*old_tree, env.path);
    auto after = subtree(*new_tree, env.path);
    if (before == after) continue;
    EnvImages change{&env, before, {}, std::nullopt};
    REQUIRE(repo.diff(before, after, env.path, [&](const git::Change& c) {
      if (c.after)
        for (auto& image : images_in_blob(repo, c.path, c.after->oid, config))
          change.used.emplace_back(image, c.path);
      return true;
    }));
    changes.push_back(std::move(change));
  }
  std::optional<SoakLedger> ledger;
  PromotionContext ctx{repo,
                       config,
                       envs,
                       base,
                       now,
                       [&](const policy::Environment& e, const Oid& t) { return indexes.get(e, t); },
                       [&](const policy::Environment& e) -> const SoakLedger* {
                         ledger = load_soak_ledger(ledger_dir, "refs/heads/main", e.path, base);
                         return ledger ? &*ledger : nullptr;
                       },
                       "refs/heads/main"};
  return check_promotion(ctx, changes);
}

std::string describe(const std::vector<Finding>& findings) {
  std::string s;
  for (const auto& f : findings)
    s += f.rule + " " + f.file + ":" + std::to_string(f.line) + ":" + std::to_string(f.column) + " " +
         f.message + "\n";
  return s;
}

// Each of `expected` ("rule file|part of the message") names one finding, in order.
void check_findings(const std::vector<Finding>& findings, const std::vector<std::string>& expected) {
  INFO("findings:\n" << describe(findings));
  REQUIRE(findings.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const std::string& e = expected[i];
    auto bar = e.find('|');
    CHECK(findings[i].rule + " " + findings[i].file == e.substr(0, bar));
    if (bar != std::string::npos) CHECK_THAT(findings[i].message, Catch::Contains(e.substr(bar + 1)));
    CHECK(findings[i].level == Level::error);
  }
}

}  // namespace

TEST_CASE("check_promotion: images new in an environment must be in its `from` environment on the target",
          "[promotion]") {
  test::TempDir tmp;
  const std::string prod_web = "environments/prod/web.yaml";
  const std::string not_promoted =
      "promotion.not-promoted environments/prod/web.yaml|image registry.example.com/web:";
  const std::string digest = "promotion.digest-required environments/prod/";
  struct Case {
    const char* name;
    Files target;  // on top of k_base
    Files pushed;
    bool require_digest;
    std::vector<std::string> findings;
  };
  const Case cases[] = {
      {"not promoted",
       {{"environments/staging/web.yaml", web(":1.0")}},
       {{prod_web, web(":2.0")}},
       false,
       {not_promoted + "2.0 is not in staging on the target ref; promote through staging first"}},
      {"promoted", {{"environments/staging/web.yaml", web(":2.0")}}, {{prod_web, web(":2.0")}}, false, {}},
      {"promoted, from another file and app of staging",
       {{"environments/staging/apps/x.yaml", deployment("x", {"registry.example.com/web:2.0"})}},
       {{prod_web, web(":2.0")}},
       false,
       {}},
      {"a tag is not a digest of it",
       {{"environments/staging/web.yaml", web(":2.0")}},
       {{prod_web, web(":2.0@" + k_web_digest)}},
       false,
       {not_promoted + "2.0@sha256:"}},
      {"already in the environment: no promotion needed",
       {{"environments/prod/a.yaml", web(":1.0")}},
       {{"environments/prod/b.yaml", web(":1.0")}},
       false,
       {}},
      {"only the images new to the environment",
       {{"environments/prod/a.yaml", web(":1.0")},
        {"environments/staging/s.yaml", deployment("s", {"sidecar:1"})}},
       {{"environments/prod/b.yaml",
         deployment("b", {"registry.example.com/web:1.0", "sidecar:1", "debug:1"})}},
       false,
       {"promotion.not-promoted environments/prod/b.yaml|image debug:1 is not in staging"}},
      {"two files with the same new image: reported once",
       {},
       {{"environments/prod/a.yaml", web(":3.0")}, {"environments/prod/b.yaml", web(":3.0")}},
       false,
       {"promotion.not-promoted environments/prod/a.yaml|registry.example.com/web:3.0 is not in staging"}},
      {"two new images: two findings",
       {},
       {{"environments/prod/a.yaml", web(":3.0")},
        {"environments/prod/b.yaml", deployment("b", {"api:3.0"})}},
       false,
       {"promotion.not-promoted environments/prod/a.yaml|registry.example.com/web:3.0",
        "promotion.not-promoted environments/prod/b.yaml|image api:3.0"}},
      {"staging in the same push does not count",
       {},
       {{"environments/staging/web.yaml", web(":4.0")}, {prod_web, web(":4.0")}},
       false,
       {not_promoted + "4.0 is not in staging on the target ref"}},
      {"environments without promotion need nothing",
       {},
       {{"environments/dev/web.yaml", web(":5.0")}},
       false,
       {}},
      {"removing an image needs nothing", {{prod_web, web(":1.0")}}, {{prod_web, k_deleted}}, false, {}},
      {"files without images need nothing", {}, {{"environments/prod/c.yaml", configmap("c")}}, false, {}},
      {"requireDigest: a promoted digest",
       {{"environments/staging/web.yaml", web("@" + k_web_digest)}},
       {{prod_web, web("@" + k_web_digest)}},
       true,
       {}},
      {"requireDigest: a promoted tag",
       {{"environments/staging/web.yaml", web(":2.0")}},
       {{prod_web, web(":2.0")}},
       true,
       {digest +
        "web.yaml|image registry.example.com/web:2.0 in environment prod must be pinned by @sha256: digest"}},
      {"requireDigest: every file, promotion once",
       {},
       {{"environments/prod/a.yaml", web(":3.0")}, {"environments/prod/b.yaml", web(":3.0")}},
       true,
       {digest + "a.yaml", "promotion.not-promoted environments/prod/a.yaml", digest + "b.yaml"}},
      {"requireDigest: also images already in the environment",
       {{"environments/prod/a.yaml", web(":1.0")}},
       {{"environments/prod/b.yaml", web(":1.0")}},
       true,
       {digest + "b.yaml"}},
      {"kustomization images change nothing the render runs when no container matches",
       {{"environments/staging/kustomization.yaml", kustomization("digest: " + k_web_digest)}},
       {{"environments/prod/kustomization.yaml", kustomization("newTag: \"2.0\"")}},
       true,
       {}},
      {"an image only in staging's kustomization images: is not in staging",
       {{"environments/staging/kustomization.yaml", kustomization("newTag: \"2.0\"")}},
       {{prod_web, web(":2.0")}},
       false,
       {not_promoted + "2.0 is not in staging on the target ref"}},
      {"an image staging's render runs (its kustomization's images: over a Deployment) is in staging",
       {{"environments/staging/kustomization.yaml",
         "resources: [app.yaml]\nimages:\n  - {name: registry.example.com/web, newTag: \"2.0\"}\n"},
        {"environments/staging/app.yaml", web(":1.0")}},
       {{prod_web, web(":2.0")}},
       false,
       {}},
      {"an image only in a file staging's kustomization does not name is not in staging",
       {{"environments/staging/kustomization.yaml", "resources: [base.yaml]\n"},
        {"environments/staging/web.yaml", web(":2.0")}},
       {{prod_web, web(":2.0")}},
       false,
       {not_promoted + "2.0 is not in staging on the target ref"}},
      {"an image only in a file staging excludes is not in staging",
       {{".portcullis.yaml", "manifests:\n  exclude: ['environments/staging/values.yaml']\n"},
        {"environments/staging/values.yaml", web(":2.0")}},
       {{prod_web, web(":2.0")}},
       false,
       {not_promoted + "2.0 is not in staging on the target ref"}},
      {"a custom resource with a pod template runs images too",
       {{"environments/staging/web.yaml", web(":2.0")}},
       {{"environments/prod/rollout.yaml",
         "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    "
         "spec:\n"
         "      containers:\n        - {name: web, image: registry.example.com/web:3.0}\n"}},
       false,
       {"promotion.not-promoted environments/prod/rollout.yaml|image registry.example.com/web:3.0 is not in "
        "staging"}},
      {"a custom resource in staging counts",
       {{"environments/staging/rollout.yaml",
         "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    "
         "spec:\n"
         "      containers:\n        - {name: web, image: registry.example.com/web:2.0}\n"}},
       {{prod_web, web(":2.0")}},
       false,
       {}},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    const Files target = apply(k_base, c.target);
    const Oid base = commit_at(fx, target, {});
    const Oid tip = commit_at(fx, apply(target, c.pushed), {base});
    auto findings =
        promote(fx, tmp / ("identity-" + std::to_string(n)), environments(0, c.require_digest), base, tip);
    check_findings(findings, c.findings);
  }

  SECTION("findings point at the image") {
    test::GitFixture fx(tmp, "marks");
    const Oid base = commit_at(fx, k_base, {});
    const Oid tip = commit_at(fx, apply(k_base, {{prod_web, web(":9")}}), {base});
    auto findings = promote(fx, tmp / "identity-marks", environments(), base, tip);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].line == 11);
    CHECK(findings[0].column == 18);
  }
}

// An image the environment already runs, in a file the push changes for another reason (more
// replicas), is not new to it: staging has moved on to 2.0 while prod scales 1.0.
TEST_CASE("check_promotion: an image already in the environment, in a file the push changes", "[promotion]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const Files target = apply(
      k_base, {{"environments/staging/web.yaml", web(":2.0")}, {"environments/prod/web.yaml", web(":1.0")}});
  const Oid base = commit_at(fx, target, {});
  const Oid tip = commit_at(
      fx,
      apply(target, {{"environments/prod/web.yaml", deployment("web", {"registry.example.com/web:1.0"}, 3)}}),
      {base});
  check_findings(promote(fx, tmp / "identity", environments(), base, tip), {});
}

TEST_CASE("check_promotion: soak by the Git server's clock, tip to tip on the target ref", "[promotion]") {
  test::TempDir tmp;
  const std::string prod_web = "environments/prod/web.yaml";
  const std::int64_t hour = 3600, day = 24 * hour;
  // A push of the target's history: the staging files it sets, when the server saw it (seconds
  // before k_now), when its commit says it was committed, and the ref it went to.
  struct Step {
    Files staging;
    std::int64_t pushed_ago;
    std::int64_t committed_ago = 0;  // 0: as pushed
    std::string ref = "refs/heads/main";
  };
  struct Case {
    const char* name;
    std::vector<Step> history;  // after a root commit pushed 30 days ago
    std::int64_t soak_ms;
    std::vector<std::string> findings;
  };
  const Files in_staging = {{"environments/staging/web.yaml", web(":2.0")}};
  const std::string soak =
      "promotion.soak environments/prod/web.yaml|image registry.example.com/web:2.0 has been in staging for ";
  const Case cases[] = {
      {"soaked: 3h in staging, 2h required", {{in_staging, 3 * hour}}, 2 * hour * 1000, {}},
      {"too fresh: 10m in staging, 2h required",
       {{in_staging, 600}},
       2 * hour * 1000,
       {soak + "10m (since the push of "}},
      {"exactly the soak", {{in_staging, 2 * hour}}, 2 * hour * 1000, {}},
      {"a second short", {{in_staging, 2 * hour - 1}}, 2 * hour * 1000, {soak + "1h59m (since the push of "}},
      {"the message names what prod requires",
       {{in_staging, 90 * 60}},
       2 * hour * 1000 + 30 * 60 * 1000,
       {soak + "1h30m (since the push of "}},
      {"a commit backdated by 3 days counts from its push",
       {{in_staging, 600, 3 * day}},
       2 * hour * 1000,
       {soak + "10m"}},
      {"a committer date in the future does not matter", {{in_staging, 3 * hour, -day}}, 2 * hour * 1000, {}},
      {"later changes of other staging files do not restart the clock",
       {{in_staging, 3 * hour}, {{{"environments/staging/other.yaml", configmap("other")}}, 600}},
       2 * hour * 1000,
       {}},
      {"later pushes of other environments do not restart the clock",
       {{in_staging, 3 * hour}, {{}, 600}},
       2 * hour * 1000,
       {}},
      {"moved to another file of staging: still there",
       {{in_staging, 3 * hour},
        {{{"environments/staging/web.yaml", k_deleted}, {"environments/staging/web2.yaml", web(":2.0")}},
         600}},
       2 * hour * 1000,
       {}},
      {"removed and brought back: the clock restarts",
       {{in_staging, 3 * day},
        {{{"environments/staging/web.yaml", k_deleted}}, 2 * day},
        {in_staging, 30 * 60}},
       2 * hour * 1000,
       {soak + "30m"}},
      {"days on a side branch, then main: counts from main",
       {{in_staging, 3 * day, 0, "refs/heads/feature"}, {{}, 600}},
       2 * hour * 1000,
       {soak + "10m"}},
      {"no soak: no clock", {{in_staging, 1}}, 0, {}},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    Files files = k_base;
    Oid tip = commit_at(fx, files, {}, k_now - 30 * day);
    std::vector<Push> pushes{{"refs/heads/main", tip, k_now - 30 * day}};
    for (const auto& step : c.history) {
      files = apply(files, step.staging);
      if (step.staging.empty())
        files["environments/dev/churn.yaml"] = configmap("churn-" + std::to_string(pushes.size()));
      tip = commit_at(fx, files, {tip}, k_now - (step.committed_ago ? step.committed_ago : step.pushed_ago));
      pushes.push_back(Push{step.ref, tip, k_now - step.pushed_ago});
    }
    if (pushes.back().ref != "refs/heads/main") pushes.push_back(Push{"refs/heads/main", tip, k_now - 600});
    const Oid pushed = commit_at(fx, apply(files, {{prod_web, web(":2.0")}}), {tip});
    auto findings = promote(fx, tmp / ("identity-" + std::to_string(n)), environments(c.soak_ms), tip, pushed,
                            k_now, pushes);
    check_findings(findings, c.findings);
    const std::map<std::int64_t, std::string> required = {
        {60, "1m"}, {2 * hour, "2h"}, {2 * hour + 1800, "2h30m"}};
    for (const auto& f : findings)
      CHECK_THAT(f.message, Catch::EndsWith("by the Git server's clock); prod requires " +
                                            required.at(c.soak_ms / 1000)));
  }

  SECTION("no record of the target's tip: the soak cannot be shown to have passed") {
    test::GitFixture fx(tmp, "unrecorded");
    const Oid base = commit_at(fx, apply(k_base, in_staging), {}, k_now - 30 * day);
    const Oid pushed = commit_at(fx, apply(apply(k_base, in_staging), {{prod_web, web(":2.0")}}), {base});
    check_findings(
        promote(fx, tmp / "identity-unrecorded", environments(3600 * 1000), base, pushed),
        {"promotion.soak environments/prod/web.yaml|cannot tell how long image registry.example.com/web:2.0 "
         "has been in staging on refs/heads/main: the Git server has no record of its arrival"});
  }
}

TEST_CASE("images_in: the images of pod-bearing kinds, with their marks", "[promotion]") {
  auto pod_spec = [](const std::string& indent) {
    return indent + "initContainers:\n" + indent + "  - {name: init, image: init:1}\n" + indent +
           "containers:\n" + indent + "  - name: app\n" + indent + "    image: app:1\n" + indent +
           "  - name: no-image\n" + indent + "  - name: not-a-string\n" + indent + "    image: {a: b}\n";
  };
  struct Case {
    const char* name;
    const char* path;
    std::string text;
    std::vector<std::string> images;  // "reference line:column"
  };
  const Case cases[] = {
      {"Deployment: init containers first",
       "d.yaml",
       "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n" + pod_spec("      "),
       {"init:1 7:31", "app:1 10:18"}},
      {"Pod, with ephemeral containers last",
       "p.yaml",
       "apiVersion: v1\nkind: Pod\nspec:\n  ephemeralContainers:\n    - {name: dbg, image: busybox}\n" +
           pod_spec("  "),
       {"init:1 7:27", "app:1 10:14", "busybox 5:26"}},
      {"CronJob",
       "c.yaml",
       "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" +
           pod_spec("          "),
       {"init:1 8:35", "app:1 11:22"}},
      {"Job, StatefulSet, DaemonSet, ReplicaSet, ReplicationController and PodTemplate",
       "m.yaml",
       "kind: Job\nspec: {template: {spec: {containers: [{name: a, image: job:1}]}}}\n---\n"
       "kind: StatefulSet\nspec: {template: {spec: {containers: [{name: a, image: sts:1}]}}}\n---\n"
       "kind: DaemonSet\nspec: {template: {spec: {containers: [{name: a, image: ds:1}]}}}\n---\n"
       "kind: ReplicaSet\nspec: {template: {spec: {containers: [{name: a, image: rs:1}]}}}\n---\n"
       "kind: ReplicationController\nspec: {template: {spec: {containers: [{name: a, image: rc:1}]}}}\n---\n"
       "kind: PodTemplate\ntemplate: {spec: {containers: [{name: a, image: pt:1}]}}\n",
       {"job:1 2:56", "sts:1 5:56", "ds:1 8:56", "rs:1 11:56", "rc:1 14:56", "pt:1 17:49"}},
      {"a List's items",
       "l.yaml",
       "apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    spec: {containers: [{name: a, image: "
       "one:1}]}\n"
       "  - kind: Pod\n    spec: {containers: [{name: a, image: two:1}]}\n",
       {"one:1 5:42", "two:1 7:42"}},
      {"no container list: nothing",
       "cm.yaml",
       "apiVersion: v1\nkind: ConfigMap\ndata: {image: nope:1}\n",
       {}},
      {"container lists are found by shape, in any kind",
       "cr.yaml",
       "apiVersion: example.com/v1\nkind: Anything\nspec: {deep: {containers: [{image: x}]}}\n",
       {"x 3:36"}},
      {"not in metadata or status",
       "cr.yaml",
       "kind: Pod\nmetadata: {annotations: {containers: x}}\nstatus: {containers: [{image: y}]}\n",
       {}},
  };
  for (const auto& c : cases) {
    INFO(c.name << "\n" << c.text);
    auto stream = yaml::parse_yaml(c.text);
    REQUIRE(stream);
    std::vector<std::string> images;
    for (const auto& i : images_in(*stream, ImageReading::runs))
      images.push_back(i.reference + " " + std::to_string(i.line) + ":" + std::to_string(i.column));
    CHECK(images == c.images);
  }

  SECTION("kustomization_images reads the entries of the kustomization it is given") {
    auto stream = yaml::parse_yaml(kustomization("newTag: \"2.0\""));
    REQUIRE(stream);
    auto images = manifest::kustomization_images(*stream->documents[0].root);
    REQUIRE(images.size() == 1);
    CHECK(images[0].reference == "registry.example.com/web:2.0");
    CHECK(images[0].node->mark.line == 3);
  }
}

TEST_CASE("soak ledgers: tip to tip by the server's clock, per ref; damaged ones not loaded", "[promotion]") {
  test::TempDir tmp;
  const Oid first = *Oid::from_hex(std::string(40, '1'));
  const Oid second = *Oid::from_hex(std::string(40, '2'));
  const SoakLedger at_first = next_soak_ledger(std::nullopt, {"web:2", "api:1"}, first, 1000);
  CHECK(at_first.at("web:2").time == 1000);
  CHECK(at_first.at("web:2").commit == first);
  // Kept where both tips have it, new ones now, gone ones forgotten.
  const SoakLedger at_second = next_soak_ledger(at_first, {"web:2", "db:7"}, second, 5000);
  CHECK(at_second.size() == 2);
  CHECK(at_second.at("web:2").time == 1000);
  CHECK(at_second.at("web:2").commit == first);
  CHECK(at_second.at("db:7").time == 5000);
  CHECK(at_second.at("db:7").commit == second);
  // Without the previous ledger everything arrives now: the soak restarts, never shortens.
  CHECK(next_soak_ledger(std::nullopt, {"web:2"}, second, 5000).at("web:2").time == 5000);

  const fs::path dir = tmp / "ledgers";
  REQUIRE(store_soak_ledger(dir, "refs/heads/main", "environments/staging", second, at_second));
  auto loaded = load_soak_ledger(dir, "refs/heads/main", "environments/staging", second);
  REQUIRE(loaded);
  CHECK(loaded->size() == 2);
  CHECK(loaded->at("web:2").time == 1000);
  CHECK(loaded->at("web:2").commit == first);
  CHECK_FALSE(load_soak_ledger(dir, "refs/heads/feature", "environments/staging", second));  // per ref
  CHECK_FALSE(load_soak_ledger(dir, "refs/heads/main", "environments/prod", second));
  CHECK_FALSE(load_soak_ledger(dir, "refs/heads/main", "environments/staging", first));

  const fs::path file =
      dir / "soak" / "refs%2Fheads%2Fmain" / "environments%2Fstaging" / (second.hex() + ".soak");
  REQUIRE(fs::exists(file));
  for (const std::string& damaged :
       {std::string("PCSOAK2\napi:1\tnot-an-oid\t1\n"), "PCSOAK2\napi:1\t" + second.hex() + "\t12x\n",
        "PCSOAK2\napi:1\t" + second.hex() + "\t1\ta\n", "PCSOAK1\napi:1\t" + second.hex() + "\t1\ta\n",
        "PCSOAK2\napi:1\t" + second.hex() + "\t99999999999999999999\n", std::string()}) {
    INFO(damaged);
    { std::ofstream(file, std::ios::trunc) << damaged; }
    CHECK_FALSE(load_soak_ledger(dir, "refs/heads/main", "environments/staging", second));
  }
}
