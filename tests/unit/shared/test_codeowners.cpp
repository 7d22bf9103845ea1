#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "shared/codeowners/codeowners.hpp"

using namespace portcullis;
using codeowners::Dialect;
using codeowners::Validation;

namespace {

namespace fs = std::filesystem;

fs::path conformance_dir() {
  return fs::path(PORTCULLIS_CONFORMANCE_DIR) / "codeowners";
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Tsv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each with header.size() fields
  std::vector<std::size_t> lines;              // 1-based line of each row in the file
};

Tsv read_tsv(const fs::path& path) {
  Tsv tsv;
  std::istringstream in(slurp(path));
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (auto tab = line.find('\t'); tab != std::string::npos; tab = line.find('\t', start)) {
      fields.push_back(line.substr(start, tab - start));
      start = tab + 1;
    }
    fields.push_back(line.substr(start));
    if (tsv.header.empty()) {
      tsv.header = std::move(fields);
      continue;
    }
    INFO(path.filename().string() << ":" << number);
    REQUIRE(fields.size() == tsv.header.size());
    tsv.rows.push_back(std::move(fields));
    tsv.lines.push_back(number);
  }
  return tsv;
}

std::string join(const std::vector<std::string>& words, std::string_view none = "-") {
  if (words.empty()) return std::string(none);
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

codeowners::Codeowners parse_ok(std::string_view text, Dialect dialect,
                                Validation validation = Validation::like_forge) {
  auto parsed = codeowners::parse(text, dialect, validation);
  if (!parsed) FAIL("parse failed: " << parsed.error().describe());
  return std::move(*parsed);
}

// GitHub: the owners of the last matching rule, "-" when unowned.
std::string github_owners(const codeowners::Codeowners& file, std::string_view path) {
  const auto matches = file.match(path);
  return matches.empty() ? "-" : join(matches.front().entry->owners);
}

// GitLab: every applicable section as "[^]Name[[N]]: owners", joined by " | "; "-" for none.
std::string gitlab_sections(const codeowners::Codeowners& file, std::string_view path) {
  std::string out;
  for (const auto& m : file.match(path)) {
    if (!out.empty()) out += " | ";
    if (m.section->optional) out += "^";
    out += m.section->name;
    if (m.entry->approvals != 0) out += "[" + std::to_string(m.entry->approvals) + "]";
    out += ": " + join(m.entry->owners, "(none)");
  }
  return out.empty() ? "-" : out;
}

}  // namespace

// ---- Conformance tables ------------------------------------------------------------------

TEST_CASE("the CODEOWNERS conformance directory is present", "[codeowners]") {
  INFO("PORTCULLIS_CONFORMANCE_DIR=" << PORTCULLIS_CONFORMANCE_DIR);
  REQUIRE(fs::is_directory(conformance_dir()));
  REQUIRE(fs::is_regular_file(conformance_dir() / "github-cases.tsv"));
  REQUIRE(fs::is_regular_file(conformance_dir() / "gitlab-cases.tsv"));
}

TEST_CASE("GitHub dialect passes every conformance case", "[codeowners]") {
  REQUIRE(fs::is_directory(conformance_dir()));
  const auto tsv = read_tsv(conformance_dir() / "github-cases.tsv");
  REQUIRE(tsv.header == std::vector<std::string>{"codeowners_file_id", "path", "expected_owners", "source"});
  std::map<std::string, codeowners::Codeowners> files;
  std::size_t passed = 0;
  for (std::size_t r = 0; r < tsv.rows.size(); ++r) {
    const auto& row = tsv.rows[r];
    const auto& id = row[0];
    if (!files.contains(id)) {
      const auto path = conformance_dir() / ("github-" + id + ".CODEOWNERS");
      INFO("file " << path);
      files.emplace(id, parse_ok(slurp(path), Dialect::github));
    }
    const auto actual = github_owners(files.at(id), row[1]);
    if (actual == row[2]) {
      ++passed;
    } else {
      FAIL_CHECK("github-cases.tsv:" << tsv.lines[r] << " file=" << id << " path='" << row[1]
                                     << "' expected='" << row[2] << "' actual='" << actual << "' (" << row[3]
                                     << ")");
    }
  }
  CHECK(tsv.rows.size() == 284);
  CHECK(passed == tsv.rows.size());
}

