// GitLab's CODEOWNERS dialect (docs: user/project/codeowners reference.md and advanced.md),
// read the way GitLab's Gitlab::CodeOwners::File, SectionParser and ReferenceExtractor read it:
// - a line is stripped; blank lines and lines starting with '#' are skipped; there are no
//   inline comments (a '#' later on is part of the pattern or of the owner text);
// - `[Name]`, `^[Name]`, `[Name][N]`, each optionally followed by default owners, start a
//   section; a line starting with `[` or `^[` without a `]` is an unparsable header, which
//   GitLab reports and reads as an entry of the current section;
// - an entry is a pattern up to the first whitespace not escaped with '\', then owner text;
//   the owners are the references in that text, or the header's default owners when there is
//   no text; `!pattern` excludes matching paths from the section;
// - a pattern is normalised (`*` -> `/**/*`, leading `\#` -> `#`, `\ ` -> ` `, `/**/` in front
//   unless it starts with '/', `**/*` after a trailing '/') and matched with Ruby's fnmatch.
#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>

#include "shared/codeowners/dialects.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::codeowners {

namespace {

constexpr std::size_t k_npos = std::string_view::npos;
constexpr std::string_view k_default_section = "codeowners";

// Ruby's `\s`; `String#strip` also removes NUL.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view strip(std::string_view line) {
  while (!line.empty() && (is_space(line.front()) || line.front() == '\0')) line.remove_prefix(1);
  while (!line.empty() && (is_space(line.back()) || line.back() == '\0')) line.remove_suffix(1);
  return line;
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const auto start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

// ---- ReferenceExtractor ---------------------------------------------------------------------

struct Found {
  std::size_t at;
  std::string_view text;
};

// EMAIL_REGEXP = /[^@\s]{1,100}@[^@\s]{1,255}(?<!\W)/, scanned left to right.
void scan_emails(std::string_view text, std::vector<Found>& out) {
  auto plain = [&](std::size_t k) { return text[k] != '@' && !is_space(text[k]); };
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && j - i < 100 && plain(j)) ++j;
    if (j > i && j < text.size() && text[j] == '@') {
      std::size_t end = j + 1;
      while (end < text.size() && end - (j + 1) < 255 && plain(end)) ++end;
      while (end > j + 1 && !is_word(text[end - 1])) --end;
      if (end > j + 1) {
        out.push_back({i, text.substr(i, end - i)});
        i = end;
        continue;
      }
    }
    ++i;
  }
}

// One namespace path component (Gitlab::PathRegex::NAMESPACE_FORMAT_REGEX):
// [A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}[A-Za-z0-9_-] | [A-Za-z0-9_], not ending in .git or .atom.
// Returns the length of the longest match at `k` (regex order), 0 when none.
std::size_t namespace_component(std::string_view text, std::size_t k) {
  auto in_class = [](char c) { return is_word(c) || c == '.' || c == '-'; };
  std::size_t run = 0;
  while (k + run < text.size() && run < 256 && in_class(text[k + run])) ++run;
  if (run == 0 || text[k] == '-') return 0;
  for (std::size_t len = run; len >= 2; --len) {
    const char last = text[k + len - 1];
    const auto candidate = text.substr(k, len);
    if ((is_word(last) || last == '-') && !candidate.ends_with(".git") && !candidate.ends_with(".atom"))
      return len;
  }
  return is_word(text[k]) ? 1 : 0;
}

// FULL_NAMESPACE_FORMAT_REGEX = (COMPONENT/){,20}COMPONENT; returns the match length at `k`.
std::size_t full_namespace(std::string_view text, std::size_t k) {
  std::size_t pos = k;
  std::size_t last_slash = k_npos;
  for (int reps = 0; reps < 20; ++reps) {
    const auto len = namespace_component(text, pos);
    const bool whole = len > 0 && pos + len < text.size() && text[pos + len] == '/';
    if (!whole) break;
    last_slash = pos + len;
    pos = last_slash + 1;
  }
  if (const auto len = namespace_component(text, pos); len > 0) return pos + len - k;
  return last_slash == k_npos ? 0 : last_slash - k;
}

// NAME_REGEXP = (?<![\w@])@FULL_NAMESPACE
void scan_names(std::string_view text, std::vector<Found>& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '@' && (i == 0 || (!is_word(text[i - 1]) && text[i - 1] != '@'))) {
      if (const auto len = full_namespace(text, i + 1); len > 0) {
        out.push_back({i, text.substr(i, len + 1)});
        i += len + 1;
        continue;
      }
    }
    ++i;
  }
}

