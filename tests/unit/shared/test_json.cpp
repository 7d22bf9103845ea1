#include <catch2/catch.hpp>

#include <string>

#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;

TEST_CASE("dump writes strings as json_escape does, bytes that are not UTF-8 as \\u00XX", "[json]") {
  const std::string cases[] = {
      "refs/heads/main",
      "ref \"quoted\"\n\ttab \\ back \x01 ctl \x7f del",
      "refs/heads/latin1-caf\xe9",                   // not UTF-8: \u00e9, told apart from a real é
      "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80",   // UTF-8: as it is
      "x\xe2\x9c",                                   // a truncated sequence
      "\xed\xa0\x80",                                // a surrogate
      "",
  };
  for (const auto& s : cases) {
    INFO(s);
    std::string ours = util::dump(util::Json{{"v", s}});
    CHECK(ours == "{\"v\":\"" + util::json_escape(s) + "\"}");
    CHECK(util::valid_utf8(ours));
    auto parsed = yaml::parse_json(ours);
    CHECK(parsed);
  }
  CHECK(util::dump(util::Json{{"v", "caf\xe9"}}) == R"({"v":"caf\u00e9"})");
  CHECK(util::dump(util::Json{{"k\xff", 1}}) == R"({"k\u00ff":1})");  // keys too
}

TEST_CASE("dump keeps members in the order they were added, and every JSON type", "[json]") {
  util::Json j{{"z", 1}, {"a", -2}, {"t", true}, {"f", false}, {"n", nullptr}, {"x", 1.5},
               {"list", util::Json::array({"a", 2, util::Json::object()})}, {"empty", util::Json::array()}};
  CHECK(util::dump(j) == R"({"z":1,"a":-2,"t":true,"f":false,"n":null,"x":1.5,"list":["a",2,{}],"empty":[]})");
  CHECK(util::dump(util::Json(std::uint64_t{18446744073709551615u})) == "18446744073709551615");
}