TEST_CASE("GitLab dialect passes every conformance case", "[codeowners]") {
  REQUIRE(fs::is_directory(conformance_dir()));
  const auto tsv = read_tsv(conformance_dir() / "gitlab-cases.tsv");
  REQUIRE(tsv.header == std::vector<std::string>{"codeowners_file_id", "path", "section", "expected_owners",
                                                 "required_approvals", "optional", "source"});
  std::map<std::string, codeowners::Codeowners> files;
  std::size_t passed = 0;
  for (std::size_t r = 0; r < tsv.rows.size(); ++r) {
    const auto& row = tsv.rows[r];
    const auto& id = row[0];
    if (!files.contains(id)) {
      const auto path = conformance_dir() / ("gitlab-" + id + ".CODEOWNERS");
      INFO("file " << path);
      files.emplace(id, parse_ok(slurp(path), Dialect::gitlab));
    }
    const auto matches = files.at(id).match(row[1]);
    std::string expected = row[2] + " " + row[3] + " " + row[4] + " " + row[5];
    std::string actual;
    if (row[2] == "-") {
      actual = matches.empty() ? "- - - -" : "applies: " + gitlab_sections(files.at(id), row[1]);
    } else {
      actual = "no such section: " + gitlab_sections(files.at(id), row[1]);
      for (const auto& m : matches) {
        if (m.section->name != row[2]) continue;
        actual = m.section->name + " " + join(m.entry->owners) + " " + std::to_string(m.entry->approvals) +
                 " " + (m.section->optional ? "true" : "false");
      }
    }
    if (actual == expected) {
      ++passed;
    } else {
      FAIL_CHECK("gitlab-cases.tsv:" << tsv.lines[r] << " file=" << id << " path='" << row[1]
                                     << "' expected='" << expected << "' actual='" << actual << "' ("
                                     << row[6] << ")");
    }
  }
  CHECK(tsv.rows.size() == 136);
  CHECK(passed == tsv.rows.size());
}

// ---- GitHub: the documented examples (about-code-owners.md) --------------------------------

TEST_CASE("GitHub: the documented example file", "[codeowners]") {
  // "Example of a CODEOWNERS file", as published (comments shortened).
  const auto file = parse_ok(R"(# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in the repo.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most precedence.
*.js    @js-owner #This is an inline comment.

# You can also use email addresses if you prefer.
*.go docs@example.com

# Teams can be specified as code owners as well.
*.txt @octo-org/octocats

# @doctocat owns any files in the build/logs directory at the root of the repository.
/build/logs/ @doctocat

# `docs/*` matches `docs/getting-started.md` but not `docs/build-app/troubleshooting.md`.
docs/*  docs@example.com

# @octocat owns any file in an apps directory anywhere in your repository.
apps/ @octocat

# @doctocat owns any file in the `/docs` directory in the root of your repository.
/docs/ @doctocat

# Any change inside the `/scripts` directory will require approval from @doctocat or @octocat.
/scripts/ @doctocat @octocat

# @octocat owns any file in a `/logs` directory such as `/build/logs`, `/scripts/logs`.
**/logs @octocat

# @octocat owns any file in `/apps` except for `/apps/github`, as its owners are left empty.
/apps/ @octocat
/apps/github

# @octocat owns any file in `/apps` except for `/apps/github`, which has its own owner.
/apps/ @octocat
/apps/github @doctocat
)",
                             Dialect::github, Validation::strict);
  struct Case {
    const char* path;
    const char* owners;
  };
  const Case cases[] = {
      {"README.md", "@global-owner1 @global-owner2"},
      {"src/deep/main.c", "@global-owner1 @global-owner2"},
      {"src/app.js", "@js-owner"},
      {"cmd/tool/main.go", "docs@example.com"},
      {"notes.txt", "@octo-org/octocats"},
      {"build/app.log", "@global-owner1 @global-owner2"},
      {"build/logs/app.log", "@octocat"},  // `**/logs` comes later than `/build/logs/`
      {"src/build/logs/app.log", "@octocat"},
      {"docs/getting-started.md", "@doctocat"},  // `/docs/` comes later than `docs/*`
      {"docs/build-app/troubleshooting.md", "@doctocat"},
      {"src/docs/guide.md", "@global-owner1 @global-owner2"},  // `docs/*` is anchored at the root
      {"Docs/index.md", "@global-owner1 @global-owner2"},      // paths are case sensitive
      {"pkg/apps/index.rb", "@octocat"},
      {"apps/web/index.rb", "@octocat"},
      {"apps/github/index.rb", "@doctocat"},
      {"scripts/deploy.sh", "@doctocat @octocat"},
      {"scripts/logs/run.txt", "@octocat"},
      {"deeply/nested/logs/x.txt", "@octocat"},
  };
  for (const auto& c : cases) {
    INFO("path " << c.path);
    CHECK(github_owners(file, c.path) == c.owners);
  }
}

TEST_CASE("GitHub: documented rules, one small file each", "[codeowners]") {
  struct Case {
    const char* what;
    const char* text;
    const char* path;
    const char* owners;  // "-": no rule or an unowned rule
  };
  const Case cases[] = {
      {"owners on separate lines: only the last line counts", "*.js @octocat\n*.js @doctocat\n", "a.js",
       "@doctocat"},
      {"an empty owner list unowns", "/apps/ @octocat\n/apps/github\n", "apps/github/x", "-"},
      {"a pattern followed by a comment has no owners", "* @a\ntmp/ # scratch\n", "tmp/x", "-"},
      {"'#' after whitespace starts a comment", "*.md @a #@b\n", "x.md", "@a"},
      {"'#' inside a pattern is part of it", "a#b.md @a\n", "a#b.md", "@a"},
      {"'\\#' inside a pattern is a literal '#'", "a\\#b.md @a\n", "a#b.md", "@a"},
      {"[ ] is not a character range", "*.[ch] @c\n", "x.c", "-"},
      {"[ ] is matched literally", "*.[ch] @c\n", "x.[ch]", "@c"},
      {"case sensitive", "/Docs/ @a\n", "docs/x", "-"},
      {"'**' alone owns everything", "** @a\n", "a/b/c", "@a"},
      {"'/' alone owns nothing", "/ @a\n", "a", "-"},
      {"'*' in the middle spans one directory", "/a/*/c @a\n", "a/b/c/d", "@a"},
      {"'*' in the middle does not span two", "/a/*/c @a\n", "a/b/x/c", "-"},
      {"'?' is one character, not '/'", "a?c @a\n", "a/c", "-"},
      {"'?' is one UTF-8 character", "caf? @a\n", "caf\xC3\xA9", "@a"},
      {"'**/' in the middle spans zero directories", "a/**/b @a\n", "a/b", "@a"},
      {"a repeated owner is listed once", "* @a @b @a\n", "x", "@a @b"},
      {"branch protection example: the last of three /apps/ lines",
       "/apps/ @doctocat\n/apps/ @doctocat @octocat\n/apps/ @example-org/content-team\n", "apps/x",
       "@example-org/content-team"},
      {"CRLF line ends", "* @a\r\n*.md @b\r\n", "x.md", "@b"},
  };
  for (const auto& c : cases) {
    INFO(c.what << ": " << c.text << " / " << c.path);
    CHECK(github_owners(parse_ok(c.text, Dialect::github, Validation::strict), c.path) == c.owners);
  }
}

