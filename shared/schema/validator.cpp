#include "shared/schema/validator.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "shared/schema/format.hpp"
#include "shared/yaml/emit.hpp"

namespace portcullis::schema {

using namespace format;
using yaml::Node;
using yaml::Type;

std::string join_path(std::string_view parent, std::string_view key) {
  bool simple = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '$';
  });
  std::string out(parent);
  if (simple) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    out += "[\"";
    out += key;
    out += "\"]";
  }
  return out;
}

namespace {

// Compiled regular expressions, shared by every validation in the process.
class RegexCache {
 public:
  ~RegexCache() {
    for (auto& [_, code] : m_codes)
      if (code) pcre2_code_free(code);
    if (m_context) pcre2_match_context_free(m_context);
  }

  // nullopt when the pattern does not compile (the schema's fault, not the value's).
  std::optional<bool> search(std::string_view pattern, std::string_view subject) {
    std::lock_guard lock(m_mutex);
    if (!m_context) {
      m_context = pcre2_match_context_create(nullptr);
      pcre2_set_match_limit(m_context, 1'000'000);
      pcre2_set_depth_limit(m_context, 10'000);
    }
    auto it = m_codes.find(std::string(pattern));
    if (it == m_codes.end()) {
      int err = 0;
      PCRE2_SIZE off = 0;
      pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF,
                                       &err, &off, nullptr);
      it = m_codes.emplace(std::string(pattern), code).first;
    }
    if (!it->second) return std::nullopt;
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(it->second, nullptr), pcre2_match_data_free);
    int rc = pcre2_match(it->second, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md.get(),
                         m_context);
    if (rc >= 0) return true;
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    return false;  // match limit hit: treat as not matching rather than hanging
  }

 private:
  std::mutex m_mutex;
  std::unordered_map<std::string, pcre2_code*> m_codes;
  pcre2_match_context* m_context = nullptr;
};

RegexCache& regex_cache() {
  static RegexCache cache;
  return cache;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca == cb ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string describe_value(const Node& v) {
  switch (v.type) {
    case Type::string: {
      std::string s(v.text.substr(0, 40));
      if (v.text.size() > 40) s += "...";
      return "string \"" + s + "\"";
    }
    case Type::boolean: {
      std::string s = std::string("boolean ") + (v.value.boolean ? "true" : "false");
      // YAML 1.1 turns yes/no/on/off into booleans; say so, it is the usual surprise.
      if (v.text != "true" && v.text != "false" && !v.text.empty())
        s += " (YAML reads unquoted " + std::string(v.text) + " as a boolean; quote it)";
      return s;
    }
    case Type::integer: return "integer " + std::to_string(v.value.integer);
    case Type::number: return "number " + std::string(v.text.empty() ? yaml::to_json(v) : std::string(v.text));
    case Type::null: return "null";
    case Type::sequence: return "array";
    case Type::mapping: return "object";
  }
  return "value";
}

std::string describe_types(std::uint16_t types) {
  std::vector<std::string_view> names;
  if (types & t_object) names.push_back("object");
  if (types & t_array) names.push_back("array");
  if (types & t_string) names.push_back("string");
  if (types & t_integer) names.push_back("integer");
  if ((types & t_number) && !(types & t_integer)) names.push_back("number");
  else if (types & t_number) names.back() = "number";
  if (types & t_boolean) names.push_back("boolean");
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

bool valid_base64(std::string_view s) {
  if (s.size() % 4) return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '=') {
      if (i + 2 < s.size()) return false;
      ++pad;
      continue;
    }
    if (pad) return false;
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return false;
  }
  return pad <= 2;
}

// RFC 3339 date-time: 2006-01-02T15:04:05(.frac)?(Z|+hh:mm)
bool valid_date_time(std::string_view s) {
  auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i)
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  };
  if (!digits(0, 4) || s.size() < 20 || s[4] != '-' || !digits(5, 2) || s[7] != '-' || !digits(8, 2) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2) || s[13] != ':' || !digits(14, 2) ||
      s[16] != ':' || !digits(17, 2))
    return false;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  return i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && digits(i + 1, 2) && s[i + 3] == ':' &&
         digits(i + 4, 2);
}

