#pragma once
// JSON documents (API answers, alert payloads, audit lines, push events) are built with
// nlohmann_json, ordered (members in the order they are added), and written with `dump`, which
// escapes strings as json_escape does: strings from Git (ref names, paths, pushers, reasons)
// need not be UTF-8, and a byte that is not is written as \u00XX, kept visible (and told apart
// from a valid character) rather than refused or replaced.
// (Hand-written JSON stays where bench/ shows it matters: apply bodies and inventories.)
#include <string>

#include <nlohmann/json.hpp>

namespace portcullis::util {

using Json = nlohmann::ordered_json;

// Compact JSON text of `document`; never throws.
std::string dump(const Json& document);

}  // namespace portcullis::util