TEST_CASE("GitHub: an unowned rule is a match without owners, no rule is no match", "[codeowners]") {
  const auto file = parse_ok("/apps/ @octocat\n/apps/github\n", Dialect::github, Validation::strict);
  const auto unowned = file.match("apps/github/x");
  REQUIRE(unowned.size() == 1);
  CHECK(unowned[0].entry->owners.empty());
  CHECK(unowned[0].entry->line == 2);
  CHECK(unowned[0].section->name.empty());
  CHECK(file.match("lib/x").empty());
}

// ---- GitLab: the documented examples (codeowners/reference.md, advanced.md) -----------------

namespace {

struct GitlabCase {
  const char* path;
  const char* sections;  // gitlab_sections(): "[^]Name[[N]]: owners | ...", "-" for none
};

void check_gitlab(const char* text, std::initializer_list<GitlabCase> cases) {
  const auto file = parse_ok(text, Dialect::gitlab);
  for (const auto& c : cases) {
    INFO("file:\n" << text << "\npath " << c.path);
    CHECK(gitlab_sections(file, c.path) == c.sections);
  }
}

}  // namespace

TEST_CASE("GitLab: reference.md examples", "[codeowners]") {
  SECTION("the first example block") {
    check_gitlab(R"(# Specify a default Code Owner for all files with a wildcard:
* @default-owner

# Specify multiple Code Owners to a specific file:
README.md @doc-team @tech-lead

# Specify a Code Owner to all files with a specific extension:
*.rb @ruby-owner

# Specify Code Owners with usernames or email addresses:
LICENSE @legal janedoe@gitlab.com

# Use group names to match groups and nested groups:
README @group @group/with-nested/subgroup

# Specify a Code Owner to a directory and all its contents:
/docs/ @all-docs
/docs/* @root-docs
/docs/**/*.md @markdown-docs  # Match specific file types in any subdirectory
/db/**/index.md @index-docs   # Match a specific file name in any subdirectory

# Use a section to group related rules:
[Documentation]
ee/docs    @docs
docs       @docs

# Assign a role as a Code Owner:
/config/ @@maintainer
)",
                 {
                     {"README.md", "codeowners: @doc-team @tech-lead"},
                     {"app/models/user.rb", "codeowners: @ruby-owner"},
                     {"LICENSE", "codeowners: @legal janedoe@gitlab.com"},
                     {"lib/README", "codeowners: @group @group/with-nested/subgroup"},
                     {"docs/README", "codeowners: @root-docs"},
                     {"docs/api/intro.md", "codeowners: @markdown-docs"},
                     {"docs/img/logo.png", "codeowners: @all-docs"},
                     {"db/index.md", "codeowners: @index-docs"},
                     {"ee/docs", "codeowners: @default-owner | Documentation: @docs"},
                     {"ee/docs/index.md", "codeowners: @default-owner"},  // `docs` names a file only
                     {"config/gitlab.yml", "codeowners: @default-owner | Documentation: @@maintainer"},
                 });
  }
  SECTION("sections") {
    check_gitlab(
        "* @admin\n\n[README Owners]\nREADME.md @user1 @user2\ninternal/README.md @user4\n\n"
        "[README other owners]\nREADME.md @user3\n",
        {
            {"README.md", "codeowners: @admin | README Owners: @user1 @user2 | README other owners: @user3"},
            {"internal/README.md",
             "codeowners: @admin | README Owners: @user4 | README other owners: @user3"},
            {"src/main.c", "codeowners: @admin"},
        });
  }
  SECTION("section headings") {
    check_gitlab(
        "[Required]\na.txt @a\n^[Optional]\nb.txt @b\n[Five][5]\nc.txt @c\n[Defaults] @username\nd.txt\n"
        "[Both][2] @group @subgroup\ne.txt\n",
        {
            {"a.txt", "Required: @a"},
            {"b.txt", "^Optional: @b"},
            {"c.txt", "Five[5]: @c"},
            {"d.txt", "Defaults: @username"},
            {"e.txt", "Both[2]: @group @subgroup"},
        });
  }
  SECTION("default owners of a section") {
    check_gitlab(
        "[Documentation] @docs-team\ndocs/\nREADME.md\n\n[Database] @database-team @agarcia\nmodel/db/\n"
        "config/db/database-setup.md @docs-team\n",
        {
            {"docs/index.md", "Documentation: @docs-team"},
            {"README.md", "Documentation: @docs-team"},
            {"model/db/schema.rb", "Database: @database-team @agarcia"},
            {"config/db/database-setup.md", "Database: @docs-team"},
            {"app/main.rb", "-"},
        });
  }
  SECTION("optional sections") {
    check_gitlab(
        "[Documentation]\n*.md @root\n\n[Ruby]\n*.rb @root\n\n^[Go]\n*.go @root\n",
        {{"main.go", "^Go: @root"}, {"README.md", "Documentation: @root"}, {"app/user.rb", "Ruby: @root"}});
    // "If a section is duplicated in the file, and one of them is marked as optional and the
    // other isn't, the section is required."
    check_gitlab("^[Go]\n*.go @a\n[go]\ngo.mod @b\n", {{"main.go", "Go: @a"}, {"go.mod", "Go: @b"}});
  }
  SECTION("exclusions: in their section only") {
    check_gitlab(
        "# All files require approval from @username\n* @username\n\n# Except pom.xml\n!pom.xml\n\n"
        "[Ruby]\n*.rb @ruby-team\n\n# Except Ruby files in the config directory\n!/config/**/*.rb\n",
        {
            {"pom.xml", "-"},
            {"app/models/user.rb", "codeowners: @username | Ruby: @ruby-team"},
            {"config/initializers/secret.rb", "codeowners: @username"},
            {"config/secret.rb", "codeowners: @username"},
        });
  }
  SECTION("exclusions: evaluated in order") {
    check_gitlab(
        "* @default-owner\n!*.rb                      # Excludes all Ruby files.\n"
        "/special/*.rb @ruby-owner  # This won't take effect as *.rb is already excluded.\n",
        {{"special/task.rb", "-"},
         {"lib/task.rb", "-"},
         {"special/notes.txt", "codeowners: @default-owner"}});
  }
  SECTION("exclusions: no inclusion again in the same section") {
    check_gitlab(
        "[Ruby]\n*.rb @ruby-team           # All Ruby files need Ruby team approval.\n"
        "!/config/**/*.rb          # Ruby files in config don't need Ruby team approval.\n"
        "/config/routes.rb @ops    # This won't take effect as config Ruby files are excluded.\n",
        {{"config/routes.rb", "-"}, {"app/models/user.rb", "Ruby: @ruby-team"}});
  }
  SECTION("exclusions: different sections for different owners") {
    check_gitlab(
        "[Ruby]\n*.rb @ruby-team\n!/config/**/*.rb        # Config Ruby files don't need Ruby team "
        "approval.\n\n"
        "[Config]\n/config/ @ops-team      # Config files still require ops-team approval.\n",
        {{"config/initializers/app.rb", "Config: @ops-team"}, {"app/models/user.rb", "Ruby: @ruby-team"}});
  }
  SECTION("exclusions: files updated by automation") {
    check_gitlab(
        "* @default-owner\n\n# Files updated by automation don't need approval.\n!package-lock.json\n"
        "!yarn.lock\n!**/generated/          # Any files in generated directories.\n!.gitlab-ci.yml\n",
        {
            {"package-lock.json", "-"},
            {"web/yarn.lock", "-"},
            {"src/generated/client.ts", "-"},
            {".gitlab-ci.yml", "-"},
            {"src/index.ts", "codeowners: @default-owner"},
        });
  }
  SECTION("roles, groups and entry owners") {
    check_gitlab(
        "file.md @@developer @@maintainer\nplural.md @@developers @@Owners\nguest.md @@guest @a\n"
        "group.md @group-x @group-x/subgroup-y\n/path/to/entry.rb @group @group/subgroup @user\n"
        "[Maintainers]\n* @gitlab-org/maintainers/group-name\n",
        {
            {"file.md",
             "codeowners: @@developer @@maintainer | Maintainers: @gitlab-org/maintainers/group-name"},
            {"plural.md",
             "codeowners: @@developers @@Owners | Maintainers: @gitlab-org/maintainers/group-name"},
            {"guest.md", "codeowners: @a | Maintainers: @gitlab-org/maintainers/group-name"},
            {"group.md",
             "codeowners: @group-x @group-x/subgroup-y | Maintainers: @gitlab-org/maintainers/group-name"},
            {"path/to/entry.rb",
             "codeowners: @group @group/subgroup @user | Maintainers: @gitlab-org/maintainers/group-name"},
        });
  }
  SECTION("inline comments are unsupported; owners in them are parsed") {
    check_gitlab("*.md @docs-team # reviewed by @tech-lead, or mail lead@example.com.\n",
                 {{"README.md", "codeowners: @docs-team @tech-lead lead@example.com"}});
  }
}

