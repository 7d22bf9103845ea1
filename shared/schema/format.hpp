#pragma once
// Internal to shared/schema: the flat, position-independent layout of a compiled schema
// program. The same bytes live in memory (fresh compile) or in a mapped `schemas.bin`
// (the server's store), so the hook loads a whole store in O(1).
#include <cstdint>

namespace portcullis::schema::format {

inline constexpr char k_magic[8] = {'P', 'C', 'S', 'C', 'H', 'E', 'M', 'A'};
inline constexpr std::uint32_t k_version = 1;
inline constexpr std::uint32_t k_none = 0xFFFFFFFFu;

enum TypeBit : std::uint16_t {
  t_null = 1 << 0,
  t_boolean = 1 << 1,
  t_integer = 1 << 2,
  t_number = 1 << 3,
  t_string = 1 << 4,
  t_array = 1 << 5,
  t_object = 1 << 6,
};

enum Flag : std::uint32_t {
  f_closed = 1 << 0,            // declares properties and no additionalProperties: strict mode rejects others
  f_additional_false = 1 << 1,  // additionalProperties: false
  f_preserve_unknown = 1 << 2,  // x-kubernetes-preserve-unknown-fields
  f_int_or_string = 1 << 3,     // x-kubernetes-int-or-string or format int-or-string
  f_has_minimum = 1 << 4,
  f_has_maximum = 1 << 5,
  f_exclusive_minimum = 1 << 6,
  f_exclusive_maximum = 1 << 7,
  f_unique_items = 1 << 8,
  f_has_multiple_of = 1 << 9,
  f_embedded_resource = 1 << 10,
  f_never = 1 << 11,            // the schema `false`: nothing is valid
  f_has_const = 1 << 12,
};

struct NodeRec {
  std::uint16_t types;  // TypeBit mask; 0 = any type
  std::uint16_t reserved;
  std::uint32_t flags;
  std::uint32_t props_begin, props_count;        // PropRec range, sorted by name
  std::uint32_t required_begin, required_count;  // pool range of string ids
  std::uint32_t enum_begin, enum_count;          // pool range of string ids (canonical JSON)
  std::uint32_t all_begin, all_count;            // pool range of node ids
  std::uint32_t any_begin, any_count;
  std::uint32_t one_begin, one_count;
  std::uint32_t items;       // node id or k_none
  std::uint32_t additional;  // node id or k_none
  std::uint32_t not_node;    // node id or k_none
  std::uint32_t format;      // string id or k_none
  std::uint32_t pattern;     // string id or k_none
  std::uint32_t const_value; // string id (canonical JSON) when f_has_const
  std::uint32_t min_length, max_length, min_items, max_items, min_props, max_props;  // k_none = unset
  double minimum, maximum, multiple_of;
};

struct PropRec {
  std::uint32_t name;  // string id
  std::uint32_t node;
};

struct StringRec {
  std::uint32_t offset;  // into the character data
  std::uint32_t length;
};

enum class ScopeCode : std::uint32_t { unknown = 0, namespaced = 1, cluster = 2 };

struct RootRec {
  std::uint32_t api_version;  // string id, "apps/v1" or "v1"
  std::uint32_t kind;         // string id
  std::uint32_t node;
  std::uint32_t scope;        // ScopeCode
};

struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t endian;  // 0x01020304 as written by the machine that compiled it
  std::uint64_t nodes_offset, nodes_count;
  std::uint64_t props_offset, props_count;
  std::uint64_t pool_offset, pool_count;
  std::uint64_t strings_offset, strings_count;
  std::uint64_t chars_offset, chars_count;
  std::uint64_t roots_offset, roots_count;
};

}  // namespace portcullis::schema::format
