#pragma once
// http(s)://host[:port][/path] split into parts.
#include <string>
#include <string_view>

#include "shared/util/error.hpp"

namespace portcullis::util {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without IPv6 brackets
  int port = 0;
  std::string path;    // "" or "/..." (no trailing '/')
};

Result<Url> parse_url(std::string_view url);

}  // namespace portcullis::util