TEST_CASE("GitLab: path matching (reference.md Path matching, advanced.md Pattern matching)",
          "[codeowners]") {
  struct Case {
    const char* pattern;
    const char* path;
    bool matches;
  };
  const Case cases[] = {
      {"/README.md", "README.md", true},
      {"/README.md", "docs/README.md", false},
      {"/docs/README.md", "docs/README.md", true},
      {"README.md", "internal/README.md", true},
      {"README.md", "app/lib/README.md", true},
      {"internal/README.md", "docs/api/internal/README.md", true},
      {"internal/README.md", "README.md", false},
      {"/docs/", "docs/api/graphql/index.md", true},
      {"/docs/", "src/docs/index.md", false},
      {"docs/", "src/docs/index.md", true},
      {"docs", "docs/index.md", false},  // a name without '/' is a file name only
      {"/docs/*.md", "docs/guide.md", true},
      {"/docs/*.md", "docs/api/guide.md", false},
      {"/docs/index.*", "docs/index.xml", true},
      {"/docs/*spec*", "docs/runtime.spec", true},
      {"/docs/*/README.md", "docs/api/README.md", true},
      {"/docs/*/README.md", "docs/README.md", false},
      {"/docs/*/README.md", "docs/api/v4/README.md", false},
      {"/docs/**/index.md", "docs/index.md", true},
      {"/docs/**/index.md", "docs/api/graphql/index.md", true},
      {"**/*.rb", "config/database.rb", true},
      {"**/*.rb", "app/controllers/users/stars_controller.rb", true},
      {"*", ".gitignore", true},  // FNM_DOTMATCH
      {"*", "a/b/.hidden", true},
      {"/.*/", ".github/workflows/ci.yml", true},
      {"*.[ch]", "main.c", true},  // fnmatch classes work in GitLab
      {"*.[!ch]", "main.c", false},
      {"file[0-9].txt", "file7.txt", true},
      {"file[0-9].txt", "filex.txt", false},
      {"[unterminated", "[unterminated", false},
      {"\\#file_with_pound.rb", "#file_with_pound.rb", true},
      {"a\\*b", "a*b", true},
      {"a\\*b", "axb", false},
      {"{a,b}.txt", "a.txt", false},  // no brace expansion
      {"/**/*.go", "cmd/tool/main.go", true},
      {"?", "\xC3\xA9", true},  // one UTF-8 character
  };
  for (const auto& c : cases) {
    INFO("pattern '" << c.pattern << "' path '" << c.path << "'");
    const auto file = parse_ok(std::string(c.pattern) + " @o\n", Dialect::gitlab);
    CHECK(file.match(c.path).empty() == !c.matches);
  }
}

