#include "shared/yaml/builder.hpp"

#include <algorithm>

namespace portcullis::yaml {

util::Error TreeBuilder::error_at(Mark mark, std::string message, std::string rule) const {
  util::Error e;
  e.message = std::move(message);
  e.rule = std::move(rule);
  e.line = mark.line;
  e.column = mark.column;
  return e;
}

void TreeBuilder::begin_document(Mark mark) {
  m_document = Document{nullptr, mark};
  m_in_document = true;
  m_anchors.clear();
}

std::optional<util::Error> TreeBuilder::end_document() {
  // An empty document ("---" followed by nothing, or a bare null) declares nothing;
  // kubectl skips it too.
  if (m_document.root && m_document.root->type == Type::null) m_document.root = nullptr;
  m_stream.documents.push_back(m_document);
  m_in_document = false;
  return std::nullopt;
}

Node* TreeBuilder::new_node(Type type, Mark mark) {
  Node* n = m_arena.make_node();
  n->type = type;
  n->mark = mark;
  return n;
}

std::optional<util::Error> TreeBuilder::add_child(const Node* child) {
  if (child->weight > m_limits.max_expanded)
    return error_at(child->mark,
                    "document expands to more than " + std::to_string(m_limits.max_expanded) +
                        " nodes through aliases (an alias bomb?)",
                    "yaml.limit");
  if (m_frames.empty()) {
    m_document.root = child;
    return std::nullopt;
  }
  Frame& f = m_frames.back();
  if (f.node->type == Type::sequence) {
    m_items.push_back(child);
    return std::nullopt;
  }
  if (!f.pending_key) {
    if (!child->is_scalar())
      return error_at(child->mark, "mapping keys must be scalars; Kubernetes does not accept complex keys",
                      "yaml.syntax");
    f.pending_key = child;
    return std::nullopt;
  }
  const Node* key = f.pending_key;
  f.pending_key = nullptr;
  if (key->type == Type::string && key->text == "<<" && key->value.integer == 1) f.has_merge = true;
  m_entries.push_back(Entry{key, child});
  return std::nullopt;
}

std::optional<util::Error> TreeBuilder::scalar(Node* node, std::string_view anchor) {
  if (++m_nodes > m_limits.max_nodes)
    return error_at(node->mark, "file has more than " + std::to_string(m_limits.max_nodes) + " YAML nodes",
                    "yaml.limit");
  if (!anchor.empty()) m_anchors[std::string(anchor)] = node;
  return add_child(node);
}

std::optional<util::Error> TreeBuilder::begin_collection(Node* node, std::string_view anchor) {
  if (++m_nodes > m_limits.max_nodes)
    return error_at(node->mark, "file has more than " + std::to_string(m_limits.max_nodes) + " YAML nodes",
                    "yaml.limit");
  if (m_frames.size() >= m_limits.max_depth)
    return error_at(node->mark, "nesting deeper than " + std::to_string(m_limits.max_depth) + " levels",
                    "yaml.limit");
  std::size_t start = node->type == Type::sequence ? m_items.size() : m_entries.size();
  m_frames.push_back(Frame{node, start, nullptr, std::string(anchor), false});
  return std::nullopt;
}

std::optional<util::Error> TreeBuilder::finish_mapping(Frame& f) {
  std::span<const Entry> own(m_entries.data() + f.start, m_entries.size() - f.start);
  // Duplicate keys: Kubernetes' decoders keep the last one silently; a gate must not.
  if (own.size() <= 16) {
    for (std::size_t i = 1; i < own.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (own[i].key->text == own[j].key->text && !(f.has_merge && own[i].key->text == "<<"))
          return error_at(own[i].key->mark,
                          "duplicate key \"" + std::string(own[i].key->text) + "\" (first at line " +
                              std::to_string(own[j].key->mark.line) + ")",
                          "yaml.duplicate-key");
  } else {
    std::vector<const Entry*> sorted;
    sorted.reserve(own.size());
    for (const auto& e : own) sorted.push_back(&e);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Entry* a, const Entry* b) { return a->key->text < b->key->text; });
    for (std::size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i]->key->text == sorted[i - 1]->key->text && sorted[i]->key->text != "<<") {
        const Entry* later = sorted[i]->key->mark.line >= sorted[i - 1]->key->mark.line ? sorted[i] : sorted[i - 1];
        const Entry* first = later == sorted[i] ? sorted[i - 1] : sorted[i];
        return error_at(later->key->mark,
                        "duplicate key \"" + std::string(later->key->text) + "\" (first at line " +
                            std::to_string(first->key->mark.line) + ")",
                        "yaml.duplicate-key");
      }
  }
  if (!f.has_merge) {
    f.node->entries = m_arena.copy(own);
    return std::nullopt;
  }
  // Merge keys (<<): entries of the merged mappings that the mapping does not set itself.
  std::vector<Entry> merged;
  std::vector<const Node*> sources;
  for (const auto& e : own) {
    if (e.key->text == "<<" && e.key->value.integer == 1) {
      if (e.value->type == Type::mapping) {
        sources.push_back(e.value);
      } else if (e.value->type == Type::sequence) {
        for (const Node* s : e.value->items) {
          if (s->type != Type::mapping)
            return error_at(s->mark, "a merge key (<<) takes a mapping or a list of mappings", "yaml.syntax");
          sources.push_back(s);
        }
      } else {
        return error_at(e.value->mark, "a merge key (<<) takes a mapping or a list of mappings", "yaml.syntax");
      }
    } else {
      merged.push_back(e);
    }
  }
  std::size_t explicit_count = merged.size();
  for (const Node* s : sources) {
    for (const auto& se : s->entries) {
      bool present = false;
      for (const auto& m : merged)
        if (m.key->text == se.key->text) {
          present = true;
          break;
        }
      if (!present) merged.push_back(se);
    }
  }
  (void)explicit_count;
  f.node->entries = m_arena.copy(std::span<const Entry>(merged));
  return std::nullopt;
}

std::optional<util::Error> TreeBuilder::end_collection() {
  Frame f = std::move(m_frames.back());
  m_frames.pop_back();
  std::uint64_t weight = 1;
  if (f.node->type == Type::sequence) {
    std::span<const Node* const> own(m_items.data() + f.start, m_items.size() - f.start);
    for (const Node* c : own) weight += c->weight;
    f.node->items = m_arena.copy(own);
    m_items.resize(f.start);
  } else {
    if (f.pending_key) return error_at(f.pending_key->mark, "mapping key without a value", "yaml.syntax");
    if (auto err = finish_mapping(f)) return err;
    for (const auto& e : f.node->entries) weight += e.key->weight + e.value->weight;
    m_entries.resize(f.start);
  }
  f.node->weight = weight;
  if (!f.anchor.empty()) m_anchors[f.anchor] = f.node;
  return add_child(f.node);
}

std::optional<util::Error> TreeBuilder::alias(std::string_view anchor, Mark mark) {
  auto it = m_anchors.find(std::string(anchor));
  if (it == m_anchors.end())
    return error_at(mark, "alias *" + std::string(anchor) + " refers to no anchor defined before it",
                    "yaml.syntax");
  return add_child(it->second);
}

}  // namespace portcullis::yaml
