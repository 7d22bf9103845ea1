#include "shared/yaml/node.hpp"

namespace portcullis::yaml {

std::string_view type_name(Type type) {
  switch (type) {
    case Type::null: return "null";
    case Type::boolean: return "boolean";
    case Type::integer: return "integer";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::sequence: return "array";
    case Type::mapping: return "object";
  }
  return "?";
}

const Node* Node::get(std::string_view key) const {
  if (type != Type::mapping) return nullptr;
  for (const auto& e : entries)
    if (e.key->text == key) return e.value;
  return nullptr;
}

std::string_view Node::get_string(std::string_view key) const {
  const Node* n = get(key);
  return n && n->type == Type::string ? n->text : std::string_view{};
}

const Node* Node::at(std::initializer_list<std::string_view> path) const {
  const Node* n = this;
  for (auto key : path) {
    n = n->get(key);
    if (!n) return nullptr;
  }
  return n;
}

}  // namespace portcullis::yaml