TEST_CASE("GitLab: advanced.md examples", "[codeowners]") {
  SECTION("default owners and optional sections") {
    check_gitlab(
        "[Documentation][2] @docs-team\ndocs/\nREADME.md\n\n^[Database] @database-team\nmodel/db/\n"
        "config/db/database-setup.md @docs-team\n",
        {
            {"docs/index.md", "Documentation[2]: @docs-team"},
            {"model/db/schema.rb", "^Database: @database-team"},
            {"config/db/database-setup.md", "^Database: @docs-team"},
        });
  }
  SECTION("regular entries and sections: three approvals for model/db/CHANGELOG.txt") {
    check_gitlab(
        "# Required for all files\n* @general-approvers\n\n[Documentation] "
        "@docs-team\ndocs/\nREADME.md\n*.txt\n\n"
        "[Database] @database-team\nmodel/db/\nconfig/db/database-setup.md @docs-team\n",
        {
            {"model/db/CHANGELOG.txt",
             "codeowners: @general-approvers | Documentation: @docs-team | Database: @database-team"},
            {"src/main.c", "codeowners: @general-approvers"},
        });
  }
  SECTION("sections with duplicate names are combined under the first spelling") {
    const char* text =
        "[Documentation]\nee/docs/    @docs\ndocs/       @docs\n\n[Database]\nREADME.md  @database\n"
        "model/db/   @database\n\n[DOCUMENTATION]\nREADME.md  @docs\n";
    check_gitlab(text, {{"README.md", "Documentation: @docs | Database: @database"},
                        {"ee/docs/guide.md", "Documentation: @docs"}});
    const auto file = parse_ok(text, Dialect::gitlab, Validation::strict);
    REQUIRE(file.sections().size() == 3);
    CHECK(file.sections()[0].name == "codeowners");
    CHECK(file.sections()[1].name == "Documentation");
    CHECK(file.sections()[1].entries.size() == 3);
    CHECK(file.sections()[2].entries.size() == 2);
  }
  SECTION("the last matching entry wins") {
    check_gitlab(
        "# This line would match the file terms.md\n*.md @doc-team\n\n"
        "# This line would also match the file terms.md\nterms.md @legal-team\n",
        {{"terms.md", "codeowners: @legal-team"}, {"README.md", "codeowners: @doc-team"}});
    // A pattern given again replaces the earlier entry, which therefore no longer "comes first".
    check_gitlab("* @a\n*.rb @b\n* @c\n", {{"x.rb", "codeowners: @c"}});
    check_gitlab("!*.rb\n*.rb @b\n", {{"x.rb", "codeowners: @b"}});
  }
  SECTION("multiple approvals") {
    check_gitlab("[Documentation][2]\n*.md @tech-writer-team\n\n[Ruby]\n*.rb @dev-team\n",
                 {{"README.md", "Documentation[2]: @tech-writer-team"}, {"app.rb", "Ruby: @dev-team"}});
    check_gitlab("[Zero][0] @doc\n*.md\n[One][1] @doc\n*.md\n", {{"README.md", "Zero: @doc | One[1]: @doc"}});
  }
  SECTION("entries with spaces") {
    check_gitlab("path\\ with\\ spaces/*.md @owner\n", {{"path with spaces/README.md", "codeowners: @owner"},
                                                        {"path with spaces/sub/README.md", "-"}});
    // Without escaping the pattern is `folder` and the owners " with spaces/*.md @group".
    check_gitlab("folder with spaces/*.md @group\n",
                 {{"folder with spaces/notes.md", "-"}, {"src/folder", "codeowners: @group"}});
  }
  SECTION("unparsable sections are entries of the section before") {
    const auto after_default = parse_ok("* @group\n\n[Section name\ndocs/ @docs_group\n", Dialect::gitlab);
    REQUIRE(after_default.sections().size() == 1);
    REQUIRE(after_default.sections()[0].entries.size() == 3);
    CHECK(after_default.sections()[0].entries[1].pattern == "[Section");
    CHECK(gitlab_sections(after_default, "docs/guide.md") == "codeowners: @docs_group");
    CHECK(gitlab_sections(after_default, "app.rb") == "codeowners: @group");

    const auto after_named =
        parse_ok("[Docs]\ndocs/**/* @group\n\n[Section name\ndocs/ @docs_group\n", Dialect::gitlab);
    REQUIRE(after_named.sections().size() == 2);
    // The doc lists three rules; `docs/**/*` and `docs/` normalise to the same pattern
    // (`/**/docs/**/*`), so GitLab keeps only the later of the two.
    REQUIRE(after_named.sections()[1].entries.size() == 2);
    CHECK(after_named.sections()[1].entries[0].pattern == "[Section");
    CHECK(gitlab_sections(after_named, "docs/guide.md") == "Docs: @docs_group");
    CHECK(gitlab_sections(after_named, "app.rb") == "-");
  }
  SECTION("malformed, inaccessible and missing owners") {
    check_gitlab("/path/* @group user_without_at_symbol @user_with_at_symbol\n",
                 {{"path/file.txt", "codeowners: @group @user_with_at_symbol"}});
    check_gitlab(
        "* @group @grou @username @i_left @i_dont_exist example@gitlab.com invalid@gitlab.com\n",
        {{"x",
          "codeowners: @group @grou @username @i_left @i_dont_exist example@gitlab.com invalid@gitlab.com"}});
    // Zero owners: the entry still applies (GitLab auto-approves it; protected branches honour it).
    check_gitlab("* @a\nsecret.txt\n", {{"secret.txt", "codeowners: (none)"}});
  }
}

