#include "shared/cel/value.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "shared/cel/schema.hpp"

namespace portcullis::cel {

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::null: return "null_type";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::uint: return "uint";
    case Kind::real: return "double";
    case Kind::string: return "string";
    case Kind::bytes: return "bytes";
    case Kind::list: return "list";
    case Kind::map: return "map";
    case Kind::duration: return "google.protobuf.Duration";
    case Kind::timestamp: return "google.protobuf.Timestamp";
    case Kind::type: return "type";
    case Kind::error: return "error";
  }
  return "unknown";
}

Value Value::boolean(bool b) {
  Value v;
  v.m_kind = Kind::boolean;
  v.m_b = b;
  return v;
}
Value Value::integer(std::int64_t i) {
  Value v;
  v.m_kind = Kind::integer;
  v.m_i = i;
  return v;
}
Value Value::uint(std::uint64_t u) {
  Value v;
  v.m_kind = Kind::uint;
  v.m_u = u;
  return v;
}
Value Value::real(double d) {
  Value v;
  v.m_kind = Kind::real;
  v.m_d = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.m_kind = Kind::string;
  v.m_s = std::move(s);
  return v;
}
Value Value::bytes(std::string s) {
  Value v = string(std::move(s));
  v.m_kind = Kind::bytes;
  return v;
}
Value Value::list(List items) {
  Value v;
  v.m_kind = Kind::list;
  v.m_list = std::make_shared<const List>(std::move(items));
  return v;
}
Value Value::map(Map entries) {
  Value v;
  v.m_kind = Kind::map;
  v.m_map = std::make_shared<const Map>(std::move(entries));
  return v;
}
Value Value::duration(std::int64_t ns) {
  Value v = integer(ns);
  v.m_kind = Kind::duration;
  return v;
}
Value Value::timestamp(std::int64_t ns) {
  Value v = integer(ns);
  v.m_kind = Kind::timestamp;
  return v;
}
Value Value::type(std::string name) {
  Value v = string(std::move(name));
  v.m_kind = Kind::type;
  return v;
}
Value Value::error(std::string message) {
  Value v = string(std::move(message));
  v.m_kind = Kind::error;
  return v;
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text == "0") return 0;
  if (text.empty()) return std::nullopt;
  long double total = 0;
  while (!text.empty()) {
    std::size_t n = 0;
    while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
    if (n == 0 || n > 40) return std::nullopt;
    std::string number(text.substr(0, n));
    if (std::count(number.begin(), number.end(), '.') > 1 || number == ".") return std::nullopt;
    text.remove_prefix(n);
    static const std::pair<std::string_view, long double> k_units[] = {
        {"ns", 1},   {"us", 1e3}, {"\u00b5s", 1e3}, {"\u03bcs", 1e3},
        {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},      {"h", 3600e9}};
    long double unit = 0;
    for (auto [name, scale] : k_units)
      if (text.starts_with(name) && (name != "m" || !text.starts_with("ms"))) {
        unit = scale;
        text.remove_prefix(name.size());
        break;
      }
    if (unit == 0) return std::nullopt;
    total += std::strtold(number.c_str(), nullptr) * unit;
    if (total > 9.2e18L) return std::nullopt;
  }
  auto ns = static_cast<std::int64_t>(total);
  return negative ? -ns : ns;
}

