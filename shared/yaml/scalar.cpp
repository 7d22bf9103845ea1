// YAML 1.1 plain-scalar resolution, following go-yaml v2 (gopkg.in/yaml.v2 resolve.go), which
// is what kubectl and the apiserver use through sigs.k8s.io/yaml. Timestamps stay strings, as
// go-yaml v2 keeps them when decoding into interface{}.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "shared/yaml/parse.hpp"

namespace portcullis::yaml {

namespace {

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  for (auto v : set)
    if (s == v) return true;
  return false;
}

// strconv.ParseUint(s, 0, 64) without sign. Returns false on syntax error or overflow.
bool parse_go_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  int base = 10;
  if (s.size() >= 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    if (p == 'x') base = 16, s.remove_prefix(2);
    else if (p == 'b') base = 2, s.remove_prefix(2);
    else if (p == 'o') base = 8, s.remove_prefix(2);
    else base = 8, s.remove_prefix(1);
    if (s.empty()) return false;
  }
  std::uint64_t v = 0;
  const auto max = std::numeric_limits<std::uint64_t>::max();
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base) return false;
    if (v > (max - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) return false;
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  out = v;
  return true;
}

// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool yaml_style_float(std::string_view s) {
  std::size_t i = 0, n = s.size();
  auto digits = [&] {
    std::size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  } else {
    if (!digits()) return false;
    if (i < n && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

bool to_double(std::string_view s, double& out) {
  std::string copy(s);
  errno = 0;
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && errno != ERANGE;
}

}  // namespace

void resolve_plain_scalar(std::string_view in, Node& node) {
  node.type = Type::string;
  if (in.empty()) {
    node.type = Type::null;
    return;
  }
  // Most plain scalars in manifests are words; only these first characters can start
  // anything but a string (go-yaml's resolve table), so everything else returns at once.
  char first = in[0];
  switch (first) {
    case '~': case 'n': case 'N': case 'y': case 'Y': case 't': case 'T': case 'f': case 'F': case 'o': case 'O':
    case '.': case '+': case '-':
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
      break;
    default:
      return;
  }
  if (in.size() > 5 && first != '.' && first != '+' && first != '-' && (first < '0' || first > '9')) return;
  if (is_one_of(in, {"~", "null", "Null", "NULL"})) {
    node.type = Type::null;
    return;
  }
  if (is_one_of(in, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) {
    node.type = Type::boolean;
    node.value.boolean = true;
    return;
  }
  if (is_one_of(in, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) {
    node.type = Type::boolean;
    node.value.boolean = false;
    return;
  }
  if (is_one_of(in, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) {
    node.type = Type::number;
    node.value.number = std::numeric_limits<double>::infinity();
    return;
  }
  if (is_one_of(in, {"-.inf", "-.Inf", "-.INF"})) {
    node.type = Type::number;
    node.value.number = -std::numeric_limits<double>::infinity();
    return;
  }
  if (is_one_of(in, {".nan", ".NaN", ".NAN"})) {
    node.type = Type::number;
    node.value.number = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  char c = in[0];
  if (c == '.') {
    double d;
    if (yaml_style_float(in) && to_double(in, d)) {
      node.type = Type::number;
      node.value.number = d;
    }
    return;
  }
  if (!((c >= '0' && c <= '9') || c == '-' || c == '+')) return;
  std::string plain;
  plain.reserve(in.size());
  for (char ch : in)
    if (ch != '_') plain += ch;
  std::string_view digits = plain;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  std::uint64_t mag = 0;
  constexpr auto int_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (parse_go_uint(digits, mag)) {
    if (negative) {
      if (mag <= int_max + 1) {
        node.type = Type::integer;
        node.value.integer = mag == int_max + 1 ? std::numeric_limits<std::int64_t>::min()
                                                : -static_cast<std::int64_t>(mag);
        return;
      }
    } else if (mag <= int_max) {
      node.type = Type::integer;
      node.value.integer = static_cast<std::int64_t>(mag);
      return;
    } else {
      // uint64 beyond int64: still a number to Kubernetes' decoder.
      node.type = Type::number;
      node.value.number = static_cast<double>(mag);
      return;
    }
  }
  double d;
  if (yaml_style_float(plain) && to_double(plain, d)) {
    node.type = Type::number;
    node.value.number = d;
  }
}

}  // namespace portcullis::yaml
