#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "hooks/cli/hook_exe.hpp"

using namespace portcullis::hooks;
using namespace portcullis::hooks::cli;

TEST_CASE("portcullis-hook reads the arguments `portcullis hook` takes", "[hook_exe]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string which, config;
    Layout layout;
  };
  const Case cases[] = {
      {{"hook", "pre-receive"}, "pre-receive", "", Layout::plain},
      {{"pre-receive"}, "pre-receive", "", Layout::plain},
      {{"hook", "post-receive", "--config", "/etc/p.yaml"}, "post-receive", "/etc/p.yaml", Layout::plain},
      {{"hook", "pre-receive", "--layout", "gitlab", "--config", "c.yaml"}, "pre-receive", "c.yaml", Layout::gitlab},
      {{"--layout=gitea", "hook", "pre-receive"}, "", "", Layout::plain},  // options go after `hook`
      {{"pre-receive", "--layout=gitolite", "--config=a b.yaml"}, "pre-receive", "a b.yaml", Layout::gitolite},
      {{"hook", "pre-receive", "--config", ""}, "pre-receive", "", Layout::plain},
  };
  for (const auto& c : cases) {
    auto parsed = parse_hook_args(c.args);
    INFO(c.args.size() << " arguments, first " << c.args.front());
    if (c.which.empty()) {
      CHECK(std::holds_alternative<HookUsageError>(parsed));
      continue;
    }
    REQUIRE(std::holds_alternative<HookArgs>(parsed));
    const auto& a = std::get<HookArgs>(parsed);
    CHECK(a.which == c.which);
    CHECK(a.config == c.config);
    CHECK(a.layout == c.layout);
  }
}

TEST_CASE("portcullis-hook refuses what `portcullis hook` refuses, with a reason", "[hook_exe]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string_view reason;
  };
  const Case cases[] = {
      {{}, "name the hook"},
      {{"hook"}, "name the hook"},
      {{"hook", "update"}, "unexpected argument \"update\""},
      {{"hook", "pre-receive", "post-receive"}, "unexpected argument \"post-receive\""},
      {{"hook", "pre-receive", "--config"}, "--config needs a value"},
      {{"hook", "pre-receive", "--layout", "github"}, "--layout must be"},
      {{"hook", "pre-receive", "--layout"}, "--layout needs a value"},
      {{"hook", "pre-receive", "--configs", "x"}, "unexpected argument \"--configs\""},
      {{"hook", "pre-receive", "-c", "x"}, "unexpected argument \"-c\""},
      {{"hook", "hook", "pre-receive"}, "unexpected argument \"hook\""},
  };
  for (const auto& c : cases) {
    auto parsed = parse_hook_args(c.args);
    INFO(c.reason);
    REQUIRE(std::holds_alternative<HookUsageError>(parsed));
    CHECK(std::get<HookUsageError>(parsed).message.find(c.reason) != std::string::npos);
  }
  CHECK(std::holds_alternative<HookHelp>(parse_hook_args(std::vector<std::string_view>{"hook", "--help"})));
  CHECK(std::holds_alternative<HookHelp>(parse_hook_args(std::vector<std::string_view>{"-h"})));
  CHECK(std::holds_alternative<HookVersion>(parse_hook_args(std::vector<std::string_view>{"--version"})));
}