TEST_CASE("GitLab: owner references are found as GitLab's ReferenceExtractor finds them", "[codeowners]") {
  struct Case {
    const char* owner_text;
    const char* owners;
  };
  const Case cases[] = {
      {"@legal janedoe@gitlab.com", "@legal janedoe@gitlab.com"},
      {"@group/with-nested/subgroup", "@group/with-nested/subgroup"},
      {"@a @a @b", "@a @b"},
      {"(@paren), @comma.", "(@paren @paren @comma"},  // its email pattern takes "(@paren" too
      {"@user.name", "@user.name"},
      {"@trailing/", "@trailing"},
      {"@@developer", "@@developer"},
      {"@@maintainers.", "-"},  // a role must end at whitespace
      {"x@@owner", "-"},
      {"@-dash", "-"},
      {"@_under", "@_under"},
      {"mail: a.b+c@example.co.uk,", "a.b+c@example.co.uk"},
      {"no owners here", "-"},
  };
  for (const auto& c : cases) {
    INFO("owner text '" << c.owner_text << "'");
    const auto file = parse_ok(std::string("x ") + c.owner_text + "\n", Dialect::gitlab);
    const auto matches = file.match("x");
    REQUIRE(matches.size() == 1);
    CHECK(join(matches[0].entry->owners) == c.owners);
  }
}

// ---- Invalid lines, the size cap, escapes, file location ------------------------------------

