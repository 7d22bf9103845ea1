#pragma once
// Internal to shared/yaml: the bump allocator that owns a Stream's nodes and strings.
#include <cstring>
#include <memory>
#include <memory_resource>
#include <span>
#include <string_view>

#include "shared/yaml/node.hpp"

namespace portcullis::yaml {

class Arena {
 public:
  Arena() : m_resource(8192) {}

  Node* make_node() { return new (m_resource.allocate(sizeof(Node), alignof(Node))) Node{}; }

  std::string_view copy(std::string_view text) {
    if (text.empty()) return {};
    auto* p = static_cast<char*>(m_resource.allocate(text.size(), 1));
    std::memcpy(p, text.data(), text.size());
    return {p, text.size()};
  }

  template <class T>
  std::span<const T> copy(std::span<const T> items) {
    if (items.empty()) return {};
    auto* p = static_cast<T*>(m_resource.allocate(sizeof(T) * items.size(), alignof(T)));
    std::uninitialized_copy(items.begin(), items.end(), p);
    return {p, items.size()};
  }

 private:
  std::pmr::monotonic_buffer_resource m_resource;
};

}  // namespace portcullis::yaml
