#pragma once
// Internal to shared/yamledit: a YAML stream read with libyaml into a tree that knows where
// every node is written (byte offsets), how (style, anchor, tag) and which nodes aliases share.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "shared/util/error.hpp"
#include "shared/yamledit/yamledit.hpp"

namespace portcullis::yamledit::detail {

struct LNode {
  enum class Kind : std::uint8_t { scalar, sequence, mapping, alias };
  Kind kind = Kind::scalar;
  Style style = Style::plain;  // scalars
  bool flow = false;           // collections written in flow style; scalars inside one
  std::size_t begin = 0, end = 0;  // byte offsets of the node as written (anchor/tag excluded)
  std::uint32_t line = 0, column = 0;  // 1-based start
  std::string value;   // scalars: decoded
  bool anchored = false;
  bool tagged = false;
  const LNode* target = nullptr;  // alias: the anchored node
  std::vector<const LNode*> items;                              // sequence
  std::vector<std::pair<const LNode*, const LNode*>> entries;  // mapping
};

struct LDocument {
  const LNode* root = nullptr;
  std::unordered_set<const LNode*> aliased;  // nodes some alias of this document refers to
};

struct Located {
  std::deque<LNode> nodes;
  std::vector<LDocument> documents;
  std::string eol = "\n";  // the file's line end (the first one found)
};

util::Result<Located> locate(std::string_view text);

// A path resolved to concrete keys and indexes, and the node at each step.
struct Resolved {
  std::vector<const LNode*> chain;  // root, then the node after each step
  Path concrete;                    // match steps replaced by indexes
  std::size_t found = 0;            // steps that resolved (== path size when all did)
};
// Walks `path` from the root of `doc`. Fails on ambiguous matches and aliases on the way; stops
// (found < size) at the first step that names nothing.
util::Result<Resolved> resolve(const LDocument& doc, const Path& path);

}  // namespace portcullis::yamledit::detail
