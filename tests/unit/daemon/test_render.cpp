#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "daemon/render.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/process.hpp"
#include "tests/unit/support/sops.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::daemon;
using test::GitItem;

namespace {

const char* k_app = R"(# two objects and an empty document
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: "fast"
  retries: "3"
---
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  paused: false
)";

const char* k_list = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: from-list, namespace: shop}
- apiVersion: v1
  kind: Secret
  metadata: {name: creds}
  stringData: {token: x}
)";

const char* k_service_json = R"({
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {"name": "web", "labels": {"app": "web"}},
  "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}}
}
)";

const std::string k_sops = "apiVersion: v1\nkind: Secret\nmetadata: {name: encrypted}\ndata: {token: \"" +
                           test::k_sops_value + "\"}\n" + test::k_sops_stanza +
                           "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: beside-sops}\n";

const char* k_kustomization = R"(apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
metadata: {name: not-an-object}
resources: [app.yaml]
)";

// The environment of a target, with files every render must skip.
std::vector<GitItem> environment() {
  return {
      {"env/app.yaml", k_app},
      {"env/list.yaml", k_list},
      {"env/svc.json", k_service_json},
      {"env/nested/deep/job.yml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\n"},
      {"env/run.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: runner}\n", "100755"},
      {"env/secret.enc.yaml", k_sops},
      {"env/kustomization.yaml", k_kustomization},
      {"env/overlay/kustomization.yml", k_kustomization},
      {"env/overlay/Kustomization", k_kustomization},
      {"env/README.md", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: readme}\n"},
      {"env/values.txt", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: txt}\n"},
      {"env/link.yaml", "app.yaml", "120000"},
      {"other/outside.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n"},
  };
}

// The tree of the target directory `dir` in a commit of `items`.
git::Oid target_tree(const test::GitFixture& fx, const std::vector<GitItem>& items,
                     const std::string& dir = "env") {
  auto repo = fx.open();
  auto e = repo.entry_at(fx.tree(items), dir);
  REQUIRE(e);
  REQUIRE(*e);
  REQUIRE((*e)->kind == git::EntryKind::tree);
  return (*e)->oid;
}

std::vector<std::string> paths_of(const std::vector<FileRef>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  std::sort(out.begin(), out.end());
  return out;
}

// Renders the manifest files of `tree`; REQUIREs success.
Rendered render_ok(const git::Repository& repo, const git::Oid& tree) {
  auto files = manifest_files(repo, tree, "", {});
  REQUIRE(files);
  auto r = render_files(repo, *files);
  INFO((r ? std::string() : r.error().describe()));
  REQUIRE(r);
  return std::move(*r);
}

// Renders a target whose only file is `path` with `content`.
util::Result<Rendered> render_one(const test::TempDir& tmp, const std::string& path,
                                  const std::string& content) {
  test::GitFixture fx(tmp, "one-" + std::to_string(std::hash<std::string>{}(path + content)));
  auto repo = fx.open();
  auto tree = target_tree(fx, {{"env/" + path, content}});
  auto files = manifest_files(repo, tree, "", {});
  REQUIRE(files);
  return render_files(repo, *files);
}

const DesiredObject& find(const Rendered& r, const std::string& kind, const std::string& name) {
  auto it = std::find_if(r.objects.begin(), r.objects.end(),
                         [&](const DesiredObject& o) { return o.kind == kind && o.name == name; });
  INFO(kind << " " << name);
  REQUIRE(it != r.objects.end());
  return *it;
}

// SHA-256 of `data` as the real sha256sum computes it.
std::string sha256sum(const test::TempDir& tmp, const std::string& data) {
  auto r = test::run_process({"sha256sum"}, tmp.path(), data);
  REQUIRE(r.status == 0);
  REQUIRE(r.out.size() >= 64);
  return r.out.substr(0, 64);
}

}  // namespace

