// A strict JSON (RFC 8259) front end for the TreeBuilder, so .json manifests get the same
// tree, limits and line/column reporting as YAML.
#include <cmath>
#include <cstdlib>
#include <string>

#include "shared/util/strings.hpp"
#include "shared/yaml/builder.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::yaml {

namespace {

class JsonParser {
 public:
  JsonParser(std::string_view text, TreeBuilder& builder) : m_text(text), m_builder(builder) {}

  std::optional<util::Error> run() {
    skip_ws();
    m_builder.begin_document(mark());
    if (auto err = value(0)) return err;
    skip_ws();
    if (m_pos != m_text.size()) return error("unexpected content after the JSON value");
    return m_builder.end_document();
  }

 private:
  Mark mark() const { return Mark{m_line, static_cast<std::uint32_t>(m_pos - m_line_start + 1)}; }

  util::Error error(std::string message) const {
    Mark m = mark();
    return util::Error{std::move(message), "yaml.syntax", {}, m.line, m.column};
  }

  void skip_ws() {
    while (m_pos < m_text.size()) {
      char c = m_text[m_pos];
      if (c == '\n') {
        ++m_line;
        m_line_start = ++m_pos;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++m_pos;
      } else {
        break;
      }
    }
  }

  std::optional<util::Error> value(int depth) {
    if (m_pos >= m_text.size()) return error("unexpected end of JSON input");
    Mark at = mark();
    char c = m_text[m_pos];
    if (c == '{' || c == '[') {
      Node* n = m_builder.new_node(c == '{' ? Type::mapping : Type::sequence, at);
      if (auto err = m_builder.begin_collection(n, {})) return err;
      ++m_pos;
      skip_ws();
      char close = c == '{' ? '}' : ']';
      if (m_pos < m_text.size() && m_text[m_pos] == close) {
        ++m_pos;
        return m_builder.end_collection();
      }
      while (true) {
        if (c == '{') {
          if (m_pos >= m_text.size() || m_text[m_pos] != '"') return error("expected a string key");
          if (auto err = string_node()) return err;
          skip_ws();
          if (m_pos >= m_text.size() || m_text[m_pos] != ':') return error("expected ':' after key");
          ++m_pos;
          skip_ws();
        }
        if (auto err = value(depth + 1)) return err;
        skip_ws();
        if (m_pos >= m_text.size()) return error("unexpected end of JSON input");
        if (m_text[m_pos] == ',') {
          ++m_pos;
          skip_ws();
          continue;
        }
        if (m_text[m_pos] == close) {
          ++m_pos;
          return m_builder.end_collection();
        }
        return error(std::string("expected ',' or '") + close + "'");
      }
    }
    if (c == '"') return string_node();
    if (literal("true")) return scalar(Type::boolean, at, "true", true);
    if (literal("false")) return scalar(Type::boolean, at, "false", false);
    if (literal("null")) return scalar(Type::null, at, "null", false);
    if (c == '-' || (c >= '0' && c <= '9')) return number(at);
    return error(std::string("unexpected character '") + c + "'");
  }

  bool literal(std::string_view word) {
    if (m_text.substr(m_pos, word.size()) != word) return false;
    m_pos += word.size();
    return true;
  }

  std::optional<util::Error> scalar(Type type, Mark at, std::string_view text, bool b) {
    Node* n = m_builder.new_node(type, at);
    n->text = text;
    if (type == Type::boolean) n->value.boolean = b;
    return m_builder.scalar(n, {});
  }

