#include "shared/yamledit/emit.hpp"

#include <cstdio>

#include "shared/yaml/node.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::yamledit::detail {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Read as another type by some YAML 1.1 reader even though go-yaml calls it a string:
// y/n booleans, sexagesimal numbers (1:20), dates.
bool looks_typed_elsewhere(std::string_view v) {
  if (v == "y" || v == "Y" || v == "n" || v == "N") return true;
  bool sexagesimal = !v.empty() && is_digit(v[0]) && v.find(':') != std::string_view::npos;
  for (char c : v) sexagesimal = sexagesimal && (is_digit(c) || c == ':' || c == '.' || c == '_');
  if (sexagesimal) return true;
  return v.size() >= 10 && is_digit(v[0]) && is_digit(v[1]) && is_digit(v[2]) && is_digit(v[3]) && v[4] == '-' &&
         is_digit(v[5]) && is_digit(v[6]) && v[7] == '-' && is_digit(v[8]) && is_digit(v[9]);
}

bool has_unsafe_byte(std::string_view v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7F) return true;
    if (c >= 0x80) return true;  // non-ASCII: quoted, so that NEL, LS, PS, BOM stay escaped
  }
  return false;
}

}  // namespace

bool needs_quotes(std::string_view v, Context context) {
  if (v.empty() || has_unsafe_byte(v)) return true;
  yaml::Node probe;
  yaml::resolve_plain_scalar(v, probe);
  if (probe.type != yaml::Type::string || v == "<<" || looks_typed_elsewhere(v)) return true;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@` ").find(v.front()) != std::string_view::npos) return true;
  if (v.back() == ' ' || v.back() == ':') return true;
  if (v.find(": ") != std::string_view::npos || v.find(" #") != std::string_view::npos) return true;
  if (v.starts_with("---") || v.starts_with("...")) return true;
  if (context == Context::flow && v.find_first_of(",[]{}") != std::string_view::npos) return true;
  return false;
}

std::string double_quoted(std::string_view v) {
  std::string out = "\"";
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto c = static_cast<unsigned char>(v[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else if (v.substr(i).starts_with("\xC2\x85")) {
      out += "\\N", ++i;
    } else if (v.substr(i).starts_with("\xE2\x80\xA8")) {
      out += "\\L", i += 2;
    } else if (v.substr(i).starts_with("\xE2\x80\xA9")) {
      out += "\\P", i += 2;
    } else if (v.substr(i).starts_with("\xEF\xBB\xBF")) {
      out += "\\uFEFF", i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::optional<std::string> single_quoted(std::string_view v) {
  std::string out = "'";
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return std::nullopt;
    out += ch;
    if (ch == '\'') out += '\'';
  }
  if (v.find("\xC2\x85") != std::string_view::npos || v.find("\xE2\x80\xA8") != std::string_view::npos ||
      v.find("\xE2\x80\xA9") != std::string_view::npos || v.find("\xEF\xBB\xBF") != std::string_view::npos) {
    return std::nullopt;
  }
  out += '\'';
  return out;
}

std::string emit(const Value& value, Style old_style, Context context) {
  if (value.type != Value::Type::string) return value.text;
  if (old_style == Style::single_quoted) {
    if (auto s = single_quoted(value.text)) return *s;
  }
  if (old_style == Style::single_quoted || old_style == Style::double_quoted) return double_quoted(value.text);
  return needs_quotes(value.text, context) ? double_quoted(value.text) : value.text;
}

std::string emit_key(std::string_view key) {
  return needs_quotes(key, Context::block) ? double_quoted(key) : std::string(key);
}

}  // namespace portcullis::yamledit::detail