TEST_CASE("manifest_files lists YAML and JSON files below the tree, nothing else", "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto repo = fx.open();
  auto files = manifest_files(repo, target_tree(fx, environment()), "", {});
  REQUIRE(files);
  CHECK(paths_of(*files) == std::vector<std::string>{"app.yaml", "list.yaml", "nested/deep/job.yml",
                                                     "run.yaml", "secret.enc.yaml", "svc.json"});
  // Each entry names the blob of its file.
  for (const auto& f : *files) {
    INFO(f.path);
    auto blob = repo.read_blob(f.blob, 1 << 20);
    REQUIRE(blob);
    CHECK_FALSE(blob->empty());
  }

  auto empty = manifest_files(repo, fx.tree({}), "", {});
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("render_files expands documents, Lists and JSON into objects", "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto repo = fx.open();
  Rendered r = render_ok(repo, target_tree(fx, environment()));

  struct Expected {
    const char* api_version;
    const char* kind;
    const char* namespace_;
    const char* name;
    const char* path;
  };
  const std::vector<Expected> expected{
      {"v1", "ConfigMap", "shop", "settings", "app.yaml"},
      {"apps/v1", "Deployment", "", "web", "app.yaml"},
      {"v1", "ConfigMap", "shop", "from-list", "list.yaml"},
      {"v1", "Secret", "", "creds", "list.yaml"},
      {"batch/v1", "Job", "", "migrate", "nested/deep/job.yml"},
      {"v1", "ServiceAccount", "", "runner", "run.yaml"},
      {"v1", "ConfigMap", "", "beside-sops", "secret.enc.yaml"},
      {"v1", "Service", "", "web", "svc.json"},
  };
  std::vector<std::string> got, want;
  for (const auto& o : r.objects)
    got.push_back(o.path + " " + o.api_version + " " + o.kind + " " + o.namespace_ + "/" + o.name);
  for (const auto& e : expected)
    want.push_back(std::string(e.path) + " " + e.api_version + " " + e.kind + " " + e.namespace_ + "/" +
                   e.name);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  CHECK(got == want);

  // Documents of one file keep their order.
  std::vector<std::string> app;
  for (const auto& o : r.objects)
    if (o.path == "app.yaml") app.push_back(o.kind);
  CHECK(app == std::vector<std::string>{"ConfigMap", "Deployment"});

  // The SOPS document is skipped with a warning naming its file; the rest of the file is kept.
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::StartsWith("secret.enc.yaml:") && Catch::Contains("SOPS"));
  for (const auto& o : r.objects) CHECK(o.name != "encrypted");
}

TEST_CASE("bodies are compact JSON as written and hashes are their SHA-256", "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto repo = fx.open();
  Rendered r = render_ok(repo, target_tree(fx, environment()));

  CHECK(find(r, "ConfigMap", "settings").body ==
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"shop"},)"
        R"("data":{"mode":"fast","retries":"3"}})");
  CHECK(
      find(r, "Deployment", "web").body ==
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,"paused":false}})");
  // A List item is the item alone.
  CHECK(find(r, "Secret", "creds").body ==
        R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds"},"stringData":{"token":"x"}})");
  CHECK(find(r, "Service", "web").body ==
        R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"app":"web"}},)"
        R"("spec":{"ports":[{"port":80,"targetPort":8080}],"selector":{"app":"web"}}})");

  for (const auto& o : r.objects) {
    INFO(o.path << " " << o.kind << " " << o.name);
    CHECK(o.body.find('\n') == std::string::npos);
    auto parsed = yaml::parse_json(o.body);
    CHECK(parsed);
    CHECK(o.hash == sha256sum(tmp, o.body));
  }
}

TEST_CASE("hashes are stable across renders and change with the content", "[render]") {
  test::TempDir tmp;
  test::GitFixture a(tmp, "a");
  test::GitFixture b(tmp, "b");
  const std::string cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n";
  auto render_cm = [&](const test::GitFixture& fx, const std::string& content) {
    auto repo = fx.open();
    Rendered r = render_ok(repo, target_tree(fx, {{"env/c.yaml", content}}));
    REQUIRE(r.objects.size() == 1);
    return r.objects[0];
  };
  DesiredObject first = render_cm(a, cm);
  CHECK(render_cm(a, cm).hash == first.hash);  // the same render again
  CHECK(render_cm(b, cm).hash == first.hash);  // another repository, the same content
  CHECK(first.hash.size() == 64);

  // Formatting and comments do not change what is applied.
  DesiredObject reformatted = render_cm(
      b, "# comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c   # trailing\ndata:\n  k: 'v'\n");
  CHECK(reformatted.body == first.body);
  CHECK(reformatted.hash == first.hash);

  // Any change of content does.
  DesiredObject changed =
      render_cm(b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: w}\n");
  CHECK(changed.hash != first.hash);
  DesiredObject reordered =
      render_cm(b, "kind: ConfigMap\napiVersion: v1\nmetadata: {name: c}\ndata: {k: v}\n");
  CHECK(reordered.hash != first.hash);  // key order is kept as written
}

