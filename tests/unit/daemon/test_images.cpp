// daemon/images: one poll of the watcher against an in-process registry, a real bare repository
// (file://, with a hook that can refuse) and the daemon's mirror: what it commits and reports.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <thread>

#include "daemon/alerts.hpp"
#include "daemon/images.hpp"
#include "daemon/metrics.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using portcullis::test::run_git;

namespace {

struct Registry {
  httplib::Server http;
  int port = 0;
  std::thread thread;
  Registry() {
    http.Get("/v2/team/app/tags/list", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"name":"team/app","tags":["1.0.0","1.1.0","../x","2.0.0-rc.1"]})",
                      "application/json");
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
  }
  ~Registry() {
    http.stop();
    thread.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
};

std::string trimmed(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct Fixture {
  test::TempDir tmp;
  Registry registry;
  std::filesystem::path server = tmp / "server.git", work = tmp / "work", state = tmp / "state";
  daemon::Config config;
  daemon::Metrics metrics;

  Fixture() {
    REQUIRE(run_git(tmp.path(), {"init", "-q", "--bare", server.string()}).status == 0);
    REQUIRE(run_git(tmp.path(), {"clone", "-q", server.string(), work.string()}).status == 0);
    std::string app = registry.host() + "/team/app";
    tmp.write("work/.portcullis.yaml",
              "environments:\n  - {name: dev, path: environments/dev}\nimages:\n  policies:\n"
              "  - {name: app, image: " +
                  app +
                  ", environments: [dev], semver: {range: '>=1.0.0 <2'}}\n"
                  "  - {name: other, image: unknown.example:5000/team/other, environments: [dev], semver: "
                  "{range: '*'}}\n"
                  "  - {name: ghost, image: " +
                  app + ", environments: [qa], semver: {range: '*'}}\n");
    tmp.write("work/environments/dev/app.yaml",
              "# app\nimage: " + app + ":1.0.0 # {\"$imagepolicy\": \"app\"}\n");
    REQUIRE(run_git(work, {"add", "-A"}).status == 0);
    REQUIRE(run_git(work, {"commit", "-qm", "init"}).status == 0);
    REQUIRE(run_git(work, {"push", "-q", "origin", "HEAD:main"}).status == 0);
    mirror();
    config.state_dir = state;
    config.repository.url = "file://" + server.string();
    config.images.enabled = true;
    config.images.registries.push_back(
        {registry.host(), "http://" + registry.host(), {}, {}, 1000, std::chrono::seconds(2)});
    config.images.bot = {"portcullis-bot", "bot@example.com", {}, config.repository.url, {}, {}, {}, {}, {}};
  }
  // What the daemon's fetch does: the mirror follows the server.
  void mirror() {
    if (!std::filesystem::exists(state / "mirror.git"))
      REQUIRE(
          run_git(tmp.path(), {"clone", "-q", "--mirror", server.string(), (state / "mirror.git").string()})
              .status == 0);
    else
      REQUIRE(run_git(state / "mirror.git", {"fetch", "-q", "origin", "+refs/heads/*:refs/heads/*"}).status ==
              0);
  }
  std::string file_on_main() const { return run_git(server, {"show", "main:environments/dev/app.yaml"}).out; }
  std::string main_tip() const { return trimmed(run_git(server, {"rev-parse", "main"}).out); }
};

const daemon::ImageStatus& find(const std::vector<daemon::ImageStatus>& all, const std::string& policy) {
  for (const auto& s : all)
    if (s.policy == policy) return s;
  FAIL("no status for " << policy);
  return all.front();
}

}  // namespace

TEST_CASE("images: a poll commits the chosen version and reports every policy", "[images]") {
  Fixture f;
  daemon::Alerter alerter({}, f.metrics);
  daemon::ImageWatcher watcher(f.config, f.metrics, alerter);
  watcher.poll_once();
  auto st = watcher.status();
  REQUIRE(st.size() == 3);
  const auto& app = find(st, "app");
  INFO(app.reason);
  CHECK(app.state == "Committed");
  CHECK(app.chosen == "1.1.0");  // 2.0.0-rc.1 is outside the range, ../x is no tag
  CHECK(app.tags_seen == 3);
  CHECK(app.tags_rejected == 1);
  CHECK(app.last_commit == f.main_tip());
  CHECK(f.file_on_main() ==
        "# app\nimage: " + f.registry.host() + "/team/app:1.1.0 # {\"$imagepolicy\": \"app\"}\n");
  CHECK(find(st, "other").state == "RegistryUnavailable");
  CHECK(find(st, "other").reason.find("no registry is configured for unknown.example:5000") !=
        std::string::npos);
  CHECK(find(st, "ghost").state == "Invalid");
  CHECK(trimmed(run_git(f.server, {"log", "-1", "--format=%an|%B", "main"}).out).find("portcullis-bot|") ==
        0);
  // The next poll, once the mirror has the commit: up to date, nothing more committed.
  f.mirror();
  auto tip = f.main_tip();
  watcher.poll_once();
  CHECK(find(watcher.status(), "app").state == "UpToDate");
  CHECK(find(watcher.status(), "app").last_commit == tip);
  CHECK(f.main_tip() == tip);
  auto json = daemon::images_json(watcher.status(), watcher.registries());
  CHECK(json.find("\"state\":\"UpToDate\"") != std::string::npos);
  CHECK(json.find("\"up\":true") != std::string::npos);
}

TEST_CASE("images: a push the gate refuses is reported with its reason, alerted, and tried again",
          "[images]") {
  Fixture f;
  f.tmp.write("server.git/hooks/pre-receive", "#!/bin/sh\necho 'error [promotion.soak] wait' >&2\nexit 1\n");
  std::filesystem::permissions(f.server / "hooks/pre-receive", std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  daemon::Alerter alerter({}, f.metrics);
  daemon::ImageWatcher watcher(f.config, f.metrics, alerter);
  auto before = f.main_tip();
  watcher.poll_once();
  const auto app = find(watcher.status(), "app");
  CHECK(app.state == "Rejected");
  CHECK(app.reason == "error [promotion.soak] wait");
  CHECK(f.main_tip() == before);
  CHECK(alerter.is_open(daemon::AlertKind::image_update_rejected, "app/dev"));
  CHECK(f.metrics.render().find(
            "portcullis_image_updates_total{policy=\"app\",environment=\"dev\",result=\"rejected\"} 1") !=
        std::string::npos);
  // The gate lets it through later: the next poll lands it and clears the alert.
  std::filesystem::remove(f.server / "hooks/pre-receive");
  watcher.poll_once();
  CHECK(find(watcher.status(), "app").state == "Committed");
  CHECK(f.main_tip() != before);
  CHECK_FALSE(alerter.is_open(daemon::AlertKind::image_update_rejected, "app/dev"));
}
