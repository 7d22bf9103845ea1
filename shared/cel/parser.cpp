// A recursive-descent parser of cel-spec's grammar (doc/langdef.md), bounded in input size and
// nesting so a pushed rule cannot exhaust the stack.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "shared/cel/ast.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::cel {

namespace {

enum class Tok : std::uint8_t { end, ident, integer, uint, real, string, bytes, punct };

struct Token {
  Tok kind = Tok::end;
  std::string text;  // identifier, punctuation, decoded string
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::uint32_t column = 0;
};

const std::set<std::string_view> k_reserved = {"as",        "break",  "const",  "continue", "else", "for",
                                               "function",  "if",     "import", "let",      "loop", "package",
                                               "namespace", "return", "var",    "void",     "while"};

struct ParseError {
  std::uint32_t column;
  std::string message;
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : m_text(text) {}
  // The next token; sets `m_error` on a lexical error.
  Token next();
  std::optional<ParseError> m_error;

 private:
  void skip_space();
  Token number(std::uint32_t column);
  Token quoted(std::uint32_t column, bool raw, bool bytes);
  bool escape(std::string& out, bool bytes);
  void error(std::string message) {
    if (!m_error) m_error = ParseError{static_cast<std::uint32_t>(m_pos + 1), std::move(message)};
  }
  std::string_view m_text;
  std::size_t m_pos = 0;
};

void Lexer::skip_space() {
  while (m_pos < m_text.size()) {
    char c = m_text[m_pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
      ++m_pos;
    } else if (c == '/' && m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '/') {
      while (m_pos < m_text.size() && m_text[m_pos] != '\n') ++m_pos;
    } else {
      break;
    }
  }
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

Token Lexer::next() {
  skip_space();
  Token t;
  t.column = static_cast<std::uint32_t>(m_pos + 1);
  if (m_pos >= m_text.size()) return t;
  char c = m_text[m_pos];
  auto peek = [&](std::size_t k) { return m_pos + k < m_text.size() ? m_text[m_pos + k] : '\0'; };
  if ((c == 'r' || c == 'R' || c == 'b' || c == 'B') && (peek(1) == '"' || peek(1) == '\'')) {
    ++m_pos;
    return quoted(t.column, c == 'r' || c == 'R', c == 'b' || c == 'B');
  }
  if ((c == 'r' || c == 'R' || c == 'b' || c == 'B') &&
      (peek(1) == 'r' || peek(1) == 'R' || peek(1) == 'b' || peek(1) == 'B') &&
      (peek(2) == '"' || peek(2) == '\'') && std::tolower(c) != std::tolower(peek(1))) {
    m_pos += 2;
    return quoted(t.column, true, true);
  }
  if (is_ident_start(c)) {
    std::size_t start = m_pos;
    while (m_pos < m_text.size() && (is_ident_start(m_text[m_pos]) || is_digit(m_text[m_pos]))) ++m_pos;
    t.kind = Tok::ident;
    t.text = m_text.substr(start, m_pos - start);
    return t;
  }
  if (is_digit(c) || (c == '.' && is_digit(peek(1)))) return number(t.column);
  if (c == '"' || c == '\'') return quoted(t.column, false, false);
  static constexpr std::string_view k_two[] = {"==", "!=", "<=", ">=", "&&", "||"};
  for (auto op : k_two)
    if (m_text.substr(m_pos, 2) == op) {
      m_pos += 2;
      t.kind = Tok::punct;
      t.text = op;
      return t;
    }
  if (std::string_view("+-*/%<>!?:.,()[]{}").find(c) != std::string_view::npos) {
    ++m_pos;
    t.kind = Tok::punct;
    t.text = std::string(1, c);
    return t;
  }
  error(std::string("unexpected character '") + c + "'");
  return t;
}

Token Lexer::number(std::uint32_t column) {
  Token t;
  t.column = column;
  std::size_t start = m_pos;
  if (m_text.substr(m_pos, 2) == "0x" || m_text.substr(m_pos, 2) == "0X") {
    m_pos += 2;
    std::size_t digits = m_pos;
    while (m_pos < m_text.size() && std::isxdigit(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
    std::uint64_t v = 0;
    auto r = std::from_chars(m_text.data() + digits, m_text.data() + m_pos, v, 16);
    if (digits == m_pos || r.ec != std::errc{}) error("invalid hexadecimal literal");
    if (m_pos < m_text.size() && (m_text[m_pos] == 'u' || m_text[m_pos] == 'U')) {
      ++m_pos;
      t.kind = Tok::uint;
      t.u = v;
    } else {
      if (v > static_cast<std::uint64_t>(INT64_MAX) + 1) error("integer literal overflows int");
      t.kind = Tok::integer;
      t.u = v;  // negation is applied by the parser
    }
    return t;
  }
  while (m_pos < m_text.size() && is_digit(m_text[m_pos])) ++m_pos;
  bool real = false;
  if (m_pos < m_text.size() && m_text[m_pos] == '.' && m_pos + 1 < m_text.size() &&
      is_digit(m_text[m_pos + 1])) {
    real = true;
    ++m_pos;
    while (m_pos < m_text.size() && is_digit(m_text[m_pos])) ++m_pos;
  }
  if (m_pos < m_text.size() && (m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
    std::size_t save = m_pos++;
    if (m_pos < m_text.size() && (m_text[m_pos] == '+' || m_text[m_pos] == '-')) ++m_pos;
    if (m_pos < m_text.size() && is_digit(m_text[m_pos])) {
      real = true;
      while (m_pos < m_text.size() && is_digit(m_text[m_pos])) ++m_pos;
    } else {
      m_pos = save;
    }
  }
  std::string_view lit = m_text.substr(start, m_pos - start);
  t.text = lit;
  if (real) {
    t.kind = Tok::real;
    t.d = std::strtod(std::string(lit).c_str(), nullptr);
    return t;
  }
  std::uint64_t v = 0;
  auto r = std::from_chars(lit.data(), lit.data() + lit.size(), v);
  if (r.ec != std::errc{}) error("integer literal out of range");
  if (m_pos < m_text.size() && (m_text[m_pos] == 'u' || m_text[m_pos] == 'U')) {
    ++m_pos;
    t.kind = Tok::uint;
    t.u = v;
    return t;
  }
  if (v > static_cast<std::uint64_t>(INT64_MAX) + 1) error("integer literal overflows int");
  t.kind = Tok::integer;
  t.u = v;
  return t;
}

bool Lexer::escape(std::string& out, bool bytes) {
  if (m_pos >= m_text.size()) return false;
  char c = m_text[m_pos++];
  auto hex = [&](int n) -> std::optional<std::uint32_t> {
    if (m_pos + n > m_text.size()) return std::nullopt;
    std::uint32_t v = 0;
    auto r = std::from_chars(m_text.data() + m_pos, m_text.data() + m_pos + n, v, 16);
    if (r.ec != std::errc{} || r.ptr != m_text.data() + m_pos + n) return std::nullopt;
    m_pos += n;
    return v;
  };
  switch (c) {
    case 'a': out += '\a'; return true;
    case 'b': out += '\b'; return true;
    case 'f': out += '\f'; return true;
    case 'n': out += '\n'; return true;
    case 'r': out += '\r'; return true;
    case 't': out += '\t'; return true;
    case 'v': out += '\v'; return true;
    case '\\':
    case '\'':
    case '"':
    case '`':
    case '?': out += c; return true;
    case 'x':
    case 'X': {
      auto v = hex(2);
      if (!v) return false;
      if (bytes)
        out += static_cast<char>(*v);
      else
        util::append_utf8(out, *v);
      return true;
    }
    case 'u':
    case 'U': {
      if (bytes) return false;
      auto v = hex(c == 'u' ? 4 : 8);
      if (!v || *v > 0x10FFFF || (*v >= 0xD800 && *v < 0xE000)) return false;
      util::append_utf8(out, *v);
      return true;
    }
    default:
      if (c >= '0' && c <= '3' && m_pos + 2 <= m_text.size() && m_text[m_pos] >= '0' &&
          m_text[m_pos] <= '7' && m_text[m_pos + 1] >= '0' && m_text[m_pos + 1] <= '7') {
        std::uint32_t v = static_cast<std::uint32_t>((c - '0') * 64 + (m_text[m_pos] - '0') * 8 +
                                                     (m_text[m_pos + 1] - '0'));
        m_pos += 2;
        if (bytes)
          out += static_cast<char>(v);
        else
          util::append_utf8(out, v);
        return true;
      }
      return false;
  }
}

Token Lexer::quoted(std::uint32_t column, bool raw, bool bytes) {
  Token t;
  t.column = column;
  t.kind = bytes ? Tok::bytes : Tok::string;
  char q = m_text[m_pos];
  bool triple = m_text.substr(m_pos, 3) == std::string(3, q);
  m_pos += triple ? 3 : 1;
  std::string out;
  while (true) {
    if (m_pos >= m_text.size()) {
      error("unterminated string literal");
      return t;
    }
    char c = m_text[m_pos];
    if (triple ? m_text.substr(m_pos, 3) == std::string(3, q) : c == q) {
      m_pos += triple ? 3 : 1;
      break;
    }
    if (!triple && (c == '\n' || c == '\r')) {
      error("newline in string literal");
      return t;
    }
    ++m_pos;
    if (c == '\\' && !raw) {
      if (!escape(out, bytes)) {
        error("invalid escape sequence in string literal");
        return t;
      }
    } else if (c == '\\' && raw && m_pos < m_text.size() && m_text[m_pos] == q) {
      out += c;
      out += q;
      ++m_pos;
    } else {
      out += c;
    }
  }
  t.text = std::move(out);
  return t;
}

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : m_lexer(text), m_limits(limits) { advance(); }

  std::unique_ptr<Expr> parse_all() {
    auto e = expr();
    if (!m_error && m_tok.kind != Tok::end) fail_at(m_tok.column, "unexpected '" + m_tok.text + "'");
    return e;
  }
  std::optional<ParseError> error() const { return m_lexer.m_error ? m_lexer.m_error : m_error; }

 private:
  void advance() {
    m_tok = m_lexer.next();
    if (m_lexer.m_error && !m_error) m_error = m_lexer.m_error;
  }
  bool is(std::string_view punct) const { return m_tok.kind == Tok::punct && m_tok.text == punct; }
  bool accept(std::string_view punct) {
    if (!is(punct)) return false;
    advance();
    return true;
  }
  void expect(std::string_view punct) {
    if (!accept(punct)) fail_at(m_tok.column, "expected '" + std::string(punct) + "'" + found());
  }
  std::string found() const {
    return m_tok.kind == Tok::end ? " at the end of the expression" : " instead of '" + m_tok.text + "'";
  }
  std::unique_ptr<Expr> fail_at(std::uint32_t column, std::string message) {
    if (!m_error) m_error = ParseError{column, std::move(message)};
    m_tok.kind = Tok::end;  // stop consuming
    return node(Op::literal, column);
  }
  static std::unique_ptr<Expr> node(Op op, std::uint32_t column) {
    auto e = std::make_unique<Expr>();
    e->op = op;
    e->column = column;
    return e;
  }
  // Depth guard: every production that can nest goes through it.
  struct Guard {
    Parser& p;
    explicit Guard(Parser& parser) : p(parser) { ++p.m_depth; }
    ~Guard() { --p.m_depth; }
  };
  // Records the depth of the tree under `e`: evaluation and destruction recurse over it, so
  // left-associative chains (`a + a + ...`, `a.b.b...`) are bounded too.
  std::unique_ptr<Expr> sized(std::unique_ptr<Expr> e) {
    for (const auto& a : e->args) e->depth = std::max(e->depth, a->depth + 1);
    if (e->depth > m_limits.max_tree_depth && !m_error) {
      m_error = ParseError{e->column, "expression nested more than " +
                                          std::to_string(m_limits.max_tree_depth) + " levels deep"};
      m_tok.kind = Tok::end;
    }
    return e;
  }
  bool too_deep() {
    if (m_depth <= m_limits.max_depth) return false;
    fail_at(m_tok.column,
            "expression nested more than " + std::to_string(m_limits.max_depth) + " levels deep");
    return true;
  }

  std::unique_ptr<Expr> expr();
  std::unique_ptr<Expr> logical(bool is_or);
  std::unique_ptr<Expr> relation();
  std::unique_ptr<Expr> addition();
  std::unique_ptr<Expr> multiplication();
  std::unique_ptr<Expr> unary();
  std::unique_ptr<Expr> member();
  std::unique_ptr<Expr> primary();
  std::vector<std::unique_ptr<Expr>> arguments(std::string_view close);
  std::unique_ptr<Expr> macro_or_call(std::unique_ptr<Expr> target, std::string name, std::uint32_t column,
                                      std::vector<std::unique_ptr<Expr>> args);

  Lexer m_lexer;
  const Limits& m_limits;
  Token m_tok;
  int m_depth = 0;
  std::optional<ParseError> m_error;
};

std::unique_ptr<Expr> Parser::expr() {
  Guard g(*this);
  if (too_deep()) return node(Op::literal, m_tok.column);
  auto cond = logical(true);
  if (!is("?")) return cond;
  std::uint32_t column = m_tok.column;
  advance();
  auto then = logical(true);
  expect(":");
  auto otherwise = expr();
  auto e = node(Op::conditional, column);
  e->args.push_back(std::move(cond));
  e->args.push_back(std::move(then));
  e->args.push_back(std::move(otherwise));
  return sized(std::move(e));
}

std::unique_ptr<Expr> Parser::logical(bool is_or) {
  auto left = is_or ? logical(false) : relation();
  std::string_view op = is_or ? "||" : "&&";
  while (!m_error && is(op)) {
    std::uint32_t column = m_tok.column;
    advance();
    auto e = node(is_or ? Op::logical_or : Op::logical_and, column);
    e->args.push_back(std::move(left));
    e->args.push_back(is_or ? logical(false) : relation());
    left = sized(std::move(e));
  }
  return left;
}

std::unique_ptr<Expr> Parser::relation() {
  auto left = addition();
  while (!m_error) {
    std::string op;
    if (is("<") || is("<=") || is(">") || is(">=") || is("==") || is("!="))
      op = m_tok.text;
    else if (m_tok.kind == Tok::ident && m_tok.text == "in")
      op = "in";
    else
      break;
    std::uint32_t column = m_tok.column;
    advance();
    auto e = node(Op::binary, column);
    e->name = op;
    e->args.push_back(std::move(left));
    e->args.push_back(addition());
    left = sized(std::move(e));
  }
  return left;
}

std::unique_ptr<Expr> Parser::addition() {
  auto left = multiplication();
  while (!m_error && (is("+") || is("-"))) {
    auto e = node(Op::binary, m_tok.column);
    e->name = m_tok.text;
    advance();
    e->args.push_back(std::move(left));
    e->args.push_back(multiplication());
    left = sized(std::move(e));
  }
  return left;
}

std::unique_ptr<Expr> Parser::multiplication() {
  auto left = unary();
  while (!m_error && (is("*") || is("/") || is("%"))) {
    auto e = node(Op::binary, m_tok.column);
    e->name = m_tok.text;
    advance();
    e->args.push_back(std::move(left));
    e->args.push_back(unary());
    left = sized(std::move(e));
  }
  return left;
}

std::unique_ptr<Expr> Parser::unary() {
  Guard g(*this);
  if (too_deep()) return node(Op::literal, m_tok.column);
  if (is("!")) {
    auto e = node(Op::logical_not, m_tok.column);
    advance();
    e->args.push_back(unary());
    return sized(std::move(e));
  }
  if (is("-")) {
    std::uint32_t column = m_tok.column;
    advance();
    // A negative literal is a literal: -9223372036854775808 is in range.
    if (m_tok.kind == Tok::integer) {
      auto e = node(Op::literal, column);
      e->value = Value::integer(static_cast<std::int64_t>(0 - m_tok.u));
      advance();
      return e;  // member access on a negative literal is rare; cel-go treats it the same way
    }
    if (m_tok.kind == Tok::real) {
      auto e = node(Op::literal, column);
      e->value = Value::real(-m_tok.d);
      advance();
      return e;
    }
    auto e = node(Op::negate, column);
    e->args.push_back(unary());
    return sized(std::move(e));
  }
  return member();
}

std::vector<std::unique_ptr<Expr>> Parser::arguments(std::string_view close) {
  std::vector<std::unique_ptr<Expr>> args;
  if (accept(close)) return args;
  while (!m_error) {
    args.push_back(expr());
    if (accept(close)) break;
    expect(",");
    if (accept(close)) break;  // trailing comma
  }
  return args;
}

std::unique_ptr<Expr> Parser::member() {
  auto e = primary();
  while (!m_error) {
    if (is(".")) {
      advance();
      if (is("?"))
        return fail_at(m_tok.column, std::string(k_unsupported_syntax) + "optional field selection '.?'");
      if (m_tok.kind != Tok::ident)
        return fail_at(m_tok.column, "expected a field or method name after '.'" + found());
      std::string name = m_tok.text;
      std::uint32_t column = m_tok.column;
      advance();
      if (accept("(")) {
        e = sized(macro_or_call(std::move(e), name, column, arguments(")")));
      } else {
        auto s = node(Op::select, column);
        s->name = std::move(name);
        s->args.push_back(std::move(e));
        e = sized(std::move(s));
      }
    } else if (is("[")) {
      std::uint32_t column = m_tok.column;
      advance();
      if (is("?")) return fail_at(m_tok.column, std::string(k_unsupported_syntax) + "optional index '[?'");
      Guard g(*this);
      if (too_deep()) return e;
      auto i = node(Op::index, column);
      i->args.push_back(std::move(e));
      i->args.push_back(expr());
      expect("]");
      e = sized(std::move(i));
    } else if (is("{")) {
      return fail_at(m_tok.column, "message construction is not supported");
    } else {
      break;
    }
  }
  return e;
}

std::unique_ptr<Expr> Parser::primary() {
  Guard g(*this);
  if (too_deep()) return node(Op::literal, m_tok.column);
  Token t = m_tok;
  auto literal = [&](Value v) {
    advance();
    auto e = node(Op::literal, t.column);
    e->value = std::move(v);
    return e;
  };
  switch (t.kind) {
    case Tok::end: return fail_at(t.column, "unexpected end of the expression");
    case Tok::integer:
      if (t.u > static_cast<std::uint64_t>(INT64_MAX))
        return fail_at(t.column, "integer literal overflows int");
      return literal(Value::integer(static_cast<std::int64_t>(t.u)));
    case Tok::uint: return literal(Value::uint(t.u));
    case Tok::real: return literal(Value::real(t.d));
    case Tok::string: return literal(Value::string(t.text));
    case Tok::bytes: return literal(Value::bytes(t.text));
    case Tok::ident: break;
    case Tok::punct: break;
  }
  if (t.kind == Tok::ident) {
    if (t.text == "true" || t.text == "false") return literal(Value::boolean(t.text == "true"));
    if (t.text == "null") return literal(Value());
    if (k_reserved.contains(t.text) || t.text == "in")
      return fail_at(t.column, "reserved identifier '" + t.text + "'");
    advance();
    if (accept("(")) return sized(macro_or_call(nullptr, t.text, t.column, arguments(")")));
    auto e = node(Op::ident, t.column);
    e->name = t.text;
    return e;
  }
  if (accept("(")) {
    auto e = expr();
    expect(")");
    return e;
  }
  if (accept("[")) {
    auto e = node(Op::list, t.column);
    e->args = arguments("]");
    return sized(std::move(e));
  }
  if (accept("{")) {
    auto e = node(Op::map, t.column);
    if (accept("}")) return e;
    while (!m_error) {
      e->args.push_back(expr());
      expect(":");
      e->args.push_back(expr());
      if (accept("}")) break;
      expect(",");
      if (accept("}")) break;
    }
    return sized(std::move(e));
  }
  if (is(".")) return fail_at(t.column, "leading '.' (qualified names) is not supported");
  return fail_at(t.column, "unexpected '" + t.text + "'");
}

std::unique_ptr<Expr> Parser::macro_or_call(std::unique_ptr<Expr> target, std::string name,
                                            std::uint32_t column, std::vector<std::unique_ptr<Expr>> args) {
  if (!target && name == "has") {
    if (args.size() != 1 || args[0]->op != Op::select)
      return fail_at(column, "invalid argument to has() macro");
    args[0]->op = Op::has;
    return std::move(args[0]);
  }
  static constexpr std::string_view k_newer_macros[] = {"existsOne", "transformList", "transformMap",
                                                        "transformMapEntry", "sortBy"};
  for (auto macro : k_newer_macros)
    if (target && name == macro)
      return fail_at(column, std::string(k_unsupported_syntax) + "macro '" + name + "' of a newer cel-go");
  static const std::pair<std::string_view, Op> k_macros[] = {{"all", Op::all},
                                                             {"exists", Op::exists},
                                                             {"exists_one", Op::exists_one},
                                                             {"map", Op::map_macro},
                                                             {"filter", Op::filter}};
  for (auto [macro, op] : k_macros) {
    if (!target || name != macro) continue;
    std::size_t want = op == Op::map_macro ? (args.size() == 3 ? 3 : 2) : 2;
    // Two-variable comprehensions (`all(i, v, p)`, cel-go's extension that newer apiservers
    // enable) are not evaluated here: the rule is skipped.
    if (args.size() == 3 && op != Op::map_macro)
      return fail_at(column, std::string(k_unsupported_syntax) + "two-variable comprehension '" + name + "'");
    if (args.size() != want) break;  // a function of that name (none exist): reported by compile
    if (args[0]->op != Op::ident) return fail_at(args[0]->column, "argument must be a simple name");
    auto e = node(op, column);
    e->var = args[0]->name;
    e->args.push_back(std::move(target));
    for (std::size_t i = 1; i < args.size(); ++i) e->args.push_back(std::move(args[i]));
    return e;
  }
  auto e = node(Op::call, column);
  e->name = std::move(name);
  e->receiver = target != nullptr;
  if (target) e->args.push_back(std::move(target));
  for (auto& a : args) e->args.push_back(std::move(a));
  return e;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

util::Result<std::unique_ptr<Expr>> parse(std::string_view text, const Limits& limits) {
  if (text.size() > 4 * limits.max_length || code_points(text) > limits.max_length)
    return util::fail("expression code point size exceeds limit: size: " + std::to_string(code_points(text)) +
                      ", limit " + std::to_string(limits.max_length));
  Parser p(text, limits);
  auto e = p.parse_all();
  if (auto err = p.error()) return util::fail(std::to_string(err->column) + ": " + err->message);
  return e;
}

}  // namespace portcullis::cel