TEST_CASE("numbers in bodies are written as kubectl sends them", "[render]") {
  // kubectl converts YAML to JSON through Go's encoding/json: the shortest decimal that reads
  // back as the same double. resource.Quantity parses the JSON number's text, so `cpu: 0.1`
  // must arrive as 0.1 (100m), not 0.10000000000000001 (rounded up to 100000001n).
  test::TempDir tmp;
  auto r = render_one(tmp, "pod.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    resources:
      requests: {cpu: 0.1, memory: 1.5e9}
      limits: {cpu: 0.25, ratio: 0.3}
)");
  REQUIRE(r);
  REQUIRE(r->objects.size() == 1);
  CHECK(r->objects[0].body ==
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c",)"
        R"("resources":{"requests":{"cpu":0.1,"memory":1500000000},"limits":{"cpu":0.25,"ratio":0.3}}}]}})");
}

TEST_CASE("a file that does not parse fails the whole render with its path and line", "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto repo = fx.open();
  struct Case {
    const char* name;
    const char* path;
    const char* content;
    std::uint32_t line;
    const char* rule;
  };
  const Case cases[] = {
      {"YAML syntax", "z/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\ndata: {}\n", 4,
       "yaml.syntax"},
      {"YAML duplicate key", "bad.yml",
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nkind: Secret\n", 4, "yaml.duplicate-key"},
      {"JSON syntax", "bad.json",
       "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\"\n  \"metadata\": {}\n}\n", 4, "yaml.syntax"},
      {"YAML in a .json file", "yaml.json", "apiVersion: v1\nkind: ConfigMap\n", 1, "yaml.syntax"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto items = environment();
    items.push_back({std::string("env/") + c.path, c.content});
    auto tree = target_tree(fx, items);
    auto files = manifest_files(repo, tree, "", {});
    REQUIRE(files);
    REQUIRE(files->size() == 7);
    auto r = render_files(repo, *files);
    REQUIRE_FALSE(r);  // no partial result: the other six files rendered fine
    INFO(r.error().describe());
    CHECK(r.error().file == c.path);
    CHECK(r.error().line == c.line);
    CHECK(r.error().rule == c.rule);
  }
}

TEST_CASE("documents that are not objects, or objects without identity, fail the render", "[render]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    const char* path;
    const char* content;
  };
  const Case cases[] = {
      {"no name", "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: shop}\n"},
      {"no metadata", "a.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: {}\n"},
      {"empty name", "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n"},
      {"name not a string", "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x]}\n"},
      {"no kind", "sub/a.yaml", "apiVersion: v1\nmetadata: {name: x}\n"},
      {"no apiVersion", "a.json", R"({"kind": "ConfigMap", "metadata": {"name": "x"}})"},
      {"second document without name", "a.yaml",
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: "
       "{}\n"},
      {"List item without name", "list.yaml",
       "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: ok}}\n"
       "- {apiVersion: v1, kind: ConfigMap}\n"},
      {"List item not a mapping", "list.yaml", "apiVersion: v1\nkind: List\nitems:\n- just a string\n"},
      {"document is a list", "a.yaml", "- apiVersion: v1\n- kind: ConfigMap\n"},
      {"document is a scalar", "a.yaml", "hello\n"},
      {"JSON array", "a.json", "[]"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = render_one(tmp, c.path, c.content);
    REQUIRE_FALSE(r);
    INFO(r.error().describe());
    CHECK_THAT(r.error().describe(), Catch::Contains(c.path));
  }
}

TEST_CASE("empty files and comment-only files declare nothing", "[render]") {
  test::TempDir tmp;
  for (const char* content : {"", "# nothing yet\n", "---\n---\n"}) {
    INFO("'" << content << "'");
    auto r = render_one(tmp, "empty.yaml", content);
    INFO((r ? std::string() : r.error().describe()));
    REQUIRE(r);
    CHECK(r->objects.empty());
    CHECK(r->warnings.empty());
  }
}

TEST_CASE("a render on several threads is the serial render: same objects, order, warnings and error",
          "[render]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp, "threads");
  auto repo = fx.open();
  // More files than several chunks of the threaded render (64), several objects in some, SOPS
  // warnings among them.
  std::vector<GitItem> items;
  std::vector<std::string> expected;  // "path kind name" of every object, in file order
  for (int i = 0; i < 700; ++i) {
    char dir[16];
    std::snprintf(dir, sizeof dir, "%03d", i);
    std::string name = "app-" + std::to_string(i), path = std::string(dir) + "/app.yaml";
    std::string content = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {i: \"" +
                          std::to_string(i) + "\"}\n";
    if (i % 7 == 0) content += "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + "}\n";
    if (i % 100 == 3) {
      content = k_sops;  // its Secret skipped, the ConfigMap beside it kept
      expected.push_back(path + " ConfigMap beside-sops");
    } else {
      expected.push_back(path + " ConfigMap " + name);
      if (i % 7 == 0) expected.push_back(path + " Deployment " + name);
    }
    items.push_back({"env/" + path, content});
  }
  auto tree = target_tree(fx, items);
  auto files = manifest_files(repo, tree, "", {});
  REQUIRE(files);
  REQUIRE(files->size() == 700);
  auto serial = render_files(repo, *files, 1);
  REQUIRE(serial);
  CHECK(serial->warnings.size() == 7);
  std::vector<std::string> got;
  for (const auto& o : serial->objects) got.push_back(o.path + " " + o.kind + " " + o.name);
  CHECK(got == expected);
  for (std::size_t threads : {2u, 3u, 8u}) {
    INFO(threads << " threads");
    auto r = render_files(repo, *files, threads);
    REQUIRE(r);
    REQUIRE(r->objects.size() == serial->objects.size());
    for (std::size_t i = 0; i < r->objects.size(); ++i) {
      const auto &a = r->objects[i], &b = serial->objects[i];
      REQUIRE(a.path == b.path);
      CHECK(a.kind == b.kind);
      CHECK(a.name == b.name);
      CHECK(a.body == b.body);
      CHECK(a.hash == b.hash);
    }
    CHECK(r->warnings == serial->warnings);
  }

  // Broken files in two chunks: the first in file order is the one reported, however the
  // threads happen to reach them.
  items[600].content = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n";  // syntax
  items[300].content = "apiVersion: v1\nkind: ConfigMap\ndata: {}\n";            // no name
  auto broken = manifest_files(repo, target_tree(fx, items), "", {});
  REQUIRE(broken);
  for (std::size_t threads : {1u, 2u, 8u}) {
    INFO(threads << " threads");
    auto r = render_files(repo, *broken, threads);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("300/app.yaml"));
  }

  // A blob that cannot be read takes its place in file order too: 320 is read while the
  // chunk of 256-319 is parsed, where 300 is broken; then 320 before 330, broken, in its own
  // chunk (whose reading stops at 320).
  auto absent = git::Oid::from_hex(std::string(40, '7'));
  REQUIRE(absent);
  auto after_broken = *broken;  // 300 (no name), 600 (syntax)
  after_broken[320].blob = *absent;
  items[300].content = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fixed}\n";
  items[330].content = "apiVersion: v1\nkind: ConfigMap\ndata: {}\n";        // no name
  auto broken_later = manifest_files(repo, target_tree(fx, items), "", {});  // 330, 600
  REQUIRE(broken_later);
  auto before_broken = *broken_later;
  before_broken[320].blob = *absent;
  for (std::size_t threads : {1u, 2u, 8u}) {
    INFO(threads << " threads");
    auto r = render_files(repo, after_broken, threads);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("300/app.yaml"));
    r = render_files(repo, *broken_later, threads);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("330/app.yaml"));
    r = render_files(repo, before_broken, threads);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("320/app.yaml"));
  }
}
