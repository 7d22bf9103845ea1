// The evaluator: a walk over the parsed tree, charging cost as it goes (cel-go's runtime cost
// model, approximately: 1 per step, string work by length / 10, regular expressions by length
// times pattern size). Errors are values, and `&&`, `||`, `all` and `exists` absorb them
// where CEL's commutative semantics say the other side decides.
#include "shared/cel/eval.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "shared/cel/library.hpp"
#include "shared/cel/regex.hpp"

namespace portcullis::cel {

Program::Program(std::unique_ptr<Expr> expr,
                 std::vector<std::pair<std::string, std::shared_ptr<const Regex>>> regexes)
    : m_expr(std::move(expr)), m_regexes(std::move(regexes)) {}
Program::~Program() = default;

const Regex* Program::regex(std::string_view pattern) const {
  for (const auto& [p, r] : m_regexes)
    if (p == pattern) return r.get();
  return nullptr;
}

namespace {

bool names(const Expr& e, std::string_view name) {
  if ((e.op == Op::ident) && e.name == name) return true;
  for (const auto& a : e.args)
    if (names(*a, name)) return true;
  return false;
}

const std::set<std::string_view> k_type_names = {"int",
                                                 "uint",
                                                 "double",
                                                 "string",
                                                 "bool",
                                                 "bytes",
                                                 "list",
                                                 "map",
                                                 "null_type",
                                                 "type",
                                                 "google.protobuf.Duration",
                                                 "google.protobuf.Timestamp"};

// Namespaces of Kubernetes' and cel-go's extension functions (`strings.quote(s)`,
// `math.greatest(a, b)`, `sets.contains(a, b)`, `ip.isCanonical(s)`): calls through them are
// folded into one function name ("strings.quote"), which compiles and is not evaluated here.
const std::set<std::string_view> k_namespaces = {"strings",  "math",   "sets",  "ip",   "cidr",
                                                 "optional", "base64", "lists", "regex"};

struct Checker {
  std::vector<std::string> scope;
  std::vector<std::pair<std::string, std::shared_ptr<const Regex>>> regexes;
  std::string error;

  void fail(const Expr& e, std::string message) {
    if (error.empty()) error = std::to_string(e.column) + ": " + std::move(message);
  }
  bool in_scope(std::string_view name) const {
    return std::find(scope.begin(), scope.end(), name) != scope.end();
  }
  // "google.protobuf.Duration" for a chain of selections on an identifier that is not a variable.
  std::optional<std::string> dotted(const Expr& e) const {
    if (e.op == Op::ident) return in_scope(e.name) ? std::nullopt : std::optional<std::string>(e.name);
    if (e.op != Op::select) return std::nullopt;
    auto base = dotted(*e.args[0]);
    if (!base) return std::nullopt;
    return *base + "." + e.name;
  }
  void rewrite(Expr& e) {
    if (e.op == Op::select)
      if (auto name = dotted(e); name && k_type_names.contains(*name)) {
        e.op = Op::ident;
        e.name = *name;
        e.args.clear();
      }
    if (e.op == Op::call && e.receiver && e.args[0]->op == Op::ident && !in_scope(e.args[0]->name) &&
        k_namespaces.contains(e.args[0]->name)) {
      e.name = e.args[0]->name + "." + e.name;
      e.receiver = false;
      e.args.erase(e.args.begin());
    }
  }
  void check(Expr& e) {
    if (!error.empty()) return;
    rewrite(e);
    switch (e.op) {
      case Op::ident:
        if (!in_scope(e.name) && !k_type_names.contains(e.name))
          fail(e, "undeclared reference to '" + e.name + "' (in container '')");
        return;
      case Op::all:
      case Op::exists:
      case Op::exists_one:
      case Op::map_macro:
      case Op::filter: {
        check(*e.args[0]);
        scope.push_back(e.var);
        for (std::size_t i = 1; i < e.args.size(); ++i) check(*e.args[i]);
        scope.pop_back();
        return;
      }
      case Op::call: {
        std::size_t arity = e.args.size() - (e.receiver ? 1 : 0);
        if (auto problem = library::check_call(e.name, e.receiver, arity); !problem.empty()) {
          fail(e, problem);
          return;
        }
        if (e.name == "matches") {
          const Expr& pattern = *e.args.back();
          if (pattern.op == Op::literal && pattern.value.kind() == Kind::string) {
            auto re = Regex::compile(pattern.value.str());
            if (!re)
              fail(pattern, re.error().message);
            else
              regexes.emplace_back(pattern.value.str(), *re);
          }
        }
        break;
      }
      default: break;
    }
    for (auto& a : e.args) check(*a);
  }
};

}  // namespace

bool Program::uses(std::string_view name) const {
  return names(*m_expr, name);
}

util::Result<std::unique_ptr<Program>> compile(std::string_view text,
                                               const std::vector<std::string>& variables) {
  auto parsed = parse(text);
  if (!parsed) return util::fail(parsed.error());
  Checker checker;
  checker.scope = variables;
  checker.check(**parsed);
  if (!checker.error.empty()) return util::fail(checker.error);
  return std::make_unique<Program>(std::move(*parsed), std::move(checker.regexes));
}

namespace {

class Evaluator final : public library::Runtime {
 public:
  Evaluator(const Program& program, const std::vector<Binding>& bindings, std::uint64_t limit)
      : m_program(program), m_limit(limit) {
    for (const auto& b : bindings) m_vars.emplace_back(b.name, b.value);
  }
  Value run() { return eval(m_program.expr()); }
  std::uint64_t cost() const { return m_cost; }
  bool exceeded() const { return m_exceeded; }

