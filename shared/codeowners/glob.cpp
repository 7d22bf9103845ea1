#include "shared/codeowners/glob.hpp"

namespace portcullis::codeowners {

namespace {

constexpr std::size_t k_npos = std::string_view::npos;

char32_t codepoint(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  const std::size_t len = utf8_length(text, i);
  if (len == 1) return c;
  char32_t cp = c & (0xFFu >> (len + 1));
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3Fu);
  return cp;
}

}  // namespace

std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  std::size_t len = 1;
  if (c >= 0xF0 && c < 0xF8) {
    len = 4;
  } else if (c >= 0xE0) {
    len = c < 0xF0 ? 3 : 1;
  } else if (c >= 0xC0) {
    len = 2;
  }
  if (i + len > text.size()) return 1;
  for (std::size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0u) != 0x80u) return 1;
  }
  return len;
}

// ---- GitHub -------------------------------------------------------------------------------

GithubPattern::GithubPattern(std::string_view pattern) {
  if (pattern == "/") {
    m_never = true;
    return;
  }
  std::vector<std::string_view> segs;
  for (std::size_t start = 0;;) {
    const auto slash = pattern.find('/', start);
    segs.push_back(pattern.substr(start, slash == k_npos ? k_npos : slash - start));
    if (slash == k_npos) break;
    start = slash + 1;
  }
  if (segs.front().empty()) {
    segs.erase(segs.begin());  // leading '/': anchored at the root
  } else if ((segs.size() == 1 || (segs.size() == 2 && segs[1].empty())) && segs[0] != "**") {
    segs.insert(segs.begin(), "**");  // a single name matches at any depth
  }
  if (segs.size() > 1 && segs.back().empty()) segs.back() = "**";  // trailing '/': what is below

  auto plain = [](std::string_view glob) {
    Item item;
    bool escaped = false;
    for (char c : glob) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
        continue;
      } else if (c == '*') {
        if (item.tokens.empty() || item.tokens.back().kind != Token::Kind::any_run) {
          item.tokens.push_back({Token::Kind::any_run, {}});
        }
        continue;
      } else if (c == '?') {
        item.tokens.push_back({Token::Kind::any_char, {}});
        continue;
      }
      if (item.tokens.empty() || item.tokens.back().kind != Token::Kind::literal) {
        item.tokens.push_back({Token::Kind::literal, {}});
      }
      item.tokens.back().text += c;
    }
    if (escaped) {  // a lone trailing backslash stands for itself
      if (item.tokens.empty() || item.tokens.back().kind != Token::Kind::literal) {
        item.tokens.push_back({Token::Kind::literal, {}});
      }
      item.tokens.back().text += '\\';
    }
    if (item.tokens.empty() || (item.tokens.size() == 1 && item.tokens[0].kind == Token::Kind::literal)) {
      item.literal = true;
      if (!item.tokens.empty()) item.text = std::move(item.tokens[0].text);
      item.tokens.clear();
    }
    return item;
  };
  Item globstar;
  globstar.globstar = true;
  const std::size_t last = segs.size() - 1;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (segs[i] == "**") {
      // `**` is zero or more segments, except at the end (or alone), where it is one or more.
      if (i == last) m_items.push_back(plain("*"));
      m_items.push_back(globstar);
    } else {
      m_items.push_back(plain(segs[i]));
      // A last segment owns what is below it, unless it is a bare `*` ("docs/*" is not nested).
      if (i == last && segs[i] != "*") m_items.push_back(globstar);
    }
  }
  for (const auto& item : m_items) {
    if (item.literal && !item.globstar && (!m_required_whole || item.text.size() > m_required.size())) {
      m_required = item.text;
      m_required_whole = true;
    }
    for (const auto& token : item.tokens) {
      if (!m_required_whole && token.kind == Token::Kind::literal && token.text.size() > m_required.size()) {
        m_required = token.text;
      }
    }
  }
}

