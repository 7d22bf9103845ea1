#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <fstream>
#include <sstream>
#include <string>

#include "shared/util/json.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "shared/yamledit/yamledit.hpp"

using namespace portcullis;
using yamledit::Value;

namespace {

yamledit::Path path_of(const char* text) {
  auto p = yamledit::parse_path(text);
  REQUIRE(p.has_value());
  return *p;
}

std::string docs_json(std::string_view text) {
  auto s = yaml::parse_yaml(text);
  REQUIRE(s.has_value());
  std::string out;
  for (const auto& d : s->documents) out += (d.root ? yaml::to_json(*d.root) : "null") + "\n";
  return out;
}

enum class Op { set_scalar, set, remove };

struct Case {
  const char* name;
  std::string text;
  std::size_t document;
  const char* path;
  Value value;
  std::string expected;  // exact bytes; empty when `rule` is expected
  const char* rule = "";
  Op op = Op::set_scalar;
  yamledit::Anchors anchors = yamledit::Anchors::refuse;
};

const std::string k_deploy =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: web # the name\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: sidecar\n"
    "        image: reg/side:1.0\n"
    "      - image: \"reg/app:1.2.3\"  # {\"$imagepolicy\": \"ns:app\"}\n"
    "        name: app\n";

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("in-place edits keep every other byte of hostile formatting", "[yamledit]") {
  using yamledit::Anchors;
  const Case cases[] = {
      {"plain scalar, trailing comment", "a: 1\nb: x # c\n", 0, "b", Value::string("z"), "a: 1\nb: z # c\n"},
      {"YAML 1.1 boolean y is quoted", "b: x\n", 0, "b", Value::string("y"), "b: \"y\"\n"},
      {"sexagesimal and dates are quoted", "b: x\nc: x\n", 0, "b", Value::string("1:20"), "b: \"1:20\"\nc: x\n"},
      {"container by name keeps double quotes", k_deploy, 0, "spec.template.spec.containers[name=app].image",
       Value::string("reg/app:1.3.0"), replaced(k_deploy, "reg/app:1.2.3", "reg/app:1.3.0")},
      {"container by index", k_deploy, 0, "spec.template.spec.containers[0].image", Value::string("reg/side:2"),
       replaced(k_deploy, "reg/side:1.0", "reg/side:2")},
      {"single quotes kept, quote doubled", "t: 'a'\n", 0, "t", Value::string("it's"), "t: 'it''s'\n"},
      {"plain that would read as a number is quoted", "tag: v1\n", 0, "tag", Value::string("1.10"),
       "tag: \"1.10\"\n"},
      {"plain that would read as a boolean is quoted", "x: a\n", 0, "x", Value::string("yes"), "x: \"yes\"\n"},
      {"plain with ': ' is quoted", "x: a\n", 0, "x", Value::string("a: b"), "x: \"a: b\"\n"},
      {"plain with ' #' is quoted", "x: a\n", 0, "x", Value::string("a #b"), "x: \"a #b\"\n"},
      {"leading indicator is quoted", "x: a\n", 0, "x", Value::string("*ref"), "x: \"*ref\"\n"},
      {"empty string is quoted", "x: a\n", 0, "x", Value::string(""), "x: \"\"\n"},
      {"newline into single quotes switches to double", "x: 'a'\n", 0, "x", Value::string("a\nb"),
       "x: \"a\\nb\"\n"},
      {"unicode into plain is quoted", "x: a\n", 0, "x", Value::string("h\xC3\xA9"), "x: \"h\xC3\xA9\"\n"},
      {"integer written plain", "replicas: 1\n", 0, "replicas", Value::integer(3), "replicas: 3\n"},
      {"string '3' where an integer was", "replicas: 1\n", 0, "replicas", Value::string("3"), "replicas: \"3\"\n"},
      {"boolean into a quoted scalar is plain", "x: \"a\"\n", 0, "x", Value::boolean(true), "x: true\n"},
      {"empty value gets a space", "a:\nb: 1\n", 0, "a", Value::string("x"), "a: x\nb: 1\n"},
      {"empty value before a comment", "a: # c\nb: 1\n", 0, "a", Value::string("x"), "a: x # c\nb: 1\n"},
      {"flow mapping", "c: {image: a, x: 2}\n", 0, "c.image", Value::string("b"), "c: {image: b, x: 2}\n"},
      {"flow sequence", "args: [a, b, c]\n", 0, "args[1]", Value::string("x y"), "args: [a, x y, c]\n"},
      {"flow: a comma is quoted", "args: [a, b]\n", 0, "args[0]", Value::string("x,y"), "args: [\"x,y\", b]\n"},
      {"nested flow", "m: {l: [1, {k: v}]}\n", 0, "m.l[1].k", Value::string("w"), "m: {l: [1, {k: w}]}\n"},
      {"multi-document: only document 1", "a: 1\n---\na: 1 # two\n...\n---\na: 1\n", 1, "a", Value::integer(2),
       "a: 1\n---\na: 2 # two\n...\n---\na: 1\n"},
      {"CRLF kept", "a: 1\r\nb: 2\r\n", 0, "b", Value::integer(3), "a: 1\r\nb: 3\r\n"},
      {"comments everywhere", "# head\na: # after key\n  # before\n  b: 1 # tail\n# end\n", 0, "a.b",
       Value::string("two"), "# head\na: # after key\n  # before\n  b: two # tail\n# end\n"},
      {"odd indentation", "a:\n     b:\n         c: x\n", 0, "a.b.c", Value::string("z"),
       "a:\n     b:\n         c: z\n"},
      {"quoted key with a dot", "\"a.b\": 1\n'c': 2\n", 0, "[\"a.b\"]", Value::integer(5), "\"a.b\": 5\n'c': 2\n"},
      {"single-quoted key", "'c': 2\n", 0, "c", Value::integer(5), "'c': 5\n"},
      {"explicit ? key", "? a\n: 1\nc: 2\n", 0, "a", Value::integer(3), "? a\n: 3\nc: 2\n"},
      {"complex key: the file is refused", "? [a, b]\n: 1\nc: 2\n", 0, "c", Value::integer(3), "", "yamledit.syntax"},
      {"directives and markers", "%YAML 1.1\n---\na: 1\n...\n", 0, "a", Value::integer(2),
       "%YAML 1.1\n---\na: 2\n...\n"},
      {"BOM and unicode before the target", "\xEF\xBB\xBF" "a: \xC3\xA9\xC3\xA9\nb: 1\n", 0, "b", Value::integer(2),
       "\xEF\xBB\xBF" "a: \xC3\xA9\xC3\xA9\nb: 2\n"},
      {"no trailing newline", "a: 1\nb: 2", 0, "b", Value::integer(3), "a: 1\nb: 3"},
      {"multi-line plain scalar", "a: one\n  two\nb: 1\n", 0, "a", Value::string("x"), "a: x\nb: 1\n"},
      {"anchored scalar nobody aliases", "a: &x 1\nb: 2\n", 0, "a", Value::integer(3), "a: &x 3\nb: 2\n"},
      {"merge key: own entry", "base: &b\n  x: 1\nd:\n  <<: *b\n  y: 2\n", 0, "d.y", Value::integer(3),
       "base: &b\n  x: 1\nd:\n  <<: *b\n  y: 3\n"},
      {"anchored scalar shared: refused", "a: &x 1\nb: *x\n", 0, "a", Value::integer(3), "", "yamledit.anchored"},
      {"anchored scalar shared: allowed", "a: &x 1\nb: *x\n", 0, "a", Value::integer(3), "a: &x 3\nb: *x\n", "",
       Op::set_scalar, Anchors::allow},
      {"inside an aliased mapping: refused", "base: &b {image: a}\nother: *b\n", 0, "base.image", Value::string("z"),
       "", "yamledit.anchored"},
      {"merged base: refused", "base: &b\n  x: 1\nd:\n  <<: *b\n", 0, "base.x", Value::integer(3), "",
       "yamledit.anchored"},
      {"merged base: allowed changes every merge", "base: &b\n  x: 1\nd:\n  <<: *b\n", 0, "base.x", Value::integer(3),
       "base: &b\n  x: 3\nd:\n  <<: *b\n", "", Op::set_scalar, Anchors::allow},
      {"through an alias: refused", "base: &b {image: a}\nother: *b\n", 0, "other.image", Value::string("z"), "",
       "yamledit.anchored"},
      {"block scalar: refused", "a: |\n  x\n", 0, "a", Value::string("y"), "", "yamledit.block-scalar"},
      {"folded scalar: refused", "a: >\n  x\n", 0, "a", Value::string("y"), "", "yamledit.block-scalar"},
      {"tagged scalar: refused", "a: !!str 1\n", 0, "a", Value::string("y"), "", "yamledit.tagged"},
      {"collection: refused", "a: {b: 1}\n", 0, "a", Value::string("y"), "", "yamledit.not-scalar"},
      {"missing key", "a: 1\n", 0, "b", Value::string("y"), "", "yamledit.not-found"},
      {"missing document", "a: 1\n", 3, "a", Value::string("y"), "", "yamledit.not-found"},
      {"ambiguous match", "c:\n- name: a\n- name: a\n", 0, "c[name=a].name", Value::string("y"), "",
       "yamledit.ambiguous"},
      {"alias bomb: refused by the parser", "a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nz: 1\n",
       0, "z", Value::integer(2), "", "yamledit.syntax"},
      {"duplicate keys: refused by the parser", "a: 1\na: 2\n", 0, "a", Value::integer(3), "", "yamledit.syntax"},
      {"double-quoted escapes decoded for the match", "c:\n- name: \"a\\tb\"\n  v: 1\n", 0, "c[name=a\tb].v",
       Value::integer(2), "c:\n- name: \"a\\tb\"\n  v: 2\n"},
      {"flow document root with a marker", "--- {a: 1, b: [2]}\n", 0, "b[0]", Value::integer(3), "--- {a: 1, b: [3]}\n"},
      {"scalar document root", "--- x\n--- {a: 1}\n", 1, "a", Value::integer(2), "--- x\n--- {a: 2}\n"},
      {"a value with # in it", "a: b#c\n", 0, "a", Value::string("d#e"), "a: d#e\n"},
      {"CRLF inside a multi-line double-quoted value", "a: \"x\r\n  y\"\r\nb: 1\r\n", 0, "a", Value::string("z"),
       "a: \"z\"\r\nb: 1\r\n"},
      {"deep odd indentation in a list of lists", "a:\n -  - b: 1\n    - c: 2\n", 0, "a[0][1].c", Value::integer(5),
       "a:\n -  - b: 1\n    - c: 5\n"},
      {"syntax error", "a: [1\n", 0, "a", Value::string("y"), "", "yamledit.syntax"},
      // set() inserting keys
      {"insert a key after the last sibling", "metadata:\n  name: x # n\nspec: {}\n", 0, "metadata.namespace",
       Value::string("prod"), "metadata:\n  name: x # n\n  namespace: prod\nspec: {}\n", "", Op::set},
      {"insert intermediate maps", "metadata:\n  name: x\n", 0, "metadata.labels.app", Value::string("web"),
       "metadata:\n  name: x\n  labels:\n    app: web\n", "", Op::set},
      {"insert into a list item", "c:\n- name: app\n  image: a\n", 0, "c[name=app].imagePullPolicy",
       Value::string("Always"), "c:\n- name: app\n  image: a\n  imagePullPolicy: Always\n", "", Op::set},
      {"insert keeps CRLF", "a:\r\n  b: 1\r\n", 0, "a.c", Value::integer(2), "a:\r\n  b: 1\r\n  c: 2\r\n", "", Op::set},
      {"insert at the end without newline", "a: 1", 0, "b", Value::integer(2), "a: 1\nb: 2", "", Op::set},
      {"insert before a trailing comment and a next document", "a: 1\n# end\n---\nb: 1\n", 0, "c", Value::integer(2),
       "a: 1\nc: 2\n# end\n---\nb: 1\n", "", Op::set},
      {"insert after a nested block", "a:\n  b:\n    c: 1\n# x\nd: 1\n", 0, "a.e", Value::string("q"),
       "a:\n  b:\n    c: 1\n  e: q\n# x\nd: 1\n", "", Op::set},
      {"insert a key that needs quotes", "a:\n  b: 1\n", 0, "a[\"x: y\"]", Value::integer(2),
       "a:\n  b: 1\n  \"x: y\": 2\n", "", Op::set},
      {"insert into a flow mapping: refused", "a: {b: 1}\n", 0, "a.c", Value::integer(2), "", "yamledit.not-found",
       Op::set},
      {"set an existing key", "a: 1\n", 0, "a", Value::integer(2), "a: 2\n", "", Op::set},
      // remove_key
      {"remove a middle key", "a: 1\nb: 2 # c\nc: 3\n", 0, "b", Value::null(), "a: 1\nc: 3\n", "", Op::remove},
      {"remove a nested block", "a: 1\nb:\n  x: 1\n  y: 2\nc: 3\n", 0, "b", Value::null(), "a: 1\nc: 3\n", "",
       Op::remove},
      {"remove the first key of a list item", "c:\n- name: a\n  image: b\n", 0, "c[0].name", Value::null(),
       "c:\n- image: b\n", "", Op::remove},
      {"remove from a flow mapping", "a: {b: 1, c: 2}\n", 0, "a.b", Value::null(), "a: {c: 2}\n", "", Op::remove},
      {"remove the last of a flow mapping", "a: {b: 1, c: 2}\n", 0, "a.c", Value::null(), "a: {b: 1}\n", "",
       Op::remove},
      {"remove the only key: refused", "a:\n  b: 1\n", 0, "a.b", Value::null(), "", "yamledit.not-found",
       Op::remove},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    yamledit::Options options{c.anchors};
    util::Result<std::string> got;
    if (c.op == Op::set_scalar) got = yamledit::set_scalar(c.text, c.document, path_of(c.path), c.value, options);
    if (c.op == Op::set) got = yamledit::set(c.text, c.document, path_of(c.path), c.value, yamledit::Create::yes, options);
    if (c.op == Op::remove) got = yamledit::remove_key(c.text, c.document, path_of(c.path), options);
    if (std::string_view(c.rule).empty()) {
      INFO((got ? std::string() : got.error().describe()));
      REQUIRE(got.has_value());
      CHECK(*got == c.expected);
    } else {
      REQUIRE_FALSE(got.has_value());
      CHECK(got.error().rule == c.rule);
      CHECK_FALSE(got.error().message.empty());
    }
  }
}

TEST_CASE("an edit reads back as the intended document", "[yamledit]") {
  auto out = yamledit::set_scalar(k_deploy, 0, path_of("spec.template.spec.containers[name=app].image"),
                                  Value::string("reg/app:2.0.0"));
  REQUIRE(out.has_value());
  std::string expected = docs_json(replaced(k_deploy, "\"reg/app:1.2.3\"", "reg/app:2.0.0"));
  CHECK(docs_json(*out) == expected);
}

TEST_CASE("replace_at edits the scalar that starts at a line and column", "[yamledit]") {
  auto out = yamledit::replace_at(k_deploy, 11, 16, Value::string("reg/app:9"));
  REQUIRE(out.has_value());
  CHECK(*out == replaced(k_deploy, "reg/app:1.2.3", "reg/app:9"));
  auto none = yamledit::replace_at(k_deploy, 11, 3, Value::string("x"));
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().rule == "yamledit.not-found");
}

