#include <catch2/catch.hpp>

#include <csignal>
#include <cstdint>
#include <string>

#include "shared/util/process.hpp"

using namespace portcullis;

TEST_CASE("run_process runs a fixed argument list, never a shell, and reports how it ended", "[process]") {
  struct Case {
    const char* name;
    std::vector<std::string> argv;
    int status;
    std::string out, err;
  };
  const Case cases[] = {
      {"arguments pass as they are", {"printf", "%s|", "a b", "$(id)", "; echo no"}, 0, "a b|$(id)|; echo no|", ""},
      {"stderr apart from stdout", {"sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err\n"},
      {"killed by a signal: 128 + N", {"sh", "-c", "kill -TERM $$"}, 128 + SIGTERM, "", ""},
      {"stdin is empty", {"cat"}, 0, "", ""},
      {"a program that does not exist", {"portcullis-no-such-program"}, 127, "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = util::run_process(c.argv);
    REQUIRE(r);
    CHECK(r->status == c.status);
    CHECK(r->out == c.out);
    CHECK(r->err == c.err);
  }
}

TEST_CASE("run_process's child gets SIGPIPE back, which its parent ignores", "[process]") {
  // Our executables ignore SIGPIPE; a signal ignored stays ignored across exec, and a child
  // such as `git log | head` relies on dying by it.
  REQUIRE(std::signal(SIGPIPE, SIG_IGN) != SIG_ERR);  // as the executables (and this binary) do
  auto r = util::run_process({"sh", "-c", "sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status"});
  REQUIRE(r);
  REQUIRE(r->status == 0);
  const std::uint64_t ignored = std::stoull(r->out, nullptr, 16);
  CHECK((ignored & (std::uint64_t{1} << (SIGPIPE - 1))) == 0);
}
