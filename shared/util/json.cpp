#include "shared/util/json.hpp"

#include "shared/util/strings.hpp"

namespace portcullis::util {

namespace {

void write(std::string& out, const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : j.items()) {
        if (!first) out += ',';
        first = false;
        out += '"';
        append_json_escaped(out, key);
        out += "\":";
        write(out, value);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : j) {
        if (!first) out += ',';
        first = false;
        write(out, item);
      }
      out += ']';
      return;
    }
    case Json::value_t::string:
      out += '"';
      append_json_escaped(out, j.get_ref<const std::string&>());
      out += '"';
      return;
    default:  // null, booleans and numbers: nothing to escape
      out += j.dump();
      return;
  }
}

}  // namespace

std::string dump(const Json& document) {
  std::string out;
  write(out, document);
  return out;
}

}  // namespace portcullis::util
