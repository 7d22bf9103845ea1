#include "shared/imagepolicy/semver.hpp"

#include <charconv>

#include "shared/util/strings.hpp"

namespace portcullis::imagepolicy {

namespace {

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<std::uint64_t> number(std::string_view s) {
  if (!is_digits(s) || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > (std::uint64_t{1} << 63)) return std::nullopt;
  return v;
}

bool identifier_ok(std::string_view s, bool numeric_no_leading_zero) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return !(numeric_no_leading_zero && is_digits(s) && s.size() > 1 && s[0] == '0');
}

std::strong_ordering compare_identifier(std::string_view a, std::string_view b) {
  bool na = is_digits(a), nb = is_digits(b);
  if (na && nb) {
    if (a.size() != b.size()) return a.size() <=> b.size();
    return a.compare(b) <=> 0;
  }
  if (na != nb) return na ? std::strong_ordering::less : std::strong_ordering::greater;
  return a.compare(b) <=> 0;
}

}  // namespace

std::strong_ordering Version::operator<=>(const Version& o) const {
  if (auto c = major <=> o.major; c != 0) return c;
  if (auto c = minor <=> o.minor; c != 0) return c;
  if (auto c = patch <=> o.patch; c != 0) return c;
  if (prerelease.empty() || o.prerelease.empty()) {
    if (prerelease.empty() && o.prerelease.empty()) return std::strong_ordering::equal;
    return prerelease.empty() ? std::strong_ordering::greater : std::strong_ordering::less;
  }
  for (std::size_t i = 0; i < prerelease.size() && i < o.prerelease.size(); ++i) {
    if (auto c = compare_identifier(prerelease[i], o.prerelease[i]); c != 0) return c;
  }
  return prerelease.size() <=> o.prerelease.size();
}

std::string Version::str() const {
  std::string out = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (std::size_t i = 0; i < prerelease.size(); ++i) out += (i == 0 ? "-" : ".") + prerelease[i];
  return out;
}

std::optional<Version> parse_version(std::string_view text) {
  if (text.size() > 128) return std::nullopt;
  if (text.starts_with('v')) text.remove_prefix(1);
  if (auto plus = text.find('+'); plus != std::string_view::npos) {
    for (auto part : util::split(text.substr(plus + 1), '.')) {
      if (!identifier_ok(part, false)) return std::nullopt;
    }
    text = text.substr(0, plus);
  }
  Version v;
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    for (auto part : util::split(text.substr(dash + 1), '.')) {
      if (!identifier_ok(part, true)) return std::nullopt;
      v.prerelease.emplace_back(part);
    }
    text = text.substr(0, dash);
  }
  auto parts = util::split(text, '.');
  if (parts.size() != 3) return std::nullopt;
  auto a = number(parts[0]), b = number(parts[1]), c = number(parts[2]);
  if (!a || !b || !c) return std::nullopt;
  v.major = *a, v.minor = *b, v.patch = *c;
  return v;
}