// ROLE_REGEXP = (?<![\w@])@@(developer|maintainer|owner)s?(?:\s|$), case-insensitive.
void scan_roles(std::string_view text, std::vector<Found>& out) {
  static constexpr std::string_view k_roles[] = {"developer", "maintainer", "owner"};
  for (std::size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] != '@' || text[i + 1] != '@' || (i > 0 && (is_word(text[i - 1]) || text[i - 1] == '@')))
      continue;
    for (auto role : k_roles) {
      const auto word = text.substr(i + 2, role.size());
      if (word.size() != role.size() || util::to_lower(word) != role) continue;
      std::size_t end = i + 2 + role.size();
      auto boundary = [&](std::size_t e) { return e == text.size() || is_space(text[e]); };
      if (end < text.size() && (text[end] == 's' || text[end] == 'S') && boundary(end + 1)) {
        ++end;
      } else if (!boundary(end)) {
        continue;
      }
      out.push_back({i, text.substr(i, end - i)});
      i = end - 1;
      break;
    }
  }
}

// ---- Sections -----------------------------------------------------------------------------

// SectionParser::HEADER_REGEX
//   ^(\^)?\[(.*?)\](?:\[([\s\d]*)\])?(\s*[@\w.\-/\s]*)?
struct Header {
  bool optional = false;
  std::string_view name;
  bool has_approvals = false;
  std::string_view approvals;       // inside the second brackets
  std::string_view default_owners;  // may be empty
  bool strict = false;              // also matches the stricter STRICT_HEADER_REGEX
};

bool owner_text_char(char c) {
  return is_word(c) || c == '@' || c == '.' || c == '-' || c == '/' || is_space(c);
}

std::optional<Header> match_header(std::string_view line) {
  Header h;
  std::size_t i = 0;
  if (line.starts_with("^[")) {
    h.optional = true;
    i = 1;
  }
  if (i >= line.size() || line[i] != '[') return std::nullopt;
  const auto close = line.find(']', i + 1);
  if (close == k_npos) return std::nullopt;
  h.name = line.substr(i + 1, close - i - 1);
  i = close + 1;
  if (i < line.size() && line[i] == '[') {
    std::size_t j = i + 1;
    while (j < line.size() && (is_digit(line[j]) || is_space(line[j]))) ++j;
    if (j < line.size() && line[j] == ']') {
      h.has_approvals = true;
      h.approvals = line.substr(i + 1, j - i - 1);
      i = j + 1;
    }
  }
  std::size_t j = i;
  while (j < line.size() && owner_text_char(line[j])) ++j;
  h.default_owners = line.substr(i, j - i);
  // STRICT_HEADER_REGEX: ^\^?(\[[^\]]+\])(\[\d+\])?(\s+[@\w.\-/\s]+)?$
  const auto rest = line.substr(i);
  h.strict =
      !h.name.empty() &&
      (!h.has_approvals ||
       (!h.approvals.empty() && std::all_of(h.approvals.begin(), h.approvals.end(), is_digit))) &&
      (rest.empty() || (is_space(rest.front()) && std::all_of(rest.begin(), rest.end(), owner_text_char)));
  return h;
}

// `String#to_i` of the approvals text (digits and whitespace only): leading whitespace, then digits.
std::uint32_t to_approvals(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  std::uint64_t value = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    value = std::min<std::uint64_t>(value * 10 + static_cast<std::uint64_t>(text[i] - '0'),
                                    std::numeric_limits<std::uint32_t>::max());
  }
  return static_cast<std::uint32_t>(value);
}

bool is_integer_text(std::string_view text) {  // STRING_INTEGER_REGEX = ^\s*\d+\s*$
  std::size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  const auto digits = i;
  while (i < text.size() && is_digit(text[i])) ++i;
  if (i == digits) return false;
  while (i < text.size() && is_space(text[i])) ++i;
  return i == text.size();
}

std::string normalize_pattern(std::string_view pattern) {
  if (pattern == "*") return "/**/*";
  if (pattern.starts_with("\\#")) pattern.remove_prefix(1);
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size() && is_space(pattern[i + 1])) {
      out += ' ';
      ++i;
      while (i + 1 < pattern.size() && is_space(pattern[i + 1])) ++i;
    } else {
      out += pattern[i];
    }
  }
  if (!out.starts_with('/')) out.insert(0, "/**/");
  if (out.ends_with('/')) out += "**/*";
  return out;
}

struct Reader {
  Parsed out;
  std::vector<std::unordered_map<std::string, std::size_t>> slots;  // normalised pattern -> entry
  std::vector<bool> required;  // per section: some header of that name is not optional

  struct Current {
    std::size_t section = 0;
    std::uint32_t approvals = 0;
    std::string_view default_owners;
  } current;

  Reader() {
    out.sections.push_back(Section{std::string(k_default_section), false, {}});
    out.compiled.gitlab.emplace_back();
    slots.emplace_back();
    required.push_back(true);
  }

  void report(std::uint32_t line, std::string rule, std::string message) {
    out.diagnostics.push_back({line, std::move(rule), std::move(message)});
  }

  std::size_t section_named(std::string_view name) {
    const auto wanted = util::to_lower(name);
    for (std::size_t k = 0; k < out.sections.size(); ++k) {
      if (util::to_lower(out.sections[k].name) == wanted) return k;
    }
    out.sections.push_back(Section{std::string(name), false, {}});
    out.compiled.gitlab.emplace_back();
    slots.emplace_back();
    required.push_back(false);
    return out.sections.size() - 1;
  }