bool GithubPattern::segment_matches(const Item& item, std::string_view segment) {
  if (item.literal) return segment == item.text;
  const auto& tokens = item.tokens;
  std::size_t ti = 0;
  std::size_t si = 0;
  std::size_t star_ti = k_npos;
  std::size_t star_si = 0;
  while (si < segment.size()) {
    if (ti < tokens.size()) {
      const Token& t = tokens[ti];
      if (t.kind == Token::Kind::any_run) {
        star_ti = ti++;
        star_si = si;
        continue;
      }
      if (t.kind == Token::Kind::any_char) {
        si += utf8_length(segment, si);
        ++ti;
        continue;
      }
      if (segment.compare(si, t.text.size(), t.text) == 0) {
        si += t.text.size();
        ++ti;
        continue;
      }
    }
    if (star_ti == k_npos) return false;
    ti = star_ti + 1;
    star_si += utf8_length(segment, star_si);
    si = star_si;
  }
  while (ti < tokens.size() && tokens[ti].kind == Token::Kind::any_run) ++ti;
  return ti == tokens.size();
}

bool GithubPattern::matches(std::span<const std::string_view> segments) const {
  if (m_never) return false;
  if (!m_required.empty()) {
    bool present = false;
    for (auto segment : segments) {
      present = m_required_whole ? segment == m_required : segment.find(m_required) != std::string_view::npos;
      if (present) break;
    }
    if (!present) return false;
  }
  // Items against segments, with globstars as the only multi-segment wildcard: the classic
  // wildcard walk that remembers only the latest globstar.
  std::size_t ii = 0;
  std::size_t si = 0;
  std::size_t star_ii = k_npos;
  std::size_t star_si = 0;
  while (si < segments.size()) {
    if (ii < m_items.size()) {
      if (m_items[ii].globstar) {
        star_ii = ii++;
        star_si = si;
        continue;
      }
      if (segment_matches(m_items[ii], segments[si])) {
        ++ii;
        ++si;
        continue;
      }
    }
    if (star_ii == k_npos) return false;
    ii = star_ii + 1;
    si = ++star_si;
  }
  while (ii < m_items.size() && m_items[ii].globstar) ++ii;
  return ii == m_items.size();
}

// ---- GitLab: Ruby's File.fnmatch (dir.c) with FNM_PATHNAME | FNM_DOTMATCH ------------------

namespace {

bool at_end(std::string_view text, std::size_t i) {
  return i >= text.size() || text[i] == '/';
}

std::size_t unescape(std::string_view pattern, std::size_t p) {
  return p < pattern.size() && pattern[p] == '\\' ? p + 1 : p;
}

bool same_char(std::string_view a, std::size_t ai, std::size_t len, std::string_view b, std::size_t bi) {
  return len <= b.size() - bi && a.compare(ai, len, b, bi, len) == 0;
}

// dir.c `bracket`: `p` is just after '['; the string character at `s` is not a separator.
// Returns the index after the closing ']' when the class matches, npos otherwise (an
// unterminated class never matches).
std::size_t bracket(std::string_view pat, std::size_t p, std::string_view str, std::size_t s) {
  const std::size_t pend = pat.size();
  if (p >= pend) return k_npos;
  bool negate = false;
  bool ok = false;
  if (pat[p] == '!' || pat[p] == '^') {
    negate = true;
    ++p;
  }
  while (p >= pend || pat[p] != ']') {
    std::size_t t1 = p;
    if (t1 < pend && pat[t1] == '\\') ++t1;
    if (t1 >= pend) return k_npos;
    const std::size_t r1 = utf8_length(pat, t1);
    p = t1 + r1;
    if (p >= pend) return k_npos;
    if (pat[p] == '-' && (p + 1 >= pend || pat[p + 1] != ']')) {
      std::size_t t2 = p + 1;
      if (t2 < pend && pat[t2] == '\\') ++t2;
      if (t2 >= pend) return k_npos;
      const std::size_t r2 = utf8_length(pat, t2);
      p = t2 + r2;
      if (ok) continue;
      if (same_char(pat, t1, r1, str, s) || same_char(pat, t2, r2, str, s)) {
        ok = true;
        continue;
      }
      const char32_t c = codepoint(str, s);
      if (c < codepoint(pat, t1) || c > codepoint(pat, t2)) continue;
      ok = true;
    } else if (!ok && same_char(pat, t1, r1, str, s)) {
      ok = true;
    }
  }
  return ok == negate ? k_npos : p + 1;
}

// dir.c `fnmatch_helper`: matches one segment of `pat` from `pcur` against one segment of `str`
// from `scur`, leaving both at the end of what was consumed.
bool fnmatch_segment(std::string_view pat, std::size_t& pcur, std::string_view str, std::size_t& scur) {
  std::size_t p = pcur;
  std::size_t s = scur;
  std::size_t ptmp = k_npos;
  std::size_t stmp = k_npos;
  auto done = [&](bool matched) {
    pcur = p;
    scur = s;
    return matched;
  };
  while (true) {
    const char c = p < pat.size() ? pat[p] : '\0';
    bool failed = false;
    if (c == '*') {
      do ++p;
      while (p < pat.size() && pat[p] == '*');
      if (at_end(pat, unescape(pat, p))) {
        p = unescape(pat, p);
        return done(true);
      }
      if (at_end(str, s)) return done(false);
      ptmp = p;
      stmp = s;
      continue;
    }
    if (c == '?') {
      if (at_end(str, s)) return done(false);
      ++p;
      s += utf8_length(str, s);
      continue;
    }
    if (c == '[') {
      if (at_end(str, s)) return done(false);
      const std::size_t t = bracket(pat, p + 1, str, s);
      if (t != k_npos) {
        p = t;
        s += utf8_length(str, s);
        continue;
      }
      failed = true;
    }
    if (!failed) {
      p = unescape(pat, p);
      if (at_end(str, s)) return done(at_end(pat, p));
      if (at_end(pat, p)) {
        failed = true;
      } else {
        const std::size_t r = utf8_length(pat, p);
        if (same_char(pat, p, r, str, s)) {
          p += r;
          s += r;
          continue;
        }
        failed = true;
      }
    }
    if (ptmp != k_npos && stmp != k_npos) {  // try the next position for the last '*'
      p = ptmp;
      stmp += utf8_length(str, stmp);
      s = stmp;
      continue;
    }
    return done(false);
  }
}

}  // namespace