TEST_CASE("replace_all edits many scalars with one verification, or none", "[yamledit]") {
  const std::string text = "a: 1 # one\n---\nb: [x, 'y']\nc: &k z\n";
  auto out = yamledit::replace_all(text, {{1, 4, Value::integer(2)}, {3, 8, Value::string("it's")}, {3, 5, Value::string("w")},
                                          {4, 4, Value::string("q")}});
  REQUIRE(out.has_value());
  CHECK(*out == "a: 2 # one\n---\nb: [w, 'it''s']\nc: &k q\n");
  auto bad = yamledit::replace_all(text, {{1, 4, Value::integer(2)}, {3, 6, Value::string("x")}});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().rule == "yamledit.not-found");
  auto twice = yamledit::replace_all(text, {{1, 4, Value::integer(2)}, {1, 4, Value::integer(3)}});
  REQUIRE_FALSE(twice.has_value());
  auto none = yamledit::replace_all(text, {});
  REQUIRE(none.has_value());
  CHECK(*none == text);
}

TEST_CASE("scalars lists values with paths, positions and comments", "[yamledit]") {
  auto all = yamledit::scalars(k_deploy);
  REQUIRE(all.has_value());
  const yamledit::Scalar* image = nullptr;
  for (const auto& s : *all) {
    if (s.value == "reg/app:1.2.3") image = &s;
  }
  REQUIRE(image != nullptr);
  CHECK(yamledit::format_path(image->path) == "spec.template.spec.containers[1].image");
  CHECK(image->style == yamledit::Style::double_quoted);
  CHECK(image->line == 11);
  CHECK(image->comment == "# {\"$imagepolicy\": \"ns:app\"}");
  CHECK(k_deploy.substr(image->begin, image->end - image->begin) == "\"reg/app:1.2.3\"");
}

