#pragma once
// Internal to shared/yamledit: writing scalars so that they read back as intended.
#include <optional>
#include <string>
#include <string_view>

#include "shared/yamledit/yamledit.hpp"

namespace portcullis::yamledit::detail {

enum class Context : std::uint8_t { block, flow };

// True when `value` written plain would not read back as the string `value` (another type, a
// syntax character, a document marker, leading or trailing space...). Errs on quoting.
bool needs_quotes(std::string_view value, Context context);

// `value` in double quotes with YAML escapes.
std::string double_quoted(std::string_view value);
// `value` in single quotes; nullopt when it holds what single quotes cannot (line breaks,
// control characters).
std::optional<std::string> single_quoted(std::string_view value);

// The text of `value` replacing a scalar written in `old_style`: strings keep a quoted style,
// are quoted (double) only when needed otherwise; other types are written plain.
std::string emit(const Value& value, Style old_style, Context context);

// A mapping key for an inserted entry.
std::string emit_key(std::string_view key);

}  // namespace portcullis::yamledit::detail
