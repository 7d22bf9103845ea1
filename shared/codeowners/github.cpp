// GitHub's CODEOWNERS dialect (docs: "About code owners"): one rule per line, a gitignore-like
// pattern followed by owners; the last matching rule wins. Lines GitHub would reject are
// skipped and reported, as GitHub does ("If any line ... contains invalid syntax, that line
// will be skipped").
#include <string>

#include "shared/codeowners/dialects.hpp"

namespace portcullis::codeowners {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

template <class Pred>
bool all_of(std::string_view text, Pred pred) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!pred(c)) return false;
  }
  return true;
}

// @user (GitHub and enterprise-managed names: letters, digits, '-', '_').
bool is_user(std::string_view s) {
  return s.size() > 1 && s[0] == '@' &&
         all_of(s.substr(1), [](char c) { return is_alnum(c) || c == '-' || c == '_'; });
}

// @org/team-slug.
bool is_team(std::string_view s) {
  if (s.size() < 4 || s[0] != '@') return false;
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return all_of(s.substr(1, slash - 1), [](char c) { return is_alnum(c) || c == '-'; }) &&
         all_of(s.substr(slash + 1), [](char c) { return is_alnum(c) || c == '-' || c == '_'; });
}

// user@example.com
bool is_email(std::string_view s) {
  const auto at = s.find('@');
  if (at == 0 || at == std::string_view::npos || s.find('@', at + 1) != std::string_view::npos) return false;
  const auto local = s.substr(0, at);
  const auto domain = s.substr(at + 1);
  const auto dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  const auto tld = domain.substr(dot + 1);
  return all_of(local,
                [](char c) {
                  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
                }) &&
         all_of(domain.substr(0, dot), [](char c) { return is_alnum(c) || c == '.' || c == '-'; }) &&
         tld.size() >= 2 && all_of(tld, is_alpha);
}

}  // namespace

Parsed parse_github(std::string_view text) {
  Parsed out;
  out.sections.push_back(Section{});
  auto& entries = out.sections.front().entries;
  auto reject = [&](std::uint32_t number, std::string rule, std::string message) {
    out.diagnostics.push_back({number, std::move(rule), std::move(message) + "; GitHub skips this line"});
  };

  for_each_line(text, [&](std::string_view line, std::uint32_t number) {
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') return;
    if (line.starts_with("\\#")) {
      return reject(number, "codeowners.syntax",
                    "a pattern starting with an escaped '#' (\"\\#\") does not work in GitHub CODEOWNERS");
    }
    if (line.front() == '!') {
      return reject(number, "codeowners.syntax", "'!' negation does not work in GitHub CODEOWNERS");
    }

    // The pattern runs to the first whitespace that is not escaped with '\'.
    std::size_t i = 0;
    while (i < line.size() && !is_space(line[i])) {
      if (line[i] == '\\') {
        if (i + 1 == line.size()) {
          return reject(number, "codeowners.syntax", "the pattern ends with a lone '\\'");
        }
        ++i;
      }
      ++i;
    }
    if (line.substr(0, i).find("***") != std::string_view::npos) {
      return reject(number, "codeowners.syntax", "'***' is ambiguous in a pattern; write '*' or '**'");
    }
    Entry entry;
    entry.pattern = std::string(line.substr(0, i));
    entry.line = number;

    // Owners follow, separated by whitespace, up to a '#' that starts a word (a comment).
    while (i < line.size()) {
      while (i < line.size() && is_space(line[i])) ++i;
      if (i == line.size() || line[i] == '#') break;
      const auto start = i;
      while (i < line.size() && !is_space(line[i])) ++i;
      const auto owner = line.substr(start, i - start);
      if (!is_user(owner) && !is_team(owner) && !is_email(owner)) {
        return reject(number, "codeowners.owner",
                      "'" + std::string(owner) + "' is not an owner (@user, @org/team or an email address)");
      }
      bool repeated = false;
      for (const auto& seen : entry.owners) repeated = repeated || seen == owner;
      if (!repeated) entry.owners.emplace_back(owner);
    }
    out.compiled.github.emplace_back(entry.pattern);
    entries.push_back(std::move(entry));
  });
  return out;
}

}  // namespace portcullis::codeowners
