#pragma once
// The per-dialect readers behind `codeowners::parse`; internal to shared/codeowners.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "shared/codeowners/codeowners.hpp"
#include "shared/codeowners/glob.hpp"

namespace portcullis::codeowners {

// What `Codeowners::match` runs, compiled once.
struct Compiled {
  std::vector<GithubPattern> github;                 // one per entry of the single section
  std::vector<std::vector<FnmatchPattern>> gitlab;   // per section, per entry: normalised pattern
  std::vector<std::vector<std::size_t>> exclusions;  // per section: indexes of `!` entries
};

struct Parsed {
  std::vector<Section> sections;
  std::vector<Diagnostic> diagnostics;
  Compiled compiled;
};

// Reads every line the way the forge does; invalid lines become diagnostics.
Parsed parse_github(std::string_view text);
Parsed parse_gitlab(std::string_view text);

// The owner references GitLab finds in `text` (its ReferenceExtractor: `@name` and
// `@group/sub` not preceded by a word character or '@', `@@developer`/`@@maintainer`/`@@owner`
// with an optional plural 's', and emails), in order of appearance, without repeats.
std::vector<std::string> gitlab_references(std::string_view text);

// Splits `text` into lines (at '\n'), calling `on_line(line, number)` with 1-based numbers.
template <class F>
void for_each_line(std::string_view text, F&& on_line) {
  std::uint32_t number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    on_line(text.substr(start, end - start), ++number);
    start = end + 1;
  }
}

}  // namespace portcullis::codeowners