bool fnmatch_pathname(std::string_view pat, std::string_view str) {
  std::size_t p = 0;
  std::size_t s = 0;
  std::size_t ptmp = k_npos;
  std::size_t stmp = k_npos;
  while (true) {
    if (pat.substr(p).starts_with("**/")) {
      do p += 3;
      while (pat.substr(p).starts_with("**/"));
      ptmp = p;
      stmp = s;
    }
    if (fnmatch_segment(pat, p, str, s)) {
      while (s < str.size() && str[s] != '/') s += utf8_length(str, s);
      if (p < pat.size() && s < str.size()) {
        ++p;
        ++s;
        continue;
      }
      if (p >= pat.size() && s >= str.size()) return true;
    }
    if (ptmp != k_npos && stmp != k_npos) {  // let the last `**/` take one more directory
      while (stmp < str.size() && str[stmp] != '/') stmp += utf8_length(str, stmp);
      if (stmp < str.size()) {
        p = ptmp;
        s = ++stmp;
        continue;
      }
    }
    return false;
  }
}

FnmatchPattern::FnmatchPattern(std::string pattern) : m_text(std::move(pattern)) {
  const auto first = m_text.find_first_of("*?[\\");
  m_head = first == std::string::npos ? m_text.size() : first;
  const auto last = m_text.find_last_of("*?[]\\/");
  m_tail = last == std::string::npos ? m_text.size() : m_text.size() - last - 1;
  // Every literal segment maps to one whole path segment.
  const std::string_view text = m_text;
  for (std::size_t start = 0, slash; (slash = text.find('/', start)) != std::string_view::npos;
       start = slash + 1) {
    const auto segment = text.substr(start, slash - start);
    if (start > 0 && segment.find_first_of("*?[]\\") == std::string_view::npos &&
        segment.size() + 2 > m_inner.size()) {
      m_inner = "/" + std::string(segment) + "/";
    }
  }
}

bool FnmatchPattern::matches(std::string_view path) const {
  const std::string_view text = m_text;
  if (!path.starts_with(text.substr(0, m_head)) || !path.ends_with(text.substr(text.size() - m_tail)))
    return false;
  if (!m_inner.empty() && path.find(m_inner) == std::string_view::npos) return false;
  return fnmatch_pathname(text, path);
}

}  // namespace portcullis::codeowners
