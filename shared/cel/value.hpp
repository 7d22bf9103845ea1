#pragma once
// CEL values. Lists, maps and objects are either built by the expression (literals, `map`,
// `filter`, `split`) or read lazily from a manifest's `yaml::Node` typed by a structural
// schema (`Schema`), so a rule on a large object converts only what it touches.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/yaml/node.hpp"

namespace portcullis::cel {

struct Schema;  // shared/cel/schema.hpp

enum class Kind : std::uint8_t {
  null,
  boolean,
  integer,
  uint,
  real,
  string,
  bytes,
  list,
  map,
  duration,   // `i`: nanoseconds
  timestamp,  // `i`: nanoseconds since the Unix epoch
  type,       // `s`: the type's name
  error,      // `s`: the message
};

// The CEL name of a kind: "int", "string", "list", "map", "google.protobuf.Duration", ...
std::string_view kind_name(Kind kind);

class Value {
 public:
  using List = std::vector<Value>;
  using Map = std::vector<std::pair<Value, Value>>;

  Value() = default;
  static Value boolean(bool b);
  static Value integer(std::int64_t i);
  static Value uint(std::uint64_t u);
  static Value real(double d);
  static Value string(std::string s);
  static Value bytes(std::string s);
  static Value list(List items);
  static Value map(Map entries);
  static Value duration(std::int64_t ns);
  static Value timestamp(std::int64_t ns);
  static Value type(std::string name);
  static Value error(std::string message);
  // `node` read as `schema` says (nullptr: as its YAML type says); stays valid while `node`
  // and `schema` do.
  static Value from_node(const yaml::Node* node, const Schema* schema);
  // The same, copied: independent of `node` (a CRD's `default:` outlives its document).
  static Value owned_from_node(const yaml::Node* node, const Schema* schema);

  Kind kind() const { return m_kind; }
  bool is_error() const { return m_kind == Kind::error; }
  bool as_bool() const { return m_b; }
  std::int64_t as_int() const { return m_i; }
  std::uint64_t as_uint() const { return m_u; }
  double as_double() const { return m_d; }
  const std::string& str() const { return m_s; }  // string, bytes, type name, error message

  // Lists and maps (also lazy ones): element count, items, entries and lookup by key.
  std::size_t size() const;
  Value item(std::size_t i) const;
  Value key_at(std::size_t i) const;
  Value value_at(std::size_t i) const;
  // The value of `key`; nullopt when absent.
  std::optional<Value> find(const Value& key) const;

  // CEL equality (heterogeneous numbers compare by value); an error when either is an error.
  friend bool equal(const Value& a, const Value& b);

  // The schema a list or map read from a manifest is typed by; nullptr for others.
  const Schema* schema() const { return m_schema; }

  // What `string(v)` and messages show.
  std::string debug() const;

 private:
  Kind m_kind = Kind::null;
  bool m_b = false;
  std::int64_t m_i = 0;
  std::uint64_t m_u = 0;
  double m_d = 0;
  std::string m_s;
  std::shared_ptr<const List> m_list;
  std::shared_ptr<const Map> m_map;
  const yaml::Node* m_node = nullptr;  // lazy list or map
  const Schema* m_schema = nullptr;
};

bool equal(const Value& a, const Value& b);
// Whether items `x` and `y` of a list of x-kubernetes-list-type map (`list`) have equal values of
// its x-kubernetes-list-map-keys.
bool same_keys(const Value& x, const Value& y, const Schema& list);

// Go's time.ParseDuration ("1h30m", "-1.5s", "300ms"): nanoseconds; nullopt when unreadable.
std::optional<std::int64_t> parse_duration(std::string_view text);
// RFC 3339 ("2024-01-02T03:04:05.5Z", "...+01:00") or a date ("2024-01-02"): nanoseconds
// since the Unix epoch; nullopt when unreadable or out of range.
std::optional<std::int64_t> parse_timestamp(std::string_view text);

}  // namespace portcullis::cel
