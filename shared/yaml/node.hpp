#pragma once
// A parsed YAML or JSON document as an immutable tree. Nodes live in the arena of the
// `Stream` that parsed them and stay valid as long as it does. Aliases share the anchored
// node (no copy); `weight` counts the subtree as if aliases were expanded, so callers can
// refuse alias bombs before walking them.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::yaml {

enum class Type : std::uint8_t { null, boolean, integer, number, string, sequence, mapping };

// Name of a type for messages: "string", "integer", "object", "array", ...
std::string_view type_name(Type type);

struct Mark {
  std::uint32_t line = 0;    // 1-based; 0 = unknown
  std::uint32_t column = 0;  // 1-based
};

struct Node;

struct Entry {
  const Node* key;
  const Node* value;
};

struct Node {
  Type type = Type::null;
  Mark mark;
  std::string_view text;  // scalars: the value as written (decoded escapes); empty otherwise
  union {
    bool boolean;
    std::int64_t integer;
    double number;
  } value{};
  std::span<const Node* const> items;  // sequence
  std::span<const Entry> entries;      // mapping, in document order
  std::uint64_t weight = 1;            // nodes in the subtree, aliases expanded

  bool is_scalar() const { return type != Type::sequence && type != Type::mapping; }
  bool is_string() const { return type == Type::string; }
  bool is_mapping() const { return type == Type::mapping; }
  bool is_sequence() const { return type == Type::sequence; }

  // Value of `key` in a mapping, or nullptr (also when this is not a mapping).
  const Node* get(std::string_view key) const;
  // `get(key)` when it is a string, else empty.
  std::string_view get_string(std::string_view key) const;
  // Follows a path of mapping keys: `at({"metadata", "name"})`.
  const Node* at(std::initializer_list<std::string_view> path) const;
};

}  // namespace portcullis::yaml
