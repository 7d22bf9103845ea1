#include "shared/cel/library.hpp"
#include "shared/cel/regex.hpp"
#include "shared/cel/schema.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace portcullis::cel::library {

namespace {

struct Function {
  std::string_view name;
  std::uint8_t receiver_arities;  // bit n: callable as x.name() with n arguments
  std::uint8_t global_arities;    // bit n: callable as name() with n arguments
};

constexpr std::uint8_t a(int n) {
  return static_cast<std::uint8_t>(1u << n);
}

constexpr Function k_functions[] = {
    {"size", a(0), a(1)},
    {"contains", a(1), 0},
    {"startsWith", a(1), 0},
    {"endsWith", a(1), 0},
    {"matches", a(1), a(2)},
    {"lowerAscii", a(0), 0},
    {"upperAscii", a(0), 0},
    {"trim", a(0), 0},
    {"split", a(1) | a(2), 0},
    {"join", a(0) | a(1), 0},
    {"indexOf", a(1) | a(2), 0},
    {"lastIndexOf", a(1) | a(2), 0},
    {"replace", a(2) | a(3), 0},
    {"substring", a(1) | a(2), 0},
    {"charAt", a(1), 0},
    {"isSorted", a(0), 0},
    {"sum", a(0), 0},
    {"min", a(0), 0},
    {"max", a(0), 0},
    {"int", 0, a(1)},
    {"uint", 0, a(1)},
    {"double", 0, a(1)},
    {"string", 0, a(1)},
    {"bool", 0, a(1)},
    {"bytes", 0, a(1)},
    {"duration", 0, a(1)},
    {"timestamp", 0, a(1)},
    {"type", 0, a(1)},
    {"dyn", 0, a(1)},
    {"getHours", a(0) | a(1), 0},
    {"getMinutes", a(0) | a(1), 0},
    {"getSeconds", a(0) | a(1), 0},
    {"getMilliseconds", a(0) | a(1), 0},
    {"getFullYear", a(0) | a(1), 0},
    {"getMonth", a(0) | a(1), 0},
    {"getDate", a(0) | a(1), 0},
    {"getDayOfMonth", a(0) | a(1), 0},
    {"getDayOfWeek", a(0) | a(1), 0},
    {"getDayOfYear", a(0) | a(1), 0},
};

// Functions of Kubernetes' CEL libraries (url, quantity, ip, cidr, format, ...) that compile at
// the apiserver but are not evaluated here: rules calling them are skipped, never refused.
constexpr std::string_view k_unsupported[] = {
    // semver, optional lists, math and encoders reached as methods
    "major",
    "minor",
    "patch",
    "first",
    "last",
    "isInf",
    "isNaN",
    "isFinite",
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "quantity",
    "isQuantity",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "isGreaterThan",
    "isLessThan",
    "compareTo",
    "ip",
    "isIP",
    "cidr",
    "isCIDR",
    "format",
    "reverse",
    "findAll",
    "find",
    "quote",
    "family",
    "isUnspecified",
    "isLoopback",
    "isGlobalUnicast",
    "containsIP",
    "containsCIDR",
    "prefixLength",
    "masked",
    "semver",
    "isSemver",
    "optional",
    "hasValue",
    "value",
    "orValue",
    "or",
    "isCanonical",
    "authorizer",
    "lists",
    "slice",
    "flatten",
    "sort",
    "distinct",
    "range",
};

Value no_overload(std::string_view name, const std::vector<Value>& args) {
  std::string types;
  for (const auto& v : args) types += (types.empty() ? "" : ", ") + std::string(kind_name(v.kind()));
  return Value::error("found no matching overload for '" + std::string(name) + "' applied to '(" + types +
                      ")'");
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// Byte offset of code point `cp` in `s` (s.size() at the end), nullopt past it.
std::optional<std::size_t> byte_offset(std::string_view s, std::int64_t cp) {
  if (cp < 0) return std::nullopt;
  std::size_t i = 0;
  for (std::int64_t k = 0; k < cp; ++k) {
    if (i >= s.size()) return std::nullopt;
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  }
  return i;
}

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string format_duration(std::int64_t ns) {
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(ns) / 1e9);
  return std::string(buf) + "s";
}

std::string format_timestamp(std::int64_t ns) {
  std::int64_t secs = ns / 1'000'000'000, frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (frac) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
    std::string fs = f;
    while (fs.back() == '0') fs.pop_back();
    out += fs;
  }
  return out + "Z";
}

