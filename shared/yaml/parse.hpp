#pragma once
// Parsing YAML streams (libyaml, YAML 1.1 scalars resolved the way Kubernetes' go-yaml does)
// and JSON (strict RFC 8259) into `Node` trees, with limits that make hostile input a clear
// error instead of a crash, a hang or unbounded memory.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::yaml {

struct Limits {
  std::uint32_t max_depth = 100;          // nesting of collections
  std::uint64_t max_nodes = 250'000;      // nodes actually built per stream
  std::uint64_t max_expanded = 1'000'000; // nodes per document with aliases expanded
};

struct Document {
  const Node* root = nullptr;  // nullptr for an empty document ("---" with nothing)
  Mark start;                  // where the document starts
};

class Arena;

// Everything parsed from one file. Owns the nodes.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;

  std::vector<Document> documents;
  Arena& arena();

 private:
  std::unique_ptr<Arena> m_arena;
};

// Parses a YAML stream of one or more documents. Errors carry line/column and one of the
// rule ids: "yaml.syntax", "yaml.duplicate-key", "yaml.limit" (depth, size, alias bombs),
// "yaml.encoding" (invalid UTF-8).
util::Result<Stream> parse_yaml(std::string_view text, const Limits& limits = {});

// Parses one JSON value. Errors carry line/column; rule ids as for `parse_yaml`
// ("yaml.syntax" is used for JSON syntax too, so one rule covers every manifest file).
util::Result<Stream> parse_json(std::string_view text, const Limits& limits = {});

// The string at `path` (object keys from the root down) of a JSON text, found by scanning
// without building a tree: for answers of which one field is wanted (the uid of an applied
// object, out of its managedFields). Not a validator: what is skipped is only matched for
// brackets and strings. nullopt when the path is absent, names something not a string, or the
// text is cut or malformed on the way to it.
std::optional<std::string> json_string_at(std::string_view text, std::initializer_list<std::string_view> path);

// Calls `each` with the text of every element of the array at `path`, in order, found the same
// way (the items of a list answer, then parsed one at a time rather than all at once). False
// when the path is absent, is not an array, or the text is cut or malformed before its end;
// `each` returning false stops the walk (and makes the result false).
bool json_array_elements(std::string_view text, std::initializer_list<std::string_view> path,
                         const std::function<bool(std::string_view)>& each);

// Resolves a plain (unquoted, untagged) YAML scalar as go-yaml v2 does (YAML 1.1: yes/no/on/off
// are booleans, 0x1F and 0755 integers, .inf floats). Sets type and value of `node`.
void resolve_plain_scalar(std::string_view text, Node& node);

}  // namespace portcullis::yaml
