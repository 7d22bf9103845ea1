#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "daemon/statuspage.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis::daemon;

TEST_CASE("tail_lines keeps the last whole lines within the byte budget", "[statuspage]") {
  portcullis::test::TempDir dir;
  struct Case {
    const char* name;
    std::string content;
    std::size_t max_bytes, max_lines;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"whole file", "a\nb\nc\n", 1024, 10, {"a", "b", "c"}},
      {"last lines only", "a\nb\nc\n", 1024, 2, {"b", "c"}},
      {"a line cut by the byte budget is dropped", "first line\nb\nc\n", 6, 10, {"b", "c"}},
      {"a line still being written is dropped", "a\nb\npartial", 1024, 10, {"a", "b"}},
      {"empty lines are skipped", "a\n\n\nb\n", 1024, 10, {"a", "b"}},
      {"empty file", "", 1024, 10, {}},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      auto path = dir.path() / "audit.jsonl";
      std::ofstream(path, std::ios::binary) << c.content;
      CHECK(tail_lines(path, c.max_bytes, c.max_lines) == c.expected);
    }
  }
  SECTION("a missing file or no path: nothing") {
    CHECK(tail_lines(dir.path() / "missing", 1024, 10).empty());
    CHECK(tail_lines({}, 1024, 10).empty());
  }
}

TEST_CASE("commit_link links commit ids only", "[statuspage]") {
  const std::string sha(40, 'a');
  struct Case {
    std::string url_template, revision, expected;
  };
  const Case cases[] = {
      {"https://git.example.com/c/{commit}", sha, "https://git.example.com/c/" + sha},
      {"https://git.example.com/c/{commit}?tab=diff", sha, "https://git.example.com/c/" + sha + "?tab=diff"},
      {"https://git.example.com/c/{commit}", std::string(64, 'b'), "https://git.example.com/c/" + std::string(64, 'b')},
      {"", sha, ""},                                            // no template
      {"https://git.example.com/c/", sha, ""},                  // no {commit}
      {"https://git.example.com/c/{commit}", "", ""},           // no revision
      {"https://git.example.com/c/{commit}", "main", ""},       // not an id
      {"https://git.example.com/c/{commit}", std::string(40, 'A'), ""},  // not lower-case hex
      {"https://git.example.com/c/{commit}", "\"><script>x</script>" + std::string(20, 'a'), ""},
  };
  for (const auto& c : cases) {
    INFO(c.url_template << " " << c.revision);
    CHECK(commit_link(c.url_template, c.revision) == c.expected);
  }
}

TEST_CASE("the embedded page has no inline script and loads only its own assets", "[statuspage]") {
  std::string html(status_html());
  CHECK(html.find("<script src=\"/status.js\" defer></script>") != std::string::npos);
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("style=") == std::string::npos);
  std::string js(status_js());
  CHECK(js.find("innerHTML") == std::string::npos);
  CHECK(js.find("insertAdjacentHTML") == std::string::npos);
  CHECK(js.find("document.write") == std::string::npos);
  CHECK(js.find("eval(") == std::string::npos);
  CHECK_FALSE(status_css().empty());
}
