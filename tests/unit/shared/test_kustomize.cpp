#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "shared/kustomize/kustomize.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

fs::path conformance_dir() { return fs::path(PORTCULLIS_CONFORMANCE_DIR) / "kustomize"; }
fs::path known_failures_file() { return fs::path(PORTCULLIS_KUSTOMIZE_KNOWN_FAILURES); }

// The objects of a YAML stream as canonical JSON (sorted keys), in order.
std::vector<std::string> canonical_documents(std::string_view text) {
  std::vector<std::string> out;
  auto stream = yaml::parse_yaml(text);
  if (!stream) return {"<unparsable: " + stream.error().describe() + ">"};
  for (const auto& d : stream->documents)
    if (d.root && d.root->type != yaml::Type::null) out.push_back(yaml::canonical_json(*d.root));
  return out;
}

std::vector<std::string> canonical_objects(const kustomize::Output& output) {
  std::vector<std::string> out;
  for (const auto& o : output.objects) out.push_back(yaml::canonical_json(*o.node));
  return out;
}

// Features of a case, from the keys of its kustomization files (as the README counts them).
std::string feature_of(const fs::path& input) {
  static const std::vector<std::pair<std::string, std::string>> k_features = {
      {"transformers:", "transformers/generators/validators"}, {"generators:", "transformers/generators/validators"},
      {"validators:", "transformers/generators/validators"},   {"configurations:", "configurations"},
      {"crds:", "crds/openapi"},                               {"openapi:", "crds/openapi"},
      {"buildMetadata:", "buildMetadata"},                     {"vars:", "vars/replacements"},
      {"replacements:", "vars/replacements"},                  {"sortOptions:", "sortOptions"},
      {"patchesJson6902:", "patches: JSON6902"},               {"Generator:", "generators"},
      {"images:", "images"},                                   {"replicas:", "replicas"},
      {"patches:", "patches"},                                 {"patchesStrategicMerge:", "patches: strategic merge"},
      {"commonLabels:", "labels/annotations"},                 {"labels:", "labels/annotations"},
      {"commonAnnotations:", "labels/annotations"},            {"components:", "components"},
      {"namePrefix:", "namePrefix/nameSuffix"},                {"nameSuffix:", "namePrefix/nameSuffix"},
      {"namespace:", "namespace"},
  };
  std::string all;
  for (const auto& e : fs::recursive_directory_iterator(input)) {
    auto name = e.path().filename().string();
    if (name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization")
      all += slurp(e.path());
  }
  for (const auto& [key, feature] : k_features)
    if (all.find("\n" + key) != std::string::npos) return feature;
  return "resources";
}

std::set<std::string> read_known_failures() {
  std::set<std::string> out;
  std::istringstream in(slurp(known_failures_file()));
  std::string line;
  while (std::getline(in, line)) {
    line = trimmed(line);
    if (!line.empty() && line[0] != '#') out.insert(line);
  }
  return out;
}

}  // namespace

