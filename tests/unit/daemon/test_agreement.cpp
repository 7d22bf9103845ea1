// The gate and the daemon agree on exactly what an environment applies: the objects the gate's
// content checks judged for the daemon (hooks/content) are the objects the daemon renders and
// applies (daemon/render), on a tree with every kind of file. Both go through the one render
// (shared/render); this test links the gate's library to hold them side by side.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "daemon/render.hpp"
#include "hooks/content.hpp"
#include "hooks/index_cache.hpp"
#include "hooks/update.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/sops.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using test::GitItem;

namespace {

const std::string k_env = "environments/prod";

std::string cm(const std::string& name) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n";
}

// Every kind of file an environment can hold.
std::vector<GitItem> every_kind_of_file() {
  const std::string e = k_env + "/";
  return {
      {".portcullis.yaml", "manifests:\n  exclude: ['environments/**/values.yaml', '**/skip/**']\n"},
      {e + "multi.yaml",
       "---\n" + cm("first") +
           "---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"},
      {e + "short.yml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n"},
      {e + "data.json", R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-json"}})"},
      {e + "list.yaml", "apiVersion: v1\nkind: List\nitems:\n- " +
                            std::string("{apiVersion: v1, kind: ConfigMap, metadata: {name: item-1}}") +
                            "\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: item-2}}\n"},
      {e + "typed-list.yaml",
       "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- {apiVersion: apps/v1, kind: Deployment, "
       "metadata: {name: listed}}\n"},
      {e + "not-a-list.yaml",
       "apiVersion: example.com/v1\nkind: Checklist\nmetadata: {name: todo}\nitems: [a, b]\n"},
      {e + "sealed.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: sealed}\ndata: {k: '" +
                              test::k_sops_value + "'}\n" + test::k_sops_stanza + "---\n" +
                              cm("beside-sops")},
      {e + "fake-sops.yaml",
       "apiVersion: v1\nkind: Secret\nmetadata: {name: fake}\ndata: {k: aHVudGVyMg==}\nsops: {mac: x}\n"},
      {e + "nested/kustomization.yaml", "resources: [../multi.yaml]\n"},
      {e + "sub/Kustomization", "resources: []\n"},
      {e + "values.yaml", cm("excluded-values")},
      {e + "sub/values.yaml", cm("excluded-deep-values")},
      {e + "skip/x.yaml", cm("excluded-dir")},
      {e + "README.md", cm("readme")},
      {e + "notes.txt", cm("notes")},
      {e + "UPPER.YAML", cm("upper")},
      {e + "empty.yaml", ""},
      {e + "comments.yaml", "# nothing here\n"},
      {e + ".hidden.yaml", cm("hidden")},
      {e + "sub/dir/deep.yaml", cm("deep")},
      {e + "dir.yaml/inner.yaml", cm("inner")},
      {e + "run.yaml", cm("executable"), "100755"},
      {e + "link.yaml", "multi.yaml", "120000"},
      {"environments/dev/other.yaml", cm("other-environment")},
      {"base/outside.yaml", cm("outside")},
  };
}

// The gate's judgement of a new branch at `commit`: every environment judged in full.
hooks::ContentResult judge_new_branch(const git::Repository& repo, const git::Oid& commit, const test::TempDir& tmp) {
  policy::ServerConfig config;
  hooks::Deadline deadline(std::chrono::minutes(1));
  hooks::IndexCache indexes(repo, config, nullptr, tmp / "index", deadline);
  hooks::ContentContext ctx{repo, config, nullptr, deadline, indexes};
  const hooks::RefUpdate raw{git::Oid{}, commit, "refs/heads/feature"};
  const hooks::Update update = hooks::describe_update(repo, config, raw);
  REQUIRE(update.problem.empty());
  return hooks::check_content(ctx, update);
}

}  // namespace

