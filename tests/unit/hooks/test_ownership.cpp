#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hooks/ownership.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/process.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
using git::Oid;
using test::GitItem;
namespace fs = std::filesystem;

namespace {

using Files = std::map<std::string, std::string>;

std::string configmap(const std::string& name) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n";
}

std::vector<GitItem> items_of(const Files& files) {
  std::vector<GitItem> items;
  for (const auto& [path, content] : files) items.push_back(GitItem{path, content});
  return items;
}

// `files` plus one ConfigMap per path of `added`.
Files with(Files files, const std::vector<std::string>& added) {
  for (const auto& p : added) files[p] = configmap(fs::path(p).stem().string());
  return files;
}

// Replaces every `{name}` of `vars` in `text`.
std::string expand(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars)
    for (auto at = text.find("{" + name + "}"); at != std::string::npos; at = text.find("{" + name + "}"))
      text.replace(at, name.size() + 2, value);
  return text;
}

// SSH keys made by the real ssh-keygen, and an allowed-signers file that names everyone but
// mallory (erin by her email; olga holds a key of alice's that expired in 2020).
class Keys {
 public:
  explicit Keys(const test::TempDir& tmp) : m_dir(tmp / "keys") {
    fs::create_directories(m_dir);
    struct Person {
      const char* who;
      const char* principal;
      const char* options;
    };
    const Person people[] = {{"alice", "alice", ""},
                             {"bob", "bob", ""},
                             {"carol", "carol", ""},
                             {"erin", "erin@example.com", ""},
                             {"olga", "alice", "valid-before=\"20200101\""},
                             {"mallory", "", ""}};
    std::string allowed;
    for (const auto& [who, principal, options] : people) {
      auto r = test::run_process(
          {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", (m_dir / who).string()}, m_dir);
      INFO(r.err);
      REQUIRE(r.status == 0);
      if (!*principal) continue;
      std::ifstream pub(m_dir / (std::string(who) + ".pub"));
      std::string type, key;
      pub >> type >> key;
      allowed += std::string(principal) + " namespaces=\"git\"" +
                 (*options ? "," + std::string(options) : "") + " " + type + " " + key + "\n";
    }
    std::ofstream(m_dir / "allowed_signers") << allowed;
  }
  fs::path key(const std::string& who) const { return m_dir / who; }
  fs::path allowed_signers() const { return m_dir / "allowed_signers"; }

 private:
  fs::path m_dir;
};

std::vector<std::string> signing_with(const Keys& keys, const std::string& who) {
  return {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + keys.key(who).string()};
}

// A commit of `files` on `parents`, by `author` (name, email) and signed with `signer`'s key
// unless `signer` is empty; `date` sets author and committer dates (git's formats).
Oid make_commit(const test::GitFixture& fx, const Files& files, const std::vector<Oid>& parents,
                const std::pair<std::string, std::string>& author = {"Test", "test@example.com"},
                const Keys* keys = nullptr, const std::string& signer = "", const std::string& date = "") {
  std::vector<std::string> args;
  if (!signer.empty()) args = signing_with(*keys, signer);
  args.insert(args.end(), {"commit-tree", fx.tree(items_of(files)).hex(), "-m", "change"});
  for (const auto& p : parents) args.insert(args.end(), {"-p", p.hex()});
  if (!signer.empty()) args.push_back("-S");
  test::EnvVars env{{"GIT_AUTHOR_NAME", author.first}, {"GIT_AUTHOR_EMAIL", author.second}};
  if (!date.empty()) {
    env.emplace_back("GIT_AUTHOR_DATE", date);
    env.emplace_back("GIT_COMMITTER_DATE", date);
  }
  return test::to_oid(fx.git(args, {}, env));
}

// An annotated tag of `commit` signed with `who`'s key; returns the tag object (no ref kept).
Oid approval_tag(const test::GitFixture& fx, const Keys& keys, const std::string& who, const Oid& commit) {
  const std::string name = "approval-" + who + "-" + commit.short_hex();
  auto args = signing_with(keys, who);
  args.insert(args.end(), {"tag", "-s", "-m", "approve", name, commit.hex()});
  fx.git(args);
  Oid tag = fx.rev("refs/tags/" + name);
  fx.git({"tag", "-d", name});
  return tag;
}

OwnershipResult check(const test::GitFixture& fx, const policy::ServerConfig& config,
                      const policy::Policy& policy, const Oid& base, const Oid& tip,
                      const std::string& pusher, const std::vector<RefUpdate>& also_pushed = {}) {
  auto repo = fx.open();
  std::vector<RefUpdate> updates{RefUpdate{base, tip, "refs/heads/main"}};
  updates.insert(updates.end(), also_pushed.begin(), also_pushed.end());
  OwnershipContext ctx{repo,   config,  policy,
                       base,   tip,     "refs/heads/main",
                       pusher, updates, static_cast<std::int64_t>(std::time(nullptr))};
  return check_ownership(ctx);
}

std::vector<std::string> approvals_of(const OwnershipResult& r) {
  std::vector<std::string> out;
  for (const auto& a : r.approvals) out.push_back(a.identity + " (" + a.how + ")");
  return out;
}

std::string describe(const OwnershipResult& r) {
  std::string s;
  for (const auto& f : r.findings)
    s += f.rule + " " + f.file + ":" + std::to_string(f.line) +
         (f.level == Level::warning ? " warning " : " ") + f.message + "\n";
  return s;
}

// Each of `expected` ("rule|part of the message") names one finding, in order.
void check_findings(const OwnershipResult& r, const std::vector<std::string>& expected,
                    const std::map<std::string, std::string>& vars = {}) {
  INFO("findings:\n" << describe(r));
  REQUIRE(r.findings.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    std::string e = expand(expected[i], vars);
    auto bar = e.find('|');
    CHECK(r.findings[i].rule == e.substr(0, bar));
    if (bar != std::string::npos) CHECK_THAT(r.findings[i].message, Catch::Contains(e.substr(bar + 1)));
    const bool warning = r.findings[i].rule == "owners.signature" || r.findings[i].rule == "owners.teams";
    CHECK(r.findings[i].level == (warning ? Level::warning : Level::error));
  }
}

const Files k_environments = {{"environments/dev/base.yaml", configmap("dev")},
                              {"environments/staging/base.yaml", configmap("staging")},
                              {"environments/prod/base.yaml", configmap("prod")}};

}  // namespace

TEST_CASE("owner_matches names users, emails and team members, case-insensitively; never roles",
          "[ownership]") {
  const std::map<std::string, std::vector<std::string>> teams = {
      {"@org/platform", {"carol", "Dave@Example.com", "@erin"}},
      {"org/sre", {"frank"}},  // a key written without its '@'
  };
  struct Case {
    const char* owner;
    const char* identity;
    bool expected;
  };
  const Case cases[] = {
      {"@alice", "alice", true},
      {"@alice", "@alice", true},
      {"alice", "alice", true},  // without '@' on either side
      {"alice", "@alice", true},
      {"@Alice", "ALICE", true},
      {"@alice", "alicia", false},
      {"@alice", "alice2", false},
      {"@alice", "alice@example.com", false},  // a user name is not an email
      {"alice@example.com", "alice@example.com", true},
      {"Alice@Example.COM", "alice@example.com", true},
      {"alice@example.com", "alice", false},
      {"alice@example.com", "alice@example.org", false},
      {"@org/platform", "carol", true},
      {"@org/platform", "@carol", true},
      {"@ORG/Platform", "CAROL", true},
      {"@org/platform", "dave@example.com", true},
      {"@org/platform", "erin", true},
      {"@org/platform", "alice", false},
      {"@org/platform", "@org/platform", false},  // a team is not one of its members
      {"@org/other", "carol", false},             // unknown team: nobody
      {"@org/sre", "frank", true},
      {"@@maintainers", "maintainers", false},  // GitLab roles are unknown on a bare server
      {"@@maintainers", "@@maintainers", false},
      {"@@developer", "carol", false},
      {"@alice", "", false},
      {"@", "@", false},
      {"", "", false},
  };
  for (const auto& c : cases) {
    INFO(c.owner << " vs " << c.identity);
    CHECK(owner_matches(c.owner, c.identity, teams) == c.expected);
  }
}

TEST_CASE("changed_between is what an update changes tip to tip, whatever history lies between",
          "[ownership]") {
  test::TempDir tmp;
  test::GitFixture fx(tmp);
  // B -- C1 (adds temp) -- C2 (removes temp, changes a) --- X (merge, also adds evil)
  //  \_ S (adds side) ________________________________________/
  // R: a merge of C2 and S whose tree is B's (a rollback that "changes nothing" per commit).
  const Files b = {{"a.txt", "a"}, {"keep.txt", "keep"}};
  Files c1 = b;
  c1["temp.txt"] = "temp";
  Files c2 = b;
  c2["a.txt"] = "a2";
  Files s = b;
  s["side.txt"] = "side";
  Files x = c2;
  x["side.txt"] = "side";
  x["evil.txt"] = "evil";
  const Oid B = make_commit(fx, b, {});
  const Oid C1 = make_commit(fx, c1, {B});
  const Oid C2 = make_commit(fx, c2, {C1});
  const Oid S = make_commit(fx, s, {B});
  const Oid X = make_commit(fx, x, {C2, S});
  const Oid R = make_commit(fx, b, {B, C2});
  const Oid O = make_commit(fx, b, {B, C1, S});  // an octopus with B's tree
  auto repo = fx.open();

  struct Case {
    const char* name;
    std::optional<Oid> before;
    Oid after;
    std::vector<std::string> paths;
  };
  const Case cases[] = {
      {"one commit", B, C1, {"temp.txt"}},
      {"a file added then removed is no change", B, C2, {"a.txt"}},
      {"nothing new", C2, C2, {}},
      {"a merge: both sides and its own change", B, X, {"a.txt", "evil.txt", "side.txt"}},
      {"a merge into a target that had its first parent", C2, X, {"evil.txt", "side.txt"}},
      {"a merge into a target that had its second parent", S, X, {"a.txt", "evil.txt"}},
      {"a merge whose first parent is an old commit rolls the target back", C2, R, {"a.txt"}},
      {"an octopus with an old tree", X, O, {"a.txt", "evil.txt", "side.txt"}},
      {"backwards", C2, B, {"a.txt"}},
      {"from nothing", std::nullopt, B, {"a.txt", "keep.txt"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto changes = changed_between(repo, c.before, c.after);
    REQUIRE(changes);
    std::vector<std::string> paths;
    for (const auto& ch : *changes) paths.push_back(ch.path);
    CHECK(paths == c.paths);
  }
}

TEST_CASE("approvals are bound to content: history shapes, stale and unrelated signatures, server time",
          "[ownership]") {
  // Each case is an attack (or the honest flow beside it) on main, whose prod is owned by alice
  // (and bob, where self-approval is judged). main: b0 (prod v1) -> b1 (prod v2); pre is a commit
  // from before CODEOWNERS existed.
  test::TempDir tmp;
  const Keys keys(tmp);
  struct Commit {
    std::string id;
    std::vector<std::string> parents;  // ids of earlier commits of the case, "b0", "b1", "pre"
    std::map<std::string, std::optional<std::string>>
        change;  // path -> content (nullopt: removed), over the first parent
    std::string signer = "";
    std::string author = "mallory";
    std::string date = "";
    std::string tree_of = "";  // take this commit's tree instead
  };
  struct Tag {
    std::string who;
    std::string of;
  };
  struct Case {
    const char* name;
    std::vector<Commit> commits;  // the last is the new tip
    const char* pusher;
    std::vector<std::string> findings;
    bool self_approval = true;
    std::vector<Tag> tags = {};
  };
  const std::string v3 = configmap("prod-v3");
  const std::string needs_alice = "owners.approval-required|needs approval by @alice";
  const std::string needs_owner = "owners.approval-required|needs approval by @alice, @bob";
  const std::string not_contained = "owners.signature|does not contain the target's tip";
  const Case cases[] = {
      {"a merge whose first parent is old main, with its tree, rolls prod back",
       {{"m", {"b0", "b1"}, {}, "", "mallory", "", "b0"}},
       "mallory",
       {needs_alice + "; approvals seen: mallory (pusher)"}},
      {"a merge back to before CODEOWNERS existed is judged by the CODEOWNERS of the target",
       {{"m", {"pre", "b1"}, {}, "", "mallory", "", "pre"}},
       "mallory",
       {needs_alice}},
      {"an octopus with an old tree",
       {{"m", {"b0", "pre", "b1"}, {}, "", "mallory", "", "b0"}},
       "mallory",
       {needs_alice}},
      {"a shared base prod renders, changed after the owner approved the overlay, needs the owner",
       {{"k", {"b1"}, {{"environments/prod/kustomization.yaml", "resources: [../../base]\n"},
                       {"base/kustomization.yaml", "resources: [app.yaml]\n"},
                       {"base/app.yaml", configmap("base-v1")}}, "alice", "alice"},
        {"m", {"k"}, {{"base/app.yaml", v3}}}},
       "mallory",
       {needs_alice}},
      {"a file of the base that prod's render does not read is nobody's",
       {{"k", {"b1"}, {{"environments/prod/kustomization.yaml", "resources: [../../base]\n"},
                       {"base/kustomization.yaml", "resources: [app.yaml]\n"},
                       {"base/app.yaml", configmap("base-v1")}}, "alice", "alice"},
        {"m", {"k"}, {{"base/other.yaml", v3}}}},
       "mallory",
       {}},
      {"a commit that reverts prod, then one that changes nothing",
       {{"r", {"b1"}, {{"environments/prod/app.yaml", configmap("prod-v1")}}},
        {"n", {"r"}, {{"environments/dev/x.yaml", configmap("x")}}}},
       "mallory",
       {needs_alice}},
      {"the owner signs a merge onto main: approved",
       {{"f", {"b1"}, {{"environments/prod/app.yaml", v3}}},
        {"m", {"b1", "f"}, {}, "alice", "alice", "", "f"}},
       "mallory",
       {}},
      {"an unrelated commit alice signed elsewhere, merged in as a second parent",
       {{"x", {"b0"}, {{"environments/prod/app.yaml", v3}}, "alice", "alice"},
        {"m", {"b1", "x"}, {}, "", "mallory", "", "x"}},
       "mallory",
       {not_contained, needs_alice}},
      {"an old signed commit of alice's cannot approve a rollback to it",
       {{"m", {"b1", "b0"}, {}, "", "mallory", "", "b0"}},
       "mallory",
       {needs_alice}},
      {"alice's signed commit with an unsigned one on top that changes prod again",
       {{"a", {"b1"}, {{"environments/prod/app.yaml", v3}}, "alice", "alice"},
        {"t", {"a"}, {{"environments/prod/app.yaml", configmap("prod-v4")}}}},
       "mallory",
       {needs_alice + "; approvals seen: mallory (pusher), alice (signed commit {a})" +
        " (alice approved other content: a later change needs its own approval)"}},
      {"alice's signed commit with an unsigned one on top that changes only dev: prod is as she signed it",
       {{"a", {"b1"}, {{"environments/prod/app.yaml", v3}}, "alice", "alice"},
        {"t", {"a"}, {{"environments/dev/x.yaml", configmap("x")}}}},
       "mallory",
       {}},
      {"alice's signature approves her deletion",
       {{"d", {"b1"}, {{"environments/prod/app.yaml", std::nullopt}}, "alice", "alice"}},
       "mallory",
       {}},
      {"a file added and removed within the push needs nobody",
       {{"a", {"b1"}, {{"environments/prod/tmp.yaml", v3}}},
        {"r", {"a"}, {{"environments/prod/tmp.yaml", std::nullopt}}}},
       "mallory",
       {}},
      {"a signature by a key that expired is judged at the server's clock, not the committer date",
       {{"o", {"b1"}, {{"environments/prod/app.yaml", v3}}, "olga", "alice", "2019-06-01T12:00:00Z"}},
       "mallory",
       {"owners.signature|the key expired at 2020-01-01", needs_alice}},
      {"an approval tag of the new tip",
       {{"t", {"b1"}, {{"environments/prod/app.yaml", v3}}}},
       "mallory",
       {},
       true,
       {{"alice", "t"}}},
      {"an approval tag of a pushed commit approves the content it has",
       {{"a", {"b1"}, {{"environments/prod/app.yaml", v3}}},
        {"t", {"a"}, {{"environments/dev/x.yaml", configmap("x")}}}},
       "mallory",
       {},
       true,
       {{"alice", "a"}}},
      {"an approval tag of a commit that does not contain main approves nothing",
       {{"x", {"b0"}, {{"environments/prod/app.yaml", v3}}}, {"m", {"b1", "x"}, {}, "", "mallory", "", "x"}},
       "mallory",
       {needs_alice},
       true,
       {{"alice", "x"}}},
      {"self-approval off: the owner pushing her own change",
       {{"t", {"b1"}, {{"environments/prod/app.yaml", v3}}, "", "alice"}},
       "alice",
       {needs_owner + "; approvals seen: alice (pusher, the pusher's own: self-approval is off)"},
       false},
      {"self-approval off: --author of someone else does not help",
       {{"t", {"b1"}, {{"environments/prod/app.yaml", v3}}, "", "bob"}},
       "alice",
       {needs_owner},
       false},
      {"self-approval off: the pusher's own signature does not count either",
       {{"t", {"b1"}, {{"environments/prod/app.yaml", v3}}, "alice", "bob"}},
       "alice",
       {needs_owner +
        "; approvals seen: alice (pusher, the pusher's own: self-approval is off), alice (signed commit {t}, "
        "the pusher's own: self-approval is off)"},
       false},
      {"removing CODEOWNERS changes every file it governed", {{"t", {"b1"}, {{".github/CODEOWNERS", std::nullopt}}}},
       "mallory", {needs_alice + "; approvals seen: mallory (pusher); the push changes .github/CODEOWNERS"}},
      {"a CODEOWNERS where GitHub looks first, naming someone else",
       {{"t", {"b1"}, {{"docs/x.md", "x"}, {".github/CODEOWNERS", "environments/prod/ @mallory\n"}}}}, "mallory",
       {needs_alice}},
      {"a .portcullis.yaml that unprotects prod", {{"t", {"b1"}, {{".portcullis.yaml", "environments: []\n"}}}},
       "mallory", {needs_alice + "; approvals seen: mallory (pusher); the push changes .portcullis.yaml"}},
      {"an owner's approval of something else does not approve a new CODEOWNERS",
       {{"a", {"b1"}, {{"environments/dev/x.yaml", configmap("x")}}, "alice", "alice"},
        {"t", {"a"}, {{".github/CODEOWNERS", "environments/prod/ @mallory\n"}}}},
       "mallory", {needs_alice}},
      {"an approval tag of a commit the push does not bring approves nothing",
       {{"x", {"b1"}, {{"environments/prod/app.yaml", v3}}},
        {"t", {"b1"}, {{"environments/prod/app.yaml", v3}, {"environments/dev/x.yaml", configmap("x")}}}},
       "mallory", {needs_alice}, true, {{"alice", "x"}}},
      {"the owner may change what governs her environment", {{"t", {"b1"}, {{".portcullis.yaml", "environments: []\n"}}}},
       "alice", {}},
      {"self-approval off: another owner signed it",
       {{"t", {"b1"}, {{"environments/prod/app.yaml", v3}}, "bob", "alice"}},
       "alice",
       {},
       false},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    std::map<std::string, Oid> ids;
    std::map<std::string, Files> trees;
    Files pre = {{"environments/prod/app.yaml", configmap("prod-v0")},
                 {"environments/dev/base.yaml", configmap("dev")}};
    trees["pre"] = pre;
    ids["pre"] = make_commit(fx, pre, {});
    Files b0 = pre;
    b0[".github/CODEOWNERS"] =
        c.self_approval ? "environments/prod/ @alice\n" : "environments/prod/ @alice @bob\n";
    b0["environments/prod/app.yaml"] = configmap("prod-v1");
    trees["b0"] = b0;
    ids["b0"] = make_commit(fx, b0, {ids["pre"]});
    Files b1 = b0;
    b1["environments/prod/app.yaml"] = configmap("prod-v2");
    trees["b1"] = b1;
    ids["b1"] = make_commit(fx, b1, {ids["b0"]});
    for (const auto& commit : c.commits) {
      std::vector<Oid> parents;
      for (const auto& p : commit.parents) parents.push_back(ids.at(p));
      Files files = commit.tree_of.empty() ? trees.at(commit.parents.front()) : trees.at(commit.tree_of);
      for (const auto& [path, content] : commit.change)
        if (content)
          files[path] = *content;
        else
          files.erase(path);
      trees[commit.id] = files;
      ids[commit.id] = make_commit(fx, files, parents, {commit.author, commit.author + "@example.com"}, &keys,
                                   commit.signer, commit.date);
    }
    const Oid tip = ids.at(c.commits.back().id);
    std::vector<RefUpdate> pushed;
    for (const auto& t : c.tags) {
      const Oid of = ids.at(t.of);
      pushed.push_back(
          RefUpdate{Oid{}, approval_tag(fx, keys, t.who, of), "refs/approvals/" + of.hex() + "/" + t.who});
    }
    policy::ServerConfig config;
    config.allowed_signers = keys.allowed_signers();
    policy::Policy policy;
    policy.self_approval = c.self_approval;
    auto r = check(fx, config, policy, ids["b1"], tip, c.pusher, pushed);
    std::map<std::string, std::string> vars;
    for (const auto& [id, oid] : ids) vars[id] = oid.short_hex();
    check_findings(r, c.findings, vars);
  }
}

TEST_CASE("check_ownership reads CODEOWNERS from the target, where the forge would, in its dialect",
          "[ownership]") {
  test::TempDir tmp;
  const std::string github = "environments/prod/ @alice\n";
  // [Prod][2] is a section to GitLab and an (unowned) pattern to GitHub.
  const std::string gitlab = "[Prod][2]\nenvironments/prod/ @alice @carol\n";
  const std::string needs_alice =
      "owners.approval-required|needs approval by @alice; approvals seen: bob (pusher)";
  const std::string needs_two =
      "owners.approval-required|needs 2 distinct approvals from @alice, @carol (section Prod)";
  struct Case {
    const char* name;
    Files codeowners;  // location -> content
    policy::Dialect dialect;
    const char* pusher;
    std::vector<std::string> findings;
    const char* file = "";  // of the first finding
    std::uint32_t line = 0;
  };
  const Case cases[] = {
      {"GitHub: .github/CODEOWNERS",
       {{".github/CODEOWNERS", github}},
       policy::Dialect::automatic,
       "bob",
       {needs_alice}},
      {"GitHub: CODEOWNERS", {{"CODEOWNERS", github}}, policy::Dialect::automatic, "bob", {needs_alice}},
      {"GitHub: docs/CODEOWNERS",
       {{"docs/CODEOWNERS", github}},
       policy::Dialect::automatic,
       "bob",
       {needs_alice}},
      {"the owner approves by pushing",
       {{".github/CODEOWNERS", github}},
       policy::Dialect::automatic,
       "alice",
       {}},
      {"GitHub order: .github/ before the root",
       {{".github/CODEOWNERS", github}, {"CODEOWNERS", "environments/prod/ @bob\n"}},
       policy::Dialect::automatic,
       "bob",
       {needs_alice}},
      {"GitHub order: the root before docs/",
       {{"CODEOWNERS", github}, {"docs/CODEOWNERS", "environments/prod/ @bob\n"}},
       policy::Dialect::github,
       "bob",
       {needs_alice}},
      {"automatic: .gitlab/CODEOWNERS is GitLab's",
       {{".gitlab/CODEOWNERS", gitlab}},
       policy::Dialect::automatic,
       "alice",
       {needs_two}},
      {"automatic: a root CODEOWNERS is read as GitHub's",
       {{"CODEOWNERS", gitlab}},
       policy::Dialect::automatic,
       "alice",
       {}},
      {"policy gitlab: a root CODEOWNERS is GitLab's",
       {{"CODEOWNERS", gitlab}},
       policy::Dialect::gitlab,
       "alice",
       {needs_two}},
      {"policy gitlab: docs/CODEOWNERS",
       {{"docs/CODEOWNERS", gitlab}},
       policy::Dialect::gitlab,
       "alice",
       {needs_two}},
      {"GitLab order: the root before .gitlab/",
       {{"CODEOWNERS", gitlab}, {".gitlab/CODEOWNERS", "[Prod]\nenvironments/prod/ @alice\n"}},
       policy::Dialect::gitlab,
       "alice",
       {needs_two}},
      {"policy github ignores .gitlab/",
       {{".gitlab/CODEOWNERS", gitlab}},
       policy::Dialect::github,
       "bob",
       {}},
      {"policy gitlab ignores .github/",
       {{".github/CODEOWNERS", github}},
       policy::Dialect::gitlab,
       "bob",
       {}},
      {"no CODEOWNERS: nobody owns anything", {}, policy::Dialect::automatic, "bob", {}},
      {"a directory named CODEOWNERS is no file",
       {{"CODEOWNERS/README", github}},
       policy::Dialect::automatic,
       "bob",
       {}},
      {"GitHub: an exclusion is invalid",
       {{".github/CODEOWNERS", github + "!environments/prod/free.yaml\n"}},
       policy::Dialect::automatic,
       "alice",
       {"owners.invalid|never means \"no owners\""},
       ".github/CODEOWNERS",
       2},
      {"GitHub: an owner without @",
       {{"CODEOWNERS", "# owners\n\nenvironments/prod/ alice\n"}},
       policy::Dialect::automatic,
       "alice",
       {"owners.invalid|CODEOWNERS on the target"},
       "CODEOWNERS",
       3},
      {"GitLab: a broken section header",
       {{".gitlab/CODEOWNERS", "[Prod\nenvironments/prod/ @alice\n"}},
       policy::Dialect::automatic,
       "alice",
       {"owners.invalid|"},
       ".gitlab/CODEOWNERS",
       1},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    Files base = k_environments;
    for (const auto& [path, text] : c.codeowners) base[path] = text;
    const Oid b = make_commit(fx, base, {});
    const Oid tip = make_commit(fx, with(base, {"environments/prod/new.yaml"}), {b});
    policy::Policy policy;
    policy.codeowners_dialect = c.dialect;
    auto r = check(fx, policy::ServerConfig{}, policy, b, tip, c.pusher);
    check_findings(r, c.findings);
    if (!c.findings.empty() && c.line) {
      CHECK(r.findings[0].file == c.file);
      CHECK(r.findings[0].line == c.line);
    }
  }

  SECTION("a CODEOWNERS the push changes or adds does not judge that push") {
    test::GitFixture fx(tmp, "changes-codeowners");
    Files base = k_environments;
    base["CODEOWNERS"] = github;
    const Oid b = make_commit(fx, base, {});
    Files next = with(base, {"environments/prod/new.yaml"});
    next["CODEOWNERS"] = "environments/prod/ @bob\n";
    const Oid tip = make_commit(fx, next, {b});
    auto r = check(fx, {}, {}, b, tip, "bob");
    // ... and changing CODEOWNERS changes every file of the protected environments it governs.
    check_findings(r, {"owners.approval-required|2 paths need approval by @alice: environments/prod/new.yaml, "
                       "environments/prod/base.yaml; approvals seen: bob (pusher); the push changes CODEOWNERS, "
                       "which decides who owns the protected environments"});
    CHECK(r.findings[0].file == "environments/prod/new.yaml");
    CHECK(r.changed_paths == 2);
  }
}

TEST_CASE("check_ownership counts approvals from the pusher, signed commits and signed approval tags",
          "[ownership]") {
  test::TempDir tmp;
  const Keys keys(tmp);
  const std::string codeowners =
      "# Platform owns production.\n"
      "environments/prod/ @alice @org/platform\n"
      "/environments/staging/ carol@example.com erin@example.com\n";
  struct Tag {
    const char* who;
    bool of_pushed_commit;  // false: of the target's commit
    bool with_push;         // false: already on the server
  };
  struct Case {
    const char* name;
    const char* changed;
    const char* pusher;
    std::pair<std::string, std::string> author = {"Test", "test@example.com"};
    bool self_approval = true;
    const char* signed_by = "";
    std::vector<Tag> tags = {};
    bool signers = true;  // allowedSigners is configured
    std::vector<std::string> approvals = {};
    std::vector<std::string> findings = {};
  };
  const std::string needs_owner =
      "owners.approval-required|needs approval by @alice, @org/platform; approvals seen: ";
  const std::string self_off = "(pusher, the pusher's own: self-approval is off)";
  const Case cases[] = {
      {.name = "an owner pushes",
       .changed = "environments/prod/new.yaml",
       .pusher = "alice",
       .approvals = {"alice (pusher)"}},
      {.name = "a non-owner pushes",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .approvals = {"bob (pusher)"},
       .findings = {needs_owner + "bob (pusher)"}},
      {.name = "a team member (server config) pushes",
       .changed = "environments/prod/new.yaml",
       .pusher = "dave",
       .approvals = {"dave (pusher)"}},
      {.name = "names compare case-insensitively",
       .changed = "environments/prod/new.yaml",
       .pusher = "ALICE",
       .approvals = {"ALICE (pusher)"}},
      {.name = "nobody named",
       .changed = "environments/prod/new.yaml",
       .pusher = "",
       .findings = {needs_owner + "none"}},
      {.name = "an email owner pushes",
       .changed = "environments/staging/new.yaml",
       .pusher = "carol@example.com",
       .approvals = {"carol@example.com (pusher)"}},
      {.name = "a non-owner changes a path owned by emails",
       .changed = "environments/staging/new.yaml",
       .pusher = "bob",
       .approvals = {"bob (pusher)"},
       .findings = {"owners.approval-required|needs approval by carol@example.com, erin@example.com; "
                    "approvals seen: bob"}},
      {.name = "unowned paths need nobody",
       .changed = "environments/dev/new.yaml",
       .pusher = "bob",
       .approvals = {"bob (pusher)"}},
      {.name = "selfApproval off: the pusher's approval does not count, whoever the author fields name",
       .changed = "environments/prod/new.yaml",
       .pusher = "alice",
       .author = {"Bob", "bob@example.com"},
       .self_approval = false,
       .approvals = {"alice (pusher)"},
       .findings = {needs_owner + "alice " + self_off}},
      {.name = "selfApproval off: an email owner pushes",
       .changed = "environments/staging/new.yaml",
       .pusher = "carol@example.com",
       .author = {"Carol", "Carol@Example.com"},
       .self_approval = false,
       .approvals = {"carol@example.com (pusher)"},
       .findings = {"owners.approval-required|approvals seen: carol@example.com " + self_off}},
      {.name = "selfApproval off: another owner's signature counts",
       .changed = "environments/prod/new.yaml",
       .pusher = "alice",
       .self_approval = false,
       .signed_by = "erin",
       .approvals = {"alice (pusher)", "erin@example.com (signed commit {commit})"},
       .findings = {needs_owner + "alice " + self_off + ", erin@example.com (signed commit {commit})"}},
      {.name = "selfApproval on: the author pushes",
       .changed = "environments/prod/new.yaml",
       .pusher = "alice",
       .author = {"alice", "alice@example.com"},
       .approvals = {"alice (pusher)"}},
      {.name = "a commit signed by an owner",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .signed_by = "alice",
       .approvals = {"bob (pusher)", "alice (signed commit {commit})"}},
      {.name = "a commit signed by a key that is no allowed signer",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .signed_by = "mallory",
       .approvals = {"bob (pusher)"},
       .findings = {"owners.signature|the signature of commit {commit} is not accepted: ",
                    needs_owner + "bob (pusher)"}},
      {.name = "a commit signed by an allowed signer who owns nothing",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .signed_by = "bob",
       .approvals = {"bob (pusher)", "bob (signed commit {commit})"},
       .findings = {needs_owner + "bob (pusher), bob (signed commit {commit})"}},
      {.name = "without allowedSigners signatures are not read",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .signed_by = "mallory",
       .signers = false,
       .approvals = {"bob (pusher)"},
       .findings = {needs_owner + "bob (pusher)"}},
      {.name = "an approval tag already on the server",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .tags = {{"alice", true, false}},
       .approvals = {"bob (pusher)", "alice (approval tag refs/approvals/{commit40}/alice)"}},
      {.name = "an approval tag pushed with the change",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .tags = {{"alice", true, true}},
       .approvals = {"bob (pusher)", "alice (approval tag refs/approvals/{commit40}/alice)"}},
      {.name = "an approval tag of another commit is ignored",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .tags = {{"alice", false, false}, {"alice", false, true}},
       .approvals = {"bob (pusher)"},
       .findings = {needs_owner + "bob (pusher)"}},
      {.name = "an approval tag by an unknown signer",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .tags = {{"mallory", true, true}},
       .approvals = {"bob (pusher)"},
       .findings = {"owners.signature|approval tag refs/approvals/{commit40}/mallory is not accepted: ",
                    needs_owner + "bob (pusher)"}},
      {.name = "an approval tag by a principal named by email",
       .changed = "environments/staging/new.yaml",
       .pusher = "bob",
       .tags = {{"erin", true, false}},
       .approvals = {"bob (pusher)", "erin@example.com (approval tag refs/approvals/{commit40}/erin)"}},
      {.name = "without allowedSigners approval tags are not read",
       .changed = "environments/prod/new.yaml",
       .pusher = "bob",
       .tags = {{"alice", true, true}},
       .signers = false,
       .approvals = {"bob (pusher)"},
       .findings = {needs_owner + "bob (pusher)"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    Files base = k_environments;
    base[".github/CODEOWNERS"] = codeowners;
    const Oid b = make_commit(fx, base, {});
    const Oid tip = make_commit(fx, with(base, {c.changed}), {b}, c.author, &keys, c.signed_by);
    std::vector<RefUpdate> pushed;
    for (const auto& t : c.tags) {
      const Oid of = t.of_pushed_commit ? tip : b;
      const Oid tag = approval_tag(fx, keys, t.who, of);
      const std::string ref = "refs/approvals/" + of.hex() + "/" + t.who;
      if (t.with_push)
        pushed.push_back(RefUpdate{Oid{}, tag, ref});
      else
        fx.set_ref(ref, tag);
    }
    policy::ServerConfig config;
    config.teams = {{"@org/platform", {"dave"}}};
    if (c.signers) config.allowed_signers = keys.allowed_signers();
    policy::Policy policy;
    policy.self_approval = c.self_approval;
    auto r = check(fx, config, policy, b, tip, c.pusher, pushed);
    const std::map<std::string, std::string> vars = {{"commit", tip.short_hex()}, {"commit40", tip.hex()}};
    std::vector<std::string> approvals;
    for (const auto& a : c.approvals) approvals.push_back(expand(a, vars));
    CHECK(approvals_of(r) == approvals);
    check_findings(r, c.findings, vars);
    CHECK(r.changed_paths == 1);
  }
}

TEST_CASE("a signed merge approves what it merges; a change undone within the push is no change",
          "[ownership]") {
  test::TempDir tmp;
  const Keys keys(tmp);
  test::GitFixture fx(tmp);
  Files base = k_environments;
  base[".github/CODEOWNERS"] = "environments/prod/ @alice\n";
  const Oid b = make_commit(fx, base, {});
  // bob adds a prod file and removes it again on a branch, and changes dev; alice merges it.
  const Oid added =
      make_commit(fx, with(base, {"environments/prod/temp.yaml"}), {b}, {"bob", "bob@example.com"});
  const Oid removed =
      make_commit(fx, with(base, {"environments/dev/x.yaml"}), {added}, {"bob", "bob@example.com"});
  const Oid main_side = make_commit(fx, with(base, {"environments/dev/y.yaml"}), {b});
  const Files merged = with(base, {"environments/dev/x.yaml", "environments/dev/y.yaml"});
  policy::ServerConfig config;
  config.allowed_signers = keys.allowed_signers();

  SECTION("prod is as it was: nobody's approval is needed, signed or not") {
    const Oid merge = make_commit(fx, merged, {main_side, removed}, {"alice", "alice@example.com"});
    auto r = check(fx, config, {}, b, merge, "bob");
    check_findings(r, {});
    CHECK(r.changed_paths == 2);
  }
  SECTION("signed by the owner, with a prod change of its own") {
    const Oid merge = make_commit(fx, with(merged, {"environments/prod/new.yaml"}), {main_side, removed},
                                  {"alice", "alice@example.com"}, &keys, "alice");
    auto r = check(fx, config, {}, b, merge, "bob");
    check_findings(r, {});
    CHECK(approvals_of(r) ==
          std::vector<std::string>{"bob (pusher)", "alice (signed commit " + merge.short_hex() + ")"});
    CHECK(r.changed_paths == 3);
  }
  SECTION("unsigned, with a prod change of its own") {
    const Oid merge = make_commit(fx, with(merged, {"environments/prod/new.yaml"}), {main_side, removed},
                                  {"alice", "alice@example.com"});
    auto r = check(fx, config, {}, b, merge, "bob");
    check_findings(r, {"owners.approval-required|needs approval by @alice; approvals seen: bob (pusher)"});
    CHECK(r.findings[0].file == "environments/prod/new.yaml");
  }
}

TEST_CASE("GitLab sections: [N] distinct approvers, optional sections, exclusions, default owners",
          "[ownership]") {
  test::TempDir tmp;
  const Keys keys(tmp);
  const std::string codeowners =
      "[Prod][2] @alice @carol @org/platform\n"
      "environments/prod/\n"
      "!environments/prod/free.yaml\n"
      "\n"
      "^[Docs] @bob\n"
      "*.md\n"
      "\n"
      "[Ops] @org/ops\n"
      "environments/ops/\n";
  struct Case {
    const char* name;
    std::vector<std::string> changed;
    const char* pusher;
    std::vector<const char*> tags;  // approval tags of the pushed commit, pushed with it
    std::vector<std::string> findings;
  };
  const std::string prod = "environments/prod/a.yaml";
  const std::string needs_two =
      "owners.approval-required|needs 2 distinct approvals from @alice, @carol, @org/platform (section Prod)";
  const Case cases[] = {
      {"one owner of two", {prod}, "alice", {}, {needs_two + "; approvals seen: alice (pusher)"}},
      {"the same owner twice is one approval", {prod}, "alice", {"alice"}, {needs_two}},
      {"two owners: the pusher and a tag", {prod}, "alice", {"carol"}, {}},
      {"two owners: both by tag", {prod}, "eve", {"alice", "carol"}, {}},
      {"a team member and an owner", {prod}, "dave", {"alice"}, {}},
      {"two paths, one message",
       {prod, "environments/prod/b.yaml"},
       "alice",
       {},
       {"owners.approval-required|2 paths need 2 distinct approvals from @alice, @carol, @org/platform "
        "(section Prod): "
        "environments/prod/a.yaml, environments/prod/b.yaml"}},
      {"an optional section needs nobody", {"README.md"}, "eve", {}, {}},
      {"an optional section next to a required one",
       {prod, "README.md"},
       "bob",
       {},
       {needs_two + "; approvals seen: bob"}},
      {"an excluded path is outside its section", {"environments/prod/free.yaml"}, "eve", {}, {}},
      {"the header's owners, one approval by default",
       {"environments/ops/a.yaml"},
       "alice",
       {},
       {"owners.approval-required|needs approval by @org/ops (section Ops)"}},
      {"a member of the header's team", {"environments/ops/a.yaml"}, "olga", {}, {}},
      {"unowned paths", {"environments/dev/a.yaml"}, "eve", {}, {}},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    Files base = k_environments;
    base[".gitlab/CODEOWNERS"] = codeowners;
    const Oid b = make_commit(fx, base, {});
    const Oid tip = make_commit(fx, with(base, c.changed), {b});
    std::vector<RefUpdate> pushed;
    for (const char* who : c.tags)
      pushed.push_back(
          RefUpdate{Oid{}, approval_tag(fx, keys, who, tip), "refs/approvals/" + tip.hex() + "/" + who});
    policy::ServerConfig config;
    config.teams = {{"@org/platform", {"dave"}}, {"@org/ops", {"olga"}}};
    config.allowed_signers = keys.allowed_signers();
    auto r = check(fx, config, {}, b, tip, c.pusher, pushed);
    check_findings(r, c.findings);
    CHECK(r.changed_paths == c.changed.size());
  }
}

TEST_CASE("team members come from the server config and the repository's teams file", "[ownership]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    std::optional<std::string> teams_file;  // content at .portcullis/teams.yaml on the target
    const char* pusher;
    std::vector<std::string> findings;
  };
  // @org/payments is the server config's (erin); @org/app may come from the repository.
  const std::string needs = "owners.approval-required|needs approval by @org/payments, @org/app";
  const Case cases[] = {
      {"a member from the file", "\"@org/app\": [bob]\n", "bob", {}},
      {"a member from the server config", "\"@org/app\": [bob]\n", "erin", {}},
      {"the file cannot add members to the server config's teams", "\"@org/payments\": [bob]\n", "bob",
       {"owners.teams|the teams file names @org/payments, which the server config defines", needs}},
      {"nor under another spelling", "\"@ORG/Payments\": [bob]\n", "bob",
       {"owners.teams|which the server config defines", needs}},
      {"not a member", "\"@org/app\": [bob]\n\"@org/other\": [alice]\n", "alice", {needs}},
      {"keys compare case-insensitively", "\"@ORG/App\": [Bob]\n", "bob", {}},
      {"no teams file", std::nullopt, "bob", {needs}},
      {"a teams file that is no mapping", "- bob\n", "bob", {"owners.invalid|the teams file is not a YAML mapping", needs}},
      {"a teams file that does not parse", "\"@org/app\": [bob\n", "erin",
       {"owners.invalid|the teams file is not a YAML mapping"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    test::GitFixture fx(tmp, "repo-" + std::to_string(++n));
    Files base = k_environments;
    base[".github/CODEOWNERS"] = "environments/prod/ @org/payments @org/app\n";
    if (c.teams_file) base[".portcullis/teams.yaml"] = *c.teams_file;
    const Oid b = make_commit(fx, base, {});
    const Oid tip = make_commit(fx, with(base, {"environments/prod/new.yaml"}), {b});
    policy::ServerConfig config;
    config.teams = {{"@org/payments", {"erin"}}};
    policy::Policy policy;
    policy.teams_file = ".portcullis/teams.yaml";
    auto r = check(fx, config, policy, b, tip, c.pusher);
    std::vector<std::string> expected = c.findings;
    check_findings(r, expected);
    for (const auto& f : r.findings)
      if (f.rule == "owners.invalid" || f.rule == "owners.teams") CHECK(f.file == ".portcullis/teams.yaml");
  }
}

TEST_CASE("an owner's signed commit whose tree cannot be read approves nothing", "[ownership]") {
  // Alice signed a commit whose environments/prod lists a name twice (git takes such a tree
  // when receive.fsckObjects is off). Bob's tip on it deletes environments/prod/base.yaml: the
  // file is absent from the tip, and "absent" from a tree that cannot be read must not read as
  // the same content.
  test::TempDir tmp;
  const Keys keys(tmp);
  test::GitFixture fx(tmp, "repo");
  Files base = k_environments;
  base[".github/CODEOWNERS"] = "environments/prod/ @alice\n";
  const Oid b = make_commit(fx, base, {});
  const Oid blob = fx.blob(configmap("prod"));
  const std::string id(reinterpret_cast<const char*>(blob.bytes.data()), 20);
  const std::string twice_bytes = "100644 base.yaml" + std::string(1, '\0') + id + "100644 base.yaml" +
                                  std::string(1, '\0') + id;
  const std::string twice = fx.git({"hash-object", "-t", "tree", "-w", "--literally", "--stdin"}, twice_bytes);
  std::string envs_listing;
  for (const std::string env : {"dev", "staging"})
    envs_listing += "040000 tree " + fx.git({"rev-parse", b.hex() + ":environments/" + env}) + "\t" + env + "\n";
  envs_listing += "040000 tree " + twice + "\tprod\n";
  const std::string envs = fx.git({"mktree"}, envs_listing);
  const std::string root = fx.git({"mktree"}, "040000 tree " + envs + "\tenvironments\n040000 tree " +
                                                  fx.git({"rev-parse", b.hex() + ":.github"}) + "\t.github\n");
  auto args = signing_with(keys, "alice");
  args.insert(args.end(), {"commit-tree", root, "-p", b.hex(), "-m", "unreadable", "-S"});
  const Oid signed_by_alice = test::to_oid(fx.git(args));
  Files deleted = base;
  deleted.erase("environments/prod/base.yaml");
  const Oid tip = make_commit(fx, deleted, {signed_by_alice});
  policy::ServerConfig config;
  config.allowed_signers = keys.allowed_signers();
  auto r = check(fx, config, policy::Policy{}, b, tip, "bob");
  INFO("findings:\n" << describe(r));
  REQUIRE_FALSE(r.findings.empty());
  CHECK(r.findings[0].rule == "owners.approval-required");
  CHECK(r.findings[0].file == "environments/prod/base.yaml");
}

TEST_CASE("protected environments that cannot be read fail the check, never count as none", "[ownership]") {
  // The target's environments/ lists prod twice (git takes such a tree when receive.fsckObjects
  // is off; the gate refuses a push that brings one, but a repository may hold one from before).
  // Bob changes only CODEOWNERS, which governs prod: read as "no environments", nothing of prod
  // would need Alice's approval.
  test::TempDir tmp;
  test::GitFixture fx(tmp, "repo");
  const Oid prod = test::to_oid(fx.git({"mktree"}, "100644 blob " + fx.blob(configmap("prod")).hex() + "\tbase.yaml\n"));
  const std::string prod_entry = "40000 prod" + std::string(1, '\0') +
                                 std::string(reinterpret_cast<const char*>(prod.bytes.data()), 20);
  const std::string envs =
      fx.git({"hash-object", "-t", "tree", "-w", "--literally", "--stdin"}, prod_entry + prod_entry);
  auto commit_with = [&](const std::string& codeowners, const std::vector<std::string>& parents) {
    const std::string root = fx.git({"mktree"}, "100644 blob " + fx.blob(codeowners).hex() + "\tCODEOWNERS\n" +
                                                    "040000 tree " + envs + "\tenvironments\n");
    std::vector<std::string> args{"commit-tree", root, "-m", "change"};
    for (const auto& p : parents) args.insert(args.end(), {"-p", p});
    return test::to_oid(fx.git(args));
  };
  const Oid b = commit_with("environments/prod/ @alice\n", {});
  const Oid tip = commit_with("environments/prod/ @bob\n", {b.hex()});
  auto r = check(fx, policy::ServerConfig{}, policy::Policy{}, b, tip, "bob");
  INFO("findings:\n" << describe(r));
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].rule == "gate.internal");
  CHECK(r.findings[0].message.find("lists prod twice") != std::string::npos);
}