TEST_CASE("paths parse and format", "[yamledit]") {
  struct P {
    const char* text;
    const char* formatted;  // nullptr: a parse error
  };
  const P cases[] = {
      {"a.b.c", "a.b.c"},
      {"spec.containers[name=app].image", "spec.containers[name=app].image"},
      {"items[0][1]", "items[0][1]"},
      {"metadata.annotations[\"example.com/x.y\"]", "metadata.annotations[\"example.com/x.y\"]"},
      {"\"a.b\".c", "[\"a.b\"].c"},
      {"c[name=\"a]b\"]", "c[name=\"a]b\"]"},
      {"a..b", nullptr},
      {"a.", nullptr},
      {"a[", nullptr},
      {"a[x]", nullptr},
      {"a[\"x", nullptr},
      {"a]b", "[\"a]b\"]"},
  };
  for (const P& c : cases) {
    INFO(c.text);
    auto p = yamledit::parse_path(c.text);
    if (!c.formatted) {
      CHECK_FALSE(p.has_value());
      continue;
    }
    REQUIRE(p.has_value());
    CHECK(yamledit::format_path(*p) == c.formatted);
    auto again = yamledit::parse_path(yamledit::format_path(*p));
    REQUIRE(again.has_value());
    CHECK(*again == *p);
  }
}

