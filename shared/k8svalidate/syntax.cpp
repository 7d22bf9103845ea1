#include "shared/k8svalidate/syntax.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <span>
#include <vector>

namespace portcullis::k8svalidate {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool label_shape(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || c == '-'; });
}

std::string too_long(std::size_t max) { return "must be no more than " + std::to_string(max) + " characters"; }

const std::string k_label_msg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const std::string k_subdomain_msg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const std::string k_qualified_msg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

bool qualified_part(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool subdomain_shape(std::string_view s) {
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    if (!label_shape(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

std::string dns1123_label(std::string_view s) {
  if (s.size() > 63) return too_long(63);
  return label_shape(s) ? std::string{} : k_label_msg;
}

std::string dns1035_label(std::string_view s) {
  if (s.size() > 63) return too_long(63);
  if (label_shape(s) && alpha(s.front())) return {};
  return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
         "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
         "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
}

std::string dns1123_subdomain(std::string_view s) {
  if (s.size() > 253) return too_long(253);
  return subdomain_shape(s) ? std::string{} : k_subdomain_msg;
}

std::string wildcard_dns1123_subdomain(std::string_view s) {
  if (s.size() > 253) return too_long(253);
  if (s.starts_with("*.") && subdomain_shape(s.substr(2))) return {};
  return "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
         "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
         "(e.g. '*.example.com')";
}

std::string qualified_name(std::string_view s) {
  std::string_view name = s;
  auto slash = s.find('/');
  if (slash != std::string_view::npos) {
    if (s.find('/', slash + 1) != std::string_view::npos)
      return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
             "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
             "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
             "and '/' (e.g. 'example.com/MyName')";
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (prefix.empty()) return "prefix part must be non-empty";
    if (auto p = dns1123_subdomain(prefix); !p.empty()) return "prefix part " + p;
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part " + too_long(63);
  return qualified_part(name) ? std::string{} : k_qualified_msg;
}

std::string label_value(std::string_view s) {
  if (s.size() > 63) return too_long(63);
  if (s.empty() || qualified_part(s)) return {};
  return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
         "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
         "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
}

std::string port_name(std::string_view s) {
  if (s.size() > 15) return "must be no more than 15 characters";
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || c == '-'; }))
    return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  if (s.find("--") != std::string_view::npos) return "must not contain consecutive hyphens";
  if (!std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
    return "must contain at least one letter or number (a-z, 0-9)";
  if (s.front() == '-' || s.back() == '-') return "must not begin or end with a hyphen";
  return {};
}

std::string env_var_name(std::string_view s) {
  bool ok = !s.empty() && !digit(s.front()) &&
            std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; });
  if (ok && s == ".") return "must not be '.'";
  if (ok && s == "..") return "must not be '..'";
  if (ok && s.starts_with("..")) return "must not start with '..'";
  if (ok) return {};
  return "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and "
         "must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
         "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";
}

std::string config_map_key(std::string_view s) {
  if (s.size() > 253) return too_long(253);
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; }))
    return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
           "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
  if (s == ".") return "must not be '.'";
  if (s == "..") return "must not be '..'";
  if (s.starts_with("..")) return "must not start with '..'";
  return {};
}

std::string path_segment_name(std::string_view s) {
  if (s == "." || s == "..") return "may not be '" + std::string(s) + "'";
  if (s.find('/') != std::string_view::npos) return "may not contain '/'";
  if (s.find('%') != std::string_view::npos) return "may not contain '%'";
  return {};
}

bool is_ip(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

bool is_cidr(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view ip = s.substr(0, slash), bits = s.substr(slash + 1);
  if (!is_ip(ip) || bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), digit)) return false;
  int n = std::atoi(std::string(bits).c_str());
  bool v6 = ip.find(':') != std::string_view::npos;
  return n <= (v6 ? 128 : 32);
}

std::optional<Quantity> parse_quantity(std::string_view s) {
  // resource.parseQuantityString, then the suffix interpretation of ParseQuantity.
  if (s.empty()) return std::nullopt;
  std::size_t pos = 0, end = s.size();
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    ++pos;
  }
  std::size_t number_start = pos;
  while (pos < end && digit(s[pos])) ++pos;
  if (pos < end && s[pos] == '.') {
    ++pos;
    while (pos < end && digit(s[pos])) ++pos;
  }
  std::string_view number = s.substr(number_start, pos - number_start);
  std::size_t suffix_start = pos;
  while (pos < end && std::string_view("eEinumkKMGTP").find(s[pos]) != std::string_view::npos) ++pos;
  if (pos < end && (s[pos] == '-' || s[pos] == '+')) ++pos;
  while (pos < end && digit(s[pos])) ++pos;
  if (pos != end) return std::nullopt;
  std::string_view suffix = s.substr(suffix_start);

  double base = 1;
  static constexpr std::array<std::pair<std::string_view, double>, 14> k_suffixes{{
      {"", 1}, {"n", 1e-9}, {"u", 1e-6}, {"m", 1e-3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
      {"P", 1e15}, {"E", 1e18}, {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}}};
  bool found = false;
  for (auto [name, factor] : k_suffixes)
    if (suffix == name) {
      base = factor;
      found = true;
    }
  if (!found && suffix == "Pi") base = 1125899906842624.0, found = true;
  if (!found && suffix == "Ei") base = 1152921504606846976.0, found = true;
  if (!found && suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string_view exp = suffix.substr(1);
    std::string_view digits = exp[0] == '+' || exp[0] == '-' ? exp.substr(1) : exp;
    if (digits.empty() || digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), digit))
      return std::nullopt;
    long long e = std::atoll(std::string(digits).c_str());
    if (exp[0] == '-') e = -e;
    base = std::pow(10.0, static_cast<double>(std::clamp(e, -400LL, 400LL)));
    found = true;
  }
  if (!found) return std::nullopt;
  Quantity q;
  double mantissa = number.empty() || number == "." ? 0 : std::strtod(std::string(number).c_str(), nullptr);
  q.value = (negative ? -mantissa : mantissa) * base;
  q.integral = std::isfinite(q.value) && std::fabs(q.value - std::round(q.value)) < 1e-9;
  return q;
}

