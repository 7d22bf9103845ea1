#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hooks/install.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using namespace portcullis::hooks;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool executable(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && (st.st_mode & 0111) == 0111;
}

// Every entry under `dir`, recursively, relative to it.
std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

const fs::path k_exe = "/usr/local/bin/portcullis";

}  // namespace

TEST_CASE("layouts are named plain, gitolite, gitlab and gitea", "[install]") {
  for (auto l : {Layout::plain, Layout::gitolite, Layout::gitlab, Layout::gitea}) {
    auto parsed = parse_layout(layout_name(l));
    REQUIRE(parsed);
    CHECK(*parsed == l);
  }
  CHECK_FALSE(parse_layout("github"));
  CHECK_FALSE(parse_layout(""));
  CHECK_FALSE(parse_layout("GitLab"));
}

TEST_CASE("each layout puts its two hooks where its host runs them", "[install]") {
  struct Case {
    Layout layout;
    GitoliteScope scope;
    std::string pre, post;
  };
  const Case cases[] = {
      {Layout::plain, GitoliteScope::common, "R/hooks/pre-receive", "R/hooks/post-receive"},
      {Layout::gitolite, GitoliteScope::common, "R/hooks/common/pre-receive", "R/hooks/common/post-receive"},
      {Layout::gitolite, GitoliteScope::repo_specific, "R/hooks/repo-specific/portcullis-pre-receive",
       "R/hooks/repo-specific/portcullis-post-receive"},
      {Layout::gitlab, GitoliteScope::common, "R/custom_hooks/pre-receive.d/portcullis",
       "R/custom_hooks/post-receive.d/portcullis"},
      {Layout::gitea, GitoliteScope::common, "R/hooks/pre-receive.d/portcullis",
       "R/hooks/post-receive.d/portcullis"},
  };
  for (const auto& c : cases) {
    INFO(layout_name(c.layout));
    auto files = plan_hooks(InstallTarget{c.layout, "R", c.scope}, k_exe, "/etc/portcullis/server.yaml");
    REQUIRE(files.size() == 2);
    CHECK(files[0].path == c.pre);
    CHECK(files[1].path == c.post);
    CHECK(files[0].content.find("hook pre-receive") != std::string::npos);
    CHECK(files[1].content.find("hook post-receive") != std::string::npos);
    bool names_layout =
        files[0].content.find("--layout " + std::string(layout_name(c.layout))) != std::string::npos;
    CHECK(names_layout == (c.layout != Layout::plain));
  }
  CHECK(runs_whole_directory(Layout::gitlab));
  CHECK(runs_whole_directory(Layout::gitea));
  CHECK_FALSE(runs_whole_directory(Layout::plain));
  CHECK_FALSE(runs_whole_directory(Layout::gitolite));
}

TEST_CASE("hook scripts carry the marker and quote every path for the shell", "[install]") {
  CHECK(hook_script(Layout::plain, k_exe, "pre-receive", {}) ==
        "#!/bin/sh\n# portcullis-managed-hook: written by `portcullis install`; re-run it to change this "
        "file.\n"
        "exec '/usr/local/bin/portcullis' hook pre-receive\n");
  CHECK(
      hook_script(Layout::gitlab, "/opt/it's here/portcullis", "pre-receive", "/etc/a $b`c`.yaml") ==
      "#!/bin/sh\n# portcullis-managed-hook: written by `portcullis install`; re-run it to change this "
      "file.\n"
      "exec '/opt/it'\\''s here/portcullis' hook pre-receive --layout gitlab --config '/etc/a $b`c`.yaml'\n");
}

TEST_CASE("writing hooks is idempotent and updates only Portcullis' own files", "[install]") {
  test::TempDir dir;
  auto files = plan_hooks(InstallTarget{Layout::gitea, dir.path(), GitoliteScope::common}, k_exe, {});
  auto first = write_hooks(files, Overwrite::refuse, true);
  REQUIRE(first);
  REQUIRE(first->size() == 2);
  CHECK((*first)[0].outcome == Outcome::installed);
  CHECK(executable(files[0].path));
  CHECK(slurp(files[0].path) == files[0].content);
  // No staging file is left behind, in the run directory or beside it.
  CHECK(tree(dir.path()) == std::vector<std::string>{"hooks", "hooks/post-receive.d",
                                                     "hooks/post-receive.d/portcullis", "hooks/pre-receive.d",
                                                     "hooks/pre-receive.d/portcullis"});

  auto again = write_hooks(files, Overwrite::refuse, true);
  REQUIRE(again);
  CHECK((*again)[0].outcome == Outcome::unchanged);
  CHECK((*again)[1].outcome == Outcome::unchanged);

  auto changed =
      plan_hooks(InstallTarget{Layout::gitea, dir.path(), GitoliteScope::common}, k_exe, "/srv/new.yaml");
  auto updated = write_hooks(changed, Overwrite::refuse, true);
  REQUIRE(updated);
  CHECK((*updated)[0].outcome == Outcome::updated);
  CHECK((*updated)[0].backup.empty());
  CHECK(slurp(files[0].path).find("/srv/new.yaml") != std::string::npos);
}

