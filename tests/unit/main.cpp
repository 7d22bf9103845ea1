#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <iostream>

#include "tests/unit/support/tempdir.hpp"

namespace portcullis::test {

// As the executables under test: a write to a peer that is gone (a child's stdin, a server's
// socket) fails with EPIPE, which the test sees, instead of ending the whole binary silently.
const bool k_sigpipe_ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;

std::vector<std::filesystem::path>& live_temp_dirs() {
  static std::vector<std::filesystem::path> dirs;
  return dirs;
}

// Removes a test's temporary directories when it passed; keeps them (and says where) when it
// failed, so the evidence survives.
struct TempDirListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    bool failed = stats.totals.assertions.failed > 0;
    for (const auto& dir : live_temp_dirs()) {
      if (failed) {
        std::cerr << "kept temporary directory of failed test: " << dir << "\n";
      } else {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
    live_temp_dirs().clear();
  }
};
CATCH_REGISTER_LISTENER(TempDirListener)

}  // namespace portcullis::test