  std::optional<util::Error> number(Mark at) {
    std::size_t start = m_pos;
    if (m_text[m_pos] == '-') ++m_pos;
    auto digits = [&] {
      std::size_t s = m_pos;
      while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') ++m_pos;
      return m_pos - s;
    };
    std::size_t int_start = m_pos;
    if (!digits()) return error("invalid number");
    if (m_text[int_start] == '0' && m_pos - int_start > 1) return error("numbers may not have leading zeros");
    bool is_float = false;
    if (m_pos < m_text.size() && m_text[m_pos] == '.') {
      ++m_pos;
      is_float = true;
      if (!digits()) return error("invalid number: digits expected after '.'");
    }
    if (m_pos < m_text.size() && (m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
      ++m_pos;
      is_float = true;
      if (m_pos < m_text.size() && (m_text[m_pos] == '+' || m_text[m_pos] == '-')) ++m_pos;
      if (!digits()) return error("invalid number: digits expected in exponent");
    }
    std::string_view text = m_text.substr(start, m_pos - start);
    Node* n = m_builder.new_node(Type::integer, at);
    n->text = m_builder.copy(text);
    std::string copy(text);
    if (!is_float) {
      errno = 0;
      long long v = std::strtoll(copy.c_str(), nullptr, 10);
      if (errno != ERANGE) {
        n->value.integer = v;
        return m_builder.scalar(n, {});
      }
    }
    n->type = Type::number;
    n->value.number = std::strtod(copy.c_str(), nullptr);
    return m_builder.scalar(n, {});
  }

  std::optional<util::Error> hex4(std::uint32_t& out) {
    if (m_pos + 4 > m_text.size()) return error("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char h = m_text[m_pos++];
      out <<= 4;
      if (h >= '0' && h <= '9') out |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') out |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') out |= static_cast<std::uint32_t>(h - 'A' + 10);
      else return error("invalid \\u escape");
    }
    return std::nullopt;
  }

  std::optional<util::Error> string_node() {
    Mark at = mark();
    ++m_pos;  // opening quote
    std::string out;
    std::size_t run = m_pos;
    while (true) {
      if (m_pos >= m_text.size()) return error("unterminated string");
      unsigned char c = static_cast<unsigned char>(m_text[m_pos]);
      if (c == '"') {
        out.append(m_text.substr(run, m_pos - run));
        ++m_pos;
        break;
      }
      if (c < 0x20) return error("control character in string (escape it)");
      if (c != '\\') {
        ++m_pos;
        continue;
      }
      out.append(m_text.substr(run, m_pos - run));
      ++m_pos;
      if (m_pos >= m_text.size()) return error("unterminated string");
      char e = m_text[m_pos++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp;
          if (auto err = hex4(cp)) return err;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t lo;
            if (m_text.substr(m_pos, 2) != "\\u") return error("unpaired UTF-16 surrogate");
            m_pos += 2;
            if (auto err = hex4(lo)) return err;
            if (lo < 0xDC00 || lo > 0xDFFF) return error("unpaired UTF-16 surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return error("unpaired UTF-16 surrogate");
          }
          util::append_utf8(out, cp);
          break;
        }
        default: return error(std::string("invalid escape \\") + e);
      }
      run = m_pos;
    }
    Node* n = m_builder.new_node(Type::string, at);
    n->text = m_builder.copy(out);
    return m_builder.scalar(n, {});
  }

  std::string_view m_text;
  TreeBuilder& m_builder;
  std::size_t m_pos = 0;
  std::size_t m_line_start = 0;
  std::uint32_t m_line = 1;
};

