#pragma once
// CODEOWNERS files in both dialects, read as each vendor documents them:
// - GitHub: gitignore-like patterns, the last matching line wins, a line without owners makes
//   a path unowned, `#` after whitespace starts a comment, owners are @user, @org/team, email.
// - GitLab: sections (`[Name]`, optional `^[Name]`, `[Name][N]` approvals, default owners on the
//   header), `!pattern` exclusions, fnmatch patterns, no inline comments; every section is
//   checked on its own and the last matching entry in each wins.
// Patterns are compiled once at parse time; matching a path takes microseconds.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::codeowners {

enum class Dialect { github, gitlab };

// GitHub does not load a CODEOWNERS file of this size or more ("must be under 3 MB").
inline constexpr std::size_t k_github_max_bytes = 3u * 1024u * 1024u;

struct Entry {
  std::string pattern;              // as written (escapes kept), without GitLab's leading `!`
  std::vector<std::string> owners;  // owner references in order of appearance, without repeats;
                                    // GitLab: the header's default owners when the line has none
  std::uint32_t line = 0;           // 1-based line in the file
  std::uint32_t approvals = 0;      // GitLab `[N]` on the header above the entry; 0 when none
                                    // (GitLab then requires one approval)
  bool exclusion = false;           // GitLab `!pattern`: the section does not apply to matches
};

struct Section {
  std::string name;            // GitLab: spelling of the first header with this name (names compare
                               // case-insensitively); "codeowners" for entries before any header.
                               // GitHub: "" (the file is one section).
  bool optional = false;       // GitLab: every header with this name is `^[...]`
  std::vector<Entry> entries;  // in file order; GitLab drops an entry whose (normalised) pattern
                               // appears again later in the same section
};

// An invalid line. `rule` is "codeowners.syntax" (pattern), "codeowners.owner" (owner missing
// or not an owner reference) or "codeowners.section" (GitLab section header).
struct Diagnostic {
  std::uint32_t line = 0;
  std::string rule;
  std::string message;
};

// The entry that applies to a path in one section. Points into the `Codeowners` it came from.
struct Match {
  const Section* section = nullptr;
  const Entry* entry = nullptr;  // `entry->owners` may be empty: GitHub "unowned"; GitLab an
                                 // entry without valid owners
};

enum class Validation {
  strict,      // any invalid line fails the parse (for protected refs: never "no owners")
  like_forge,  // read what the forge would: GitHub skips invalid lines, GitLab keeps what it
               // can parse; the invalid lines are listed in `diagnostics()`
};

struct Compiled;

class Codeowners {
 public:
  Dialect dialect() const { return m_dialect; }
  const std::vector<Section>& sections() const { return m_sections; }
  // Invalid lines in line order. Empty for a file the vendor reports no errors for.
  const std::vector<Diagnostic>& diagnostics() const { return m_diagnostics; }

  // The rules that apply to `path` (repository-relative, "src/main.c"; a leading '/' is
  // ignored). GitHub: the last matching line, or nothing when no line matches. GitLab: for each
  // section in file order, its last matching entry, unless an exclusion in that section
  // matches the path; nothing for sections that do not apply.
  std::vector<Match> match(std::string_view path) const;

 private:
  friend util::Result<Codeowners> parse(std::string_view, Dialect, Validation);
  Dialect m_dialect = Dialect::github;
  std::vector<Section> m_sections;
  std::vector<Diagnostic> m_diagnostics;
  std::shared_ptr<const Compiled> m_compiled;
};

// Parses a CODEOWNERS file. Fails with rule "codeowners.too-large" for a GitHub file of
// `k_github_max_bytes` or more (GitHub ignores it entirely). With `Validation::strict` it also
// fails on the first invalid line, with that line's number and rule and the count of others.
// `Error::file` is left empty for the caller to fill in (for example with `locate`'s answer).
util::Result<Codeowners> parse(std::string_view text, Dialect dialect,
                               Validation validation = Validation::strict);

// The CODEOWNERS file the forge uses: the first of its documented locations for which `exists`
// returns true, or "" when there is none. GitHub: ".github/CODEOWNERS", "CODEOWNERS",
// "docs/CODEOWNERS". GitLab: "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS".
std::string_view locate(Dialect dialect, const std::function<bool(std::string_view)>& exists);

}  // namespace portcullis::codeowners
