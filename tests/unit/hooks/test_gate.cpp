#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "hooks/gate.hpp"
#include "hooks/index.hpp"
#include "hooks/refs.hpp"
#include "shared/schema/store.hpp"
#include "shared/util/fs.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/openapi_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using git::Oid;
using test::GitItem;
using test::k_widget_crd;
namespace fs = std::filesystem;

namespace {

const std::string k_zero(40, '0');
const std::string k_hex_a = "0123456789abcdef0123456789abcdef01234567";
const std::string k_hex_b = "89abcdef0123456789abcdef0123456789abcdef";

std::string configmap(const std::string& name, const std::string& extra = "") {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n" + extra;
}

Oid zero() {
  return Oid{};
}

// "rule file" of every finding, in order, for compact comparisons.
std::vector<std::string> summary(const Report& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) out.push_back(f.rule + (f.file.empty() ? "" : " " + f.file));
  return out;
}

std::string describe(const Report& r) {
  std::string s;
  for (const auto& f : r.findings)
    s += f.ref + " " + f.rule + " " + f.file + ":" + std::to_string(f.line) + " " + f.message + "\n";
  for (const auto& n : r.notes) s += "note: " + n + "\n";
  return s;
}

struct Run {
  GateMode mode = GateMode::hook;
  const schema::Program* store = nullptr;
  std::chrono::milliseconds budget = std::chrono::seconds(60);
  policy::ServerConfig config = {};
};

Report gate(const test::GitFixture& fx, const fs::path& index_dir, std::vector<RefUpdate> updates,
            const Run& run = {}) {
  auto repo = fx.open();
  Deadline deadline(run.budget);
  GateInput in{repo, run.config, run.store, updates, deadline, run.mode, index_dir, "tester", {}, 0};
  return run_gate(in);
}

void update(const test::GitFixture& fx, const fs::path& index_dir, std::vector<RefUpdate> updates,
            const policy::ServerConfig& config = {}) {
  auto repo = fx.open();
  Deadline deadline(std::chrono::seconds(60));
  GateInput in{repo, config, nullptr, updates, deadline, GateMode::hook, index_dir, "tester", {}, 0};
  update_indexes(in);
}

Oid env_tree(const test::GitFixture& fx, const Oid& commit, const std::string& path) {
  auto repo = fx.open();
  auto tree = repo.commit_tree(commit);
  REQUIRE(tree);
  auto e = repo.entry_at(*tree, path);
  REQUIRE(e);
  REQUIRE(*e);
  return (*e)->oid;
}

// Every index file of `tree` below `root`, wherever the gate chose to keep it.
std::vector<fs::path> index_files(const fs::path& root, const Oid& tree) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().filename() == tree.hex() + ".idx") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The one index of `tree` below `root`.
IdentityIndex load_index(const fs::path& root, const Oid& tree) {
  auto files = index_files(root, tree);
  REQUIRE(files.size() == 1);
  auto index = IdentityIndex::load(files[0].parent_path(), tree);
  REQUIRE(index);
  return std::move(*index);
}

std::vector<std::string> records_of(const IdentityIndex& index) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < index.size(); ++i) {
    auto r = index.at(i);
    out.push_back(describe_key(r.key) + " @ " + r.path);
  }
  return out;
}

}  // namespace