// Kubernetes' resource.Quantity syntax: ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$ and a
// number part with at most one '.'.
bool valid_quantity(std::string_view s) {
  std::size_t i = 0, n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t start = i, dots = 0, digits = 0;
  while (i < n && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    dots += s[i] == '.';
    digits += s[i] != '.';
    ++i;
  }
  if (i == start || dots > 1 || digits == 0) return false;
  while (i < n && std::string_view("eEinumkKMGTP").find(s[i]) != std::string_view::npos) ++i;
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  return i == n;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string format_number(double x) {
  Node n;
  n.type = Type::number;
  n.value.number = x;
  return yaml::canonical_json(n);
}

// The path to the value being checked, as a chain of stack frames; rendered to text only
// when a violation needs it, so valid documents cost no string building.
struct Seg {
  const Seg* parent;
  std::string_view key;  // empty for an index
  std::size_t index;
};

std::string render(const Seg* seg) {
  if (!seg) return {};
  std::string out = render(seg->parent);
  if (!seg->key.data()) return out + "[" + std::to_string(seg->index) + "]";
  return join_path(out, seg->key);
}

using Path = const Seg*;

class Validator {
 public:
  Validator(const Program& p, const ValidateOptions& o, std::vector<Violation>& out, std::size_t limit)
      : m_p(p), m_o(o), m_out(out), m_limit(out.size() + limit) {}

  void run(NodeId id, const Node& v) { check(id, v, nullptr, 0); }

 private:
  bool full() const { return m_out.size() >= m_limit; }

  void add(Path path, const Node& at, std::string rule, std::string message) {
    if (full()) return;
    m_out.push_back(Violation{render(path), at.mark, std::move(rule), std::move(message)});
  }

  // Validates into a scratch list (for anyOf/oneOf/not); returns how many violations.
  std::size_t trial(NodeId id, const Node& v, Path path, int depth, std::vector<Violation>& scratch) {
    Validator sub(m_p, m_o, scratch, 10);
    sub.check(id, v, path, depth);
    return scratch.size();
  }

  void check(NodeId id, const Node& v, Path path, int depth) {
    if (full() || depth > 256) return;
    const NodeRec& n = m_p.node(id);
    if (n.flags & f_never) {
      add(path, v, "schema.invalid", "no value is allowed here");
      return;
    }
    // Kubernetes decoders treat null as "not set" (CRDs prune non-nullable nulls), so null passes;
    // a required field that is null is reported by its parent.
    if (v.type == Type::null) return;

    std::uint16_t types = n.types;
    if (n.flags & f_int_or_string) types |= t_integer | t_string;
    if (types && !type_ok(types, v)) {
      std::string expected = describe_types(types);
      add(path, v, "schema.type", "expected " + expected + ", got " + describe_value(v));
      return;
    }
    if (n.enum_count) {
      std::string canon = yaml::canonical_json(v);
      bool found = false;
      for (auto sid : m_p.pool(n.enum_begin, n.enum_count))
        if (m_p.str(sid) == canon) {
          found = true;
          break;
        }
      if (!found) {
        std::string allowed;
        std::size_t shown = 0;
        for (auto sid : m_p.pool(n.enum_begin, n.enum_count)) {
          if (shown++ == 8) {
            allowed += ", ...";
            break;
          }
          if (!allowed.empty()) allowed += ", ";
          allowed += m_p.str(sid);
        }
        add(path, v, "schema.enum", "must be one of " + allowed + "; got " + canon);
      }
    }
    if ((n.flags & f_has_const) && yaml::canonical_json(v) != m_p.str(n.const_value))
      add(path, v, "schema.enum", "must be " + std::string(m_p.str(n.const_value)));

    switch (v.type) {
      case Type::string: check_string(n, v, path); break;
      case Type::integer:
      case Type::number: check_number(n, v, path); break;
      case Type::sequence: check_array(n, v, path, depth); break;
      case Type::mapping: check_object(n, v, path, depth); break;
      default: break;
    }

    for (auto sub : m_p.pool(n.all_begin, n.all_count)) check(sub, v, path, depth + 1);
    if (n.any_count) {
      std::vector<Violation> best;
      bool matched = false;
      for (auto sub : m_p.pool(n.any_begin, n.any_count)) {
        std::vector<Violation> scratch;
        if (trial(sub, v, path, depth + 1, scratch) == 0) {
          matched = true;
          break;
        }
        // Report the branch that came closest: fewest violations, and one whose type matched
        // over one that failed on type alone.
        auto type_only = [](const std::vector<Violation>& x) { return x.size() == 1 && x[0].rule == "schema.type"; };
        if (best.empty() || scratch.size() < best.size() ||
            (scratch.size() == best.size() && type_only(best) && !type_only(scratch)))
          best = std::move(scratch);
      }
      if (!matched) {
        if (best.size() == 1 && !full()) m_out.push_back(best[0]);
        else add(path, v, "schema.invalid", "matches none of the " + std::to_string(n.any_count) + " allowed shapes (anyOf)");
      }
    }
    if (n.one_count) {
      std::size_t matches = 0;
      for (auto sub : m_p.pool(n.one_begin, n.one_count)) {
        std::vector<Violation> scratch;
        if (trial(sub, v, path, depth + 1, scratch) == 0) ++matches;
      }
      if (matches != 1)
        add(path, v, "schema.invalid",
            matches == 0 ? "matches none of the " + std::to_string(n.one_count) + " allowed shapes (oneOf)"
                         : "matches " + std::to_string(matches) + " of the shapes where exactly one is allowed (oneOf)");
    }
    if (n.not_node != k_none) {
      std::vector<Violation> scratch;
      if (trial(n.not_node, v, path, depth + 1, scratch) == 0) add(path, v, "schema.invalid", "matches a forbidden shape (not)");
    }
  }

  static bool type_ok(std::uint16_t types, const Node& v) {
    switch (v.type) {
      case Type::null: return types & t_null;
      case Type::boolean: return types & t_boolean;
      case Type::integer: return types & (t_integer | t_number);
      case Type::number:
        // Kubernetes' YAML decoding turns 3.0 into the JSON number 3, which decodes into an int.
        return (types & t_number) ||
               ((types & t_integer) && std::isfinite(v.value.number) && v.value.number == std::trunc(v.value.number));
      case Type::string: return types & t_string;
      case Type::sequence: return types & t_array;
      case Type::mapping: return types & t_object;
    }
    return false;
  }

  void check_string(const NodeRec& n, const Node& v, Path path) {
    if (n.min_length != k_none || n.max_length != k_none) {
      std::size_t len = utf8_length(v.text);
      if (n.min_length != k_none && len < n.min_length)
        add(path, v, "schema.length", "must be at least " + std::to_string(n.min_length) + " characters long");
      if (n.max_length != k_none && len > n.max_length)
        add(path, v, "schema.length", "must be at most " + std::to_string(n.max_length) + " characters long, got " +
                                          std::to_string(len));
    }
    if (n.pattern != k_none) {
      auto pattern = m_p.str(n.pattern);
      auto r = regex_cache().search(pattern, v.text);
      if (r && !*r) add(path, v, "schema.pattern", "\"" + std::string(v.text.substr(0, 60)) + "\" does not match " + std::string(pattern));
    }
    if (n.format != k_none) {
      auto fmt = m_p.str(n.format);
      if (fmt == "byte" && !valid_base64(v.text))
        add(path, v, "schema.format", "must be base64-encoded (format byte); encode the value or use stringData");
      else if (fmt == "quantity" && !valid_quantity(v.text))
        add(path, v, "schema.format", "\"" + std::string(v.text.substr(0, 40)) + "\" is not a quantity (such as 500m, 2, 1.5Gi, 128Mi)");
      else if (fmt == "date-time" && !valid_date_time(v.text))
        add(path, v, "schema.format", "must be an RFC 3339 date-time such as 2024-01-02T15:04:05Z");
    }
  }

  void check_number(const NodeRec& n, const Node& v, Path path) {
    double x = v.type == Type::integer ? static_cast<double>(v.value.integer) : v.value.number;
    if (n.format != k_none && m_p.str(n.format) == "int32" && (x > 2147483647.0 || x < -2147483648.0))
      add(path, v, "schema.range", "does not fit in a 32-bit integer");
    if (n.flags & f_has_minimum) {
      bool ok = (n.flags & f_exclusive_minimum) ? x > n.minimum : x >= n.minimum;
      if (!ok) add(path, v, "schema.range", std::string("must be ") + ((n.flags & f_exclusive_minimum) ? "> " : ">= ") + format_number(n.minimum));
    }
    if (n.flags & f_has_maximum) {
      bool ok = (n.flags & f_exclusive_maximum) ? x < n.maximum : x <= n.maximum;
      if (!ok) add(path, v, "schema.range", std::string("must be ") + ((n.flags & f_exclusive_maximum) ? "< " : "<= ") + format_number(n.maximum));
    }
    if (n.flags & f_has_multiple_of) {
      double q = x / n.multiple_of;
      if (std::fabs(q - std::round(q)) > 1e-9) add(path, v, "schema.range", "must be a multiple of " + format_number(n.multiple_of));
    }
  }

  void check_array(const NodeRec& n, const Node& v, Path path, int depth) {
    if (n.min_items != k_none && v.items.size() < n.min_items)
      add(path, v, "schema.length", "needs at least " + std::to_string(n.min_items) + " items");
    if (n.max_items != k_none && v.items.size() > n.max_items)
      add(path, v, "schema.length", "allows at most " + std::to_string(n.max_items) + " items");
    if (n.flags & f_unique_items) {
      std::vector<std::string> seen;
      for (const Node* item : v.items) {
        auto c = yaml::canonical_json(*item);
        if (std::find(seen.begin(), seen.end(), c) != seen.end()) {
          add(path, *item, "schema.unique", "duplicate item " + c);
          break;
        }
        seen.push_back(std::move(c));
      }
    }
    if (n.items == k_none) return;
    for (std::size_t i = 0; i < v.items.size() && !full(); ++i) {
      Seg child{path, {}, i};
      check(n.items, *v.items[i], &child, depth + 1);
    }
  }

  const PropRec* find_prop(const NodeRec& n, std::string_view key) const {
    auto props = m_p.props(n);
    std::size_t lo = 0, hi = props.size();
    while (lo < hi) {
      std::size_t mid = (lo + hi) / 2;
      int c = m_p.str(props[mid].name).compare(key);
      if (c == 0) return &props[mid];
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return nullptr;
  }

  std::string suggestion(const NodeRec& n, std::string_view key) const {
    std::string_view best;
    std::size_t best_d = std::max<std::size_t>(2, key.size() / 3) + 1;
    for (const auto& p : m_p.props(n)) {
      auto name = m_p.str(p.name);
      auto d = edit_distance(key, name);
      if (d < best_d) {
        best_d = d;
        best = name;
      }
    }
    return best.empty() ? std::string{} : " (did you mean \"" + std::string(best) + "\"?)";
  }

  void check_object(const NodeRec& n, const Node& v, Path path, int depth) {
    if (n.min_props != k_none && v.entries.size() < n.min_props)
      add(path, v, "schema.length", "needs at least " + std::to_string(n.min_props) + " fields");
    if (n.max_props != k_none && v.entries.size() > n.max_props)
      add(path, v, "schema.length", "allows at most " + std::to_string(n.max_props) + " fields");
    bool closed = (n.flags & f_additional_false) ||
                  ((n.flags & f_closed) && m_o.strictness == Strictness::strict && !(n.flags & f_preserve_unknown));
    bool at_root = depth == 0;
    for (const auto& e : v.entries) {
      if (full()) return;
      Seg seg{path, e.key->text.data() ? e.key->text : std::string_view("", 0), 0};
      const Seg* child = &seg;
      if (const PropRec* p = find_prop(n, e.key->text)) {
        check(p->node, *e.value, child, depth + 1);
      } else if (n.additional != k_none) {
        check(n.additional, *e.value, child, depth + 1);
      } else if (closed) {
        if (at_root && std::find(m_o.ignored_root_keys.begin(), m_o.ignored_root_keys.end(), e.key->text) !=
                           m_o.ignored_root_keys.end())
          continue;
        Violation unknown{render(path), e.key->mark, "schema.unknown-field",
                    "unknown field \"" + std::string(e.key->text) + "\"" + suggestion(n, e.key->text)};
        if (!full()) m_out.push_back(std::move(unknown));
      }
    }
    for (auto sid : m_p.pool(n.required_begin, n.required_count)) {
      auto name = m_p.str(sid);
      const Node* present = v.get(name);
      if (!present || present->type == Type::null)
        add(path, v, "schema.required", "missing required field \"" + std::string(name) + "\"");
    }
  }

  const Program& m_p;
  const ValidateOptions& m_o;
  std::vector<Violation>& m_out;
  std::size_t m_limit;
};

}  // namespace

void validate(const Program& program, NodeId node, const yaml::Node& value, const ValidateOptions& options,
              std::vector<Violation>& out) {
  Validator v(program, options, out, options.max_violations);
  v.run(node, value);
}

}  // namespace portcullis::schema
