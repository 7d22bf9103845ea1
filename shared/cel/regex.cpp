// `matches`: RE2 syntax checked, run by PCRE2's DFA matcher (no backtracking: time linear in the
// subject times the pattern's states, as with RE2), with PCRE2's match and depth limits.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <vector>

#include "shared/cel/eval.hpp"
#include "shared/cel/library.hpp"

namespace portcullis::cel {

namespace {

// What PCRE2 accepts and RE2 refuses (or reads otherwise): refused, as the apiserver refuses
// the rule. Returns the problem, empty when the pattern is RE2-compatible.
std::string re2_problem(std::string_view p) {
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return "trailing \\";
      char n = p[++i];
      if (n == 'Q') {  // literal text up to \E, as RE2 reads it
        auto end = p.find("\\E", i + 1);
        if (end == std::string_view::npos) return {};
        i = end + 1;
        continue;
      }
      // Go's regexp reads \1 as a backreference (refused) but \12 as an octal escape, which
      // PCRE2 may read as a backreference: not judged here.
      if (n >= '1' && n <= '7' && i + 1 < p.size() && p[i + 1] >= '0' && p[i + 1] <= '7')
        return std::string(k_unsupported_syntax) + "octal escape \\" + std::string(p.substr(i, 2));
      if (n >= '1' && n <= '9' && !in_class) return "invalid escape sequence: \\" + std::string(1, n) + " (backreferences are not supported)";
      if (std::string_view("gkKRXGZNhHVcoOEe").find(n) != std::string_view::npos && !in_class)
        return "invalid escape sequence: \\" + std::string(1, n);
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
      if (i + 1 < p.size() && p[i + 1] == '^') ++i;
      if (i + 1 < p.size() && p[i + 1] == ']') ++i;  // a literal ] first in the class
      continue;
    }
    if (c == '(' && i + 1 < p.size() && p[i + 1] == '?') {
      std::string_view rest = p.substr(i + 2);
      if (rest.starts_with("P<") || rest.starts_with(":") || rest.starts_with("<")) {
        if (rest.starts_with("<=") || rest.starts_with("<!")) return "invalid or unsupported Perl syntax: lookbehind";
        continue;
      }
      // Flag groups (?i) (?s:...) (?-m): RE2 knows i, m, s, U.
      std::size_t k = 0;
      while (k < rest.size() && std::string_view("imsU-").find(rest[k]) != std::string_view::npos) ++k;
      if (k > 0 && k < rest.size() && (rest[k] == ')' || rest[k] == ':')) continue;
      return "invalid or unsupported Perl syntax: (?" + std::string(rest.substr(0, 1)) + " (lookaround, atomic groups, "
             "conditionals and recursion are not supported)";
    }
    if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < p.size() && p[i + 1] == '+')
      return "bad repetition operator: " + std::string(1, c) + "+";
    if (c == '{') {  // RE2 limits counted repetition to 1000
      std::size_t k = i + 1;
      std::size_t n = 0;
      bool number = false;
      while (k < p.size() && ((p[k] >= '0' && p[k] <= '9') || p[k] == ',')) {
        if (p[k] != ',') {
          number = true;
          n = std::min<std::size_t>(n * 10 + static_cast<std::size_t>(p[k] - '0'), 100'000);
          if (n > 1000) return "bad repetition operator: {" + std::string(p.substr(i + 1, k - i)) + "...";
        } else {
          n = 0;
        }
        ++k;
      }
      (void)number;
    }
  }
  return {};
}

}  // namespace

struct Regex::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Impl() {
    if (context) pcre2_match_context_free(context);
    if (code) pcre2_code_free(code);
  }
};

Regex::Regex(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Regex::~Regex() = default;

util::Result<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern) {
  if (pattern.size() > 10'000) return util::fail("regular expression too long");
  if (auto problem = re2_problem(pattern); !problem.empty())
    return util::fail(problem.starts_with(k_unsupported_syntax) ? problem : "error parsing regexp: " + problem);
  int code = 0;
  PCRE2_SIZE offset = 0;
  // RE2: `$` only at the very end (no final newline), UTF-8, no \C.
  std::uint32_t options = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C | PCRE2_NO_AUTO_CAPTURE;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &code, &offset, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof buf);
    return util::fail("error parsing regexp at offset " + std::to_string(offset) + ": " + reinterpret_cast<const char*>(buf));
  }
  auto impl = std::make_unique<Impl>();
  impl->code = re;
  impl->context = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(impl->context, 1'000'000);
  pcre2_set_depth_limit(impl->context, 1'000);
  return std::shared_ptr<const Regex>(new Regex(std::move(impl)));
}

util::Result<bool> Regex::search(std::string_view subject) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(pcre2_match_data_create(1, nullptr),
                                                                         pcre2_match_data_free);
  std::vector<int> workspace(20'000);
  int rc = pcre2_dfa_match(m_impl->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                           PCRE2_DFA_SHORTEST, md.get(), m_impl->context, workspace.data(), workspace.size());
  if (rc >= 0) return true;
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  // Limits of the matcher (workspace, depth) or invalid UTF-8: no verdict, the rule is skipped.
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(rc, buf, sizeof buf);
  return util::fail(std::string(library::k_unsupported_prefix) + "regular expression match: " + reinterpret_cast<const char*>(buf));
}

}  // namespace portcullis::cel
