#pragma once
// The two pattern languages behind `Codeowners::match`; internal to shared/codeowners.
// Both matchers backtrack to at most one earlier position per level (segment and character),
// so a match costs O(pattern x path) in the worst case and never explodes.
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::codeowners {

// A GitHub CODEOWNERS pattern, compiled once into path segments with the gitignore-like rules
// GitHub documents (as hmarr/codeowners reads them): a leading '/' or a '/' in the middle
// anchors the pattern at the root, otherwise it matches at any depth; a trailing '/' owns what
// is below a directory; a last segment other than a bare `*` also owns what is below it; `*`
// and `?` stay within a segment, `**` spans segments; `\x` is a literal x; `[` is literal.
class GithubPattern {
 public:
  explicit GithubPattern(std::string_view pattern);

  // True when the path split at '/' into `segments` matches.
  bool matches(std::span<const std::string_view> segments) const;

 private:
  struct Token {
    enum class Kind : unsigned char { literal, any_char, any_run } kind;
    std::string text;  // for literal
  };
  struct Item {
    bool globstar = false;      // zero or more whole segments
    bool literal = false;       // `text` must equal the segment
    std::string text;           // unescaped, when literal
    std::vector<Token> tokens;  // otherwise
  };
  static bool segment_matches(const Item& item, std::string_view segment);

  std::vector<Item> m_items;
  // A quick necessary condition: some segment equals (or, for a glob, contains) this text.
  std::string m_required;
  bool m_required_whole = false;
  bool m_never = false;  // the pattern "/" matches nothing
};

// Ruby's `File.fnmatch?(pattern, path, File::FNM_PATHNAME | File::FNM_DOTMATCH)`, which GitLab
// uses for CODEOWNERS: `*`, `?` and `[...]` stay within a segment, `**/` spans zero or more
// directories, `\x` is a literal x, dot files are not special.
bool fnmatch_pathname(std::string_view pattern, std::string_view path);

// A (normalised) GitLab pattern for `fnmatch_pathname`, with the literal head and tail that any
// matching path must have, so most non-matching paths are rejected without running fnmatch.
class FnmatchPattern {
 public:
  explicit FnmatchPattern(std::string pattern);

  // `path` starts with '/', as GitLab passes it.
  bool matches(std::string_view path) const;

 private:
  std::string m_text;
  std::size_t m_head = 0;  // length of the literal head
  std::size_t m_tail = 0;  // length of the literal tail of the last segment
  std::string m_inner;     // "/name/" for the longest literal segment before the last, or ""
};

// Length in bytes of the UTF-8 character at `text[i]` (1 for a stray byte), never past the end.
std::size_t utf8_length(std::string_view text, std::size_t i);

}  // namespace portcullis::codeowners
