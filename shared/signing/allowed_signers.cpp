#include "shared/signing/allowed_signers.hpp"

#include <ctime>

#include "shared/signing/wire.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::signing {

namespace {

constexpr std::string_view k_rule = "signing.allowed-signers";

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// OpenSSH match_pattern: `*` matches any run, `?` one character; nothing else is special.
bool match_pattern(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Parses one line; knows where it is so that every error points at a line and column.
class LineParser {
 public:
  LineParser(std::string_view line, std::uint32_t number, std::string_view file)
      : m_line(line), m_number(number), m_file(file) {}

  // nullopt for a blank or comment line.
  util::Result<std::optional<AllowedSigner>> parse();

 private:
  std::unexpected<util::Error> error(std::string message, std::size_t offset) const {
    return util::fail(util::Error{std::move(message), std::string(k_rule), std::string(m_file), m_number,
                                  static_cast<std::uint32_t>(offset + 1)});
  }
  void skip_blanks() {
    while (m_pos < m_line.size() && is_blank(m_line[m_pos])) ++m_pos;
  }
  // A run of non-blank characters; blanks inside double quotes belong to it. Fails on an
  // unterminated quote.
  util::Result<std::string_view> token();
  util::Result<void> parse_principals(AllowedSigner& out);
  util::Result<void> parse_options(std::string_view options, std::size_t offset, AllowedSigner& out);

  std::string_view m_line;
  std::uint32_t m_number;
  std::string_view m_file;
  std::size_t m_pos = 0;
};

util::Result<std::string_view> LineParser::token() {
  std::size_t start = m_pos;
  bool quoted = false;
  while (m_pos < m_line.size() && (quoted || !is_blank(m_line[m_pos]))) {
    if (m_line[m_pos] == '\\' && quoted && m_pos + 1 < m_line.size()) {
      m_pos += 2;
      continue;
    }
    if (m_line[m_pos] == '"') quoted = !quoted;
    ++m_pos;
  }
  if (quoted) return error("unterminated double quote", start);
  return m_line.substr(start, m_pos - start);
}

util::Result<void> LineParser::parse_principals(AllowedSigner& out) {
  std::size_t start = m_pos;
  std::string_view field;
  if (m_line[m_pos] == '"') {
    std::size_t close = m_line.find('"', m_pos + 1);
    if (close == std::string_view::npos) return error("unterminated double quote in principals", start);
    field = m_line.substr(m_pos + 1, close - m_pos - 1);
    m_pos = close + 1;
  } else {
    while (m_pos < m_line.size() && !is_blank(m_line[m_pos])) ++m_pos;
    field = m_line.substr(start, m_pos - start);
  }
  if (m_pos < m_line.size() && !is_blank(m_line[m_pos]))
    return error("expected a blank after the principals field", m_pos);
  for (auto principal : util::split(field, ',')) {
    if (principal.empty() || principal == "!")
      return error("empty principal in \"" + wire::printable(field) + "\"", start);
    out.principals.emplace_back(principal);
  }
  return {};
}

util::Result<void> LineParser::parse_options(std::string_view options, std::size_t offset,
                                             AllowedSigner& out) {
  std::size_t p = 0;
  bool seen_namespaces = false;
  while (p < options.size()) {
    std::size_t name_start = p;
    while (p < options.size() && options[p] != '=' && options[p] != ',') ++p;
    std::string name = util::to_lower(options.substr(name_start, p - name_start));
    std::size_t at = offset + name_start;
    if (name == "cert-authority")
      return error(
          "cert-authority is not supported (certificates are not verified); list each signer's own "
          "public key instead",
          at);
    if (name != "namespaces" && name != "valid-after" && name != "valid-before") {
      if (options.find('=') == std::string_view::npos)
        return error("unknown key type or option \"" + wire::printable(options) + "\"", offset);
      return error(
          "unknown option \"" + wire::printable(name) + "\" (known: namespaces, valid-after, valid-before)",
          at);
    }
    if (p + 1 >= options.size() || options[p] != '=' || options[p + 1] != '"')
      return error("the value of " + name + " must be in double quotes, e.g. " + name + "=\"...\"", at);
    p += 2;
    std::string value;
    while (p < options.size() && options[p] != '"') {
      if (options[p] == '\\' && p + 1 < options.size() && options[p + 1] == '"') ++p;
      value.push_back(options[p++]);
    }
    if (p >= options.size()) return error("unterminated double quote in " + name, at);
    ++p;  // closing quote
    if (name == "namespaces") {
      if (seen_namespaces) return error("namespaces is given twice", at);
      seen_namespaces = true;
      for (auto ns : util::split(value, ',')) {
        if (ns.empty()) return error("empty namespace in namespaces=\"" + wire::printable(value) + "\"", at);
        out.namespaces.emplace_back(ns);
      }
    } else {
      auto& slot = name == "valid-after" ? out.valid_after : out.valid_before;
      if (slot) return error(name + " is given twice", at);
      auto time = parse_signer_time(value);
      if (!time || time->time_since_epoch().count() == 0)
        return error("invalid " + name + " time \"" + wire::printable(value) +
                         "\" (expected YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by Z)",
                     at);
      slot = time;
    }
    if (p == options.size()) break;
    if (options[p] != ',') return error("expected a comma between options", offset + p);
    if (++p == options.size()) return error("options end with a comma", offset + p - 1);
  }
  if (out.valid_after && out.valid_before && *out.valid_before <= *out.valid_after)
    return error("valid-before is not after valid-after", offset);
  return {};
}

util::Result<std::optional<AllowedSigner>> LineParser::parse() {
  skip_blanks();
  if (m_pos == m_line.size() || m_line[m_pos] == '#') return std::optional<AllowedSigner>{};
  AllowedSigner out;
  out.line = m_number;
  if (auto ok = parse_principals(out); !ok) return std::unexpected(ok.error());
  skip_blanks();

  std::size_t type_at = m_pos;
  auto type = token();
  if (!type) return std::unexpected(type.error());
  if (type->empty()) return error("missing key type and key after the principals", type_at);
  if (!wire::known_key_type(wire::canonical_key_type(*type))) {
    if (auto ok = parse_options(*type, type_at, out); !ok) return std::unexpected(ok.error());
    skip_blanks();
    type_at = m_pos;
    type = token();
    if (!type) return std::unexpected(type.error());
    if (type->empty()) return error("missing key type and key after the options", type_at);
    if (!wire::known_key_type(wire::canonical_key_type(*type)))
      return error("unknown key type \"" + wire::printable(*type) + "\"", type_at);
  }
  out.declared_type = std::string(*type);

  skip_blanks();
  std::size_t key_at = m_pos;
  while (m_pos < m_line.size() && !is_blank(m_line[m_pos])) ++m_pos;
  std::string_view base64 = m_line.substr(key_at, m_pos - key_at);
  if (base64.empty()) return error("missing base64 key after key type " + out.declared_type, key_at);
  auto blob = wire::base64_decode(base64);
  if (!blob || blob->empty()) return error("the key is not valid base64", key_at);
  auto key = wire::parse_public_key(*blob);
  if (!key) return error("malformed key: " + key.error().message, key_at);
  out.key_type = std::string(key->type);
  out.key_blob = std::move(*blob);

  skip_blanks();
  out.comment = std::string(util::trim(m_line.substr(m_pos)));
  return std::optional<AllowedSigner>(std::move(out));
}

}  // namespace

std::optional<Seconds> parse_signer_time(std::string_view text) {
  bool utc = false;
  if (text.size() > 1 && (text.back() == 'Z' || text.back() == 'z')) {
    utc = true;
    text.remove_suffix(1);
  } else if (text.size() > 3 && util::to_lower(text.substr(text.size() - 3)) == "utc") {
    utc = true;
    text.remove_suffix(3);
  }
  if (text.size() != 8 && text.size() != 12 && text.size() != 14) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  auto number = [&](std::size_t at, std::size_t width) {
    int v = 0;
    for (std::size_t i = 0; i < width; ++i) v = v * 10 + (text[at + i] - '0');
    return v;
  };
  int hour = text.size() >= 12 ? number(8, 2) : 0;
  int minute = text.size() >= 12 ? number(10, 2) : 0;
  int second = text.size() == 14 ? number(12, 2) : 0;
  std::chrono::year_month_day date{std::chrono::year(number(0, 4)),
                                   std::chrono::month(unsigned(number(4, 2))),
                                   std::chrono::day(unsigned(number(6, 2)))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  std::time_t secs = 0;
  if (utc) {
    auto tp = std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
              std::chrono::seconds(second);
    secs = static_cast<std::time_t>(tp.time_since_epoch().count());
  } else {
    std::tm tm{};
    tm.tm_year = number(0, 4) - 1900;
    tm.tm_mon = number(4, 2) - 1;
    tm.tm_mday = number(6, 2);
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    secs = std::mktime(&tm);
  }
  if (secs < 0) return std::nullopt;
  return Seconds(std::chrono::seconds(secs));
}

bool matches_patterns(const std::vector<std::string>& patterns, std::string_view name) {
  bool matched = false;
  for (const auto& pattern : patterns) {
    if (!pattern.empty() && pattern[0] == '!') {
      if (match_pattern(std::string_view(pattern).substr(1), name)) return false;
    } else if (match_pattern(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

util::Result<AllowedSigners> parse_allowed_signers(std::string_view text, std::string_view file) {
  AllowedSigners out;
  out.file = std::string(file);
  std::uint32_t number = 0;
  for (auto line : util::split(text, '\n')) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto entry = LineParser(line, number, file).parse();
    if (!entry) return std::unexpected(entry.error());
    if (*entry) out.signers.push_back(std::move(**entry));
  }
  return out;
}

util::Result<AllowedSigners> load_allowed_signers(const std::filesystem::path& path) {
  auto text = util::read_file(path, 16ull << 20);
  if (!text) return std::unexpected(text.error());
  return parse_allowed_signers(*text, path.string());
}

}  // namespace portcullis::signing