// Finds one value of a JSON text by skipping over everything else.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : m_text(text) {}

  bool elements(std::initializer_list<std::string_view> path, const std::function<bool(std::string_view)>& each) {
    for (std::string_view want : path)
      if (!enter_member(want)) return false;
    skip_ws();
    if (m_text.substr(m_pos, 4) == "null") return true;  // how Go writes an empty slice
    if (m_pos >= m_text.size() || m_text[m_pos] != '[') return false;
    ++m_pos;
    skip_ws();
    if (m_pos < m_text.size() && m_text[m_pos] == ']') return true;
    while (true) {
      skip_ws();
      std::size_t start = m_pos;
      if (!skip_value()) return false;
      if (!each(m_text.substr(start, m_pos - start))) return false;
      skip_ws();
      if (m_pos >= m_text.size()) return false;
      char c = m_text[m_pos++];
      if (c == ']') return true;
      if (c != ',') return false;
    }
  }

  std::optional<std::string> string_at(std::initializer_list<std::string_view> path) {
    for (std::string_view want : path) {
      if (!enter_member(want)) return std::nullopt;
    }
    skip_ws();
    std::size_t start = m_pos;
    bool escaped = false;
    if (!skip_string(&escaped)) return std::nullopt;
    std::string_view literal = m_text.substr(start, m_pos - start);
    if (!escaped) return std::string(literal.substr(1, literal.size() - 2));
    // Escapes are rare here: the full parser decodes them.
    auto parsed = parse_json(literal);
    if (!parsed || parsed->documents.empty() || !parsed->documents[0].root) return std::nullopt;
    return std::string(parsed->documents[0].root->text);
  }

 private:
  void skip_ws() {
    while (m_pos < m_text.size() && (m_text[m_pos] == ' ' || m_text[m_pos] == '\n' || m_text[m_pos] == '\t' || m_text[m_pos] == '\r'))
      ++m_pos;
  }

  bool skip_string(bool* escaped = nullptr) {
    if (m_pos >= m_text.size() || m_text[m_pos] != '"') return false;
    for (++m_pos; m_pos < m_text.size(); ++m_pos) {
      char c = m_text[m_pos];
      if (c == '\\') {
        ++m_pos;
        if (escaped) *escaped = true;
      } else if (c == '"') {
        ++m_pos;
        return true;
      }
    }
    return false;
  }

  bool skip_value() {
    skip_ws();
    if (m_pos >= m_text.size()) return false;
    char c = m_text[m_pos];
    if (c == '"') return skip_string();
    if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (m_pos < m_text.size()) {
        char d = m_text[m_pos];
        if (d == '"') {
          if (!skip_string()) return false;
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if ((d == '}' || d == ']') && --depth == 0) {
          ++m_pos;
          return true;
        }
        ++m_pos;
      }
      return false;
    }
    std::size_t start = m_pos;
    while (m_pos < m_text.size() && std::string_view(",}] \t\r\n").find(m_text[m_pos]) == std::string_view::npos) ++m_pos;
    return m_pos > start;
  }

  // At an object: moves to the value of member `want`.
  bool enter_member(std::string_view want) {
    skip_ws();
    if (m_pos >= m_text.size() || m_text[m_pos] != '{') return false;
    ++m_pos;
    while (true) {
      skip_ws();
      std::size_t start = m_pos;
      bool escaped = false;
      if (!skip_string(&escaped)) return false;
      std::string_view key = m_text.substr(start + 1, m_pos - start - 2);
      bool match = key == want;
      if (escaped) {
        auto parsed = parse_json(m_text.substr(start, m_pos - start));
        match = parsed && !parsed->documents.empty() && parsed->documents[0].root && parsed->documents[0].root->text == want;
      }
      skip_ws();
      if (m_pos >= m_text.size() || m_text[m_pos] != ':') return false;
      ++m_pos;
      if (match) return true;
      if (!skip_value()) return false;
      skip_ws();
      if (m_pos >= m_text.size() || m_text[m_pos] != ',') return false;  // '}': not there
      ++m_pos;
    }
  }

  std::string_view m_text;
  std::size_t m_pos = 0;
};

}  // namespace

std::optional<std::string> json_string_at(std::string_view text, std::initializer_list<std::string_view> path) {
  return JsonScanner(text).string_at(path);
}

bool json_array_elements(std::string_view text, std::initializer_list<std::string_view> path,
                         const std::function<bool(std::string_view)>& each) {
  return JsonScanner(text).elements(path, each);
}

util::Result<Stream> parse_json(std::string_view text, const Limits& limits) {
  std::size_t bad = 0;
  if (!util::valid_utf8(text, &bad)) {
    std::uint32_t line = 1, col = 1;
    for (std::size_t i = 0; i < bad; ++i) {
      if (text[i] == '\n') line++, col = 1;
      else ++col;
    }
    return util::fail(util::Error{"invalid UTF-8; manifests must be UTF-8 text", "yaml.encoding", {}, line, col});
  }
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  Stream stream;
  TreeBuilder builder(stream, limits);
  JsonParser parser(text, builder);
  if (auto err = parser.run()) return util::fail(std::move(*err));
  return stream;
}

}  // namespace portcullis::yaml