TEST_CASE("kustomize conformance: every case builds like kubectl kustomize", "[kustomize][conformance]") {
  const auto known = read_known_failures();
  std::map<std::string, std::vector<std::string>> failing_by_feature;
  std::vector<std::string> regressions, now_passing;
  int passed = 0, total = 0, errors_passed = 0, errors_total = 0;
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(conformance_dir()))
    if (e.is_directory() && e.path().filename() != "errors") cases.push_back(e.path());
  for (const auto& e : fs::directory_iterator(conformance_dir() / "errors"))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() == 206);
  for (const auto& dir : cases) {
    bool is_error = dir.parent_path().filename() == "errors";
    std::string name = (is_error ? "errors/" : "") + dir.filename().string();
    std::string run = trimmed(slurp(dir / "run"));
    kustomize::DiskSource source(dir / "input");
    auto built = kustomize::build(source, run == "." ? "" : run);
    bool ok = false;
    std::string why;
    if (is_error) {
      ++errors_total;
      if (built) {
        why = "built, but must fail";
      } else {
        ok = true;
        std::istringstream lines(slurp(dir / "expected_error.txt"));
        std::string want;
        while (std::getline(lines, want)) {
          want = trimmed(want);
          if (!want.empty() && built.error().message.find(want) == std::string::npos) {
            ok = false;
            why = "error '" + built.error().describe() + "' lacks '" + want + "'";
          }
        }
        if (built.error().rule.empty()) {
          ok = false;
          why = "error without a rule id";
        }
      }
      if (ok) ++errors_passed;
    } else {
      ++total;
      if (!built) {
        why = built.error().describe() + " [" + built.error().rule + "]";
      } else {
        auto want = canonical_documents(slurp(dir / "expected.yaml"));
        auto got = canonical_objects(*built);
        ok = want == got;
        if (!ok) {
          why = "expected " + std::to_string(want.size()) + " objects, got " + std::to_string(got.size());
          for (std::size_t i = 0; i < std::min(want.size(), got.size()); ++i)
            if (want[i] != got[i]) {
              why += "; first difference at object " + std::to_string(i) + ":\n  want " + want[i] + "\n  got  " + got[i];
              break;
            }
        }
      }
      if (ok) ++passed;
    }
    if (!ok) {
      failing_by_feature[is_error ? "errors" : feature_of(dir / "input")].push_back(name);
      if (!known.count(name)) regressions.push_back(name + ": " + why);
    } else if (known.count(name)) {
      now_passing.push_back(name);
    }
  }
  std::ostringstream report;
  report << "kustomize conformance: " << passed << " of " << total << " cases pass, " << errors_passed << " of "
         << errors_total << " error cases\n";
  for (const auto& [feature, names] : failing_by_feature) {
    report << "  not passing (" << feature << "): ";
    for (const auto& n : names) report << n << " ";
    report << "\n";
  }
  if (!now_passing.empty()) {
    report << "  now passing, remove from " << known_failures_file().filename().string() << ": ";
    for (const auto& n : now_passing) report << n << " ";
    report << "\n";
  }
  std::cerr << report.str();
  INFO(report.str());
  for (const auto& r : regressions) UNSCOPED_INFO("regression (not in the known-failures list): " << r);
  CHECK(regressions.empty());
}

namespace {

using Files = std::vector<std::pair<std::string, std::string>>;

std::string kustomization(const std::string& body) {
  return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body;
}

std::string config_map(const std::string& name) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  a: b\n";
}

void write_files(const test::TempDir& tmp, const Files& files) {
  for (const auto& [path, content] : files) tmp.write(path, content);
}

struct Hostile {
  std::string name;
  Files files;
  std::string dir;
  std::string rule;
  std::string message;  // a substring of the message
  kustomize::Limits limits = {};
};

