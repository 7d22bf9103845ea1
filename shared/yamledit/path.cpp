#include <cctype>

#include "shared/yamledit/yamledit.hpp"

namespace portcullis::yamledit {

namespace {

util::Result<std::string> quoted(std::string_view text, std::size_t& pos) {
  std::string out;
  for (++pos; pos < text.size(); ++pos) {
    if (text[pos] == '"') {
      ++pos;
      return out;
    }
    if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
    out += text[pos];
  }
  return util::fail("unclosed quote in path '" + std::string(text) + "'", "yamledit.path");
}

util::Result<Step> bracket(std::string_view text, std::size_t& pos) {
  ++pos;  // '['
  if (pos < text.size() && text[pos] == '"') {
    auto key = quoted(text, pos);
    if (!key) return util::fail(key.error());
    if (pos >= text.size() || text[pos] != ']') return util::fail("expected ] in path '" + std::string(text) + "'", "yamledit.path");
    ++pos;
    return Step::of_key(*key);
  }
  std::size_t start = pos;
  while (pos < text.size() && text[pos] != ']' && text[pos] != '=') ++pos;
  std::string_view head = text.substr(start, pos - start);
  if (pos < text.size() && text[pos] == ']') {
    ++pos;
    bool digits = !head.empty() && head.size() < 10;
    for (char c : head) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits) return util::fail("[" + std::string(head) + "] is neither an index nor field=value", "yamledit.path");
    return Step::at(std::stoul(std::string(head)));
  }
  if (pos >= text.size() || head.empty()) return util::fail("unclosed [ in path '" + std::string(text) + "'", "yamledit.path");
  ++pos;  // '='
  std::string value;
  if (pos < text.size() && text[pos] == '"') {
    auto v = quoted(text, pos);
    if (!v) return util::fail(v.error());
    value = *v;
  } else {
    std::size_t vstart = pos;
    while (pos < text.size() && text[pos] != ']') ++pos;
    value = std::string(text.substr(vstart, pos - vstart));
  }
  if (pos >= text.size() || text[pos] != ']') return util::fail("unclosed [ in path '" + std::string(text) + "'", "yamledit.path");
  ++pos;
  return Step::where(head, value);
}

bool plain_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '/' && c != '$') return false;
  }
  return true;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

util::Result<Path> parse_path(std::string_view text) {
  Path path;
  std::size_t pos = 0;
  if (text.empty()) return path;
  while (true) {
    if (pos < text.size() && text[pos] == '"') {
      auto key = quoted(text, pos);
      if (!key) return util::fail(key.error());
      path.push_back(Step::of_key(*key));
    } else if (pos < text.size() && text[pos] != '[') {
      std::size_t start = pos;
      while (pos < text.size() && text[pos] != '.' && text[pos] != '[') ++pos;
      if (pos == start) return util::fail("empty step in path '" + std::string(text) + "'", "yamledit.path");
      path.push_back(Step::of_key(text.substr(start, pos - start)));
    } else if (pos >= text.size() || !path.empty()) {
      return util::fail("empty step in path '" + std::string(text) + "'", "yamledit.path");
    }
    while (pos < text.size() && text[pos] == '[') {
      auto step = bracket(text, pos);
      if (!step) return util::fail(step.error());
      path.push_back(*step);
    }
    if (pos == text.size()) return path;
    if (text[pos] != '.' || pos + 1 == text.size()) {
      return util::fail("unexpected '" + std::string(1, text[pos]) + "' in path '" + std::string(text) + "'",
                        "yamledit.path");
    }
    ++pos;
  }
}

std::string format_path(const Path& path) {
  std::string out;
  for (const Step& s : path) {
    if (s.kind == Step::Kind::index) {
      out += "[" + std::to_string(s.index) + "]";
    } else if (s.kind == Step::Kind::match) {
      bool plain = s.value.find_first_of("]\"") == std::string::npos;
      out += "[" + s.key + "=" + (plain ? s.value : quote(s.value)) + "]";
    } else if (plain_key(s.key)) {
      out += (out.empty() ? "" : ".") + s.key;
    } else {
      out += "[" + quote(s.key) + "]";
    }
  }
  return out;
}

}  // namespace portcullis::yamledit