TEST_CASE("parse_updates reads pre-receive lines and refuses malformed ones", "[gate]") {
  const std::string a = k_hex_a, b = k_hex_b, z = k_zero;
  struct Case {
    const char* name;
    std::string input;
    std::size_t max_refs;
    std::vector<std::string> refs;  // expected refs; ignored when `error` is set
    const char* error;              // part of the message, nullptr: parses
  };
  const Case cases[] = {
      {"one line", a + " " + b + " refs/heads/main\n", 10, {"refs/heads/main"}, nullptr},
      {"no final newline", a + " " + b + " refs/heads/main", 10, {"refs/heads/main"}, nullptr},
      {"CRLF line ends",
       a + " " + b + " refs/heads/main\r\n" + z + " " + b + " refs/tags/v1\r\n",
       10,
       {"refs/heads/main", "refs/tags/v1"},
       nullptr},
      {"blank lines are skipped",
       "\n\n" + a + " " + b + " refs/heads/main\n\r\n\n",
       10,
       {"refs/heads/main"},
       nullptr},
      {"upper-case hex",
       "0123456789ABCDEF0123456789ABCDEF01234567 " + b + " refs/heads/x\n",
       10,
       {"refs/heads/x"},
       nullptr},
      {"empty input", "", 10, {}, nullptr},
      {"exactly max_refs",
       a + " " + b + " refs/heads/a\n" + a + " " + b + " refs/heads/b\n",
       2,
       {"refs/heads/a", "refs/heads/b"},
       nullptr},
      {"blank lines do not count against max_refs",
       a + " " + b + " refs/heads/a\n\n\n",
       1,
       {"refs/heads/a"},
       nullptr},
      {"more than max_refs",
       a + " " + b + " refs/heads/a\n" + a + " " + b + " refs/heads/b\n" + a + " " + b + " refs/heads/c\n",
       2,
       {},
       "more than 2 refs"},
      {"two fields", a + " " + b + "\n", 10, {}, "malformed hook input on line 1"},
      {"a ref with a space is kept whole for the gate to judge",
       a + " " + b + " refs/heads/a b\n",
       10,
       {"refs/heads/a b"},
       nullptr},
      {"short object id", a.substr(0, 39) + " " + b + " refs/heads/main\n", 10, {}, "line 1"},
      {"long object id", a + "0 " + b + " refs/heads/main\n", 10, {}, "line 1"},
      {"not hex", std::string(40, 'g') + " " + b + " refs/heads/main\n", 10, {}, "line 1"},
      {"ref outside refs/ is kept for the gate", a + " " + b + " HEAD\n", 10, {"HEAD"}, nullptr},
      {"empty ref", a + " " + b + " \n", 10, {}, "line 1"},
      {"tab separated", a + "\t" + b + "\trefs/heads/main\n", 10, {}, "line 1"},
      {"double space", a + "  " + b + " refs/heads/main\n", 10, {}, "line 1"},
      {"leading space", " " + a + " " + b + " refs/heads/main\n", 10, {}, "line 1"},
      {"overlong ref is kept for the gate",
       a + " " + b + " refs/heads/" + std::string(5000, 'x') + "\n",
       10,
       {"refs/heads/" + std::string(5000, 'x')},
       nullptr},
      {"control characters are kept for the gate",
       a + " " + b + " refs/heads/\x1b[31m\x07\n",
       10,
       {"refs/heads/\x1b[31m\x07"},
       nullptr},
      {"a ref that is only a space", a + " " + b + "  \n", 10, {" "}, nullptr},
      {"a newline inside a hostile name makes a malformed line",
       a + " " + b + " refs/heads/x\ngarbage\n",
       10,
       {},
       "malformed hook input on line 2"},
      {"malformed second line", a + " " + b + " refs/heads/main\n\ngarbage\n", 10, {}, "line 3"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = parse_updates(c.input, c.max_refs);
    if (c.error) {
      REQUIRE_FALSE(r);
      CHECK_THAT(r.error().message, Catch::Contains(c.error));
      continue;
    }
    REQUIRE(r);
    std::vector<std::string> refs;
    for (const auto& u : *r) refs.push_back(u.ref);
    CHECK(refs == c.refs);
  }
  auto r = parse_updates(k_zero + " " + k_hex_b + " refs/heads/main\n", 1);
  REQUIRE(r);
  CHECK((*r)[0].old_oid.is_zero());
  CHECK((*r)[0].new_oid.hex() == k_hex_b);
}

TEST_CASE("ref_name_problem follows git check-ref-format for the refs receive-pack stores", "[gate]") {
  struct Case {
    std::string ref;
    const char* problem;  // part of the reason; nullptr: valid
  };
  const Case cases[] = {
      {"refs/heads/main", nullptr},
      {"refs/heads/-x", nullptr},
      {"refs/heads/--upload-pack=evil", nullptr},
      {"refs/heads/$(touch${IFS}pwned)", nullptr},
      {"refs/heads/`id`;a|b&c>d<e'\"!#%", nullptr},
      {"refs/heads/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", nullptr},
      {"refs/heads/\xff\xfe", nullptr},  // git allows any byte >= 0x80
      {"refs/heads/env/prod", nullptr},  // valid; the environment-branch rule judges it
      {"refs/notes/commits", nullptr},
      {"refs/pull/1/head", nullptr},
      {"refs/heads/" + std::string(255, 'x'), nullptr},
      {"refs/heads/" + std::string(k_max_ref_name - 11, 'x'), nullptr},
      {"refs/heads/" + std::string(k_max_ref_name - 10, 'x'), "bytes long; the limit is 4096"},
      {"HEAD", "does not start with refs/"},
      {"heads/main", "does not start with refs/"},
      {"refs/x", "only one level"},
      {"refs/heads/a b", "a space"},
      {"refs/heads/a\tb", "control character"},
      {"refs/heads/\x1b[31m", "control character"},
      {"refs/heads/del\x7f", "control character"},
      {"refs/heads/a~1", "one of ~ ^ : ? * [ \\"},
      {"refs/heads/a^", "one of"},
      {"refs/heads/a:b", "one of"},
      {"refs/heads/a?", "one of"},
      {"refs/heads/a*", "one of"},
      {"refs/heads/a[1]", "one of"},
      {"refs/heads/a\\b", "one of"},
      {"refs/heads/a..b", "\"..\""},
      {"refs/heads/a@{1}", "\"@{\""},
      {"refs/heads/a.", "ends with \".\""},
      {"refs/heads/a//b", "empty component"},
      {"refs/heads/a/", "empty component"},
      {"refs/heads/.hidden", "starts with \".\""},
      {"refs/heads/x.lock", "\".lock\""},
      {"refs/heads/x.lock/y", "\".lock\""},
  };
  for (const auto& c : cases) {
    INFO(c.ref.substr(0, 80));
    auto problem = ref_name_problem(c.ref);
    if (!c.problem) {
      CHECK_FALSE(problem);
      continue;
    }
    REQUIRE(problem);
    CHECK_THAT(*problem, Catch::Contains(c.problem));
  }
}

TEST_CASE("run_gate applies ref rules in hook mode and checks content in both modes", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const std::vector<GitItem> base_files = {{"environments/dev/base.yaml", configmap("base")},
                                           {"environments/prod/base.yaml", configmap("prod-base")},
                                           {"README.md", "config repository\n"}};
  auto with = [&](std::vector<GitItem> extra) {
    auto files = base_files;
    files.insert(files.end(), extra.begin(), extra.end());
    return files;
  };
  const Oid a = fx.commit(base_files, {}, "base");
  const Oid next = fx.commit(with({{"environments/dev/web.yaml", configmap("web")}}), {a}, "next");
  const Oid broken = fx.commit(with({{"environments/dev/broken.yaml", "a: [\n"}}), {a}, "broken");
  const Oid readme = fx.commit({base_files[0], base_files[1], {"README.md", "changed\n"}}, {a}, "readme");
  const Oid rewrite =
      fx.commit(with({{"environments/dev/other.yaml", configmap("other")}}), {}, "unrelated root");
  const Oid tree = fx.tree(base_files);
  const Oid blob = fx.blob("a blob\n");
  fx.git({"tag", "-a", "-m", "annotated", "annotated", next.hex()});
  const Oid tag = test::to_oid(fx.git({"rev-parse", "refs/tags/annotated"}));
  fx.set_ref("refs/heads/main", a);
  const Oid missing = *Oid::from_hex(k_hex_a);
  const GateMode H = GateMode::hook, C = GateMode::check;

  struct Case {
    const char* name;
    GateMode mode;
    RefUpdate update;
    std::vector<std::string> findings;
  };
  const Case cases[] = {
      {"accepted update", H, {a, next, "refs/heads/main"}, {}},
      {"content error", H, {a, broken, "refs/heads/main"}, {"yaml.syntax environments/dev/broken.yaml"}},
      {"change outside the environments", H, {a, readme, "refs/heads/main"}, {}},
      {"protected ref deletion", H, {a, zero(), "refs/heads/main"}, {"ref.protected-delete"}},
      {"other branch deletion", H, {a, zero(), "refs/heads/feature"}, {}},
      {"non-fast-forward on a protected ref", H, {a, rewrite, "refs/heads/main"}, {"ref.protected-force"}},
      {"protected ref moved backwards", H, {next, a, "refs/heads/main"}, {"ref.protected-force"}},
      {"non-fast-forward elsewhere is only checked", H, {a, rewrite, "refs/heads/feature"}, {}},
      {"non-fast-forward elsewhere with a content error",
       H,
       {next, broken, "refs/heads/feature"},
       {"yaml.syntax environments/dev/broken.yaml"}},
      {"release tag move", H, {a, next, "refs/tags/v1.0"}, {"ref.release-tag-move"}},
      {"release tag delete", H, {a, zero(), "refs/tags/v1.0"}, {"ref.release-tag-delete"}},
      {"release tag creation (tags are not checked refs)", H, {zero(), broken, "refs/tags/v1.0"}, {}},
      {"annotated release tag creation", H, {zero(), tag, "refs/tags/v1.0-annotated"}, {}},
      {"other tag move", H, {a, next, "refs/tags/nightly"}, {}},
      {"new branch", H, {zero(), next, "refs/heads/feature"}, {}},
      {"new branch with a content error",
       H,
       {zero(), broken, "refs/heads/feature"},
       {"yaml.syntax environments/dev/broken.yaml"}},
      {"branch pointed at a tree", H, {a, tree, "refs/heads/feature"}, {"ref.not-a-commit"}},
      {"new branch pointed at a blob", H, {zero(), blob, "refs/heads/feature"}, {"ref.not-a-commit"}},
      {"tag pointed at a blob", H, {zero(), blob, "refs/tags/blob"}, {}},
      {"unknown old object", H, {missing, next, "refs/heads/main"}, {"gate.internal"}},
      {"check: deletion is not judged", C, {a, zero(), "refs/heads/main"}, {}},
      {"check: rewrite is only checked", C, {a, rewrite, "refs/heads/main"}, {}},
      {"check: release tag move is only checked",
       C,
       {a, broken, "refs/tags/v1.0"},
       {"yaml.syntax environments/dev/broken.yaml"}},
      {"check: content error",
       C,
       {a, broken, "refs/heads/main"},
       {"yaml.syntax environments/dev/broken.yaml"}},
      {"check: a branch must be a commit", C, {a, tree, "refs/heads/main"}, {"ref.not-a-commit"}},
      {"a name git refuses, with valid content", H, {zero(), next, "refs/heads/a b"}, {"ref.invalid-name"}},
      {"a name outside refs/", H, {zero(), next, "HEAD"}, {"ref.invalid-name"}},
      {"a name with control characters, deleting",
       H,
       {a, zero(), "refs/heads/\x1b[31m"},
       {"ref.invalid-name"}},
      {"an unchecked ref with an invalid name", H, {zero(), broken, "refs/tags/a..b"}, {"ref.invalid-name"}},
      {"a name that looks like an option is a name", H, {zero(), next, "refs/heads/--upload-pack=x"}, {}},
      {"check: names are not judged", C, {a, next, "refs/heads/a b"}, {}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir index;
    Run run;
    run.mode = c.mode;
    Report r = gate(fx, index.path(), {c.update}, run);
    INFO(describe(r));
    CHECK(summary(r) == c.findings);
    for (const auto& f : r.findings) CHECK(f.ref == c.update.ref);
    CHECK(r.stats.refs == 1);
  }

  // Accepted content is counted; several updates are judged in order.
  test::TempDir index;
  Report r = gate(fx, index.path(), {{a, next, "refs/heads/main"}, {a, zero(), "refs/heads/main"}});
  CHECK(summary(r) == std::vector<std::string>{"ref.protected-delete"});
  CHECK(r.stats.refs == 2);
  CHECK(r.stats.files == 1);
  CHECK(r.stats.objects == 1);
  // A new branch is checked in full.
  r = gate(fx, index.path(), {{zero(), next, "refs/heads/feature"}});
  CHECK(r.stats.files == 3);
  CHECK(r.stats.objects == 3);
}

TEST_CASE("a new branch is judged by the policy of HEAD, an update by its own old policy", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const std::string job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n";
  const Oid strict = fx.commit({{".portcullis.yaml", "manifests:\n  denyKinds: [Job]\n"},
                                {"environments/dev/base.yaml", configmap("base")}});
  // The pushed commit loosens the policy and adds what the old one denies.
  const Oid loosened = fx.commit({{".portcullis.yaml", "manifests:\n  denyKinds: []\n"},
                                  {"environments/dev/base.yaml", configmap("base")},
                                  {"environments/dev/job.yaml", job}},
                                 {strict});
  const Oid lax = fx.commit({{"environments/dev/base.yaml", configmap("base")}});
  fx.set_ref("refs/heads/main", strict);
  fx.set_ref("refs/heads/lax", lax);

  struct Case {
    const char* name;
    RefUpdate update;
    std::vector<std::string> findings;
  };
  const Case cases[] = {
      {"update of main",
       {strict, loosened, "refs/heads/main"},
       {"content.deny-kind environments/dev/job.yaml"}},
      {"new branch",
       {zero(), loosened, "refs/heads/feature"},
       {"content.deny-kind environments/dev/job.yaml"}},
      {"update of a branch without a policy", {lax, loosened, "refs/heads/lax"}, {}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir index;
    Report r = gate(fx, index.path(), {c.update});
    INFO(describe(r));
    CHECK(summary(r) == c.findings);
    CHECK(r.notes.empty());
  }

  // Without a policy at HEAD a new branch is judged by the defaults.
  fx.set_ref("refs/heads/main", lax);
  test::TempDir index;
  Report r = gate(fx, index.path(), {{zero(), loosened, "refs/heads/feature"}});
  INFO(describe(r));
  CHECK(summary(r).empty());
}

TEST_CASE("an invalid .portcullis.yaml in the pushed commit is reported with its location", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const GitItem base{"environments/dev/base.yaml", configmap("base")};
  const Oid a = fx.commit({base});
  fx.set_ref("refs/heads/main", a);
  struct Case {
    const char* name;
    std::string policy;
    std::uint32_t line;  // 0: valid
    const char* message_part;
  };
  const Case cases[] = {
      {"valid", "protectedRefs: [refs/heads/main]\nmanifests:\n  strict: false\n", 0, ""},
      {"empty file", "", 0, ""},
      {"not a ref pattern", "protectedRefs:\n- refs/heads/main\n- main\n", 3, "invalid policy"},
      {"wrong type", "manifests:\n  strict: maybe\n", 2, "strict"},
      {"unknown key", "version: 1\nprotectRefs: []\n", 2, "protectRefs"},
      {"unknown severity", "rules:\n  content.image-latest: loud\n", 2, ""},
      {"YAML syntax error", "rules: [\n", 2, "invalid policy"},
      {"several documents", "version: 1\n---\nversion: 1\n", 2, "single YAML document"},
      {"environment declared twice",
       "environments:\n- {name: dev, path: environments/dev}\n- {name: dev, path: environments/dev2}\n", 3,
       "declared twice"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const Oid b = fx.commit({base, {".portcullis.yaml", c.policy}}, {a});
    test::TempDir index;
    Report r = gate(fx, index.path(), {{a, b, "refs/heads/main"}});
    INFO(describe(r));
    if (!c.line) {
      CHECK(r.findings.empty());
      continue;
    }
    REQUIRE(r.findings.size() == 1);
    const auto& f = r.findings[0];
    CHECK(f.rule == "policy.invalid");
    CHECK(f.file == ".portcullis.yaml");
    CHECK(f.line == c.line);
    CHECK(f.column > 0);
    CHECK_THAT(f.message, Catch::Contains(c.message_part));
  }
}

TEST_CASE("a broken stored policy falls back to the defaults, with a note", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const GitItem base{"environments/dev/base.yaml", configmap("base")};
  const Oid broken = fx.commit({base, {".portcullis.yaml", "protectedRefs: [main]\n"}});
  const Oid repaired = fx.commit({base,
                                  {".portcullis.yaml", "protectedRefs: [refs/heads/main]\n"},
                                  {"environments/dev/cm.yaml", configmap("cm")}},
                                 {broken});
  const Oid still_broken = fx.commit(
      {base, {".portcullis.yaml", "protectedRefs: [main]\n"}, {"environments/dev/cm.yaml", configmap("cm")}},
      {broken});
  fx.set_ref("refs/heads/main", broken);

  struct Case {
    const char* name;
    RefUpdate update;
    bool server_default_denies_configmaps;
    std::vector<std::string> findings;
  };
  const Case cases[] = {
      {"the repairing push is judged by the built-in defaults",
       {broken, repaired, "refs/heads/main"},
       false,
       {}},
      {"the built-in defaults protect main",
       {broken, zero(), "refs/heads/main"},
       false,
       {"ref.protected-delete"}},
      {"an unchanged broken policy is not reported again",
       {broken, still_broken, "refs/heads/main"},
       false,
       {}},
      {"the server's default policy applies",
       {broken, repaired, "refs/heads/main"},
       true,
       {"content.deny-kind environments/dev/cm.yaml"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir index;
    Run run;
    if (c.server_default_denies_configmaps) {
      policy::Policy p;
      p.deny_kinds = {"ConfigMap"};
      run.config.default_policy = p;
    }
    Report r = gate(fx, index.path(), {c.update}, run);
    INFO(describe(r));
    CHECK(summary(r) == c.findings);
    REQUIRE(r.notes.size() == 1);
    CHECK_THAT(r.notes[0], Catch::StartsWith("the policy in refs/heads/main cannot be used (") &&
                               Catch::Contains(".portcullis.yaml:1:") &&
                               Catch::EndsWith("; judged by the default policy"));
  }
}

TEST_CASE("duplicates are found within a push and across the environment through the index", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const std::vector<GitItem> base = {{"environments/dev/base.yaml", configmap("base")},
                                     {"environments/dev/other.yaml", configmap("other")},
                                     {"environments/prod/base.yaml", configmap("prod-base")}};
  auto with = [&](std::vector<GitItem> extra, const std::string& without = "") {
    std::vector<GitItem> files;
    for (const auto& f : base)
      if (f.path != without) files.push_back(f);
    files.insert(files.end(), extra.begin(), extra.end());
    return files;
  };
  const Oid a = fx.commit(base);
  fx.set_ref("refs/heads/main", a);
  test::TempDir index;  // shared: the first run builds the index of `a`, the others load it

  struct Case {
    const char* name;
    std::vector<GitItem> files;
    std::vector<std::string> findings;
    const char* message_part;
    std::uint32_t line;
  };
  const Case cases[] = {
      {"copy of an existing object",
       with({{"environments/dev/copy.yaml", configmap("base")}}),
       {"k8s.duplicate environments/dev/copy.yaml"},
       "declared twice in environment dev (ConfigMap base): also in environments/dev/base.yaml",
       1},
      {"two new files declaring one object",
       with({{"environments/dev/a.yaml", configmap("twin")}, {"environments/dev/b.yaml", configmap("twin")}}),
       {"k8s.duplicate environments/dev/b.yaml"},
       "(ConfigMap twin): also in environments/dev/a.yaml:1",
       1},
      {"two documents of one file",
       with({{"environments/dev/two.yaml", configmap("twin") + "---\n" + configmap("twin")}}),
       {"k8s.duplicate environments/dev/two.yaml"},
       "also in environments/dev/two.yaml:1",
       6},
      {"object moved to another file",
       with({{"environments/dev/moved.yaml", configmap("base")}}, "environments/dev/base.yaml"),
       {},
       "",
       0},
      {"object changed in place",
       with({{"environments/dev/base.yaml", configmap("base", "data:\n  a: b\n")}},
            "environments/dev/base.yaml"),
       {},
       "",
       0},
      {"same name in another namespace",
       with({{"environments/dev/ns.yaml",
              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base, namespace: other}\n"}}),
       {},
       "",
       0},
      {"same name, another kind",
       with({{"environments/dev/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: base}\n"}}),
       {},
       "",
       0},
      {"same object in another environment",
       with({{"environments/prod/copy.yaml", configmap("base")}}),
       {},
       "",
       0},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const Oid b = fx.commit(c.files, {a});
    Report r = gate(fx, index.path(), {{a, b, "refs/heads/main"}});
    INFO(describe(r));
    CHECK(summary(r) == c.findings);
    if (!r.findings.empty()) {
      CHECK_THAT(r.findings[0].message, Catch::Contains(c.message_part));
      CHECK(r.findings[0].line == c.line);
    }
  }
  CHECK(index_files(index.path(), env_tree(fx, a, "environments/dev")).size() == 1);
}

TEST_CASE("an environment whose tree equals another's is indexed with its own paths", "[gate]") {
  // dev and prod start out identical (a common way to bootstrap environments), so their trees
  // have one id and one index. Its answers must be read as paths of the environment asking:
  // a change to prod's copy is not a duplicate of dev's file.
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const Oid a = fx.commit({{"environments/dev/base.yaml", configmap("base")},
                           {"environments/prod/base.yaml", configmap("base")}});
  const Oid b = fx.commit({{"environments/dev/base.yaml", configmap("base")},
                           {"environments/prod/base.yaml", configmap("base", "data:\n  a: changed\n")}},
                          {a});
  const Oid c = fx.commit({{"environments/dev/base.yaml", configmap("base", "data:\n  a: changed\n")},
                           {"environments/prod/base.yaml", configmap("base")}},
                          {a});
  fx.set_ref("refs/heads/main", a);
  REQUIRE(env_tree(fx, a, "environments/dev") == env_tree(fx, a, "environments/prod"));
  for (const Oid& pushed : {b, c}) {
    test::TempDir index;
    update(fx, index.path(), {{zero(), a, "refs/heads/main"}});  // post-receive of the first push
    Report r = gate(fx, index.path(), {{a, pushed, "refs/heads/main"}});
    INFO(describe(r));
    CHECK(r.findings.empty());
  }
}

TEST_CASE("an environment's namespace is a namespace, not a path", "[gate]") {
  // The default namespace names the directory of the environment's indexes ("ns-<namespace>"),
  // so a policy must not be able to point the hook's writes (and trimming) outside the index
  // directory. Kubernetes namespaces are DNS-1123 labels; anything else is policy.invalid.
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const GitItem base{"environments/dev/base.yaml", configmap("base")};
  const GitItem escaping{
      ".portcullis.yaml",
      "environments:\n- name: dev\n  path: environments/dev\n  namespace: ../../../outside\n"};
  const Oid a = fx.commit({base});
  const Oid b = fx.commit({escaping, base}, {a});
  fx.set_ref("refs/heads/main", a);
  const fs::path index_dir = tmp / "srv/index";

  Report r = gate(fx, index_dir, {{a, b, "refs/heads/main"}});
  INFO(describe(r));
  CHECK(summary(r) == std::vector<std::string>{"policy.invalid .portcullis.yaml"});
  if (!r.findings.empty()) CHECK(r.findings[0].line == 4);

  // Even a policy that got in before the rule cannot move the index out of its directory.
  fx.set_ref("refs/heads/main", b);
  update(fx, index_dir, {{zero(), b, "refs/heads/feature"}});
  for (const auto& e : fs::recursive_directory_iterator(tmp.path())) {
    if (e.path().extension() != ".idx" || e.path().string().starts_with(fx.dir().string())) continue;
    INFO(e.path());
    auto rel = fs::weakly_canonical(e.path()).lexically_relative(fs::weakly_canonical(index_dir));
    CHECK((!rel.empty() && *rel.begin() != ".."));
  }
}

TEST_CASE("an index file written before paths became relative is not trusted", "[gate]") {
  // Releases up to 703d52c stored repository paths ("environments/dev/base.yaml") in files
  // with the same name and header. Read as relative paths they name files that do not
  // exist, so every object a push changes would be a duplicate of itself, and an incremental
  // update would carry the stale records into every later index.
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const Oid a = fx.commit({{"environments/dev/base.yaml", configmap("base")}});
  const Oid b = fx.commit({{"environments/dev/base.yaml", configmap("base", "data:\n  a: changed\n")},
                           {"environments/dev/new.yaml", configmap("new")}},
                          {a});
  fx.set_ref("refs/heads/main", a);
  const Oid dev_a = env_tree(fx, a, "environments/dev");
  test::TempDir index;
  update(fx, index.path(), {{zero(), a, "refs/heads/main"}});
  auto files = index_files(index.path(), dev_a);
  REQUIRE(files.size() == 1);

  // What the earlier release wrote for the same tree: header, offsets, "key\0path\0" records.
  const std::string key = object_key({"", "ConfigMap", "", "base"});
  const std::string path = "environments/dev/base.yaml";
  std::string data = key + '\0' + path + '\0';
  std::string old = "PCIDX001";
  const std::uint32_t header[] = {1, static_cast<std::uint32_t>(data.size()), 0};
  old.append(reinterpret_cast<const char*>(header), sizeof header);
  old += data;
  REQUIRE(util::write_file(files[0], old));

  Report r = gate(fx, index.path(), {{a, b, "refs/heads/main"}});
  INFO(describe(r));
  CHECK(r.findings.empty());
  update(fx, index.path(), {{a, b, "refs/heads/main"}});
  CHECK(records_of(load_index(index.path(), env_tree(fx, b, "environments/dev"))) ==
        std::vector<std::string>{"ConfigMap base @ base.yaml", "ConfigMap new @ new.yaml"});
}

TEST_CASE("files the policy excludes declare nothing, in a push or through the index", "[gate]") {
  // An excluded file is not a manifest: check_file skips it, so a push adding it next to a
  // file declaring the same object passes. The index must agree, or the verdict depends on
  // whether the excluded file came in an earlier push.
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const GitItem policy{".portcullis.yaml", "manifests:\n  exclude: ['environments/*/disabled/**']\n"};
  const GitItem disabled{"environments/dev/disabled/web.yaml", configmap("web")};
  const GitItem enabled{"environments/dev/web.yaml", configmap("web")};
  const Oid a = fx.commit({policy, {"environments/dev/base.yaml", configmap("base")}});
  const Oid with_disabled =
      fx.commit({policy, {"environments/dev/base.yaml", configmap("base")}, disabled}, {a});
  const Oid both = fx.commit({policy, {"environments/dev/base.yaml", configmap("base")}, disabled, enabled},
                             {with_disabled});
  fx.set_ref("refs/heads/main", a);
  test::TempDir index;
  Report together = gate(fx, index.path(), {{a, both, "refs/heads/main"}});
  INFO(describe(together));
  CHECK(together.findings.empty());
  Report after = gate(fx, index.path(), {{with_disabled, both, "refs/heads/main"}});
  INFO(describe(after));
  CHECK(after.findings.empty());
}

TEST_CASE("custom resources are validated through CRDs found in the index", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  auto store = test::import_store(test::k_apiserver_openapi, tmp / "store").program;
  const std::vector<GitItem> base = {{"environments/dev/crd.yaml", k_widget_crd},
                                     {"environments/dev/base.yaml", configmap("base")}};
  const Oid a = fx.commit(base);
  fx.set_ref("refs/heads/main", a);
  auto with = [&](GitItem extra) {
    auto files = base;
    files.push_back(std::move(extra));
    return files;
  };
  struct Case {
    const char* name;
    std::string cr;
    std::vector<std::string> findings;
    const char* message_part;
  };
  const Case cases[] = {
      {"valid custom resource",
       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n",
       {},
       ""},
      {"invalid custom resource",
       "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: big}\n",
       {"schema.type environments/dev/w.yaml"},
       "spec.size: expected integer"},
      {"version the CRD does not declare",
       "apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\n",
       {"schema.missing environments/dev/w.yaml"},
       "declares other versions"},
      {"kind without a CRD",
       "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: w}\n",
       {"schema.missing environments/dev/w.yaml"},
       "no schema for example.com/v1/Gadget"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const Oid b = fx.commit(with({"environments/dev/w.yaml", c.cr}), {a});
    test::TempDir index;
    Run run;
    run.store = &store;
    Report r = gate(fx, index.path(), {{a, b, "refs/heads/main"}}, run);
    INFO(describe(r));
    CHECK(summary(r) == c.findings);
    if (!r.findings.empty()) CHECK_THAT(r.findings[0].message, Catch::Contains(c.message_part));
  }
}

TEST_CASE("environments declared by the policy must be directories", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const GitItem policy{".portcullis.yaml",
                       "environments:\n- {name: prod, path: deploy/prod, protected: true}\n"};
  const Oid a = fx.commit({policy, {"deploy/README.md", "deployments\n"}});
  const Oid b =
      fx.commit({policy, {"deploy/README.md", "deployments\n"}, {"deploy/prod", "not a directory\n"}}, {a});
  const Oid c = fx.commit({policy,
                           {"deploy/README.md", "deployments\n"},
                           {"deploy/prod/web.yaml", configmap("web")},
                           {"environments/dev/x.yaml", "not: [checked\n"}},
                          {a});
  fx.set_ref("refs/heads/main", a);
  test::TempDir index;
  Report r = gate(fx, index.path(), {{a, b, "refs/heads/main"}});
  INFO(describe(r));
  REQUIRE(summary(r) == std::vector<std::string>{"k8s.not-an-object deploy/prod"});
  CHECK_THAT(r.findings[0].message, Catch::Contains("environment prod must be a directory"));
  // Declared environments replace discovery: environments/ is not checked.
  r = gate(fx, index.path(), {{a, c, "refs/heads/main"}});
  INFO(describe(r));
  CHECK(r.findings.empty());
  CHECK(r.stats.files == 1);
}

TEST_CASE("an expired deadline stops the gate with one gate.budget finding", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const Oid a = fx.commit({{"environments/dev/base.yaml", configmap("base")}});
  const Oid b = fx.commit(
      {{"environments/dev/base.yaml", configmap("base")}, {"environments/dev/bad.yaml", "a: [\n"}}, {a});
  fx.set_ref("refs/heads/main", a);
  test::TempDir index;
  for (auto mode : {GateMode::hook, GateMode::check}) {
    Run run;
    run.mode = mode;
    run.budget = std::chrono::milliseconds(0);
    Report r = gate(fx, index.path(), {{a, b, "refs/heads/main"}, {a, zero(), "refs/heads/main"}}, run);
    INFO(describe(r));
    CHECK(summary(r) == std::vector<std::string>{"gate.budget"});
    CHECK_THAT(r.findings[0].message, Catch::Contains("time budget of 4000 ms"));
    CHECK(r.findings[0].level == Level::error);
    CHECK(r.rejected());
    CHECK(r.stats.refs == 2);
  }
}

TEST_CASE("update_indexes builds the index of a new tip, in full or from the old one", "[gate]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const Oid a = fx.commit({{"environments/dev/base.yaml", configmap("base")},
                           {"environments/dev/other.yaml", configmap("other")},
                           {"environments/dev/kept.yaml", configmap("kept")},
                           {"environments/prod/base.yaml", configmap("prod-base")}});
  const Oid b = fx.commit({{"environments/dev/new.yaml", configmap("new") + "---\n" + k_widget_crd},
                           {"environments/dev/other.yaml", configmap("renamed")},
                           {"environments/dev/kept.yaml", configmap("kept")},
                           {"environments/prod/base.yaml", configmap("prod-base")}},
                          {a});
  fx.set_ref("refs/heads/main", a);
  const Oid dev_a = env_tree(fx, a, "environments/dev"), dev_b = env_tree(fx, b, "environments/dev");

  SECTION("a created branch gets a full build of every environment") {
    test::TempDir index;
    update(fx, index.path(), {{zero(), a, "refs/heads/main"}});
    CHECK(records_of(load_index(index.path(), dev_a)) ==
          std::vector<std::string>{"ConfigMap base @ base.yaml", "ConfigMap kept @ kept.yaml",
                                   "ConfigMap other @ other.yaml"});
    CHECK(records_of(load_index(index.path(), env_tree(fx, a, "environments/prod"))) ==
          std::vector<std::string>{"ConfigMap prod-base @ base.yaml"});
  }

  SECTION("an update starts from the old index and re-reads only the changed files") {
    test::TempDir index;
    update(fx, index.path(), {{zero(), a, "refs/heads/main"}});
    // A record only the old index has, for a file the update does not touch: kept if and only
    // if the new index was derived from the old one.
    auto old_files = index_files(index.path(), dev_a);
    REQUIRE(old_files.size() == 1);
    auto old = load_index(index.path(), dev_a);
    std::vector<IndexRecord> records;
    for (std::size_t i = 0; i < old.size(); ++i) records.push_back(old.at(i));
    records.push_back({object_key({"", "ConfigMap", "", "marker"}), "kept.yaml"});
    REQUIRE(IdentityIndex::store(old_files[0].parent_path(), dev_a, records));

    update(fx, index.path(), {{a, b, "refs/heads/main"}});
    auto dev = records_of(load_index(index.path(), dev_b));
    CHECK(dev == std::vector<std::string>{"CRD for example.com/Widget @ new.yaml",
                                          "ConfigMap kept @ kept.yaml", "ConfigMap marker @ kept.yaml",
                                          "ConfigMap new @ new.yaml", "ConfigMap renamed @ other.yaml",
                                          "apiextensions.k8s.io/CustomResourceDefinition "
                                          "widgets.example.com @ new.yaml"});
    // Without the old index the result is the same, built in full.
    test::TempDir fresh;
    update(fx, fresh.path(), {{a, b, "refs/heads/main"}});
    auto expected = dev;
    std::erase(expected, "ConfigMap marker @ kept.yaml");
    CHECK(records_of(load_index(fresh.path(), dev_b)) == expected);
  }

  SECTION("deleted refs and refs that are not checked get no index") {
    test::TempDir index;
    update(fx, index.path(), {{zero(), a, "refs/tags/v1.0"}, {a, zero(), "refs/heads/main"}});
    CHECK(fs::is_empty(index.path()));
  }

  SECTION("an expired deadline builds nothing") {
    test::TempDir index;
    auto repo = fx.open();
    policy::ServerConfig config;
    Deadline expired(std::chrono::milliseconds(0));
    std::vector<RefUpdate> updates{{zero(), a, "refs/heads/main"}};
    GateInput in{repo, config, nullptr, updates, expired, GateMode::hook, index.path(), {}, {}, 0};
    update_indexes(in);
    CHECK(fs::is_empty(index.path()));
  }
}

TEST_CASE("an environment's default namespace is part of its index", "[gate]") {
  // One environment tree, indexed once without and once with a default namespace: the keys
  // differ, so the two indexes must not be confused.
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  const GitItem base{"environments/dev/base.yaml", configmap("base")};
  const GitItem policy{".portcullis.yaml",
                       "environments:\n- {name: dev, path: environments/dev, namespace: team}\n"};
  const Oid plain = fx.commit({base});
  const Oid with_ns = fx.commit({policy, base}, {plain});
  const Oid copy = fx.commit({policy,
                              base,
                              {"environments/dev/copy.yaml",
                               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base, namespace: team}\n"}},
                             {with_ns});
  const Oid dev = env_tree(fx, plain, "environments/dev");
  REQUIRE(env_tree(fx, with_ns, "environments/dev") == dev);
  test::TempDir index;
  // A created branch is indexed with the policy of HEAD.
  fx.set_ref("refs/heads/main", plain);
  update(fx, index.path(), {{zero(), plain, "refs/heads/plain"}});
  fx.set_ref("refs/heads/main", with_ns);
  update(fx, index.path(), {{zero(), with_ns, "refs/heads/release"}});

  auto files = index_files(index.path(), dev);
  REQUIRE(files.size() == 2);
  std::set<std::vector<std::string>> indexes;
  for (const auto& f : files) {
    auto loaded = IdentityIndex::load(f.parent_path(), dev);
    REQUIRE(loaded);
    indexes.insert(records_of(*loaded));
  }
  CHECK(indexes == std::set<std::vector<std::string>>{{"ConfigMap base @ base.yaml"},
                                                      {"ConfigMap team/base @ base.yaml"}});
  // The namespace defaulted in the index matches the one written in the pushed file.
  Report r = gate(fx, index.path(), {{with_ns, copy, "refs/heads/main"}});
  INFO(describe(r));
  CHECK(summary(r) == std::vector<std::string>{"k8s.duplicate environments/dev/copy.yaml"});
}