TEST_CASE("the gate judges exactly the objects the daemon applies, on a tree with every kind of file",
          "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const git::Oid commit = fx.commit(every_kind_of_file());
  fx.set_ref("refs/heads/main", commit);
  auto repo = fx.open();

  hooks::ContentResult judged = judge_new_branch(repo, commit, tmp);
  std::vector<std::string> gate;
  for (const auto& a : judged.applied)
    if (a.starts_with(k_env + "/")) gate.push_back(a.substr(k_env.size() + 1));

  // The daemon: the target's directory rendered at `commit`.
  auto tree = repo.commit_tree(commit);
  REQUIRE(tree);
  auto dir = repo.entry_at(*tree, k_env);
  REQUIRE(dir);
  REQUIRE(*dir);
  auto selection = render::selection_at(repo, commit);
  REQUIRE(selection);
  auto files = daemon::manifest_files(repo, (*dir)->oid, k_env, *selection);
  REQUIRE(files);
  auto rendered = daemon::render_files(repo, *files);
  INFO((rendered ? std::string() : rendered.error().describe()));
  REQUIRE(rendered);
  std::vector<std::string> daemon;
  for (const auto& o : rendered->objects) {
    manifest::Identity id{std::string(manifest::group_of(o.api_version)), o.kind, o.namespace_, o.name};
    daemon.push_back(o.path + ": " + id.describe());
  }

  std::sort(gate.begin(), gate.end());
  std::sort(daemon.begin(), daemon.end());
  CHECK(gate == daemon);
  // And what that is: encrypted, excluded, kustomization, symlinked and non-YAML files apply nothing.
  const std::vector<std::string> expected = {
      "data.json: ConfigMap from-json",
      "dir.yaml/inner.yaml: ConfigMap inner",
      "fake-sops.yaml: Secret fake",
      "list.yaml: ConfigMap item-1",
      "list.yaml: ConfigMap item-2",
      "multi.yaml: ConfigMap first",
      "multi.yaml: apps/Deployment shop/web",
      "not-a-list.yaml: example.com/Checklist todo",
      "run.yaml: ConfigMap executable",
      "sealed.yaml: ConfigMap beside-sops",
      "short.yml: Service svc",
      "sub/dir/deep.yaml: ConfigMap deep",
      "typed-list.yaml: apps/Deployment listed",
      ".hidden.yaml: ConfigMap hidden",
  };
  std::vector<std::string> sorted_expected = expected;
  std::sort(sorted_expected.begin(), sorted_expected.end());
  CHECK(daemon == sorted_expected);
  // The gate refuses what must not reach the cluster: the symlink, the made-up sops stanza and
  // the plaintext it hides.
  std::vector<std::string> rules;
  for (const auto& f : judged.findings) rules.push_back(f.rule + " " + f.file);
  std::sort(rules.begin(), rules.end());
  CHECK(rules == std::vector<std::string>{"content.plaintext-secret " + k_env + "/fake-sops.yaml",
                                          "content.sops-invalid " + k_env + "/fake-sops.yaml",
                                          "file.symlink " + k_env + "/link.yaml"});
}

TEST_CASE("the gate judges exactly the objects the daemon applies, for an environment kustomize renders",
          "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const std::string e = k_env + "/";
  const git::Oid commit = fx.commit({
      {"base/kustomization.yaml", "resources: [app.yaml, svc.yaml]\n"},
      {"base/app.yaml",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n"
       "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: web, image: "
       "registry.example/web:1.0}\n"},
      {"base/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"},
      {"base/unused.yaml", cm("not-in-any-kustomization")},
      {e + "kustomization.yaml",
       "namespace: shop\nnamePrefix: prod-\nresources: [../../base, extra.yaml]\npatches: [{path: patch.yaml}]\n"
       "images: [{name: registry.example/web, newTag: '2.0'}]\n"
       "configMapGenerator: [{name: settings, literals: [mode=prod]}]\n"},
      {e + "patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"},
      {e + "extra.yaml", cm("extra")},
      {e + "stray.yaml", cm("not-in-the-kustomization")},
      {e + "sealed.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: sealed}\ndata: {k: '" +
                              test::k_sops_value + "'}\n" + test::k_sops_stanza},
  });
  fx.set_ref("refs/heads/main", commit);
  auto repo = fx.open();

  hooks::ContentResult judged = judge_new_branch(repo, commit, tmp);
  std::vector<std::string> gate = judged.applied;

  auto tree = repo.commit_tree(commit);
  REQUIRE(tree);
  auto rendered = daemon::render_kustomized(repo, *tree, k_env);
  INFO((rendered ? std::string() : rendered.error().describe()));
  REQUIRE(rendered);
  std::vector<std::string> daemon;
  for (const auto& o : rendered->rendered.objects) {
    manifest::Identity id{std::string(manifest::group_of(o.api_version)), o.kind, o.namespace_, o.name};
    // The daemon names origins relative to the target's directory.
    std::string path = o.path.starts_with("../../") ? o.path.substr(6) : e + o.path;
    daemon.push_back(path + ": " + id.describe());
  }
  std::sort(gate.begin(), gate.end());
  std::sort(daemon.begin(), daemon.end());
  CHECK(gate == daemon);
  // The build's objects, nothing else of the directory (the stray file, the patch), and the
  // generated ConfigMap at the kustomization that generates it.
  CHECK(daemon == std::vector<std::string>{
                      "base/app.yaml: apps/Deployment shop/prod-web",
                      "base/svc.yaml: Service shop/prod-web",
                      e + "extra.yaml: ConfigMap shop/prod-extra",
                      e + "kustomization.yaml: ConfigMap shop/prod-settings-" +
                          daemon[3].substr(daemon[3].rfind('-') + 1),
                  });
  CHECK(rendered->rendered.objects.size() == 4);
  // What the daemon applies carries the overlay's changes.
  bool patched = false;
  for (const auto& o : rendered->rendered.objects)
    if (o.kind == "Deployment")
      patched = o.body.find("\"replicas\":3") != std::string::npos &&
                o.body.find("registry.example/web:2.0") != std::string::npos;
  CHECK(patched);
  // The inputs: the files of both kustomizations, not the unused base file.
  const auto& read = rendered->files_read;
  CHECK(std::find(read.begin(), read.end(), "base/app.yaml") != read.end());
  CHECK(std::find(read.begin(), read.end(), e + "patch.yaml") != read.end());
  CHECK(std::find(read.begin(), read.end(), "base/unused.yaml") == read.end());
}