TEST_CASE("a foreign hook is refused without writing anything, or kept aside with force", "[install]") {
  test::TempDir dir;
  auto theirs = dir.write("custom_hooks/pre-receive.d/portcullis", "#!/bin/sh\necho theirs\n");
  fs::permissions(theirs, fs::perms(0755));
  auto beside = dir.write("custom_hooks/pre-receive.d/00-audit", "#!/bin/sh\nexit 0\n");
  fs::permissions(beside, fs::perms(0755));
  auto files = plan_hooks(InstallTarget{Layout::gitlab, dir.path(), GitoliteScope::common}, k_exe, {});

  auto refused = write_hooks(files, Overwrite::refuse, true);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find(
            "custom_hooks/pre-receive.d/portcullis exists and was not written by Portcullis; "
            "refusing to replace it") != std::string::npos);
  CHECK(refused.error().message.find("--force") != std::string::npos);
  CHECK(slurp(theirs) == "#!/bin/sh\necho theirs\n");
  CHECK_FALSE(fs::exists(dir / "custom_hooks/post-receive.d/portcullis"));

  auto forced = write_hooks(files, Overwrite::keep_backup, true);
  REQUIRE(forced);
  fs::path backup = dir / "custom_hooks/pre-receive.d/portcullis.portcullis-backup";
  CHECK((*forced)[0].backup == backup);
  CHECK(slurp(backup) == "#!/bin/sh\necho theirs\n");
  CHECK_FALSE(executable(backup));  // the host runs every executable in pre-receive.d/
  CHECK(slurp(files[0].path) == files[0].content);
  // The other hook beside ours is untouched.
  CHECK(slurp(beside) == "#!/bin/sh\nexit 0\n");
  CHECK(executable(beside));

  // A second foreign file never overwrites the first backup.
  dir.write("custom_hooks/pre-receive.d/portcullis", "#!/bin/sh\necho second\n");
  auto twice = write_hooks(files, Overwrite::keep_backup, true);
  REQUIRE(twice);
  CHECK((*twice)[0].backup == dir / "custom_hooks/pre-receive.d/portcullis.portcullis-backup-2");
  CHECK(slurp(backup) == "#!/bin/sh\necho theirs\n");
}

TEST_CASE("plain hooks kept aside stay executable: git runs only exact hook names", "[install]") {
  test::TempDir dir;
  auto theirs = dir.write("hooks/pre-receive", "#!/bin/sh\nexit 0\n");
  fs::permissions(theirs, fs::perms(0755));
  auto files = plan_hooks(InstallTarget{Layout::plain, dir.path(), GitoliteScope::common}, k_exe, {});
  auto forced = write_hooks(files, Overwrite::keep_backup, false);
  REQUIRE(forced);
  CHECK(executable(dir / "hooks/pre-receive.portcullis-backup"));
  CHECK((*forced)[1].backup.empty());
}

TEST_CASE("GitLab rejections are prefixed line by line; everything else is printed as is", "[install]") {
  std::string text =
      "refs/heads/main:\n  a.yaml:1:1: error [yaml.syntax] bad\n      fix: fix it\n"
      "portcullis: push rejected: 1 error\n";
  CHECK(adapt_output(Layout::gitlab, text, true) ==
        "GL-HOOK-ERR: refs/heads/main:\nGL-HOOK-ERR:   a.yaml:1:1: error [yaml.syntax] bad\n"
        "GL-HOOK-ERR:       fix: fix it\nGL-HOOK-ERR: portcullis: push rejected: 1 error\n");
  CHECK(adapt_output(Layout::gitlab, "no newline", true) == "GL-HOOK-ERR: no newline\n");
  CHECK(adapt_output(Layout::gitlab, "", true).empty());
  CHECK(adapt_output(Layout::gitlab, "portcullis: push accepted\n", false) == "portcullis: push accepted\n");
  for (auto l : {Layout::plain, Layout::gitolite, Layout::gitea}) CHECK(adapt_output(l, text, true) == text);
}
