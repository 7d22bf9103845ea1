// daemon/bot: the image bot's commits and pushes, with the real git against real bare
// repositories over file:// (a pre-receive hook that refuses, a branch a person moved).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "daemon/bot.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using portcullis::test::run_git;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A bare server with main holding app.yaml (and an executable script), and a work clone.
struct Fixture {
  test::TempDir tmp;
  std::filesystem::path server = tmp / "server.git", work = tmp / "work";
  Fixture() {
    REQUIRE(run_git(tmp.path(), {"init", "-q", "--bare", server.string()}).status == 0);
    REQUIRE(run_git(tmp.path(), {"clone", "-q", server.string(), work.string()}).status == 0);
    tmp.write("work/environments/dev/app.yaml", "image: reg/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n");
    tmp.write("work/run.sh", "#!/bin/sh\n");
    std::filesystem::permissions(work / "run.sh", std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    REQUIRE(run_git(work, {"add", "-A"}).status == 0);
    REQUIRE(run_git(work, {"commit", "-qm", "init"}).status == 0);
    REQUIRE(run_git(work, {"push", "-q", "origin", "HEAD:main"}).status == 0);
  }
  daemon::BotConfig bot() const {
    daemon::BotConfig b;
    b.name = "portcullis-bot";
    b.email = "bot@example.com";
    b.push_url = "file://" + server.string();
    return b;
  }
  std::string main_tip() const { return trimmed(run_git(server, {"rev-parse", "main"}).out); }
};

}  // namespace

TEST_CASE("bot: one commit by the bot, only the edited file changed, mode kept; pushes fast-forward",
          "[bot]") {
  Fixture f;
  auto bot = daemon::BotRepository::open(f.tmp / "bot.git", f.bot(), "main");
  REQUIRE(bot);
  auto tip = bot->fetch();
  REQUIRE(tip);
  CHECK(*tip == f.main_tip());
  auto commit =
      bot->commit(*tip,
                  {{"environments/dev/app.yaml", "image: reg/app:1.1.0 # {\"$imagepolicy\": \"app\"}\n"},
                   {"run.sh", "#!/bin/sh\necho 2\n"}},
                  "Update reg/app to 1.1.0\n");
  REQUIRE(commit);
  auto pushed = bot->push(*commit);
  INFO(pushed.reason);
  REQUIRE(pushed.outcome == daemon::PushOutcome::accepted);
  CHECK(f.main_tip() == *commit);
  CHECK(trimmed(run_git(f.server, {"log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"}).out) ==
        "portcullis-bot <bot@example.com>|portcullis-bot <bot@example.com>|Update reg/app to 1.1.0");
  CHECK(trimmed(run_git(f.server, {"ls-tree", "main", "run.sh"}).out).starts_with("100755"));
  CHECK(trimmed(run_git(f.server, {"diff", "--name-only", *tip, "main"}).out) ==
        "environments/dev/app.yaml\nrun.sh");
  // Nothing changed: no empty commit.
  CHECK_FALSE(bot->commit(*commit, {{"run.sh", "#!/bin/sh\necho 2\n"}}, "nothing\n"));
  // Only existing regular files; a path is a repository path, never a file on disk.
  CHECK_FALSE(bot->commit(*commit, {{"environments/dev/new.yaml", "x\n"}}, "new\n"));
  CHECK_FALSE(bot->commit(*commit, {{"environments", "x\n"}}, "a tree\n"));
  CHECK_FALSE(std::filesystem::exists(f.tmp / "bot.git" / "environments"));
}

TEST_CASE("bot: a branch a person moved is 'moved'; a hook's refusal is 'rejected' with its remote: lines",
          "[bot]") {
  Fixture f;
  auto bot = daemon::BotRepository::open(f.tmp / "bot.git", f.bot(), "main");
  REQUIRE(bot);
  auto tip = bot->fetch();
  REQUIRE(tip);
  auto commit = bot->commit(*tip, {{"environments/dev/app.yaml", "image: reg/app:2.0.0\n"}}, "bump\n");
  REQUIRE(commit);
  // A person pushes first.
  f.tmp.write("work/README", "hello\n");
  REQUIRE(run_git(f.work, {"add", "-A"}).status == 0);
  REQUIRE(run_git(f.work, {"commit", "-qm", "person"}).status == 0);
  REQUIRE(run_git(f.work, {"push", "-q", "origin", "HEAD:main"}).status == 0);
  auto person = f.main_tip();
  auto raced = bot->push(*commit);
  CHECK(raced.outcome == daemon::PushOutcome::moved);
  CHECK(f.main_tip() == person);
  // On the new tip, the gate refuses.
  f.tmp.write("server.git/hooks/pre-receive",
              "#!/bin/sh\necho 'error [promotion.soak] not soaked yet' >&2\necho 'fix: wait'\nexit 1\n");
  std::filesystem::permissions(f.server / "hooks/pre-receive", std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  auto fresh = bot->fetch();
  REQUIRE(fresh);
  CHECK(*fresh == person);
  auto again = bot->commit(*fresh, {{"environments/dev/app.yaml", "image: reg/app:2.0.0\n"}}, "bump\n");
  REQUIRE(again);
  auto refused = bot->push(*again);
  CHECK(refused.outcome == daemon::PushOutcome::rejected);
  CHECK(refused.reason == "error [promotion.soak] not soaked yet\nfix: wait");
  CHECK(f.main_tip() == person);
  // A server that is not there.
  auto gone_cfg = f.bot();
  gone_cfg.push_url = "file://" + (f.tmp / "nowhere.git").string();
  auto gone = daemon::BotRepository::open(f.tmp / "bot2.git", gone_cfg, "main");
  REQUIRE(gone);
  CHECK_FALSE(gone->fetch());
}

TEST_CASE("bot: a file:// server owned by another user (the Git server's) is pushed to as configured",
          "[bot]") {
  if (geteuid() != 0) return;  // needs to give the repository away
  Fixture f;
  auto bot = daemon::BotRepository::open(f.tmp / "bot.git", f.bot(), "main");
  REQUIRE(bot);
  auto tip = bot->fetch();
  REQUIRE(tip);
  REQUIRE(run_git(f.tmp.path(), {"-c", "safe.directory=*", "-C", f.server.string(), "config",
                                 "core.sharedRepository", "false"})
              .status == 0);
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.server))
    REQUIRE(lchown(e.path().c_str(), 65534, 65534) == 0);
  REQUIRE(chown(f.server.c_str(), 65534, 65534) == 0);
  auto commit = bot->commit(*tip, {{"environments/dev/app.yaml", "image: reg/app:3.0.0\n"}}, "bump\n");
  REQUIRE(commit);
  auto pushed = bot->push(*commit);
  INFO(pushed.reason);
  CHECK(pushed.outcome == daemon::PushOutcome::accepted);
}

TEST_CASE("bot: remote_lines keeps what the server's hook printed", "[bot]") {
  CHECK(daemon::remote_lines("To x\nremote: a   \nremote:\nremote: b\r\n ! [remote rejected] main\n") ==
        "a\nb");
  CHECK(daemon::remote_lines("no remote lines\n").empty());
  std::string many;
  for (int i = 0; i < 30; ++i) many += "remote: line " + std::to_string(i) + "\n";
  auto kept = daemon::remote_lines(many, 5);
  CHECK(kept.ends_with("\n..."));
  CHECK(std::count(kept.begin(), kept.end(), '\n') == 5);
}