namespace {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_timestamp(std::string_view t) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(t, 0, 4, y) || t.size() < 10 || t[4] != '-' || !digits(t, 5, 2, mo) || t[7] != '-' ||
      !digits(t, 8, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  std::int64_t nanos = 0, offset = 0;
  if (t.size() > 10) {
    if ((t[10] != 'T' && t[10] != 't') || t.size() < 20 || !digits(t, 11, 2, h) || t[13] != ':' ||
        !digits(t, 14, 2, mi) || t[16] != ':' || !digits(t, 17, 2, sec) || h > 23 || mi > 59 || sec > 60)
      return std::nullopt;
    std::size_t pos = 19;
    if (t[pos] == '.') {
      std::size_t start = ++pos;
      while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
      if (pos == start || pos - start > 9) return std::nullopt;
      std::string frac(t.substr(start, pos - start));
      frac.resize(9, '0');
      nanos = std::stoll(frac);
    }
    if (pos >= t.size()) return std::nullopt;
    if (t[pos] == 'Z' || t[pos] == 'z') {
      if (pos + 1 != t.size()) return std::nullopt;
    } else if (t[pos] == '+' || t[pos] == '-') {
      int oh, om;
      if (t.size() != pos + 6 || !digits(t, pos + 1, 2, oh) || t[pos + 3] != ':' ||
          !digits(t, pos + 4, 2, om))
        return std::nullopt;
      offset = (oh * 3600 + om * 60) * (t[pos] == '-' ? -1 : 1);
    } else {
      return std::nullopt;
    }
  }
  std::int64_t seconds = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                         h * 3600 + mi * 60 + sec - offset;
  if (seconds < -9'223'372'036LL || seconds > 9'223'372'035LL) return std::nullopt;
  return seconds * 1'000'000'000 + nanos;
}

namespace {

// Standard base64 with padding (format: byte); nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=') {
      if (i + 2 < in.size() || (i + 1 < in.size() && in[i + 1] != '=')) return std::nullopt;
      break;
    }
    int v = value(in[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Formats the schema gives a special CEL type (Kubernetes' SchemaDeclType).
Value scalar_for_format(const yaml::Node* node, const Schema* schema) {
  if (schema->format == "byte")
    if (auto b = base64_decode(node->text)) return Value::bytes(std::move(*b));
  if (schema->format == "duration")
    if (auto ns = parse_duration(node->text)) return Value::duration(*ns);
  if (schema->format == "date-time" || schema->format == "date")
    if (auto ns = parse_timestamp(node->text)) return Value::timestamp(*ns);
  return Value::string(std::string(node->text));
}

}  // namespace

Value Value::from_node(const yaml::Node* node, const Schema* schema) {
  if (!node) return Value();
  SchemaType t = schema ? schema->type : SchemaType::any;
  switch (node->type) {
    case yaml::Type::null: return Value();
    case yaml::Type::boolean: return boolean(node->value.boolean);
    case yaml::Type::integer:
      if (t == SchemaType::number) return real(static_cast<double>(node->value.integer));
      return integer(node->value.integer);
    case yaml::Type::number:
      // An integer field written as 3.0 is an int to the apiserver (JSON numbers).
      if ((t == SchemaType::integer || t == SchemaType::int_or_string) &&
          std::trunc(node->value.number) == node->value.number && std::fabs(node->value.number) < 9.2e18)
        return integer(static_cast<std::int64_t>(node->value.number));
      return real(node->value.number);
    case yaml::Type::string:
      if (schema && t == SchemaType::string && !schema->format.empty())
        return scalar_for_format(node, schema);
      return string(std::string(node->text));
    case yaml::Type::sequence:
    case yaml::Type::mapping: {
      Value v;
      v.m_kind = node->is_sequence() ? Kind::list : Kind::map;
      v.m_node = node;
      v.m_schema = schema;
      return v;
    }
  }
  return Value();
}

Value Value::owned_from_node(const yaml::Node* node, const Schema* schema) {
  Value lazy = from_node(node, schema);
  if (lazy.kind() == Kind::list) {
    List items;
    for (std::size_t i = 0; i < lazy.size(); ++i)
      items.push_back(owned_from_node(node->items[i], schema ? schema->items.get() : nullptr));
    return list(std::move(items));
  }
  if (lazy.kind() == Kind::map) {
    Map entries;
    for (const auto& e : node->entries) {
      if (e.value->type == yaml::Type::null) continue;
      const Schema* child = schema ? schema->property(e.key->text) : nullptr;
      if (!child && schema) child = schema->additional.get();
      entries.emplace_back(string(std::string(e.key->text)), owned_from_node(e.value, child));
    }
    return map(std::move(entries));
  }
  return lazy;
}

std::size_t Value::size() const {
  if (m_node) return m_node->is_sequence() ? m_node->items.size() : m_node->entries.size();
  if (m_list) return m_list->size();
  if (m_map) return m_map->size();
  return 0;
}

Value Value::item(std::size_t i) const {
  if (m_node) return from_node(m_node->items[i], m_schema ? m_schema->items.get() : nullptr);
  return (*m_list)[i];
}

Value Value::key_at(std::size_t i) const {
  if (m_node) return string(std::string(m_node->entries[i].key->text));
  return (*m_map)[i].first;
}

namespace {
const Schema* child_schema(const Schema* s, std::string_view key) {
  if (!s) return nullptr;
  if (const Schema* p = s->property(key)) return p;
  return s->additional.get();
}
}  // namespace

Value Value::value_at(std::size_t i) const {
  if (m_node) {
    const auto& e = m_node->entries[i];
    return from_node(e.value, child_schema(m_schema, e.key->text));
  }
  return (*m_map)[i].second;
}

namespace {

// Kubernetes' escaping of property names in CEL (`self.foo__dash__bar` is the field
// "foo-bar", `self.__namespace__` the field "namespace"): the name meant, or empty.
std::string unescape_property(std::string_view name) {
  static constexpr std::string_view k_keywords[] = {
      "true",     "false",   "null",      "in",       "as",  "break",  "const",
      "continue", "else",    "for",       "function", "if",  "import", "let",
      "loop",     "package", "namespace", "return",   "var", "void",   "while"};
  for (auto k : k_keywords)
    if (name.size() == k.size() + 4 && name.starts_with("__") && name.ends_with("__") &&
        name.substr(2, k.size()) == k)
      return std::string(k);
  static constexpr std::pair<std::string_view, char> k_escapes[] = {
      {"__underscores__", '_'}, {"__dot__", '.'}, {"__dash__", '-'}, {"__slash__", '/'}};
  std::string out;
  bool changed = false;
  for (std::size_t i = 0; i < name.size();) {
    bool matched = false;
    for (auto [esc, c] : k_escapes)
      if (name.substr(i, esc.size()) == esc) {
        out += c;
        i += esc.size();
        matched = changed = true;
        break;
      }
    if (!matched) out += name[i++];
  }
  return changed ? out : std::string();
}

}  // namespace

std::optional<Value> Value::find(const Value& key) const {
  if (m_node) {
    if (key.kind() != Kind::string) return std::nullopt;
    auto lookup = [&](std::string_view name) -> std::optional<Value> {
      // A field set to null reads as absent, as the apiserver's CEL values of objects do.
      for (const auto& e : m_node->entries)
        if (e.key->text == name)
          return e.value->type == yaml::Type::null
                     ? std::nullopt
                     : std::optional<Value>(from_node(e.value, child_schema(m_schema, e.key->text)));
      return std::nullopt;
    };
    auto found = lookup(key.str());
    std::string meant;
    if (!found && key.str().find("__") != std::string::npos)
      if (meant = unescape_property(key.str()); !meant.empty()) found = lookup(meant);
    // An absent property with a default reads as the default, as the apiserver defaults the
    // object before it runs the rules.
    if (!found && m_schema && m_node->is_mapping())
      if (const Schema* p =
              m_schema->property(meant.empty() ? std::string_view(key.str()) : std::string_view(meant));
          p && p->default_value)
        found = *p->default_value;
    return found;
  }
  if (!m_map) return std::nullopt;
  for (const auto& [k, v] : *m_map)
    if (equal(k, key)) return v;
  return std::nullopt;
}

namespace {

bool numeric(Kind k) {
  return k == Kind::integer || k == Kind::uint || k == Kind::real;
}

// -1, 0, 1 comparing numbers of any numeric kinds exactly; nullopt for NaN.
std::optional<int> compare_numbers(const Value& a, const Value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  if (a.kind() == b.kind()) {
    if (a.kind() == Kind::integer) return cmp(a.as_int(), b.as_int());
    if (a.kind() == Kind::uint) return cmp(a.as_uint(), b.as_uint());
  }
  if (a.kind() == Kind::integer && b.kind() == Kind::uint)
    return a.as_int() < 0 ? -1 : cmp(static_cast<std::uint64_t>(a.as_int()), b.as_uint());
  if (a.kind() == Kind::uint && b.kind() == Kind::integer)
    return b.as_int() < 0 ? 1 : cmp(a.as_uint(), static_cast<std::uint64_t>(b.as_int()));
  auto as_d = [](const Value& v) {
    return v.kind() == Kind::real      ? v.as_double()
           : v.kind() == Kind::integer ? static_cast<double>(v.as_int())
                                       : static_cast<double>(v.as_uint());
  };
  double x = as_d(a), y = as_d(b);
  if (std::isnan(x) || std::isnan(y)) return std::nullopt;
  return cmp(x, y);
}

}  // namespace

bool same_keys(const Value& x, const Value& y, const Schema& list) {
  for (const auto& k : list.map_keys) {
    auto kx = x.find(Value::string(k)), ky = y.find(Value::string(k));
    if (kx.has_value() != ky.has_value() || (kx && !equal(*kx, *ky))) return false;
  }
  return true;
}

namespace {

// Lists of x-kubernetes-list-type set or map, of equal sizes: equal when every item of `a` has
// its equal (set) or the item of its keys, equal (map), in `b`.
bool equal_unordered(const Value& a, const Value& b, const Schema& list) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    Value x = a.item(i);
    bool found = false;
    for (std::size_t j = 0; j < b.size() && !found; ++j) {
      Value y = b.item(j);
      found = list.list_type == Schema::ListType::map ? same_keys(x, y, list) && equal(x, y) : equal(x, y);
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

bool equal(const Value& a, const Value& b) {
  if (numeric(a.kind()) && numeric(b.kind())) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::null: return true;
    case Kind::boolean: return a.as_bool() == b.as_bool();
    case Kind::string:
    case Kind::bytes:
    case Kind::type:
    case Kind::error: return a.str() == b.str();
    case Kind::duration:
    case Kind::timestamp: return a.as_int() == b.as_int();
    case Kind::list: {
      if (a.size() != b.size()) return false;
      const Schema* typed =
          a.schema() && a.schema()->list_type != Schema::ListType::atomic ? a.schema() : b.schema();
      if (typed && typed->list_type != Schema::ListType::atomic) return equal_unordered(a, b, *typed);
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!equal(a.item(i), b.item(i))) return false;
      return true;
    }
    case Kind::map: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        auto other = b.find(a.key_at(i));
        if (!other || !equal(a.value_at(i), *other)) return false;
      }
      return true;
    }
    default: return false;
  }
}

std::string Value::debug() const {
  switch (m_kind) {
    case Kind::null: return "null";
    case Kind::boolean: return m_b ? "true" : "false";
    case Kind::integer: return std::to_string(m_i);
    case Kind::uint: return std::to_string(m_u) + "u";
    case Kind::real: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", m_d);
      return buf;
    }
    case Kind::string: return m_s;
    case Kind::bytes: return "b\"" + m_s + "\"";
    case Kind::type: return m_s;
    case Kind::error: return "error: " + m_s;
    case Kind::duration: return std::to_string(m_i / 1'000'000'000) + "s";
    case Kind::timestamp: return std::to_string(m_i / 1'000'000'000);
    case Kind::list: {
      std::string out = "[";
      for (std::size_t i = 0; i < size() && out.size() < 1024; ++i) out += (i ? ", " : "") + item(i).debug();
      return out + "]";
    }
    case Kind::map: {
      std::string out = "{";
      for (std::size_t i = 0; i < size() && out.size() < 1024; ++i)
        out += (i ? ", " : "") + key_at(i).debug() + ": " + value_at(i).debug();
      return out + "}";
    }
  }
  return "";
}

}  // namespace portcullis::cel