TEST_CASE("invalid lines are errors with their line number", "[codeowners]") {
  struct Case {
    Dialect dialect;
    const char* text;
    std::uint32_t line;
    const char* rule;
    const char* says;
  };
  const Case cases[] = {
      {Dialect::github, "*.js @a\n!*.md @b\n", 2, "codeowners.syntax", "negation"},
      {Dialect::github, "# comment\n\n\\#notes @a\n", 3, "codeowners.syntax", "escaped '#'"},
      {Dialect::github, "docs/ @a\nfoo\\\n", 2, "codeowners.syntax", "lone '\\'"},
      {Dialect::github, "docs/*** @a\n", 1, "codeowners.syntax", "'***'"},
      {Dialect::github, "* @a\n*.md @docs writers\n", 2, "codeowners.owner", "'writers' is not an owner"},
      {Dialect::github, "* @org/team/nested\n", 1, "codeowners.owner", "'@org/team/nested'"},
      {Dialect::github, "* user@localhost\n", 1, "codeowners.owner", "'user@localhost'"},
      {Dialect::github, "[First team] @a\n", 1, "codeowners.owner", "'team]'"},
      {Dialect::gitlab, "* @a\n[Docs\ndocs/ @b\n", 2, "codeowners.section", "no closing ']'"},
      {Dialect::gitlab, "[]\n* @a\n", 1, "codeowners.section", "no name"},
      {Dialect::gitlab, "[Docs][ ]\n* @a\n", 1, "codeowners.section", "not a number"},
      {Dialect::gitlab, "^[Docs][2] @a\n*.md\n", 1, "codeowners.section", "optional section"},
      {Dialect::gitlab, "[Docs] @a bob\n*.md\n", 1, "codeowners.section", "'bob' in the section header"},
      {Dialect::gitlab, "[Docs] @a+b\n*.md @c\n", 1, "codeowners.section", "malformed"},
      {Dialect::gitlab, "[Docs][q] @a\n*.md @c\n", 1, "codeowners.section", "malformed"},
      {Dialect::gitlab, "*.md @a # docs team\n", 1, "codeowners.owner", "no inline comments"},
      {Dialect::gitlab, "* @a\n\n\n*.md @b\n*.rb\n", 5, "codeowners.owner", "no owners"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto strict = codeowners::parse(c.text, c.dialect, Validation::strict);
    REQUIRE_FALSE(strict);
    CHECK(strict.error().line == c.line);
    CHECK(strict.error().rule == c.rule);
    CHECK_THAT(strict.error().message, Catch::Contains(c.says));

    const auto lenient = codeowners::parse(c.text, c.dialect, Validation::like_forge);
    REQUIRE(lenient);
    REQUIRE(lenient->diagnostics().size() >= 1);
    CHECK(lenient->diagnostics().front().line == c.line);
  }
}

TEST_CASE("strict parsing counts the other invalid lines; like_forge reads what the forge reads",
          "[codeowners]") {
  const char* text = "* @a\n*.md @b oops\n!*.go @c\n*.txt @d\n";
  const auto strict = codeowners::parse(text, Dialect::github);
  REQUIRE_FALSE(strict);
  CHECK(strict.error().line == 2);
  CHECK_THAT(strict.error().message, Catch::Contains("(and 1 more invalid line)"));
  auto error = strict.error();
  error.file = ".github/CODEOWNERS";  // the caller knows where the file came from
  CHECK_THAT(error.describe(), Catch::StartsWith(".github/CODEOWNERS:2: 'oops' is not an owner"));

  // GitHub skips the invalid lines and uses the rest.
  const auto forge = parse_ok(text, Dialect::github);
  REQUIRE(forge.diagnostics().size() == 2);
  CHECK(forge.diagnostics()[1].line == 3);
  CHECK(github_owners(forge, "README.md") == "@a");
  CHECK(github_owners(forge, "notes.txt") == "@d");
  CHECK(forge.sections()[0].entries.size() == 2);

  // GitLab keeps what it can: the malformed owner is left out, the entry stays.
  const auto gitlab = parse_ok("* @a\n*.md @b oops\n", Dialect::gitlab);
  REQUIRE(gitlab.diagnostics().size() == 1);
  CHECK(gitlab_sections(gitlab, "README.md") == "codeowners: @b");
}

TEST_CASE("GitHub does not load a CODEOWNERS file of 3 MiB or more", "[codeowners]") {
  const std::string head = "* @a\n";
  auto padded = [&](std::size_t size) {
    std::string text = head;
    while (text.size() < size)
      text += std::string(std::min<std::size_t>(99, size - text.size() - 1), '#') + "\n";
    REQUIRE(text.size() == size);
    return text;
  };
  const auto just_under = padded(codeowners::k_github_max_bytes - 1);
  const auto at_cap = padded(codeowners::k_github_max_bytes);
  CHECK(codeowners::parse(just_under, Dialect::github));
  for (auto validation : {Validation::strict, Validation::like_forge}) {
    const auto too_big = codeowners::parse(at_cap, Dialect::github, validation);
    REQUIRE_FALSE(too_big);
    CHECK(too_big.error().rule == "codeowners.too-large");
    CHECK_THAT(too_big.error().message, Catch::Contains("3 MiB"));
  }
  // GitLab documents no such limit.
  const auto gitlab = codeowners::parse(at_cap, Dialect::gitlab);
  REQUIRE(gitlab);
  CHECK(gitlab_sections(*gitlab, "x") == "codeowners: @a");
}

TEST_CASE("escaped spaces in patterns, both dialects", "[codeowners]") {
  struct Case {
    Dialect dialect;
    const char* text;
    const char* path;
    bool owned;
  };
  const Case cases[] = {
      {Dialect::github, "foo\\ bar @user\n", "foo bar", true},
      {Dialect::github, "foo\\ bar @user\n", "x/foo bar", true},
      {Dialect::github, "foo\\ bar @user\n", "foo", false},
      {Dialect::github, "foo/b\\ ar/ @owner\n", "foo/b ar/baz", true},
      {Dialect::github, "foo/b\\ ar/ @owner\n", "foo/b ar", false},
      {Dialect::github, "/My\\ Documents/*.txt @a\n", "My Documents/a.txt", true},
      {Dialect::gitlab, "path\\ with\\ spaces/ @space-owner\n", "path with spaces/notes.txt", true},
      {Dialect::gitlab, "path\\ with\\ spaces/ @space-owner\n", "a/path with spaces/notes.txt", true},
      {Dialect::gitlab, "/My\\ Documents/*.txt @a\n", "My Documents/a.txt", true},
      {Dialect::gitlab, "/My\\ Documents/*.txt @a\n", "My/a.txt", false},
  };
  for (const auto& c : cases) {
    INFO(c.text << " / " << c.path);
    const auto file = parse_ok(c.text, c.dialect, Validation::strict);
    const auto matches = file.match(c.path);
    CHECK((!matches.empty() && !matches[0].entry->owners.empty()) == c.owned);
  }
}

TEST_CASE("the first CODEOWNERS found in the forge's documented order is used", "[codeowners]") {
  struct Case {
    Dialect dialect;
    std::set<std::string> existing;
    const char* expected;
  };
  const Case cases[] = {
      {Dialect::github, {".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}, ".github/CODEOWNERS"},
      {Dialect::github, {"CODEOWNERS", "docs/CODEOWNERS"}, "CODEOWNERS"},
      {Dialect::github, {"docs/CODEOWNERS", ".gitlab/CODEOWNERS"}, "docs/CODEOWNERS"},
      {Dialect::github, {".gitlab/CODEOWNERS"}, ""},
      {Dialect::github, {"codeowners", "src/CODEOWNERS"}, ""},
      {Dialect::github, {}, ""},
      {Dialect::gitlab, {".github/CODEOWNERS", "CODEOWNERS", ".gitlab/CODEOWNERS"}, "CODEOWNERS"},
      {Dialect::gitlab, {".gitlab/CODEOWNERS", "docs/CODEOWNERS"}, "docs/CODEOWNERS"},
      {Dialect::gitlab, {".github/CODEOWNERS", ".gitlab/CODEOWNERS"}, ".gitlab/CODEOWNERS"},
      {Dialect::gitlab, {".github/CODEOWNERS"}, ""},
  };
  for (const auto& c : cases) {
    std::vector<std::string> asked;
    const auto found = codeowners::locate(c.dialect, [&](std::string_view path) {
      asked.emplace_back(path);
      return c.existing.contains(std::string(path));
    });
    INFO("asked " << join(asked));
    CHECK(found == c.expected);
    if (*c.expected) CHECK(asked.back() == c.expected);  // nothing is asked after the first found
  }
}

// ---- Performance --------------------------------------------------------------------------

TEST_CASE("large CODEOWNERS files match correctly", "[codeowners]") {
  std::string github;
  std::string gitlab = "* @everyone\n";
  for (int i = 0; i < 300; ++i) {
    const auto n = std::to_string(i);
    const std::string rules[] = {
        "/services/svc" + n + "/ @team-" + n,    "**/module" + n + "/*.go @go-" + n,
        "docs/area" + n + "/**/*.md @docs-" + n, "*.ext" + n + " @ext-" + n,
        "lib/*/part" + n + "/ @lib-" + n,        "/tools/t" + n + "?.sh @tools-" + n};
    github += rules[i % 6] + "\n";
    gitlab += (i % 50 == 0 ? "[Section " + n + "] @sec-" + n + "\n" : "") + rules[i % 6] + "\n";
  }
  const auto gh = parse_ok(github, Dialect::github, Validation::strict);
  const auto gl = parse_ok(gitlab, Dialect::gitlab, Validation::strict);
  const char* paths[] = {"services/svc294/src/main/java/com/example/App.java",
                         "a/b/c/d/e/f/module295/x.go",
                         "docs/area296/x/y/z/readme.md",
                         "README.md",
                         "lib/foo/part298/bar/baz.c",
                         "tools/t299x.sh",
                         "some/deep/path/that/matches/nothing/at/all/file.txt"};
  // Speed is measured by bench/, not here; this checks that large files match correctly.
  CHECK(gh.match(paths[0]).at(0).entry->owners.at(0) == "@team-294");
  CHECK(gh.match(paths[1]).at(0).entry->owners.at(0) == "@go-295");
  CHECK(gh.match(paths[2]).at(0).entry->owners.at(0) == "@docs-296");
  CHECK(gh.match(paths[3]).empty());
  CHECK(gh.match(paths[6]).empty());
  CHECK(gl.match(paths[3]).size() == 1);  // only the default section's "*"
  CHECK(gl.match(paths[0]).size() == 2);  // "*" and the section holding rule 294
}

TEST_CASE("no exponential backtracking", "[codeowners]") {
  const std::string stars = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
  const std::string long_name(5000, 'a');
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "a/";
  deep += "a";
  // Exponential backtracking would not finish (ctest's timeout would fail the suite).
  const auto gh = parse_ok(stars + " @a\n**/a/**/a/**/a/**/a/**/b @b\n", Dialect::github, Validation::strict);
  const auto gl = parse_ok(stars + " @a\n**/a/**/a/**/a/**/a/**/b @b\n", Dialect::gitlab, Validation::strict);
  CHECK(gh.match(long_name).empty());
  CHECK(gl.match(long_name).empty());
  CHECK(gh.match(deep).empty());
  CHECK(gl.match(deep).empty());
}
