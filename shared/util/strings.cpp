#include "shared/util/strings.hpp"

#include <ctime>

#include <cctype>
#include <charconv>
#include <cmath>

namespace portcullis::util {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.starts_with(prefix); }
bool ends_with(std::string_view text, std::string_view suffix) { return text.ends_with(suffix); }

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {

// Matches a `[...]` class at `pattern[pi]` against `c`; returns the index after the class,
// or npos when the class is unterminated (then '[' is literal).
std::size_t match_class(std::string_view pattern, std::size_t pi, char c, bool& matched) {
  std::size_t i = pi + 1;
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    char lo = pattern[i];
    if (lo == '\\' && i + 1 < pattern.size()) lo = pattern[++i];
    char hi = lo;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      hi = pattern[i + 2];
      if (hi == '\\' && i + 3 < pattern.size()) {
        hi = pattern[i + 3];
        ++i;
      }
      i += 2;
    }
    if (c >= lo && c <= hi) found = true;
    ++i;
  }
  if (i >= pattern.size()) return std::string_view::npos;
  matched = found != negate;
  return i + 1;
}

// Memoised over (pattern index, text index): O(|pattern| * |text|) whatever the pattern.
class Glob {
 public:
  Glob(std::string_view p, std::string_view t, bool slash_special)
      : m_p(p), m_t(t), m_slash(slash_special), m_memo((p.size() + 1) * (t.size() + 1), -1) {}

  bool match(std::size_t pi, std::size_t ti) {
    auto& memo = m_memo[pi * (m_t.size() + 1) + ti];
    if (memo < 0) memo = compute(pi, ti) ? 1 : 0;
    return memo == 1;
  }

 private:
  bool compute(std::size_t pi, std::size_t ti) {
    if (pi == m_p.size()) return ti == m_t.size();
    char pc = m_p[pi];
    if (pc == '*') {
      bool globstar = m_slash && pi + 1 < m_p.size() && m_p[pi + 1] == '*';
      std::size_t next = pi + (globstar ? 2 : 1);
      if (globstar && next < m_p.size() && m_p[next] == '/') {
        // "**/" matches zero or more whole directories.
        if (match(next + 1, ti)) return true;
        for (std::size_t k = ti; k < m_t.size(); ++k)
          if (m_t[k] == '/' && match(next + 1, k + 1)) return true;
        return false;
      }
      // "*" matches the empty run, or one more character and stays on the star.
      if (match(next, ti)) return true;
      if (ti < m_t.size() && (globstar || !m_slash || m_t[ti] != '/')) return match(pi, ti + 1);
      return false;
    }
    if (ti >= m_t.size()) return false;
    if (pc == '?') return !(m_slash && m_t[ti] == '/') && match(pi + 1, ti + 1);
    if (pc == '[') {
      bool matched = false;
      auto after = match_class(m_p, pi, m_t[ti], matched);
      if (after != std::string_view::npos) return matched && !(m_slash && m_t[ti] == '/') && match(after, ti + 1);
    }
    std::size_t step = 1;
    if (pc == '\\' && pi + 1 < m_p.size()) {
      pc = m_p[pi + 1];
      step = 2;
    }
    return pc == m_t[ti] && match(pi + step, ti + 1);
  }

  std::string_view m_p, m_t;
  bool m_slash;
  std::vector<signed char> m_memo;
};

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, Slash slash) {
  // Recursion depth is bounded by |pattern| + |text|; refs and paths are far shorter.
  if (pattern.size() > 1024 || text.size() > 4096) return false;
  Glob g(pattern, text, slash == Slash::special);
  return g.match(0, 0);
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  double total = 0;
  while (!text.empty()) {
    std::size_t n = 0;
    while (n < text.size() && (std::isdigit(static_cast<unsigned char>(text[n])) || text[n] == '.')) ++n;
    if (n == 0) return std::nullopt;
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, value);
    if (ec != std::errc{} || ptr != text.data() + n) return std::nullopt;
    text.remove_prefix(n);
    std::size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    double scale;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return std::nullopt;
    total += value * scale;
  }
  if (!std::isfinite(total) || total > 9e15) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(total));
}

std::string duration_text(std::int64_t ms) {
  std::int64_t secs = ms < 0 ? 0 : ms / 1000;
  if (secs == 0) return "0s";
  struct Unit {
    std::int64_t seconds;
    char name;
  };
  static constexpr Unit units[] = {{86'400, 'd'}, {3'600, 'h'}, {60, 'm'}, {1, 's'}};
  std::string out;
  int parts = 0;
  for (const auto& u : units) {
    // The two largest units say enough ("2d3h", not "2d3h4m5s").
    if (secs >= u.seconds && parts < 2) {
      out += std::to_string(secs / u.seconds) + u.name;
      secs %= u.seconds;
      ++parts;
    } else if (parts > 0) {
      ++parts;
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  text = trim(text);
  std::size_t n = 0;
  while (n < text.size() && std::isdigit(static_cast<unsigned char>(text[n]))) ++n;
  if (n == 0) return std::nullopt;
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, value);
  if (ec != std::errc{}) return std::nullopt;
  std::string_view unit = trim(text.substr(n));
  std::uint64_t scale;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k" || unit == "Ki") scale = 1024;
  else if (unit == "M" || unit == "MiB" || unit == "Mi") scale = 1024 * 1024;
  else if (unit == "G" || unit == "GiB" || unit == "Gi") scale = 1024ull * 1024 * 1024;
  else return std::nullopt;
  if (value > UINT64_MAX / scale) return std::nullopt;
  return value * scale;
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  append_json_escaped(out, text);
  return out;
}

void append_json_escaped(std::string& out, std::string_view text) {
  // JSON text is UTF-8: bytes that are not valid UTF-8 (git allows them in ref names and
  // paths) are written as \u00XX, the code point of the same number, so the output stays
  // valid and the byte remains visible.
  static const char* hex = "0123456789abcdef";
  std::size_t i = 0;
  while (i < text.size()) {
    // Runs of printable ASCII other than quote and backslash, most of any manifest, go at once.
    std::size_t run = i;
    while (run < text.size()) {
      unsigned char c = static_cast<unsigned char>(text[run]);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
      ++run;
    }
    out.append(text.data() + i, run - i);
    i = run;
    if (i == text.size()) break;
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len && i + len <= text.size() && valid_utf8(text.substr(i, len))) {
        out.append(text.data() + i, len);
        i += len;
      } else {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:  // other control characters and DEL
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    ++i;
  }
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool valid_utf8(std::string_view text, std::size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), i = 0;
  auto bad = [&](std::size_t at) {
    if (bad_offset) *bad_offset = at;
    return false;
  };
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return bad(i);
    }
    if (i + len > n) return bad(i);
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return bad(i);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return bad(i);
    i += len;
  }
  return true;
}

std::string unquote_c_style(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::string(text);
  std::string_view body = text.substr(1, text.size() - 2);
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 1; k < 3 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            v = v * 8 + (body[++i] - '0');
          out += static_cast<char>(v);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

std::vector<std::string> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> out;
  if (pointer.empty() || pointer.front() != '/') return out;
  for (auto raw : split(pointer.substr(1), '/')) {
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += raw[i];
      }
    }
    out.push_back(std::move(token));
  }
  return out;
}

std::string rfc3339_utc(std::int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace portcullis::util