  void header(const Header& h, std::uint32_t number) {
    if (h.name.empty()) report(number, "codeowners.section", "the section header has no name");
    const auto approvals = to_approvals(h.approvals);
    if (h.has_approvals && !is_integer_text(h.approvals)) {
      report(number, "codeowners.section", "the number of approvals in the section header is not a number");
    } else if (h.has_approvals && h.optional && approvals > 0) {
      report(number, "codeowners.section", "an optional section (^[...]) cannot require approvals");
    }
    const auto references = gitlab_references(h.default_owners);
    for (auto word : words(h.default_owners)) {
      if (std::find(references.begin(), references.end(), word) == references.end()) {
        report(number, "codeowners.section",
               "'" + std::string(word) +
                   "' in the section header is not an owner (@user, @group, @@role or an email)");
        break;
      }
    }
    const bool flagged = !out.diagnostics.empty() && out.diagnostics.back().line == number;
    if (!h.strict && !flagged) {
      report(number, "codeowners.section",
             "the section header is malformed; expected [Name], ^[Name] or [Name][N], then default owners");
    }
    current.section = section_named(h.name);
    current.approvals = approvals;
    current.default_owners = h.default_owners;
    if (!h.optional) required[current.section] = true;
  }

  void entry(std::string_view line, std::uint32_t number, bool check_owners) {
    std::size_t split = k_npos;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (is_space(line[i]) && (i == 0 || line[i - 1] != '\\')) {
        split = i;
        break;
      }
    }
    auto pattern = line.substr(0, split);
    std::string_view owner_text;
    if (split != k_npos) {
      auto rest = line.substr(split);
      while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
      owner_text = rest;
    }
    Entry e;
    e.exclusion = pattern.starts_with('!');
    if (e.exclusion) pattern.remove_prefix(1);
    e.pattern = std::string(pattern);
    e.line = number;
    e.approvals = current.approvals;
    if (!e.exclusion) {
      if (check_owners) {
        for (auto word : words(owner_text)) {
          if (gitlab_references(word).empty()) {
            report(number, "codeowners.owner",
                   "'" + std::string(word) + "' is not an owner (@user, @group, @@role or an email)" +
                       (word.starts_with('#') ? "; GitLab has no inline comments" : ""));
            break;
          }
        }
      }
      const auto source = owner_text.empty() ? current.default_owners : owner_text;
      if (strip(source).empty()) {
        report(number, "codeowners.owner", "the entry has no owners and its section has no default owners");
      }
      e.owners = gitlab_references(source);
    }
    add(std::move(e), normalize_pattern(pattern));
  }

  // A pattern seen again in the same section replaces the earlier entry (GitLab keeps one
  // entry per normalised pattern; the later one wins, exclusion or not).
  void add(Entry e, std::string normalized) {
    auto& section = out.sections[current.section];
    auto& patterns = out.compiled.gitlab[current.section];
    auto& slot = slots[current.section];
    if (auto it = slot.find(normalized); it != slot.end()) {
      const auto old = it->second;
      section.entries.erase(section.entries.begin() + static_cast<std::ptrdiff_t>(old));
      patterns.erase(patterns.begin() + static_cast<std::ptrdiff_t>(old));
      for (auto& [key, index] : slot) {
        if (index > old) --index;
      }
    }
    slot[normalized] = section.entries.size();
    section.entries.push_back(std::move(e));
    patterns.emplace_back(std::move(normalized));
  }

  Parsed finish() {
    out.compiled.exclusions.resize(out.sections.size());
    for (std::size_t k = 0; k < out.sections.size(); ++k) {
      out.sections[k].optional = !required[k];
      for (std::size_t i = 0; i < out.sections[k].entries.size(); ++i) {
        if (out.sections[k].entries[i].exclusion) out.compiled.exclusions[k].push_back(i);
      }
    }
    return std::move(out);
  }
};

}  // namespace

std::vector<std::string> gitlab_references(std::string_view text) {
  std::vector<Found> found;
  scan_emails(text, found);
  scan_names(text, found);
  scan_roles(text, found);
  std::stable_sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.at < b.at; });
  std::vector<std::string> out;
  for (const auto& f : found) {
    if (std::find(out.begin(), out.end(), f.text) == out.end()) out.emplace_back(f.text);
  }
  return out;
}

Parsed parse_gitlab(std::string_view text) {
  Reader reader;
  for_each_line(text, [&](std::string_view raw, std::uint32_t number) {
    const auto line = strip(raw);
    if (line.empty() || line.front() == '#') return;
    if (auto h = match_header(line)) return reader.header(*h, number);
    if (line.starts_with('[') || line.starts_with("^[")) {
      reader.report(number, "codeowners.section",
                    "the section header has no closing ']'; GitLab reads the line as an entry");
      return reader.entry(line, number, false);
    }
    reader.entry(line, number, true);
  });
  return reader.finish();
}

}  // namespace portcullis::codeowners