Value to_int(const Value& v) {
  switch (v.kind()) {
    case Kind::integer: return v;
    case Kind::uint:
      if (v.as_uint() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Value::error("integer overflow");
      return Value::integer(static_cast<std::int64_t>(v.as_uint()));
    case Kind::real:
      if (!std::isfinite(v.as_double()) || v.as_double() >= 9.223372036854775807e18 ||
          v.as_double() <= -9.223372036854775808e18)
        return Value::error("integer overflow");
      return Value::integer(static_cast<std::int64_t>(v.as_double()));
    case Kind::string: {
      std::int64_t out = 0;
      const std::string& s = v.str();
      auto r = std::from_chars(s.data(), s.data() + s.size(), out);
      if (r.ec != std::errc{} || r.ptr != s.data() + s.size())
        return Value::error("cannot convert string to int: " + s);
      return Value::integer(out);
    }
    case Kind::timestamp: return Value::integer(v.as_int() / 1'000'000'000);
    default: return no_overload("int", {v});
  }
}

Value to_uint(const Value& v) {
  switch (v.kind()) {
    case Kind::uint: return v;
    case Kind::integer:
      if (v.as_int() < 0) return Value::error("unsigned integer overflow");
      return Value::uint(static_cast<std::uint64_t>(v.as_int()));
    case Kind::real:
      if (!std::isfinite(v.as_double()) || v.as_double() < 0 || v.as_double() >= 1.8446744073709552e19)
        return Value::error("unsigned integer overflow");
      return Value::uint(static_cast<std::uint64_t>(v.as_double()));
    case Kind::string: {
      std::uint64_t out = 0;
      const std::string& s = v.str();
      auto r = std::from_chars(s.data(), s.data() + s.size(), out);
      if (r.ec != std::errc{} || r.ptr != s.data() + s.size())
        return Value::error("cannot convert string to uint: " + s);
      return Value::uint(out);
    }
    default: return no_overload("uint", {v});
  }
}

Value to_double(const Value& v) {
  switch (v.kind()) {
    case Kind::real: return v;
    case Kind::integer: return Value::real(static_cast<double>(v.as_int()));
    case Kind::uint: return Value::real(static_cast<double>(v.as_uint()));
    case Kind::string: {
      const std::string& s = v.str();
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size())
        return Value::error("cannot convert string to double: " + s);
      return Value::real(d);
    }
    default: return no_overload("double", {v});
  }
}

Value to_string(const Value& v) {
  switch (v.kind()) {
    case Kind::string: return v;
    case Kind::integer:
    case Kind::boolean:
    case Kind::null: return Value::string(v.debug());
    case Kind::uint: return Value::string(std::to_string(v.as_uint()));
    case Kind::real: {
      // The shortest text that reads back as the same double, as Go's FormatFloat(f, 'g', -1).
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.as_double());
      return Value::string(std::string(buf, r.ptr));
    }
    case Kind::bytes: return Value::string(v.str());
    case Kind::duration: return Value::string(format_duration(v.as_int()));
    case Kind::timestamp: return Value::string(format_timestamp(v.as_int()));
    case Kind::type: return Value::string(v.str());
    default: return no_overload("string", {v});
  }
}