TEST_CASE("every scalar of the repository's fixtures can be edited alone", "[yamledit]") {
  namespace fs = std::filesystem;
  std::size_t files = 0, edited = 0, refused = 0;
  for (const auto& entry : fs::recursive_directory_iterator(PORTCULLIS_FIXTURES_DIR)) {
    auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".yaml" && ext != ".yml")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 64 * 1024 || !yaml::parse_yaml(text)) continue;
    auto all = yamledit::scalars(text);
    if (!all) continue;
    ++files;
    std::size_t step = all->size() / 20 + 1;  // about 20 scalars per file keeps the test quick
    for (std::size_t i = 0; i < all->size(); i += step) {
      const auto& s = (*all)[i];
      INFO(entry.path().string() << " " << yamledit::format_path(s.path));
      auto out = yamledit::set_scalar(text, s.document, s.path, Value::string("edited value"));
      if (!out) {
        // Only the refusals the contract names; never a failed verification.
        CHECK((out.error().rule == "yamledit.anchored" || out.error().rule == "yamledit.block-scalar" ||
               out.error().rule == "yamledit.tagged"));
        ++refused;
        continue;
      }
      ++edited;
      std::string written = s.style == yamledit::Style::single_quoted ? "'edited value'"
                            : s.style == yamledit::Style::double_quoted ? "\"edited value\""
                                                                        : "edited value";
      std::string expected = text.substr(0, s.begin) + (s.begin == s.end ? " " : "") + written + text.substr(s.end);
      CHECK(*out == expected);
      auto after = yamledit::scalars(*out);
      REQUIRE(after.has_value());
      REQUIRE(after->size() == all->size());
      for (std::size_t j = 0; j < all->size(); ++j) {
        CHECK((*after)[j].value == (j == i ? "edited value" : (*all)[j].value));
      }
    }
  }
  CHECK(files > 50);
  CHECK(edited > 500);
  CHECK(refused < edited / 10);
}

