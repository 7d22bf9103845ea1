#include <catch2/catch.hpp>

#include "shared/util/strings.hpp"

using namespace portcullis::util;

TEST_CASE("glob_match walks a table of patterns", "[strings]") {
  struct Case {
    const char* pattern;
    const char* text;
    Slash slash;
    bool expected;
  };
  const Case cases[] = {
      {"refs/heads/main", "refs/heads/main", Slash::ordinary, true},
      {"refs/tags/v*", "refs/tags/v1.2.3", Slash::ordinary, true},
      {"refs/tags/v*", "refs/tags/x1", Slash::ordinary, false},
      {"refs/heads/*", "refs/heads/a/b", Slash::ordinary, true},
      {"refs/heads/*", "refs/heads/a/b", Slash::special, false},
      {"refs/heads/**", "refs/heads/a/b", Slash::special, true},
      {"a/**/b", "a/b", Slash::special, true},
      {"a/**/b", "a/x/y/b", Slash::special, true},
      {"release-?", "release-1", Slash::ordinary, true},
      {"release-?", "release-12", Slash::ordinary, false},
      {"v[0-9]*", "v1", Slash::ordinary, true},
      {"v[!0-9]*", "v1", Slash::ordinary, false},
      {"[unterminated", "[unterminated", Slash::ordinary, true},
      {"*.yaml", "a.yaml", Slash::special, true},
      {"*.yaml", "d/a.yaml", Slash::special, false},
      {"", "", Slash::ordinary, true},
      {"*", "", Slash::ordinary, true},
  };
  for (const auto& c : cases) {
    INFO(c.pattern << " vs " << c.text);
    CHECK(glob_match(c.pattern, c.text, c.slash) == c.expected);
  }
}

TEST_CASE("glob_match stays fast on pathological patterns", "[strings]") {
  // Exponential backtracking would hang; the depth bound makes it a plain "no match".
  std::string pattern(40, '*');
  pattern += "b";
  CHECK_FALSE(glob_match(pattern, std::string(60, 'a')));
}

TEST_CASE("duration_text writes the two largest units", "[strings]") {
  const std::pair<std::int64_t, const char*> cases[] = {
      {0, "0s"},     {999, "0s"},          {-5, "0s"},           {5'000, "5s"},       {60'000, "1m"},
      {90'000, "1m30s"}, {3'600'000, "1h"}, {5'400'000, "1h30m"}, {3'661'000, "1h1m"}, {3'601'000, "1h"},
      {93'784'000, "1d2h"}, {86'400'000 + 60'000, "1d"},
  };
  for (const auto& [ms, text] : cases) {
    INFO(ms);
    CHECK(duration_text(ms) == text);
    CHECK(parse_duration_ms(duration_text(ms)).has_value());
  }
}

TEST_CASE("parse_duration_ms accepts Go-style durations", "[strings]") {
  CHECK(parse_duration_ms("4s") == 4000);
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("2h") == 7'200'000);
  CHECK(parse_duration_ms("1m30s") == 90'000);
  CHECK(parse_duration_ms("1.5s") == 1500);
  CHECK_FALSE(parse_duration_ms("4"));
  CHECK_FALSE(parse_duration_ms("four seconds"));
  CHECK_FALSE(parse_duration_ms(""));
  CHECK_FALSE(parse_duration_ms("5y"));
}

TEST_CASE("parse_bytes accepts binary units", "[strings]") {
  CHECK(parse_bytes("1MiB") == 1048576u);
  CHECK(parse_bytes("512KiB") == 524288u);
  CHECK(parse_bytes("1048576") == 1048576u);
  CHECK_FALSE(parse_bytes("lots"));
  CHECK_FALSE(parse_bytes("99999999999999999999G"));
}

TEST_CASE("valid_utf8 finds the first bad byte", "[strings]") {
  std::size_t at = 99;
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("caf\xC3\xA9"));
  CHECK_FALSE(valid_utf8("ab\xC3", &at));
  CHECK(at == 2);
  CHECK_FALSE(valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(valid_utf8("\xFF"));
}

TEST_CASE("unquote_c_style undoes git's path quoting", "[strings]") {
  CHECK(unquote_c_style("/plain/path") == "/plain/path");
  CHECK(unquote_c_style("\"/with:colon/objects\"") == "/with:colon/objects");
  CHECK(unquote_c_style("\"a\\\"b\\\\c\"") == "a\"b\\c");
  CHECK(unquote_c_style("\"caf\\303\\251\"") == "caf\xC3\xA9");
  CHECK(unquote_c_style("\"tab\\there\"") == "tab\there");
}

TEST_CASE("json_escape escapes control characters", "[strings]") {
  CHECK(json_escape("a\"b\\c\n\x01") == "a\\\"b\\\\c\\n\\u0001");
}

TEST_CASE("json_escape: runs, every escape, UTF-8 kept and bytes that are not UTF-8", "[strings]") {
  struct Case {
    std::string_view in, out;
  };
  const Case cases[] = {
      {"", ""},
      {"plain text with spaces ~ and {}", "plain text with spaces ~ and {}"},
      {"\"", "\\\""},
      {"ab\"", "ab\\\""},
      {"\\end", "\\\\end"},
      {"\r\t\b\f", "\\r\\t\\b\\f"},
      {"\x7f", "\\u007f"},
      {"\x1fz", "\\u001fz"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"a\xff" "b", "a\\u00ff" "b"},
      {"\xc3", "\\u00c3"},                    // truncated sequence
      {"\xc3(", "\\u00c3("},                  // bad continuation
      {"\xed\xa0\x80", "\\u00ed\\u00a0\\u0080"},  // a surrogate is not UTF-8
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(json_escape(c.in) == c.out);
    std::string appended = "x";
    append_json_escaped(appended, c.in);
    CHECK(appended == "x" + std::string(c.out));
  }
}

TEST_CASE("pointer_tokens splits a JSON pointer and undoes its escapes", "[strings]") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> table = {
      {"", {}},
      {"a/b", {}},  // not a pointer
      {"/", {""}},
      {"/a/0", {"a", "0"}},
      {"/a~1b/c~0d", {"a/b", "c~d"}},
      {"/~01", {"~1"}},  // ~0 first: "~01" is "~1", not "/"
      {"/a//b", {"a", "", "b"}},
      {"/x~", {"x~"}},  // a lone ~ stays
  };
  for (const auto& [pointer, tokens] : table) {
    INFO(pointer);
    CHECK(pointer_tokens(pointer) == tokens);
  }
}
