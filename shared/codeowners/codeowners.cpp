#include "shared/codeowners/codeowners.hpp"

#include <array>

#include "shared/codeowners/dialects.hpp"

namespace portcullis::codeowners {

util::Result<Codeowners> parse(std::string_view text, Dialect dialect, Validation validation) {
  if (dialect == Dialect::github && text.size() >= k_github_max_bytes) {
    return util::fail("CODEOWNERS is " + std::to_string(text.size()) +
                          " bytes; GitHub does not load a CODEOWNERS file of 3 MiB or more, so it would "
                          "have no owners at all; consolidate entries with wildcard patterns",
                      "codeowners.too-large");
  }
  Parsed parsed = dialect == Dialect::github ? parse_github(text) : parse_gitlab(text);
  if (validation == Validation::strict && !parsed.diagnostics.empty()) {
    const auto& first = parsed.diagnostics.front();
    std::string message = first.message;
    if (const auto more = parsed.diagnostics.size() - 1; more > 0) {
      message += " (and " + std::to_string(more) + " more invalid line" + (more == 1 ? "" : "s") + ")";
    }
    return util::fail(util::Error{std::move(message), first.rule, {}, first.line, 0});
  }
  Codeowners out;
  out.m_dialect = dialect;
  out.m_sections = std::move(parsed.sections);
  out.m_diagnostics = std::move(parsed.diagnostics);
  out.m_compiled = std::make_shared<const Compiled>(std::move(parsed.compiled));
  return out;
}

std::vector<Match> Codeowners::match(std::string_view path) const {
  std::vector<Match> out;
  if (!m_compiled) return out;
  if (path.starts_with('/')) path.remove_prefix(1);

  if (m_dialect == Dialect::github) {
    std::array<std::string_view, 64> fixed;
    std::vector<std::string_view> more;
    std::size_t count = 0;
    auto push = [&](std::string_view segment) {
      if (count < fixed.size()) {
        fixed[count] = segment;
      } else {
        if (more.empty()) more.assign(fixed.begin(), fixed.end());
        more.push_back(segment);
      }
      ++count;
    };
    for (std::size_t start = 0;;) {
      const auto slash = path.find('/', start);
      push(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    const std::span<const std::string_view> segments =
        count <= fixed.size() ? std::span<const std::string_view>(fixed.data(), count)
                              : std::span<const std::string_view>(more);
    const auto& entries = m_sections.front().entries;
    for (std::size_t i = entries.size(); i-- > 0;) {
      if (m_compiled->github[i].matches(segments)) {
        out.push_back({&m_sections.front(), &entries[i]});
        break;
      }
    }
    return out;
  }

  std::string rooted;
  rooted.reserve(path.size() + 1);
  rooted += '/';
  rooted += path;
  for (std::size_t k = 0; k < m_sections.size(); ++k) {
    const auto& patterns = m_compiled->gitlab[k];
    bool excluded = false;
    for (auto i : m_compiled->exclusions[k]) {
      if ((excluded = patterns[i].matches(rooted))) break;
    }
    if (excluded) continue;
    const auto& entries = m_sections[k].entries;
    for (std::size_t i = entries.size(); i-- > 0;) {
      if (!entries[i].exclusion && patterns[i].matches(rooted)) {
        out.push_back({&m_sections[k], &entries[i]});
        break;
      }
    }
  }
  return out;
}

std::string_view locate(Dialect dialect, const std::function<bool(std::string_view)>& exists) {
  // GitHub: about-code-owners.md "CODEOWNERS file location"; GitLab: codeowners/_index.md.
  static constexpr std::array<std::string_view, 3> k_github = {".github/CODEOWNERS", "CODEOWNERS",
                                                               "docs/CODEOWNERS"};
  static constexpr std::array<std::string_view, 3> k_gitlab = {"CODEOWNERS", "docs/CODEOWNERS",
                                                               ".gitlab/CODEOWNERS"};
  for (auto candidate : dialect == Dialect::github ? k_github : k_gitlab) {
    if (exists(candidate)) return candidate;
  }
  return {};
}

}  // namespace portcullis::codeowners