std::vector<Hostile> hostile_cases() {
  std::vector<Hostile> cases = {
      {"cycle of two kustomizations",
       {{"a/kustomization.yaml", kustomization("resources:\n- ../b\n")},
        {"b/kustomization.yaml", kustomization("resources:\n- ../a\n")}},
       "a", "kustomize.cycle", "cycle of kustomizations: /a -> /b -> /a"},
      {"a kustomization listing itself", {{"a/kustomization.yaml", kustomization("resources:\n- .\n")}}, "a",
       "kustomize.cycle", "cycle"},
      {"missing resource file", {{"a/kustomization.yaml", kustomization("resources:\n- nope.yaml\n")}}, "a",
       "kustomize.missing", "'/a/nope.yaml'"},
      {"missing base directory", {{"a/kustomization.yaml", kustomization("resources:\n- ../base\n")}}, "a",
       "kustomize.missing", "/base"},
      {"directory without a kustomization", {{"a/x.yaml", config_map("x")}}, "a", "kustomize.missing",
       "unable to find one of 'kustomization.yaml'"},
      {"resource file outside the kustomization's directory",
       {{"a/kustomization.yaml", kustomization("resources:\n- ../shared.yaml\n")}, {"shared.yaml", config_map("x")}},
       "a", "kustomize.outside", "security; file '/shared.yaml' is not in or below '/a'"},
      {"path above the root of the source", {{"a/kustomization.yaml", kustomization("resources:\n- ../../../etc\n")}},
       "a", "kustomize.outside", "climbs above the root"},
      {"absolute path", {{"a/kustomization.yaml", kustomization("resources:\n- /etc/passwd\n")}}, "a",
       "kustomize.outside", "absolute path '/etc/passwd'"},
      {"generator file outside the root",
       {{"a/kustomization.yaml", kustomization("configMapGenerator:\n- name: c\n  files:\n  - ../secret.txt\n")},
        {"secret.txt", "s3cret"}},
       "a", "kustomize.outside", "'/secret.txt' is not in or below '/a'"},
      {"generator env file above the root",
       {{"a/kustomization.yaml", kustomization("configMapGenerator:\n- name: c\n  envs:\n  - ../../x.env\n")}}, "a",
       "kustomize.outside", "climbs above the root"},
      {"strategic merge patch that matches nothing",
       {{"a/kustomization.yaml", kustomization("resources:\n- cm.yaml\npatches:\n- path: p.yaml\n")},
        {"a/cm.yaml", config_map("x")},
        {"a/p.yaml", config_map("y")}},
       "a", "kustomize.patch", "no matches for Id ConfigMap.v1.[noGrp]/y.[noNs]"},
      {"JSON patch on a missing field",
       {{"a/kustomization.yaml",
         kustomization("resources:\n- cm.yaml\npatches:\n- target:\n    kind: ConfigMap\n  patch: |\n    - op: replace\n"
                       "      path: /spec/nothing\n      value: 1\n")},
        {"a/cm.yaml", config_map("x")}},
       "a", "kustomize.patch", "JSON patch cannot be applied"},
      {"a selector that could backtrack without end",
       {{"a/kustomization.yaml",
         kustomization("resources:\n- cm.yaml\npatches:\n- target:\n    name: (a+)+b\n  patch: |\n    - op: add\n"
                       "      path: /data/x\n      value: y\n")},
        {"a/cm.yaml", config_map("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac")}},
       "a", "kustomize.invalid", "repeats a repeated group"},
      {"remote resource", {{"a/kustomization.yaml", kustomization("resources:\n- https://example.com/x.yaml\n")}},
       "a", "kustomize.remote", "remote resources are not fetched"},
      {"git resource",
       {{"a/kustomization.yaml", kustomization("resources:\n- github.com/org/repo//base?ref=v1\n")}}, "a",
       "kustomize.remote", "remote"},
      {"transformer plugin",
       {{"a/kustomization.yaml", kustomization("transformers:\n- plugin.yaml\n")},
        {"a/plugin.yaml", "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n"}},
       "a", "kustomize.plugin", "plugins are not run"},
      {"generator plugin",
       {{"a/kustomization.yaml", kustomization("generators:\n- |-\n  apiVersion: example.com/v1\n  kind: Exec\n")}},
       "a", "kustomize.plugin", "plugins are not run"},
      {"validator", {{"a/kustomization.yaml", kustomization("validators:\n- v.yaml\n")}}, "a", "kustomize.plugin",
       "validators"},
      {"helm chart", {{"a/kustomization.yaml", kustomization("helmCharts:\n- name: x\n")}}, "a", "kustomize.plugin",
       "helmCharts"},
      {"two resources with one id",
       {{"a/kustomization.yaml", kustomization("resources:\n- one.yaml\n- two.yaml\n")},
        {"a/one.yaml", config_map("x")},
        {"a/two.yaml", config_map("x")}},
       "a", "kustomize.conflict", "already registered id: ConfigMap.v1.[noGrp]/x.[noNs]"},
      {"invalid YAML", {{"a/kustomization.yaml", "resources: [\n"}}, "a", "yaml.syntax", ""},
      {"a resource that is not a mapping",
       {{"a/kustomization.yaml", kustomization("resources:\n- x.yaml\n")}, {"a/x.yaml", "- 1\n- 2\n"}}, "a",
       "kustomize.invalid", "must be a mapping"},
      {"two kustomization files",
       {{"a/kustomization.yaml", kustomization("")}, {"a/kustomization.yml", kustomization("")}}, "a",
       "kustomize.invalid", "Found multiple kustomization files"},
  };
  // Deep nesting: a chain of 40 bases.
  Hostile deep{"40 nested bases", {}, "k0", "kustomize.limit", "nested more than 32 deep"};
  for (int i = 0; i < 40; ++i)
    deep.files.push_back({"k" + std::to_string(i) + "/kustomization.yaml",
                          kustomization("resources:\n- ../k" + std::to_string(i + 1) + "\n")});
  cases.push_back(deep);
  // A resource list of 10,000 entries.
  std::string list = "resources:\n";
  for (int i = 0; i < 10'000; ++i) list += "- r" + std::to_string(i) + ".yaml\n";
  cases.push_back({"10,000 resources", {{"a/kustomization.yaml", kustomization(list)}}, "a", "kustomize.limit",
                   "10000 resources"});
  // 10,000 objects in one file.
  std::string many;
  for (int i = 0; i < 10'000; ++i) many += "---\n" + config_map("c" + std::to_string(i));
  kustomize::Limits at_5000;
  at_5000.max_objects = 5'000;
  cases.push_back({"10,000 objects, 5,000 allowed",
                   {{"a/kustomization.yaml", kustomization("resources:\n- many.yaml\n")}, {"a/many.yaml", many}},
                   "a", "kustomize.limit", "more than 5000 objects", at_5000});
  // A file past the size limit.
  kustomize::Limits small_files;
  small_files.max_file_bytes = 1'000;
  cases.push_back({"a file past the size limit",
                   {{"a/kustomization.yaml", kustomization("resources:\n- many.yaml\n")}, {"a/many.yaml", many}},
                   "a", "kustomize.limit", "", small_files});
  return cases;
}

}  // namespace

TEST_CASE("kustomize: hostile input is an error with a rule id, never a crash", "[kustomize]") {
  for (const auto& c : hostile_cases()) {
    SECTION(c.name) {
      test::TempDir tmp;
      write_files(tmp, c.files);
      kustomize::DiskSource source(tmp.path());
      auto built = kustomize::build(source, c.dir, c.limits);
      REQUIRE_FALSE(built);
      INFO(built.error().describe());
      CHECK(built.error().rule == c.rule);
      CHECK(built.error().message.find(c.message) != std::string::npos);
    }
  }
}

TEST_CASE("kustomize: symbolic links are never followed on disk", "[kustomize]") {
  test::TempDir tmp;
  write_files(tmp, {{"outside/secret.yaml", config_map("secret")},
                    {"a/kustomization.yaml", kustomization("resources:\n- link.yaml\n")}});
  std::filesystem::create_symlink(tmp / "outside/secret.yaml", tmp / "a/link.yaml");
  kustomize::DiskSource source(tmp.path());
  auto built = kustomize::build(source, "a");
  REQUIRE_FALSE(built);
  CHECK(built.error().rule == "kustomize.invalid");
  CHECK(built.error().message.find("symbolic links are not followed") != std::string::npos);
}

namespace {

const Files k_overlay = {
    {"base/kustomization.yaml", kustomization("resources:\n- deploy.yaml\nconfigMapGenerator:\n- name: app\n"
                                              "  literals:\n  - mode=base\n")},
    {"base/deploy.yaml",
     "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
     "      containers:\n      - name: web\n        image: nginx:1.0\n        envFrom:\n        - configMapRef:\n"
     "            name: app\n"},
    {"prod/kustomization.yaml",
     kustomization("resources:\n- ../base\nnamespace: prod\nnamePrefix: prod-\ncommonLabels:\n  env: prod\n"
                   "images:\n- name: nginx\n  newTag: \"1.1\"\nconfigMapGenerator:\n- name: app\n  behavior: merge\n"
                   "  literals:\n  - mode=prod\n")},
};

}  // namespace

TEST_CASE("kustomize: an overlay built from a Git tree equals the same overlay on disk", "[kustomize]") {
  test::TempDir tmp;
  test::GitFixture fixture(tmp);
  std::vector<test::GitItem> items;
  for (const auto& [path, content] : k_overlay) items.push_back({path, content});
  items.push_back({"unrelated/x.yaml", config_map("x")});
  git::Oid tree = fixture.tree(items);
  auto repo = fixture.open();
  kustomize::GitSource git_source(repo, tree);
  auto from_git = kustomize::build(git_source, "prod");
  REQUIRE(from_git);

  test::TempDir disk;
  write_files(disk, k_overlay);
  kustomize::DiskSource disk_source(disk.path());
  auto from_disk = kustomize::build(disk_source, "prod");
  REQUIRE(from_disk);
  CHECK(canonical_objects(*from_git) == canonical_objects(*from_disk));

  REQUIRE(from_git->objects.size() == 2);
  // Legacy order: the ConfigMap first; names, namespace, labels, image and reference applied.
  const auto& cm = *from_git->objects[0].node;
  CHECK(cm.at({"metadata", "namespace"})->text == "prod");
  CHECK(cm.at({"data", "mode"})->text == "prod");
  std::string cm_name(cm.at({"metadata", "name"})->text);
  CHECK(cm_name.rfind("prod-app-", 0) == 0);
  CHECK(cm_name.size() == std::string("prod-app-").size() + 10);
  const auto& deploy = *from_git->objects[1].node;
  CHECK(deploy.at({"metadata", "name"})->text == "prod-web");
  CHECK(deploy.at({"spec", "selector", "matchLabels", "env"})->text == "prod");
  const auto* container = deploy.at({"spec", "template", "spec", "containers"})->items[0];
  CHECK(container->get_string("image") == "nginx:1.1");
  CHECK(container->get("envFrom")->items[0]->at({"configMapRef", "name"})->text == cm_name);
  // Origins: the Deployment from its base file and line; the ConfigMap from the base's generator.
  CHECK(from_git->objects[1].file == "base/deploy.yaml");
  CHECK(from_git->objects[1].line == 1);
  CHECK(from_git->objects[0].file == "base/kustomization.yaml");
  // What the build read: both kustomizations and the base's manifest, nothing unrelated.
  const auto& read = from_git->files_read;
  auto has = [&](const std::string& p) { return std::find(read.begin(), read.end(), p) != read.end(); };
  CHECK(has("prod/kustomization.yaml"));
  CHECK(has("base/kustomization.yaml"));
  CHECK(has("base/deploy.yaml"));
  CHECK_FALSE(has("unrelated/x.yaml"));
}

TEST_CASE("kustomize: a symbolic link in a Git tree is refused", "[kustomize]") {
  test::TempDir tmp;
  test::GitFixture fixture(tmp);
  git::Oid tree = fixture.tree({{"a/kustomization.yaml", kustomization("resources:\n- link.yaml\n")},
                                {"a/link.yaml", "/etc/passwd", "120000"}});
  auto repo = fixture.open();
  kustomize::GitSource source(repo, tree);
  auto built = kustomize::build(source, "a");
  REQUIRE_FALSE(built);
  CHECK(built.error().rule == "kustomize.invalid");
  CHECK(built.error().message.find("symbolic links are not followed") != std::string::npos);
}

TEST_CASE("kustomize: hash suffixes are kustomize's", "[kustomize]") {
  // (literals, expected name): values checked against kubectl kustomize v5.5.
  const std::vector<std::pair<std::string, std::string>> table = {
      {"  - TEST='\n", "test-m8t7bmb6g2"},
  };
  for (const auto& [literals, name] : table) {
    test::TempDir tmp;
    write_files(tmp, {{"kustomization.yaml", kustomization("configMapGenerator:\n- name: test\n  literals:\n" + literals)}});
    kustomize::DiskSource source(tmp.path());
    auto built = kustomize::build(source, "");
    REQUIRE(built);
    REQUIRE(built->objects.size() == 1);
    CHECK(built->objects[0].node->at({"metadata", "name"})->text == name);
  }
}

TEST_CASE("kustomize: YAML output parses back to the same objects", "[kustomize]") {
  test::TempDir tmp;
  write_files(tmp, k_overlay);
  tmp.write("odd/kustomization.yaml", kustomization("resources:\n- odd.yaml\n"));
  tmp.write("odd/odd.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\ndata:\n  yes: \"no\"\n  num: \"0755\"\n"
            "  empty: \"\"\n  colon: \"a: b\"\n  hash: \"a #b\"\n  multi: \"l1\\nl2\\n\"\n  lead: \" x\"\n"
            "  dash: \"- x\"\n  star: \"*x\"\n  nul: \"null\"\n  tilde: \"~\"\n  unicode: \"é\"\n");
  for (std::string dir : {"prod", "odd"}) {
    kustomize::DiskSource source(tmp.path());
    auto built = kustomize::build(source, dir);
    REQUIRE(built);
    CHECK(canonical_documents(kustomize::to_yaml(*built)) == canonical_objects(*built));
    auto json = yaml::parse_json(kustomize::to_json(*built));
    REQUIRE(json);
    CHECK(json->documents[0].root->items.size() == built->objects.size());
  }
}

namespace {
// A patch that starts with its own metadata: mapping continues the one the test writes.
bool util_starts_metadata(const std::string& patch) { return patch.rfind("metadata:\n", 0) == 0; }
}  // namespace

TEST_CASE("kustomize: strategic merge follows Kubernetes' patch strategies and merge keys", "[kustomize]") {
  struct Row {
    std::string name, base, patch, path, want;  // `want`: canonical JSON of the field at `path` (dot-separated)
  };
  const std::string deployment =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  finalizers: [a, b]\nspec:\n  template:\n"
      "    spec:\n      containers:\n      - name: one\n        image: one:1\n        args: [x, y]\n"
      "        ports:\n        - containerPort: 80\n          name: http\n      - name: two\n        image: two:1\n"
      "      tolerations:\n      - key: k1\n";
  const std::vector<Row> table = {
      {"containers merge by name, the patch's first", deployment,
       "spec:\n  template:\n    spec:\n      containers:\n      - name: two\n        image: two:2\n",
       "spec.template.spec.containers",
       R"([{"image":"two:2","name":"two"},{"args":["x","y"],"image":"one:1","name":"one","ports":[{"containerPort":80,"name":"http"}]}])"},
      {"a list without a strategy is replaced", deployment,
       "spec:\n  template:\n    spec:\n      containers:\n      - name: one\n        args: [z]\n",
       "spec.template.spec.containers",
       R"([{"args":["z"],"image":"one:1","name":"one","ports":[{"containerPort":80,"name":"http"}]},{"image":"two:1","name":"two"}])"},
      {"tolerations have no merge key: replaced", deployment,
       "spec:\n  template:\n    spec:\n      tolerations:\n      - key: k2\n", "spec.template.spec.tolerations",
       R"([{"key":"k2"}])"},
      {"finalizers merge as a set", deployment, "metadata:\n  finalizers: [c, a]\n", "metadata.finalizers",
       R"(["c","a","b"])"},
      {"$patch: delete removes an element", deployment,
       "spec:\n  template:\n    spec:\n      containers:\n      - name: one\n        $patch: delete\n",
       "spec.template.spec.containers", R"([{"image":"two:1","name":"two"}])"},
      {"$deleteFromPrimitiveList is a field to kustomize, not a directive", deployment,
       "metadata:\n  $deleteFromPrimitiveList/finalizers: [b]\n", "metadata",
       R"({"$deleteFromPrimitiveList/finalizers":["b"],"finalizers":["a","b"],"name":"web"})"},
      {"null deletes a field", deployment,
       "spec:\n  template:\n    spec:\n      containers:\n      - name: one\n        args: null\n",
       "spec.template.spec.containers",
       R"([{"image":"one:1","name":"one","ports":[{"containerPort":80,"name":"http"}]},{"image":"two:1","name":"two"}])"},
      {"Service ports merge by port",
       "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n    name: http\n"
       "  - port: 443\n    name: https\n",
       "spec:\n  ports:\n  - port: 443\n    targetPort: 8443\n", "spec.ports",
       R"([{"name":"https","port":443,"targetPort":8443},{"name":"http","port":80}])"},
      {"lists of custom resources are replaced (no schema, no merge key)",
       "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: web\nspec:\n  parts:\n  - name: a\n    size: 1\n"
       "  - name: b\n    size: 2\n",
       "spec:\n  parts:\n  - name: b\n    size: 3\n", "spec.parts", R"([{"name":"b","size":3}])"},
  };
  for (const auto& row : table) {
    SECTION(row.name) {
      test::TempDir tmp;
      std::string api = row.base.substr(row.base.find(' ') + 1, row.base.find('\n') - row.base.find(' ') - 1);
      std::string kind = row.base.substr(row.base.find("kind: ") + 6);
      kind = kind.substr(0, kind.find('\n'));
      write_files(tmp, {{"kustomization.yaml", kustomization("resources:\n- base.yaml\npatches:\n- path: patch.yaml\n")},
                        {"base.yaml", row.base},
                        {"patch.yaml", "apiVersion: " + api + "\nkind: " + kind + "\nmetadata:\n  name: web\n" +
                                           (util_starts_metadata(row.patch) ? row.patch.substr(10) : row.patch)}});
      kustomize::DiskSource source(tmp.path());
      auto built = kustomize::build(source, "");
      REQUIRE(built);
      REQUIRE(built->objects.size() == 1);
      const yaml::Node* node = built->objects[0].node;
      std::istringstream parts(row.path);
      std::string part;
      while (node && std::getline(parts, part, '.')) node = node->get(part);
      REQUIRE(node);
      CHECK(yaml::canonical_json(*node) == row.want);
    }
  }
}

TEST_CASE("kustomize: a rendered field is located where it was written", "[kustomize][provenance]") {
  test::TempDir tmp;
  write_files(tmp, {
      {"base/kustomization.yaml", "resources:\n- app.yaml\n"},
      {"base/app.yaml",
       "# the app\n"
       "apiVersion: apps/v1\n"             // 2
       "kind: Deployment\n"                // 3
       "metadata:\n"                       // 4
       "  name: web\n"                     // 5
       "spec:\n"                           // 6
       "  replicas: 1\n"                   // 7
       "  template:\n"                     // 8
       "    spec:\n"                       // 9
       "      containers:\n"               // 10
       "      - name: sidecar\n"           // 11
       "        image: proxy:1\n"          // 12
       "      - name: app\n"               // 13
       "        image: web:1\n"            // 14
       "        args: [a, b]\n"},          // 15
      {"prod/kustomization.yaml",
       "resources:\n- ../base\n"                                      // 1-2
       "namespace: prod\n"                                            // 3
       "patches:\n"                                                   // 4
       "- path: more.yaml\n"                                          // 5
       "- target: {kind: Deployment}\n"                               // 6
       "  patch: |-\n"                                                // 7
       "    - op: add\n"                                              // 8
       "      path: /spec/minReadySeconds\n"                          // 9
       "      value: 5\n"                                             // 10
       "    - op: replace\n"                                          // 11
       "      path: /spec/template/spec/containers/0/args/0\n"        // 12
       "      value: z\n"                                             // 13
       "images:\n"                                                    // 14
       "- name: proxy\n"                                              // 15
       "  newTag: \"9\"\n"},                                          // 16
      {"prod/more.yaml",
       "apiVersion: apps/v1\n"                                        // 1
       "kind: Deployment\n"                                           // 2
       "metadata:\n"                                                  // 3
       "  name: web\n"                                                // 4
       "spec:\n"                                                      // 5
       "  replicas: 3\n"                                              // 6
       "  template:\n"                                                // 7
       "    spec:\n"                                                  // 8
       "      containers:\n"                                          // 9
       "      - name: app\n"                                          // 10
       "        ports:\n"                                             // 11
       "        - containerPort: 70000\n"},                           // 12
  });
  kustomize::DiskSource source(tmp.path());
  auto built = kustomize::build(source, "prod");
  REQUIRE(built);
  REQUIRE(built->objects.size() == 1);
  const yaml::Node& d = *built->objects[0].node;
  const yaml::Node& containers = *d.at({"spec", "template", "spec", "containers"});
  REQUIRE(containers.items.size() == 2);
  // kustomize's strategic merge puts the items a patch merged first.
  const yaml::Node& app = *containers.items[0];
  const yaml::Node& sidecar = *containers.items[1];
  REQUIRE(app.get_string("name") == "app");
  REQUIRE(sidecar.get_string("name") == "sidecar");
  struct Case {
    const char* what;
    const yaml::Node* node;
    std::string file;
    std::uint32_t line;
  };
  const std::vector<Case> table = {
      {"the object", &d, "base/app.yaml", 2},
      {"a base field", d.at({"kind"}), "base/app.yaml", 3},
      {"a field a patch file set", d.at({"spec", "replicas"}), "prod/more.yaml", 6},
      {"a list item a patch merged by name", app.get("ports")->items[0]->get("containerPort"), "prod/more.yaml", 12},
      {"a base list of that item", app.get("args")->items[1], "base/app.yaml", 15},
      {"an item's name, by which a patch merged it: where the base wrote it", app.get("name"), "base/app.yaml", 13},
      {"the kind a patch repeats: where the base wrote it", d.at({"kind"}), "base/app.yaml", 3},
      {"a base field of an item no patch touched", sidecar.get("name"), "base/app.yaml", 11},
      {"a field an inline JSON patch added", d.at({"spec", "minReadySeconds"}), "prod/kustomization.yaml", 10},
      {"a field an inline JSON patch replaced (by index)", app.get("args")->items[0], "prod/kustomization.yaml", 13},
      {"the namespace the kustomization set", d.at({"metadata", "namespace"}), "prod/kustomization.yaml", 3},
      {"an image an images: rule set", sidecar.get("image"), "prod/kustomization.yaml", 16},
  };
  for (const auto& c : table) {
    INFO(c.what);
    REQUIRE(c.node != nullptr);
    auto at = built->locate(c.node->mark);
    REQUIRE(at);
    CHECK(std::string(at->file) == c.file);
    CHECK(at->line == c.line);
  }
  // A mark that is in no source is located nowhere.
  CHECK_FALSE(built->locate(yaml::Mark{0, 0}));
  CHECK_FALSE(built->locate(yaml::Mark{1'000'000, 1}));
}

TEST_CASE("kustomize: a generated object's fields are located nowhere", "[kustomize][provenance]") {
  test::TempDir tmp;
  write_files(tmp, {{"kustomization.yaml", "configMapGenerator:\n- name: settings\n  literals: [a=b]\n"}});
  kustomize::DiskSource source(tmp.path());
  auto built = kustomize::build(source, "");
  REQUIRE(built);
  REQUIRE(built->objects.size() == 1);
  CHECK_FALSE(built->locate(built->objects[0].node->at({"data", "a"})->mark));
}

TEST_CASE("kustomize: fields of a JSON patch of many operations are located at their operation", "[kustomize][provenance]") {
  // 5,000 operations adding data keys to one ConfigMap, then one replacing the first key again:
  // each key at the line of the last operation that wrote it.
  std::string ops;
  for (int i = 0; i < 5'000; ++i)
    ops += "- op: add\n  path: /data/k" + std::to_string(i) + "\n  value: v" + std::to_string(i) + "\n";
  {
    test::TempDir tmp;
    write_files(tmp, {{"kustomization.yaml", "resources: [cm.yaml]\npatches:\n- path: ops.yaml\n  target: {kind: ConfigMap}\n"},
                      {"cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {}\n"},
                      {"ops.yaml", ops}});
    kustomize::DiskSource source(tmp.path());
    auto built = kustomize::build(source, "");
    REQUIRE(built);
    const yaml::Node* data = built->objects.at(0).node->get("data");
    REQUIRE(data);
    REQUIRE(data->entries.size() == 5'000);
    auto at = built->locate(data->get("k4321")->mark);
    REQUIRE(at);
    CHECK(at->line == 4'321 * 3 + 3);
  }
  ops += "- op: replace\n  path: /data\n  value:\n    k0: again\n";
  test::TempDir tmp;
  write_files(tmp, {{"kustomization.yaml", "resources: [cm.yaml]\npatches:\n- path: ops.yaml\n  target: {kind: ConfigMap}\n"},
                    {"cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {}\n"},
                    {"ops.yaml", ops}});
  kustomize::DiskSource source(tmp.path());
  auto built = kustomize::build(source, "");
  REQUIRE(built);
  const yaml::Node* data = built->objects.at(0).node->get("data");
  REQUIRE(data);
  REQUIRE(data->entries.size() == 1);  // the last operation replaced the whole map
  auto at = built->locate(data->get("k0")->mark);
  REQUIRE(at);
  CHECK(std::string(at->file) == "ops.yaml");
  CHECK(at->line == 5'000 * 3 + 4);
}
