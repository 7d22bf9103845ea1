#pragma once
// Writing Node trees back out as JSON.
#include <string>

#include "shared/yaml/node.hpp"

namespace portcullis::yaml {

enum class KeyOrder { document, sorted };

// Compact JSON for `node` (NaN and infinities, which JSON lacks, become null).
std::string to_json(const Node& node, KeyOrder order = KeyOrder::document);
void append_json(std::string& out, const Node& node, KeyOrder order = KeyOrder::document);

// Canonical form used to compare values (JSON Schema `enum`/`const`, uniqueItems): sorted keys,
// integral numbers written as integers.
std::string canonical_json(const Node& node);

}  // namespace portcullis::yaml