  bool charge(std::uint64_t n) override {
    m_cost += n;
    if (m_cost > m_limit) m_exceeded = true;
    return !m_exceeded;
  }
  std::uint64_t remaining() const override { return m_cost >= m_limit ? 0 : m_limit - m_cost; }
  const Regex* literal_regex(std::string_view pattern) const override { return m_program.regex(pattern); }

 private:
  Value cancelled() const { return Value::error("operation cancelled: actual cost limit exceeded"); }
  Value eval(const Expr& e);
  Value lookup(const Expr& e);
  Value select(const Expr& e);
  Value index(const Value& target, const Value& key);
  Value logical(const Expr& e, bool is_or);
  Value comprehension(const Expr& e);
  Value collection(const Expr& e);

  const Program& m_program;
  std::uint64_t m_limit;
  std::uint64_t m_cost = 0;
  bool m_exceeded = false;
  std::vector<std::pair<std::string_view, Value>> m_vars;
};

Value Evaluator::eval(const Expr& e) {
  if (!charge(e.op == Op::literal ? 0 : 1)) return cancelled();
  switch (e.op) {
    case Op::literal: return e.value;
    case Op::ident: return lookup(e);
    case Op::select:
    case Op::has: return select(e);
    case Op::index: {
      Value target = eval(*e.args[0]);
      if (target.is_error()) return target;
      Value key = eval(*e.args[1]);
      if (key.is_error()) return key;
      return index(target, key);
    }
    case Op::call: {
      std::vector<Value> args;
      args.reserve(e.args.size());
      for (const auto& a : e.args) {
        args.push_back(eval(*a));
        if (args.back().is_error()) return args.back();
      }
      Value v = library::call(*this, e.name, e.receiver, args);
      return m_exceeded ? cancelled() : v;
    }
    case Op::list:
    case Op::map: return collection(e);
    case Op::logical_and: return logical(e, false);
    case Op::logical_or: return logical(e, true);
    case Op::logical_not: {
      Value v = eval(*e.args[0]);
      if (v.is_error()) return v;
      if (v.kind() != Kind::boolean)
        return Value::error("no such overload: !" + std::string(kind_name(v.kind())));
      return Value::boolean(!v.as_bool());
    }
    case Op::negate: {
      Value v = eval(*e.args[0]);
      if (v.is_error()) return v;
      if (v.kind() == Kind::integer) {
        if (v.as_int() == std::numeric_limits<std::int64_t>::min()) return Value::error("integer overflow");
        return Value::integer(-v.as_int());
      }
      if (v.kind() == Kind::real) return Value::real(-v.as_double());
      if (v.kind() == Kind::duration) return Value::duration(-v.as_int());
      return Value::error("no such overload: -" + std::string(kind_name(v.kind())));
    }
    case Op::conditional: {
      Value c = eval(*e.args[0]);
      if (c.is_error()) return c;
      if (c.kind() != Kind::boolean)
        return Value::error("no such overload: ternary on " + std::string(kind_name(c.kind())));
      return eval(*e.args[c.as_bool() ? 1 : 2]);
    }
    case Op::binary: {
      Value a = eval(*e.args[0]);
      if (a.is_error()) return a;
      Value b = eval(*e.args[1]);
      if (b.is_error()) return b;
      Value v = library::binary(*this, e.name, a, b);
      return m_exceeded ? cancelled() : v;
    }
    case Op::all:
    case Op::exists:
    case Op::exists_one:
    case Op::map_macro:
    case Op::filter: return comprehension(e);
  }
  return Value::error("unsupported expression");
}

Value Evaluator::lookup(const Expr& e) {
  for (auto it = m_vars.rbegin(); it != m_vars.rend(); ++it)
    if (it->first == e.name) return charge(library::fetch_cost(it->second)) ? it->second : cancelled();
  if (k_type_names.contains(e.name)) return Value::type(e.name);
  return Value::error("no such attribute: " + e.name);
}

Value Evaluator::select(const Expr& e) {
  Value target = eval(*e.args[0]);
  if (target.is_error()) return target;
  if (target.kind() != Kind::map)
    return Value::error("type '" + std::string(kind_name(target.kind())) +
                        "' does not support field selection");
  if (!charge(target.size() / 64)) return cancelled();  // a lookup scans the entries
  auto found = target.find(Value::string(e.name));
  if (e.op == Op::has) return Value::boolean(found.has_value());
  if (!found) return Value::error("no such key: " + e.name);
  return charge(library::fetch_cost(*found)) ? *found : cancelled();
}

std::optional<std::int64_t> integral(const Value& v) {
  if (v.kind() == Kind::integer) return v.as_int();
  if (v.kind() == Kind::uint &&
      v.as_uint() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v.as_uint());
  if (v.kind() == Kind::real && std::trunc(v.as_double()) == v.as_double() && std::fabs(v.as_double()) < 9e18)
    return static_cast<std::int64_t>(v.as_double());
  return std::nullopt;
}

Value Evaluator::index(const Value& target, const Value& key) {
  if (target.kind() == Kind::list) {
    auto i = integral(key);
    if (!i)
      return Value::error("unsupported index type '" + std::string(kind_name(key.kind())) + "' in list");
    if (*i < 0 || static_cast<std::uint64_t>(*i) >= target.size())
      return Value::error("index out of range: " + std::to_string(*i));
    Value v = target.item(static_cast<std::size_t>(*i));
    return charge(library::fetch_cost(v)) ? v : cancelled();
  }
  if (target.kind() == Kind::map) {
    if (!charge(target.size() / 64)) return cancelled();
    auto found = target.find(key);
    if (!found) return Value::error("no such key: " + key.debug());
    return charge(library::fetch_cost(*found)) ? *found : cancelled();
  }
  return Value::error("no such overload: " + std::string(kind_name(target.kind())) + "[" +
                      std::string(kind_name(key.kind())) + "]");
}

// CEL's commutative && and ||: the side that decides wins over an error on the other side.
Value Evaluator::logical(const Expr& e, bool is_or) {
  Value a = eval(*e.args[0]);
  if (a.kind() == Kind::boolean && a.as_bool() == is_or) return a;
  if (m_exceeded) return cancelled();
  Value b = eval(*e.args[1]);
  if (b.kind() == Kind::boolean && b.as_bool() == is_or) return b;
  if (m_exceeded) return cancelled();
  if (a.is_error()) return a;
  if (b.is_error()) return b;
  if (a.kind() != Kind::boolean || b.kind() != Kind::boolean)
    return Value::error(std::string("no such overload: ") + std::string(kind_name(a.kind())) +
                        (is_or ? " || " : " && ") + std::string(kind_name(b.kind())));
  return Value::boolean(!is_or);
}

Value Evaluator::comprehension(const Expr& e) {
  Value range = eval(*e.args[0]);
  if (range.is_error()) return range;
  if (range.kind() != Kind::list && range.kind() != Kind::map)
    return Value::error("expression of type '" + std::string(kind_name(range.kind())) +
                        "' cannot be range of a comprehension");
  bool is_map = range.kind() == Kind::map;
  std::size_t n = range.size();
  std::optional<Value> first_error;
  std::size_t count = 0;
  bool decided = false;
  Value::List results;
  m_vars.emplace_back(e.var, Value());
  for (std::size_t i = 0; i < n && !decided; ++i) {
    m_vars.back().second = is_map ? range.key_at(i) : range.item(i);
    if (!charge(1 + library::fetch_cost(m_vars.back().second))) break;
    Value v = eval(*e.args[1]);
    if (m_exceeded) break;
    if (e.op == Op::map_macro && e.args.size() == 3) {  // map(x, filter, transform)
      if (v.is_error()) {
        first_error = v;
        break;
      }
      if (v.kind() != Kind::boolean) {
        first_error = Value::error("no matching overload for filter");
        break;
      }
      if (!v.as_bool()) continue;
      v = eval(*e.args[2]);
    }
    if (e.op == Op::map_macro || e.op == Op::filter) {
      if (v.is_error()) {
        first_error = v;
        break;
      }
      if (e.op == Op::map_macro) {
        results.push_back(std::move(v));
        continue;
      }
      if (v.kind() != Kind::boolean) {
        first_error = Value::error("no matching overload for filter");
        break;
      }
      if (v.as_bool()) results.push_back(m_vars.back().second);
      continue;
    }
    if (v.is_error() || v.kind() != Kind::boolean) {
      if (!first_error) first_error = v.is_error() ? v : Value::error("no matching overload for predicate");
      if (e.op == Op::exists_one) break;
      continue;
    }
    if (e.op == Op::all && !v.as_bool()) decided = true;
    if (e.op == Op::exists && v.as_bool()) decided = true;
    if (e.op == Op::exists_one && v.as_bool()) ++count;
  }
  m_vars.pop_back();
  if (m_exceeded) return cancelled();
  switch (e.op) {
    case Op::all: return decided ? Value::boolean(false) : first_error ? *first_error : Value::boolean(true);
    case Op::exists:
      return decided ? Value::boolean(true) : first_error ? *first_error : Value::boolean(false);
    case Op::exists_one: return first_error ? *first_error : Value::boolean(count == 1);
    default:
      if (first_error) return *first_error;
      return Value::list(std::move(results));
  }
}

Value Evaluator::collection(const Expr& e) {
  if (!charge(10 + e.args.size())) return cancelled();
  if (e.op == Op::list) {
    Value::List items;
    items.reserve(e.args.size());
    for (const auto& a : e.args) {
      items.push_back(eval(*a));
      if (items.back().is_error()) return items.back();
    }
    return Value::list(std::move(items));
  }
  Value::Map entries;
  for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
    Value k = eval(*e.args[i]);
    if (k.is_error()) return k;
    if (k.kind() != Kind::string && k.kind() != Kind::integer && k.kind() != Kind::uint &&
        k.kind() != Kind::boolean)
      return Value::error("unsupported key type: " + std::string(kind_name(k.kind())));
    Value v = eval(*e.args[i + 1]);
    if (v.is_error()) return v;
    if (!charge(entries.size() / 16)) return cancelled();  // the check for repeated keys
    for (const auto& existing : entries)
      if (equal(existing.first, k)) return Value::error("Failed with repeated key: " + k.debug());
    entries.emplace_back(std::move(k), std::move(v));
  }
  return Value::map(std::move(entries));
}

}  // namespace

Outcome evaluate(const Program& program, const std::vector<Binding>& bindings, std::uint64_t limit) {
  Evaluator ev(program, bindings, limit);
  Outcome out;
  out.value = ev.run();
  out.cost = ev.cost();
  out.exceeded = ev.exceeded();
  return out;
}

}  // namespace portcullis::cel