TEST_CASE("mangled YAML never crashes an edit, and what is returned still verifies", "[yamledit]") {
  const std::string seeds[] = {
      k_deploy,
      "a: &x {b: [1, 'two', \"th\\\"ree\"]}\nc: *x\n---\n? k\n: v\nd: |\n  text\n",
      "\xEF\xBB\xBF" "list:\r\n- {name: a, image: 'r/a:1'} # {\"$imagepolicy\": \"a\"}\r\n- name: b\r\n  image: r/b\r\n",
  };
  const std::string alphabet = "{}[]:,-#&*!|>'\"\n\r\t ?%@`ab1.\\\xC3\xA9";
  std::mt19937 rng(18);
  std::size_t edited = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = seeds[static_cast<std::size_t>(round) % std::size(seeds)];
    for (int m = 0; m < 1 + round % 3; ++m) {
      std::size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.erase(at, rng() % 4); break;
        case 1: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        default: text.insert(at, text.substr(at, rng() % 12)); break;
      }
    }
    INFO("text: " << text);
    auto all = yamledit::scalars(text);
    if (!all || all->empty()) continue;
    const auto& s = (*all)[rng() % all->size()];
    auto out = yamledit::set_scalar(text, s.document, s.path, Value::string("v: #1"));
    if (out) {
      ++edited;
      auto after = yamledit::scalars(*out);
      REQUIRE(after.has_value());
      CHECK(after->size() == all->size());
    }
    yamledit::Path extra = s.path;
    extra.back() = yamledit::Step::of_key("new key");
    (void)yamledit::set(text, s.document, extra, Value::integer(1));
    (void)yamledit::remove_key(text, s.document, s.path);
    (void)yamledit::replace_at(text, s.line, s.column, Value::boolean(false));
  }
  CHECK(edited > 100);
}
