#include "shared/util/error.hpp"

namespace portcullis::util {

std::string Error::describe() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line) {
      out += ':' + std::to_string(line);
      if (column) out += ':' + std::to_string(column);
    }
    out += ": ";
  }
  out += message;
  return out;
}

}  // namespace portcullis::util
