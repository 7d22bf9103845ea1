#include "shared/yaml/emit.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "shared/util/strings.hpp"

namespace portcullis::yaml {

namespace {

void append_number(std::string& out, double v, bool canonical) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  if (canonical && v == std::trunc(v) && std::fabs(v) < 9.2e18) {
    out += std::to_string(static_cast<long long>(v));
    return;
  }
  // The shortest text that reads back as `v`, laid out as Go's encoding/json does (what kubectl
  // sends, and what resource.Quantity parses): fixed from 1e-6 to 1e21, else an exponent.
  double a = std::fabs(v);
  auto format = a != 0 && (a < 1e-6 || a >= 1e21) ? std::chars_format::scientific : std::chars_format::fixed;
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  std::string text(buf, ec == std::errc{} ? end : buf);
  if (auto e = text.find("e-0"); e != std::string::npos) text.erase(e + 2, 1);  // e-07 -> e-7, as Go
  out += text;
}

void emit(std::string& out, const Node& n, KeyOrder order, bool canonical) {
  switch (n.type) {
    case Type::null: out += "null"; return;
    case Type::boolean: out += n.value.boolean ? "true" : "false"; return;
    case Type::integer: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n.value.integer);
      out.append(buf, ec == std::errc{} ? end : buf);
      return;
    }
    case Type::number: append_number(out, n.value.number, canonical); return;
    case Type::string:
      out += '"';
      util::append_json_escaped(out, n.text);
      out += '"';
      return;
    case Type::sequence: {
      out += '[';
      bool first = true;
      for (const Node* item : n.items) {
        if (!first) out += ',';
        first = false;
        emit(out, *item, order, canonical);
      }
      out += ']';
      return;
    }
    case Type::mapping: {
      out += '{';
      auto member = [&](const Entry& e, bool first) {
        if (!first) out += ',';
        out += '"';
        util::append_json_escaped(out, e.key->text);
        out += "\":";
        emit(out, *e.value, order, canonical);
      };
      if (order == KeyOrder::sorted) {
        std::vector<const Entry*> entries;
        entries.reserve(n.entries.size());
        for (const auto& e : n.entries) entries.push_back(&e);
        std::sort(entries.begin(), entries.end(),
                  [](const Entry* a, const Entry* b) { return a->key->text < b->key->text; });
        for (std::size_t i = 0; i < entries.size(); ++i) member(*entries[i], i == 0);
      } else {
        for (std::size_t i = 0; i < n.entries.size(); ++i) member(n.entries[i], i == 0);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

void append_json(std::string& out, const Node& node, KeyOrder order) { emit(out, node, order, false); }

std::string to_json(const Node& node, KeyOrder order) {
  std::string out;
  emit(out, node, order, false);
  return out;
}

std::string canonical_json(const Node& node) {
  std::string out;
  emit(out, node, KeyOrder::sorted, true);
  return out;
}

}  // namespace portcullis::yaml
