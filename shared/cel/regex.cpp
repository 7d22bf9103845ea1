// `matches`: RE2 syntax checked, run by PCRE2's DFA matcher in one anchored pass (no
// backtracking, no restart per start position: time linear in the subject times the pattern's
// states, as with RE2), with PCRE2's limits.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <vector>

#include "shared/cel/library.hpp"
#include "shared/cel/regex.hpp"

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
      if (n >= '1' && n <= '9' && !in_class)
        return "invalid escape sequence: \\" + std::string(1, n) + " (backreferences are not supported)";
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
        if (rest.starts_with("<=") || rest.starts_with("<!"))
          return "invalid or unsupported Perl syntax: lookbehind";
        continue;
      }
      // Flag groups (?i) (?s:...) (?-m): RE2 knows i, m, s, U.
      std::size_t k = 0;
      while (k < rest.size() && std::string_view("imsU-").find(rest[k]) != std::string_view::npos) ++k;
      if (k > 0 && k < rest.size() && (rest[k] == ')' || rest[k] == ':')) continue;
      return "invalid or unsupported Perl syntax: (?" + std::string(rest.substr(0, 1)) +
             " (lookaround, atomic groups, "
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

// The number of pattern items the matcher may follow at once, roughly: counted repetitions
// expanded (`[0-9a-f]{8}-[0-9a-f]{4}` is 13, `a{0,100}b` 101, `(ab){3}` 6). PCRE2's DFA matcher
// spends time per character in proportion to it.
std::uint64_t expanded_size(std::string_view p) {
  struct Frame {
    std::uint64_t total = 0;
    std::uint64_t last = 0;
  };
  std::vector<Frame> stack(1);
  auto atom = [&](std::uint64_t n) {
    stack.back().total += n;
    stack.back().last = n;
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      ++i;
      atom(1);
    } else if (c == '[') {
      std::size_t k = i + 1;
      if (k < p.size() && p[k] == '^') ++k;
      if (k < p.size() && p[k] == ']') ++k;
      while (k < p.size() && p[k] != ']') k += p[k] == '\\' ? 2 : 1;
      i = k;
      atom(1);
    } else if (c == '(') {
      stack.emplace_back();
    } else if (c == ')' && stack.size() > 1) {
      std::uint64_t inner = stack.back().total;
      stack.pop_back();
      atom(inner);
    } else if (c == '{') {
      std::size_t k = i + 1;
      std::uint64_t n = 0, high = 0;
      while (k < p.size() && ((p[k] >= '0' && p[k] <= '9') || p[k] == ',')) {
        n = p[k] == ',' ? 0
                        : std::min<std::uint64_t>(n * 10 + static_cast<std::uint64_t>(p[k] - '0'), 100'000);
        high = std::max(high, n);
        ++k;
      }
      if (k < p.size() && p[k] == '}' && k > i + 1) {
        Frame& f = stack.back();
        f.total += f.last * (std::max<std::uint64_t>(high, 1) - 1);
        i = k;
      } else {
        atom(1);
      }
    } else if (c != '*' && c != '+' && c != '?' && c != '|' && c != '^' && c != '$') {
      atom(1);
    }
  }
  std::uint64_t total = 0;
  for (const auto& f : stack) total += f.total;
  return std::max<std::uint64_t>(total, 1);
}

// Patterns larger than this are not judged: the DFA matcher would take too long per character.
constexpr std::uint64_t k_max_expanded_size = 256;

}  // namespace

struct Regex::Impl {
  std::uint64_t size = 1;  // expanded_size of the pattern
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Impl() {
    if (context) pcre2_match_context_free(context);
    if (code) pcre2_code_free(code);
  }
};

Regex::Regex(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Regex::~Regex() = default;

std::uint64_t Regex::size() const {
  return m_impl->size;
}

util::Result<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern) {
  if (pattern.size() > 10'000) return util::fail("regular expression too long");
  if (auto problem = re2_problem(pattern); !problem.empty())
    return util::fail(problem.starts_with(k_unsupported_syntax) ? problem
                                                                : "error parsing regexp: " + problem);
  int code = 0;
  PCRE2_SIZE offset = 0;
  // RE2: `$` only at the very end (no final newline), UTF-8, no \C.
  std::uint32_t options = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C | PCRE2_NO_AUTO_CAPTURE;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &code,
                                 &offset, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof buf);
    return util::fail("error parsing regexp at offset " + std::to_string(offset) + ": " +
                      reinterpret_cast<const char*>(buf));
  }
  pcre2_code_free(re);
  std::uint64_t size = expanded_size(pattern);
  if (size > k_max_expanded_size)
    return util::fail(std::string(k_unsupported_syntax) + "a pattern of " + std::to_string(size) +
                      " items once its counted repetitions are expanded (at most " +
                      std::to_string(k_max_expanded_size) + ")");
  // Matched as RE2 does, in one pass: anchored at the start behind a lazy `.*?`, so the DFA
  // follows every start position at once instead of restarting at each (quadratic in the
  // subject). When the pattern does not survive the wrapping (a `\Q` or a `#` comment running
  // to its end), it is not judged.
  std::string wrapped = "(?s:.*?)(?:" + std::string(pattern) + ")";
  // Auto callouts count the matcher's steps, which are charged and bounded.
  re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(wrapped.data()), wrapped.size(),
                     options | PCRE2_ANCHORED | PCRE2_AUTO_CALLOUT, &code, &offset, nullptr);
  if (!re)
    return util::fail(std::string(k_unsupported_syntax) + "a pattern that cannot be matched in one pass");
  auto impl = std::make_unique<Impl>();
  impl->size = size;
  impl->code = re;
  impl->context = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(impl->context, 1'000'000);
  pcre2_set_depth_limit(impl->context, 1'000);
  return std::shared_ptr<const Regex>(new Regex(std::move(impl)));
}

namespace {

struct Steps {
  std::uint64_t count = 0;
  std::uint64_t max = 0;
};

int count_step(pcre2_callout_block*, void* data) {
  auto* steps = static_cast<Steps*>(data);
  return ++steps->count > steps->max ? PCRE2_ERROR_CALLOUT : 0;
}

}  // namespace

util::Result<bool> Regex::search(std::string_view subject, std::uint64_t max_steps,
                                 std::uint64_t& steps) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(pcre2_match_data_create(1, nullptr),
                                                                         pcre2_match_data_free);
  std::unique_ptr<pcre2_match_context, decltype(&pcre2_match_context_free)> context(
      pcre2_match_context_copy(m_impl->context), pcre2_match_context_free);
  Steps counted{0, max_steps};
  pcre2_set_callout(context.get(), count_step, &counted);
  // A small workspace bounds the states followed at once (and the time per character): patterns
  // that need more (`a{1000}b`) are not judged.
  std::vector<int> workspace(4'096);
  int rc = pcre2_dfa_match(m_impl->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                           PCRE2_DFA_SHORTEST, md.get(), context.get(), workspace.data(), workspace.size());
  steps = counted.count;
  if (rc >= 0) return true;
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc == PCRE2_ERROR_CALLOUT) return util::fail("steps exceeded");
  // Limits of the matcher (workspace, depth) or invalid UTF-8: no verdict, the rule is skipped.
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(rc, buf, sizeof buf);
  return util::fail(std::string(library::k_unsupported_prefix) +
                    "regular expression match: " + reinterpret_cast<const char*>(buf));
}

}  // namespace portcullis::cel
