#pragma once
// Internal to shared/yaml: builds Node trees from parser events, enforcing `Limits`,
// duplicate keys and merge keys. Used by the YAML (libyaml) and JSON front ends.
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/util/error.hpp"
#include "shared/yaml/arena.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::yaml {

class TreeBuilder {
 public:
  TreeBuilder(Stream& stream, const Limits& limits) : m_stream(stream), m_arena(stream.arena()), m_limits(limits) {}

  void begin_document(Mark mark);
  std::optional<util::Error> end_document();

  // A new node (scalar or collection start). `node` must come from `new_node()`.
  Node* new_node(Type type, Mark mark);
  std::optional<util::Error> scalar(Node* node, std::string_view anchor);
  std::optional<util::Error> begin_collection(Node* node, std::string_view anchor);
  std::optional<util::Error> end_collection();
  std::optional<util::Error> alias(std::string_view anchor, Mark mark);
  std::string_view copy(std::string_view text) { return m_arena.copy(text); }

 private:
  struct Frame {
    Node* node;
    std::size_t start;  // index into m_items / m_entries where this frame's children begin
    const Node* pending_key = nullptr;
    std::string anchor;
    bool has_merge = false;
  };

  std::optional<util::Error> add_child(const Node* child);
  std::optional<util::Error> finish_mapping(Frame& frame);
  util::Error error_at(Mark mark, std::string message, std::string rule) const;

  Stream& m_stream;
  Arena& m_arena;
  const Limits& m_limits;
  Document m_document;
  bool m_in_document = false;
  std::vector<Frame> m_frames;
  std::vector<const Node*> m_items;
  std::vector<Entry> m_entries;
  std::unordered_map<std::string, const Node*> m_anchors;
  std::uint64_t m_nodes = 0;
};

}  // namespace portcullis::yaml