namespace {

struct Bounds {
  unsigned min, max;
  std::span<const std::string_view> names;  // names[i] stands for min-offset i (months from 1, days from 0)
  unsigned names_base;
};

constexpr std::string_view k_months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::string_view k_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// strconv.Atoi, then the "negative number" refusal of mustParseInt.
std::optional<unsigned> must_parse_int(std::string_view s) {
  std::string_view d = !s.empty() && s[0] == '+' ? s.substr(1) : s;
  if (d.empty() || d.size() > 9 || !std::all_of(d.begin(), d.end(), digit)) return std::nullopt;
  return static_cast<unsigned>(std::atoi(std::string(d).c_str()));
}

std::optional<unsigned> int_or_name(std::string_view s, const Bounds& b) {
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::size_t i = 0; i < b.names.size(); ++i)
    if (lower == b.names[i]) return b.names_base + static_cast<unsigned>(i);
  return must_parse_int(s);
}

std::string cron_range(std::string_view expr, const Bounds& b) {
  auto range_and_step = split(expr, '/');
  auto low_high = split(range_and_step[0], '-');
  unsigned start = 0, end = 0, step = 1;
  if (low_high[0] == "*" || low_high[0] == "?") {
    start = b.min;
    end = b.max;
  } else {
    auto first = int_or_name(low_high[0], b);
    if (!first) return "failed to parse int from " + std::string(low_high[0]);
    start = end = *first;
    if (low_high.size() == 2) {
      auto second = int_or_name(low_high[1], b);
      if (!second) return "failed to parse int from " + std::string(low_high[1]);
      end = *second;
    } else if (low_high.size() > 2) {
      return "too many hyphens: " + std::string(expr);
    }
  }
  if (range_and_step.size() == 2) {
    auto s = must_parse_int(range_and_step[1]);
    if (!s) return "failed to parse int from " + std::string(range_and_step[1]);
    step = *s;
    if (low_high.size() == 1 && low_high[0] != "*" && low_high[0] != "?") end = b.max;
  } else if (range_and_step.size() > 2) {
    return "too many slashes: " + std::string(expr);
  }
  if (start < b.min) return "beginning of range (" + std::to_string(start) + ") below minimum (" + std::to_string(b.min) + ")";
  if (end > b.max) return "end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(b.max) + ")";
  if (start > end) return "beginning of range (" + std::to_string(start) + ") beyond end of range (" + std::to_string(end) + ")";
  if (step == 0) return "step of range should be a positive number: " + std::string(expr);
  return {};
}

}  // namespace

bool is_go_duration(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s == "0") return true;
  if (s.empty()) return false;
  while (!s.empty()) {
    std::size_t i = 0;
    bool digits = false;
    while (i < s.size() && digit(s[i])) ++i, digits = true;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && digit(s[i])) ++i, digits = true;
    }
    if (!digits) return false;
    std::size_t u = i;
    while (u < s.size() && !digit(s[u]) && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    static constexpr std::string_view k_units[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs", "ms", "s", "m", "h"};
    if (std::find(std::begin(k_units), std::end(k_units), unit) == std::end(k_units)) return false;
    s.remove_prefix(u);
  }
  return true;
}

std::string cron_schedule(std::string_view s) {
  if (s.starts_with("@")) {
    static constexpr std::string_view k_descriptors[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                                         "@daily",  "@midnight", "@hourly"};
    if (std::find(std::begin(k_descriptors), std::end(k_descriptors), s) != std::end(k_descriptors)) return {};
    if (s.starts_with("@every ")) {
      if (is_go_duration(s.substr(7))) return {};
      return "failed to parse duration " + std::string(s);
    }
    return "unrecognized descriptor: " + std::string(s);
  }
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) fields.push_back(s.substr(start, i - start));
  }
  if (fields.size() != 5)
    return "expected exactly 5 fields, found " + std::to_string(fields.size()) + ": " + std::string(s);
  const Bounds bounds[5] = {{0, 59, {}, 0}, {0, 23, {}, 0}, {1, 31, {}, 0}, {1, 12, k_months, 1}, {0, 6, k_days, 0}};
  for (std::size_t f = 0; f < 5; ++f)
    for (auto part : split(fields[f], ','))
      if (auto problem = cron_range(part, bounds[f]); !problem.empty()) return problem;
  return {};
}

}  // namespace portcullis::k8svalidate
