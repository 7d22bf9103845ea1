#pragma once
// Expected failures as values: every fallible function in Portcullis returns
// `Result<T>`; exceptions are reserved for the fatal and caught once per executable.
#include <cstdint>
#include <expected>
#include <string>
#include <utility>

namespace portcullis::util {

struct Error {
  std::string message;   // what is wrong, in words a person can act on
  std::string rule;      // stable rule id (e.g. "yaml.syntax"), empty when none applies
  std::string file;      // path inside the repository or on disk, when known
  std::uint32_t line = 0;    // 1-based; 0 = unknown
  std::uint32_t column = 0;  // 1-based; 0 = unknown

  // "file:line:column: message", leaving out what is unknown.
  std::string describe() const;
};

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for returning a failure: `return util::fail("no such file")`.
inline std::unexpected<Error> fail(std::string message, std::string rule = {}) {
  return std::unexpected(Error{std::move(message), std::move(rule), {}, 0, 0});
}
inline std::unexpected<Error> fail(Error error) { return std::unexpected(std::move(error)); }

}  // namespace portcullis::util