namespace {

using Op = Range::Comparator::Op;

// A version as a range writes it: 1, 1.2, 1.2.3, with x/X/* wildcards; `parts` is how many
// numbers are given.
struct Partial {
  Version version;
  int parts = 0;
};

std::optional<Partial> parse_partial(std::string_view text) {
  if (text.starts_with('v')) text.remove_prefix(1);
  if (text.empty() || text == "*" || text == "x" || text == "X") return Partial{};
  if (auto full = parse_version(text)) return Partial{*full, 3};
  Partial p;
  std::uint64_t* fields[] = {&p.version.major, &p.version.minor, &p.version.patch};
  auto parts = util::split(text, '.');
  if (parts.size() > 3) return std::nullopt;
  for (auto part : parts) {
    if (part == "*" || part == "x" || part == "X") break;
    auto n = number(part);
    if (!n) return std::nullopt;
    *fields[p.parts++] = *n;
  }
  return p;
}

Version lowest_prerelease(std::uint64_t major, std::uint64_t minor, std::uint64_t patch) {
  return Version{major, minor, patch, {"0"}};
}

// The version after a partial's span: 1 -> 2.0.0-0, 1.2 -> 1.3.0-0.
Version bump(const Partial& p, int at) {
  const Version& v = p.version;
  if (at == 0) return lowest_prerelease(v.major + 1, 0, 0);
  if (at == 1) return lowest_prerelease(v.major, v.minor + 1, 0);
  return lowest_prerelease(v.major, v.minor, v.patch + 1);
}

util::Result<void> add_comparators(std::string_view token, std::vector<Range::Comparator>& out) {
  std::string_view op;
  for (std::string_view candidate : {">=", "<=", "!=", ">", "<", "=", "^", "~"}) {
    if (token.starts_with(candidate)) {
      op = candidate;
      break;
    }
  }
  auto p = parse_partial(token.substr(op.size()));
  if (!op.empty() && token.size() == op.size()) p.reset();
  if (!p) return util::fail("'" + std::string(token) + "' is not a version comparator", "imagepolicy.invalid");
  const Version& v = p->version;
  if (p->parts == 0) {
    if (op == "<" || op == ">" || op == "!=") return util::fail("'" + std::string(token) + "' matches nothing", "imagepolicy.invalid");
    out.push_back({Op::ge, Version{}});
    return {};
  }
  if (op == "^") {
    int at = v.major > 0 || p->parts == 1 ? 0 : (v.minor > 0 || p->parts == 2 ? 1 : 2);
    out.push_back({Op::ge, v});
    out.push_back({Op::lt, bump(*p, at)});
  } else if (op == "~") {
    out.push_back({Op::ge, v});
    out.push_back({Op::lt, bump(*p, p->parts == 1 ? 0 : 1)});
  } else if (p->parts < 3) {
    if (op.empty() || op == "=") {
      out.push_back({Op::ge, v});
      out.push_back({Op::lt, bump(*p, p->parts - 1)});
    } else if (op == ">=") {
      out.push_back({Op::ge, v});
    } else if (op == ">") {
      out.push_back({Op::ge, bump(*p, p->parts - 1)});
    } else if (op == "<") {
      out.push_back({Op::lt, lowest_prerelease(v.major, v.minor, v.patch)});
    } else if (op == "<=") {
      out.push_back({Op::lt, bump(*p, p->parts - 1)});
    } else {
      return util::fail("'" + std::string(token) + "': != needs a full version", "imagepolicy.invalid");
    }
  } else {
    Op o = op == ">=" ? Op::ge : op == "<=" ? Op::le : op == ">" ? Op::gt : op == "<" ? Op::lt : op == "!=" ? Op::ne : Op::eq;
    out.push_back({o, v});
  }
  return {};
}

util::Result<std::vector<Range::Comparator>> parse_alternative(std::string_view text) {
  std::vector<std::string_view> tokens;
  for (auto t : util::split(text, ' ')) {
    if (!t.empty()) tokens.push_back(t);
  }
  // Operators written apart from their version (">= 1.2") are joined.
  std::vector<std::string> joined;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string t(tokens[i]);
    bool bare_op = t.find_first_not_of("<>=!^~") == std::string::npos && t != "-";
    if (bare_op && i + 1 < tokens.size()) t += tokens[++i];
    joined.push_back(t);
  }
  std::vector<Range::Comparator> out;
  if (joined.size() == 3 && joined[1] == "-") {  // hyphen range: 1.2 - 1.4
    auto lo = parse_partial(joined[0]), hi = parse_partial(joined[2]);
    if (!lo || !hi || lo->parts == 0 || hi->parts == 0) return util::fail("'" + std::string(text) + "' is not a hyphen range", "imagepolicy.invalid");
    out.push_back({Op::ge, lo->version});
    if (hi->parts == 3) {
      out.push_back({Op::le, hi->version});
    } else {
      out.push_back({Op::lt, bump(*hi, hi->parts - 1)});
    }
    return out;
  }
  if (joined.empty()) joined.emplace_back("*");
  for (const auto& t : joined) {
    if (auto ok = add_comparators(t, out); !ok) return util::fail(ok.error());
  }
  return out;
}

bool holds(const Range::Comparator& c, const Version& v) {
  auto r = v <=> c.version;
  switch (c.op) {
    case Op::lt: return r < 0;
    case Op::le: return r <= 0;
    case Op::gt: return r > 0;
    case Op::ge: return r >= 0;
    case Op::eq: return r == 0;
    case Op::ne: return r != 0;
  }
  return false;
}

}  // namespace

util::Result<Range> Range::parse(std::string_view text) {
  if (text.size() > 256) return util::fail("a version range is at most 256 characters", "imagepolicy.invalid");
  Range range;
  std::string_view rest = text;
  while (true) {
    auto bar = rest.find("||");
    auto alt = parse_alternative(rest.substr(0, bar));
    if (!alt) return util::fail(alt.error());
    range.m_alternatives.push_back(std::move(*alt));
    if (bar == std::string_view::npos) break;
    rest = rest.substr(bar + 2);
  }
  return range;
}

bool Range::contains(const Version& version, bool prereleases) const {
  if (version.is_prerelease() && !prereleases) return false;
  for (const auto& all : m_alternatives) {
    bool ok = true;
    for (const auto& c : all) ok = ok && holds(c, version);
    if (ok) return true;
  }
  return false;
}

}  // namespace portcullis::imagepolicy
