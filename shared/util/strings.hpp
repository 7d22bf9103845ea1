#pragma once
// Small string helpers used across the libraries.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::util {

// Splits `text` at every `sep`; empty fields are kept.
std::vector<std::string_view> split(std::string_view text, char sep);
std::string_view trim(std::string_view text);
bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);
std::string to_lower(std::string_view text);

// Glob match with `*` (any run of characters), `?` (one character) and `[...]` classes.
// With `slash_special`, `*` and `?` do not match '/', and `**` matches across '/'.
enum class Slash { ordinary, special };
bool glob_match(std::string_view pattern, std::string_view text, Slash slash = Slash::ordinary);

// Parses a duration such as "4s", "250ms", "2h", "1m30s", "1.5s". Returns milliseconds.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);
// A duration as people write it, to the second: "45s", "5m", "1h30m", "2d3h" ("0s" below one).
std::string duration_text(std::int64_t ms);

// Parses a byte size such as "1MiB", "512KiB", "1048576", "2M". Returns bytes.
std::optional<std::uint64_t> parse_bytes(std::string_view text);

// JSON string escaping (without surrounding quotes).
std::string json_escape(std::string_view text);
// The same, appended to `out`.
void append_json_escaped(std::string& out, std::string_view text);

// True when `text` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// On failure `bad_offset` receives the offset of the first bad byte.
bool valid_utf8(std::string_view text, std::size_t* bad_offset = nullptr);
// Appends the UTF-8 encoding of the code point `cp` (JSON and CEL escapes, UTF-16/32 input).
void append_utf8(std::string& out, char32_t cp);

// Undoes git's C-style quoting of a path ("a\"b\\c" with octal escapes); text that is not
// quoted is returned unchanged.
std::string unquote_c_style(std::string_view text);

// The reference tokens of a JSON pointer (RFC 6901), "~1" and "~0" undone: "/a~1b/0" is
// {"a/b", "0"}. Empty for "" (the whole document) and for text that does not start with '/'.
std::vector<std::string> pointer_tokens(std::string_view pointer);

// `unix_seconds` as RFC 3339 in UTC: "2026-12-07T06:10:00Z".
std::string rfc3339_utc(std::int64_t unix_seconds);

}  // namespace portcullis::util