// The offset in seconds of a time zone argument: "UTC", "+01:00", "-05:30", "01:00". Names of the
// IANA database ("Europe/Berlin") are not known here: nullopt.
std::optional<std::int64_t> zone_offset(std::string_view tz) {
  if (tz == "UTC" || tz == "Z") return 0;
  int sign = 1;
  if (!tz.empty() && (tz[0] == '+' || tz[0] == '-')) {
    sign = tz[0] == '-' ? -1 : 1;
    tz.remove_prefix(1);
  }
  auto digit = [&](std::size_t i) { return tz[i] >= '0' && tz[i] <= '9'; };
  if (tz.size() != 5 || tz[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) return std::nullopt;
  int h = (tz[0] - '0') * 10 + (tz[1] - '0'), m = (tz[3] - '0') * 10 + (tz[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

Value time_part(std::string_view name, const Value& v, const Value* zone) {
  if (zone && (v.kind() != Kind::timestamp || zone->kind() != Kind::string))
    return no_overload(name, {v, *zone});
  std::int64_t offset = 0;
  if (zone) {
    auto o = zone_offset(zone->str());
    if (!o) return Value::error(std::string(k_unsupported_prefix) + "time zone " + zone->str());
    offset = *o;
  }
  if (v.kind() == Kind::duration) {
    std::int64_t ns = v.as_int();
    if (name == "getHours") return Value::integer(ns / 3'600'000'000'000);
    if (name == "getMinutes") return Value::integer(ns / 60'000'000'000);
    if (name == "getSeconds") return Value::integer(ns / 1'000'000'000);
    if (name == "getMilliseconds") return Value::integer((ns / 1'000'000) % 1000);
    return no_overload(name, {v});
  }
  if (v.kind() != Kind::timestamp) return no_overload(name, {v});
  std::int64_t ns = v.as_int();
  std::int64_t secs = ns / 1'000'000'000 - (ns % 1'000'000'000 < 0 ? 1 : 0) + offset;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  if (name == "getFullYear") return Value::integer(tm.tm_year + 1900);
  if (name == "getMonth") return Value::integer(tm.tm_mon);
  if (name == "getDate") return Value::integer(tm.tm_mday);
  if (name == "getDayOfMonth") return Value::integer(tm.tm_mday - 1);
  if (name == "getDayOfWeek") return Value::integer(tm.tm_wday);
  if (name == "getDayOfYear") return Value::integer(tm.tm_yday);
  if (name == "getHours") return Value::integer(tm.tm_hour);
  if (name == "getMinutes") return Value::integer(tm.tm_min);
  if (name == "getSeconds") return Value::integer(tm.tm_sec);
  if (name == "getMilliseconds")
    return Value::integer(((ns % 1'000'000'000) + 1'000'000'000) % 1'000'000'000 / 1'000'000);
  return no_overload(name, {v});
}

// Steps of the regular expression matcher per cost unit.
constexpr std::uint64_t k_steps_per_unit = 10;

Value matches(Runtime& rt, const std::string& subject, const std::string& pattern) {
  std::shared_ptr<const Regex> owned;
  const Regex* re = rt.literal_regex(pattern);
  if (!re) {
    auto compiled = Regex::compile(pattern);
    if (!compiled && compiled.error().message.starts_with(k_unsupported_syntax))
      return Value::error(std::string(k_unsupported_prefix) + compiled.error().message);
    if (!compiled) return Value::error(compiled.error().message);
    owned = *compiled;
    re = owned.get();
  }
  // The matcher works per character in proportion to the pattern's size (about 130 ns per
  // character and item here): charged before it runs, 1 per character and item, which bounds a
  // call to about 0.15 s.
  if (!rt.charge(1 + subject.size() * re->size())) return Value();
  std::uint64_t steps = 0;
  auto found = re->search(subject, rt.remaining() * k_steps_per_unit, steps);
  if (!rt.charge(steps / k_steps_per_unit)) return Value();
  if (!found && found.error().message == "steps exceeded") {
    rt.charge(rt.remaining() + 1);
    return Value();
  }
  if (!found) return Value::error(found.error().message);
  return Value::boolean(*found);
}

Value string_function(Runtime& rt, std::string_view name, const std::vector<Value>& args) {
  const std::string& s = args[0].str();
  auto arg_string = [&](std::size_t i) -> const std::string* {
    return i < args.size() && args[i].kind() == Kind::string ? &args[i].str() : nullptr;
  };
  auto arg_int = [&](std::size_t i) -> std::optional<std::int64_t> {
    if (i < args.size() && args[i].kind() == Kind::integer) return args[i].as_int();
    return std::nullopt;
  };
  if (!rt.charge(1 + string_cost(s.size()))) return Value();
  if (name == "contains" || name == "startsWith" || name == "endsWith") {
    const std::string* x = arg_string(1);
    if (!x) return no_overload(name, args);
    if (name == "contains") return Value::boolean(s.find(*x) != std::string::npos);
    return Value::boolean(name == "startsWith" ? s.starts_with(*x) : s.ends_with(*x));
  }
  if (name == "matches") {
    const std::string* p = arg_string(1);
    return p ? matches(rt, s, *p) : no_overload(name, args);
  }
  if (name == "lowerAscii" || name == "upperAscii") {
    std::string out = s;
    for (char& c : out)
      c = static_cast<char>(name == "lowerAscii" ? std::tolower(static_cast<unsigned char>(c))
                                                 : std::toupper(static_cast<unsigned char>(c)));
    return Value::string(std::move(out));
  }
  if (name == "trim") {
    std::size_t b = 0, e = s.size();
    while (b < e && is_space(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && is_space(static_cast<unsigned char>(s[e - 1]))) --e;
    return Value::string(s.substr(b, e - b));
  }
  if (name == "split") {
    const std::string* sep = arg_string(1);
    std::int64_t limit = args.size() == 3 ? arg_int(2).value_or(-2) : -1;
    if (!sep || limit == -2) return no_overload(name, args);
    Value::List parts;
    if (limit == 0) return Value::list({});
    if (!rt.charge(s.size() + 1)) return Value();
    std::size_t pos = 0;
    while (limit < 0 || static_cast<std::int64_t>(parts.size()) + 1 < limit) {
      if (sep->empty()) {  // split into code points
        if (pos >= s.size()) break;
        std::size_t next = *byte_offset(std::string_view(s).substr(pos), 1) + pos;
        parts.push_back(Value::string(s.substr(pos, next - pos)));
        pos = next;
        continue;
      }
      auto at = s.find(*sep, pos);
      if (at == std::string::npos) break;
      parts.push_back(Value::string(s.substr(pos, at - pos)));
      pos = at + sep->size();
    }
    if (!sep->empty() || pos < s.size()) parts.push_back(Value::string(s.substr(pos)));
    return Value::list(std::move(parts));
  }
  if (name == "indexOf" || name == "lastIndexOf") {
    const std::string* x = arg_string(1);
    if (!x || (args.size() == 3 && !arg_int(2))) return no_overload(name, args);
    std::size_t total = code_points(s);
    std::int64_t start =
        args.size() == 3 ? *arg_int(2) : (name == "indexOf" ? 0 : static_cast<std::int64_t>(total));
    if (start < 0 || static_cast<std::size_t>(start) > total)
      return Value::error("index out of range: " + std::to_string(start));
    std::size_t from = *byte_offset(s, start);
    std::size_t at = name == "indexOf" ? s.find(*x, from) : s.rfind(*x, from);
    if (at == std::string::npos) return Value::integer(-1);
    return Value::integer(static_cast<std::int64_t>(code_points(std::string_view(s).substr(0, at))));
  }
  if (name == "replace") {
    const std::string* from = arg_string(1);
    const std::string* to = arg_string(2);
    std::int64_t limit = args.size() == 4 ? arg_int(3).value_or(-2) : -1;
    if (!from || !to || limit == -2) return no_overload(name, args);
    std::string out;
    std::size_t pos = 0;
    std::int64_t done = 0;
    while (limit < 0 || done < limit) {
      auto at = from->empty() ? (pos <= s.size() ? pos : std::string::npos) : s.find(*from, pos);
      if (at == std::string::npos) break;
      out.append(s, pos, at - pos);
      out += *to;
      if (!rt.charge(string_cost(to->size()) + 1)) return Value();
      ++done;
      if (from->empty()) {
        if (at >= s.size()) {
          pos = s.size() + 1;
          break;
        }
        std::size_t next = *byte_offset(std::string_view(s).substr(at), 1) + at;
        out.append(s, at, next - at);
        pos = next;
      } else {
        pos = at + from->size();
      }
    }
    if (pos <= s.size()) out.append(s, pos);
    return Value::string(std::move(out));
  }
  if (name == "substring" || name == "charAt") {
    auto begin = arg_int(1);
    if (!begin || (args.size() == 3 && !arg_int(2))) return no_overload(name, args);
    std::size_t total = code_points(s);
    std::int64_t end =
        name == "charAt" ? *begin + 1 : (args.size() == 3 ? *arg_int(2) : static_cast<std::int64_t>(total));
    if (name == "charAt" && static_cast<std::size_t>(std::max<std::int64_t>(*begin, 0)) == total &&
        *begin >= 0)
      return Value::string("");
    if (*begin < 0 || end < *begin || static_cast<std::size_t>(end) > total)
      return Value::error(
          "index out of range: " +
          std::to_string(*begin < 0 || static_cast<std::size_t>(*begin) > total ? *begin : end));
    std::size_t b = *byte_offset(s, *begin), e = *byte_offset(s, end);
    return Value::string(s.substr(b, e - b));
  }
  return no_overload(name, args);
}

Value list_function(Runtime& rt, std::string_view name, const std::vector<Value>& args) {
  const Value& list = args[0];
  if (!rt.charge(1 + list.size())) return Value();
  if (name == "join") {
    std::string sep = args.size() == 2 && args[1].kind() == Kind::string ? args[1].str() : "";
    if (args.size() == 2 && args[1].kind() != Kind::string) return no_overload(name, args);
    std::string out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      Value v = list.item(i);
      if (v.kind() != Kind::string) return no_overload(name, args);
      if (i) out += sep;
      out += v.str();
      if (!rt.charge(string_cost(v.str().size() + sep.size()))) return Value();
    }
    return Value::string(std::move(out));
  }
  if (name == "indexOf" || name == "lastIndexOf") {
    if (args.size() != 2) return no_overload(name, args);
    if (!rt.charge(list.size() * deep_size(args[1], rt.remaining() + 1))) return Value();
    std::int64_t found = -1;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (equal(list.item(i), args[1])) {
        found = static_cast<std::int64_t>(i);
        if (name == "indexOf") break;
      }
    return Value::integer(found);
  }
  if (name == "sum") {
    Value total = Value::integer(0);
    for (std::size_t i = 0; i < list.size(); ++i) {
      total = i == 0 ? list.item(0) : binary(rt, "+", total, list.item(i));
      if (total.is_error()) return total;
    }
    return total;
  }
  // isSorted, min, max: by `<`.
  if (name == "min" || name == "max") {
    if (list.size() == 0) return Value::error(std::string(name) + " called on an empty list");
  }
  Value best = list.size() ? list.item(0) : Value();
  for (std::size_t i = 1; i < list.size(); ++i) {
    Value cur = list.item(i);
    Value less = binary(rt, "<", cur, i == 1 || name != "isSorted" ? best : list.item(i - 1));
    if (less.is_error()) return less;
    if (name == "isSorted") {
      if (less.as_bool()) return Value::boolean(false);
      continue;
    }
    bool take = name == "min" ? less.as_bool() : !less.as_bool() && !equal(cur, best);
    if (take) best = cur;
  }
  if (name == "isSorted") return Value::boolean(true);
  return best;
}

}  // namespace

std::string check_call(std::string_view name, bool receiver, std::size_t arity) {
  if (unsupported(name)) return {};
  for (const auto& f : k_functions) {
    if (f.name != name) continue;
    std::uint8_t arities = receiver ? f.receiver_arities : f.global_arities;
    if (arity < 8 && (arities & a(static_cast<int>(arity)))) return {};
    return "found no matching overload for '" + std::string(name) + "' with " + std::to_string(arity) +
           " argument" + (arity == 1 ? "" : "s") + (receiver ? " on a receiver" : "");
  }
  return "undeclared reference to '" + std::string(name) + "' (in container '')";
}

bool unsupported(std::string_view name) {
  if (name.find('.') != std::string_view::npos) return true;  // a namespaced extension function
  return std::find(std::begin(k_unsupported), std::end(k_unsupported), name) != std::end(k_unsupported);
}

Value call(Runtime& rt, std::string_view name, bool receiver, const std::vector<Value>& args) {
  if (!rt.charge(1)) return Value();
  if (args.empty()) return no_overload(name, args);
  const Value& x = args[0];
  if (name == "size") {
    if (x.kind() == Kind::string) {
      rt.charge(string_cost(x.str().size()));
      return Value::integer(static_cast<std::int64_t>(code_points(x.str())));
    }
    if (x.kind() == Kind::bytes) return Value::integer(static_cast<std::int64_t>(x.str().size()));
    if (x.kind() == Kind::list || x.kind() == Kind::map)
      return Value::integer(static_cast<std::int64_t>(x.size()));
    return no_overload(name, args);
  }
  if (!receiver) {
    if (name == "matches")
      return x.kind() == Kind::string && args.size() == 2 ? string_function(rt, name, args)
                                                          : no_overload(name, args);
    if (name == "int") return to_int(x);
    if (name == "uint") return to_uint(x);
    if (name == "double") return to_double(x);
    if (name == "string") return to_string(x);
    if (name == "dyn") return x;
    if (name == "type") return Value::type(std::string(kind_name(x.kind())));
    if (name == "bool") {
      if (x.kind() == Kind::boolean) return x;
      if (x.kind() == Kind::string) {
        static const std::pair<std::string_view, bool> k_bools[] = {
            {"true", true},   {"True", true},   {"TRUE", true},   {"t", true},  {"1", true},
            {"false", false}, {"False", false}, {"FALSE", false}, {"f", false}, {"0", false}};
        for (auto [text, b] : k_bools)
          if (x.str() == text) return Value::boolean(b);
        return Value::error("type conversion error from 'string' to 'bool'");
      }
      return no_overload(name, args);
    }
    if (name == "bytes")
      return x.kind() == Kind::string || x.kind() == Kind::bytes ? Value::bytes(x.str())
                                                                 : no_overload(name, args);
    if (name == "duration") {
      if (x.kind() == Kind::duration) return x;
      if (x.kind() != Kind::string) return no_overload(name, args);
      auto ns = parse_duration(x.str());
      return ns ? Value::duration(*ns) : Value::error("invalid duration: " + x.str());
    }
    if (name == "timestamp") {
      if (x.kind() == Kind::timestamp) return x;
      if (x.kind() == Kind::integer) {
        if (x.as_int() > 9'223'372'035LL || x.as_int() < -9'223'372'036LL)
          return Value::error("timestamp out of range");
        return Value::timestamp(x.as_int() * 1'000'000'000);
      }
      if (x.kind() != Kind::string || x.str().size() <= 10) return no_overload(name, args);
      auto ns = parse_timestamp(x.str());
      return ns ? Value::timestamp(*ns) : Value::error("invalid timestamp: " + x.str());
    }
  }
  if (unsupported(name)) return Value::error(std::string(k_unsupported_prefix) + std::string(name));
  if (name.starts_with("get")) return time_part(name, x, args.size() == 2 ? &args[1] : nullptr);
  if (x.kind() == Kind::string) return string_function(rt, name, args);
  if (x.kind() == Kind::list) return list_function(rt, name, args);
  return no_overload(name, args);
}

namespace {

bool numeric(Kind k) {
  return k == Kind::integer || k == Kind::uint || k == Kind::real;
}

Value arithmetic(Runtime& rt, char op, const Value& a, const Value& b) {
  std::vector<Value> both{a, b};
  if (a.kind() != b.kind()) {
    if (op == '+' && a.kind() == Kind::timestamp && b.kind() == Kind::duration)
      return Value::timestamp(a.as_int() + b.as_int());
    if (op == '+' && a.kind() == Kind::duration && b.kind() == Kind::timestamp)
      return Value::timestamp(a.as_int() + b.as_int());
    if (op == '-' && a.kind() == Kind::timestamp && b.kind() == Kind::duration)
      return Value::timestamp(a.as_int() - b.as_int());
    return no_overload(std::string(1, op), both);
  }
  switch (a.kind()) {
    case Kind::integer: {
      std::int64_t x = a.as_int(), y = b.as_int(), r = 0;
      bool overflow = false;
      if (op == '+')
        overflow = __builtin_add_overflow(x, y, &r);
      else if (op == '-')
        overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == '*')
        overflow = __builtin_mul_overflow(x, y, &r);
      else if (op == '/' || op == '%') {
        if (y == 0) return Value::error(op == '/' ? "division by zero" : "modulus by zero");
        if (x == std::numeric_limits<std::int64_t>::min() && y == -1) return Value::error("integer overflow");
        r = op == '/' ? x / y : x % y;
      }
      return overflow ? Value::error("integer overflow") : Value::integer(r);
    }
    case Kind::uint: {
      std::uint64_t x = a.as_uint(), y = b.as_uint(), r = 0;
      bool overflow = false;
      if (op == '+')
        overflow = __builtin_add_overflow(x, y, &r);
      else if (op == '-')
        overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == '*')
        overflow = __builtin_mul_overflow(x, y, &r);
      else {
        if (y == 0) return Value::error(op == '/' ? "division by zero" : "modulus by zero");
        r = op == '/' ? x / y : x % y;
      }
      return overflow ? Value::error("unsigned integer overflow") : Value::uint(r);
    }
    case Kind::real:
      if (op == '%') return no_overload("%", both);
      return Value::real(op == '+'   ? a.as_double() + b.as_double()
                         : op == '-' ? a.as_double() - b.as_double()
                         : op == '*' ? a.as_double() * b.as_double()
                                     : a.as_double() / b.as_double());
    case Kind::string:
    case Kind::bytes:
      if (op != '+') return no_overload(std::string(1, op), both);
      if (!rt.charge(string_cost(a.str().size() + b.str().size()))) return Value();
      return a.kind() == Kind::string ? Value::string(a.str() + b.str()) : Value::bytes(a.str() + b.str());
    case Kind::list: {
      if (op != '+') return no_overload(std::string(1, op), both);
      if (!rt.charge(a.size() + b.size())) return Value();
      Value::List out;
      out.reserve(a.size() + b.size());
      for (std::size_t i = 0; i < a.size(); ++i) out.push_back(a.item(i));
      const Schema* typed =
          a.schema() && a.schema()->list_type != Schema::ListType::atomic ? a.schema() : nullptr;
      if (typed && !rt.charge(a.size() * b.size() / 16)) return Value();
      for (std::size_t i = 0; i < b.size(); ++i) {
        Value y = b.item(i);
        if (!typed) {
          out.push_back(std::move(y));
          continue;
        }
        // Sets keep one of each item, maps let the right side's item replace the left's of its keys.
        auto same = std::find_if(out.begin(), out.end(), [&](const Value& x) {
          return typed->list_type == Schema::ListType::set ? equal(x, y) : same_keys(x, y, *typed);
        });
        if (same == out.end())
          out.push_back(std::move(y));
        else if (typed->list_type == Schema::ListType::map)
          *same = std::move(y);
      }
      return Value::list(std::move(out));
    }
    case Kind::duration: {
      std::int64_t r = 0;
      if (op == '+' && !__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return Value::duration(r);
      if (op == '-' && !__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return Value::duration(r);
      return op == '+' || op == '-' ? Value::error("duration overflow")
                                    : no_overload(std::string(1, op), both);
    }
    case Kind::timestamp:
      if (op == '-') return Value::duration(a.as_int() - b.as_int());
      return no_overload(std::string(1, op), both);
    default: return no_overload(std::string(1, op), both);
  }
}

// -1/0/1, or nullopt when the kinds do not compare.
std::optional<int> compare(const Value& a, const Value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  if (numeric(a.kind()) && numeric(b.kind())) {
    if (a.kind() == Kind::integer && b.kind() == Kind::integer) return cmp(a.as_int(), b.as_int());
    if (a.kind() == Kind::uint && b.kind() == Kind::uint) return cmp(a.as_uint(), b.as_uint());
    if (a.kind() == Kind::integer && b.kind() == Kind::uint)
      return a.as_int() < 0 ? -1 : cmp(static_cast<std::uint64_t>(a.as_int()), b.as_uint());
    if (a.kind() == Kind::uint && b.kind() == Kind::integer)
      return b.as_int() < 0 ? 1 : cmp(a.as_uint(), static_cast<std::uint64_t>(b.as_int()));
    auto d = [](const Value& v) {
      return v.kind() == Kind::real      ? v.as_double()
             : v.kind() == Kind::integer ? static_cast<double>(v.as_int())
                                         : static_cast<double>(v.as_uint());
    };
    if (std::isnan(d(a)) || std::isnan(d(b))) return 2;  // every comparison false
    return cmp(d(a), d(b));
  }
  if (a.kind() != b.kind()) return std::nullopt;
  switch (a.kind()) {
    case Kind::string:
    case Kind::bytes: return cmp(a.str().compare(b.str()), 0);
    case Kind::boolean: return cmp(a.as_bool(), b.as_bool());
    case Kind::duration:
    case Kind::timestamp: return cmp(a.as_int(), b.as_int());
    default: return std::nullopt;
  }
}

}  // namespace

std::uint64_t deep_size(const Value& v, std::uint64_t cap) {
  if (v.kind() != Kind::list && v.kind() != Kind::map) return 1;
  std::uint64_t n = 1;
  for (std::size_t i = 0; i < v.size() && n <= cap; ++i) {
    n += deep_size(v.kind() == Kind::list ? v.item(i) : v.value_at(i), cap - std::min(cap, n));
  }
  return n;
}

Value binary(Runtime& rt, std::string_view op, const Value& a, const Value& b) {
  if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") return arithmetic(rt, op[0], a, b);
  if (op == "==" || op == "!=") {
    if (a.kind() == Kind::string && b.kind() == Kind::string &&
        !rt.charge(string_cost(std::min(a.str().size(), b.str().size()))))
      return Value();
    // Comparing collections walks them: charged by the smaller one's deep size.
    if ((a.kind() == Kind::list || a.kind() == Kind::map) && a.kind() == b.kind() &&
        !rt.charge(std::min(deep_size(a, rt.remaining() + 1), deep_size(b, rt.remaining() + 1))))
      return Value();
    auto unordered = [](const Value& v) {
      return v.schema() && v.schema()->list_type != Schema::ListType::atomic;
    };
    bool pairwise = (a.kind() == Kind::map && b.kind() == Kind::map) ||
                    (a.kind() == Kind::list && b.kind() == Kind::list && (unordered(a) || unordered(b)));
    if (pairwise && !rt.charge(a.size() * b.size() / 64)) return Value();
    return Value::boolean(equal(a, b) == (op == "=="));
  }
  if (op == "in") {
    if (b.kind() == Kind::list) {
      std::uint64_t each =
          a.kind() == Kind::list || a.kind() == Kind::map ? deep_size(a, rt.remaining() + 1) : 1;
      if (!rt.charge(b.size() * each)) return Value();
      for (std::size_t i = 0; i < b.size(); ++i)
        if (equal(a, b.item(i))) return Value::boolean(true);
      return Value::boolean(false);
    }
    if (b.kind() == Kind::map)
      return rt.charge(b.size() / 64) ? Value::boolean(b.find(a).has_value()) : Value();
    return no_overload("@in", {a, b});
  }
  auto c = compare(a, b);
  if (!c) return no_overload(op, {a, b});
  if (*c == 2) return Value::boolean(false);
  if (op == "<") return Value::boolean(*c < 0);
  if (op == "<=") return Value::boolean(*c <= 0);
  if (op == ">") return Value::boolean(*c > 0);
  return Value::boolean(*c >= 0);
}

}  // namespace portcullis::cel::library
