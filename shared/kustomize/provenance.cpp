// Where the fields of rendered objects came from: marks that point into the source files (the
// base line of a field a resource file wrote, the patch line of one a patch set), so that the
// gate reports a finding where a person can fix it.
#include <algorithm>
#include <deque>
#include <map>
#include <limits>
#include <string>

#include "shared/kustomize/internal.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kustomize {

namespace {

constexpr std::uint32_t k_no_line = std::numeric_limits<std::uint32_t>::max();

// One step of a path: a mapping key, or a sequence index with the item's `name` when it has one.
struct Step {
  std::string key;  // mappings
  std::size_t index = 0;
  const yaml::Node* item = nullptr;  // sequences: the rendered item
};

// The item of sequence `list` that stands for the rendered `item` at `index`: the one with the
// same `name` (a merge key nearly every patched list has), else the one at the same position.
const yaml::Node* item_like(const yaml::Node& list, std::size_t index, const yaml::Node& item) {
  if (item.is_mapping()) {
    if (const auto* name = item.get("name"); name && name->is_scalar()) {
      for (const auto* candidate : list.items)
        if (const auto* n = candidate->is_mapping() ? candidate->get("name") : nullptr; n && n->is_scalar() && n->text == name->text)
          return candidate;
      return nullptr;
    }
  }
  return index < list.items.size() ? list.items[index] : nullptr;
}

const yaml::Node* step_into(const yaml::Node* node, const Step& step) {
  if (!node) return nullptr;
  if (step.item) return node->is_sequence() ? item_like(*node, step.index, *step.item) : nullptr;
  return node->is_mapping() ? node->get(step.key) : nullptr;
}

// The paths a JSON patch puts values at, as a tree of tokens: each node has the last operation
// whose path ends there (its index and value). Built once per patch, walked with the rendered
// object, so that locating costs one lookup per node and patch however many operations it has.
struct OpTree {
  std::map<std::string, OpTree, std::less<>> children;
  int op = -1;
  const yaml::Node* value = nullptr;
};

OpTree op_tree(const yaml::Node& operations) {
  OpTree root;
  int index = 0;
  for (const auto* op : operations.items) {
    ++index;
    if (!op->is_mapping()) continue;
    const auto* value = op->get("value");
    const auto* where = op->get("path");
    if (!value || !where || !where->is_string()) continue;
    OpTree* t = &root;
    for (auto& token : util::pointer_tokens(where->text)) t = &t->children[token];
    t->op = index;
    t->value = value;
  }
  return root;
}

// Where one contribution stands at the current path: a node of its document or strategic-merge
// patch; for a JSON patch, its operations' tree and the value (of the operation `op`) it is in.
struct Cursor {
  const yaml::Node* node = nullptr;
  const OpTree* tree = nullptr;
  int op = -1;
};

const OpTree* child(const OpTree* tree, std::string_view token) {
  if (!tree) return nullptr;
  auto it = tree->children.find(token);
  return it == tree->children.end() ? nullptr : &it->second;
}

// The cursor one step down: a JSON patch's operation whose path ends at the step (a later one
// than the value the cursor is in) puts its value there; else the step within that value.
Cursor step(const Cursor& c, const Step& s, const yaml::Node& parent) {
  Cursor next{step_into(c.node, s), nullptr, c.op};
  if (!c.tree) return next;
  const OpTree* t = s.item ? child(c.tree, std::to_string(s.index)) : child(c.tree, s.key);
  if (s.item && s.index + 1 == parent.items.size())
    if (const OpTree* append = child(c.tree, "-"); append && (!t || append->op > t->op)) t = append;
  next.tree = t;
  if (t && t->op > c.op) {
    next.node = t->value;
    next.op = t->op;
  }
  return next;
}

// The node of a kustomization value that gave the string field `key` its `value`: the
// `namespace:` scalar for a namespace field holding it; for an image field, the `images:` entry
// whose rule produced it (its newTag, digest or newName line). nullptr otherwise.
const yaml::Node* value_source(const yaml::Node& given, std::string_view key, std::string_view value) {
  if (given.is_scalar()) return key == "namespace" && given.text == value ? &given : nullptr;
  if (!given.is_mapping() || key != "image") return nullptr;
  const yaml::Node* name = given.get("newName");
  if (!name || !name->is_scalar()) name = given.get("name");
  if (!name || !name->is_scalar() || !value.starts_with(name->text)) return nullptr;
  std::string_view rest = value.substr(name->text.size());
  const yaml::Node* tag = given.get("newTag");
  const yaml::Node* digest = given.get("digest");
  if (digest && digest->is_scalar() && rest.ends_with("@" + std::string(digest->text))) return digest;
  if (tag && tag->is_scalar() && rest == ":" + std::string(tag->text)) return tag;
  if (rest.empty() || rest.front() == ':' || rest.front() == '@') return given.get("newName") ? given.get("newName") : &given;
  return nullptr;
}

struct Walker {
  const std::vector<Contribution>& contributions;
  const SourceLayout& layout;

  yaml::Mark virtual_mark(const Contribution& c, const yaml::Node& node) const {
    if (node.mark.line == 0 || c.source >= layout.first.size()) return {};
    return yaml::Mark{layout.first[c.source] + node.mark.line - 1, node.mark.column};
  }

  // `cursors[i]`: where contribution i stands at this node. A mapping or a sequence comes from
  // the first contribution that holds it (a patch merges into what the base wrote); a scalar
  // from the one that gave it its value: a later one holding the same value (the kind and name
  // a patch repeats to find its target, an item's merge key) does not take it over.
  void walk(yaml::Node& rendered, std::string_view key, const std::vector<Cursor>& cursors, yaml::Mark inherited) {
    yaml::Mark mark = inherited;
    const yaml::Node* holder = nullptr;
    for (std::size_t i = 0; i < contributions.size(); ++i) {
      const yaml::Node* at = cursors[i].node;
      if (!at || at->mark.line == 0) continue;
      bool takes = !holder || (rendered.is_scalar() && (at->type != holder->type || at->text != holder->text));
      if (!takes) continue;
      holder = at;
      mark = virtual_mark(contributions[i], *at);
    }
    // A string no source wrote as it is: a kustomization's namespace or image rule may have.
    if (rendered.is_string() && (!holder || holder->text != rendered.text))
      for (std::size_t i = contributions.size(); i-- > 0;)
        if (const yaml::Node* at = contributions[i].kind == Contribution::Kind::value
                                       ? value_source(*contributions[i].node, key, rendered.text)
                                       : nullptr) {
          mark = virtual_mark(contributions[i], *at);
          break;
        }
    rendered.mark = mark;
    if (rendered.is_mapping()) {
      for (const auto& e : rendered.entries) {
        descend(rendered, Step{std::string(e.key->text), 0, nullptr}, const_cast<yaml::Node&>(*e.value), cursors, mark);
        const_cast<yaml::Node&>(*e.key).mark = e.value->mark;
      }
    } else if (rendered.is_sequence()) {
      for (std::size_t i = 0; i < rendered.items.size(); ++i)
        descend(rendered, Step{{}, i, rendered.items[i]}, const_cast<yaml::Node&>(*rendered.items[i]), cursors, mark);
    }
  }

  void descend(const yaml::Node& parent, const Step& s, yaml::Node& child_node, const std::vector<Cursor>& cursors,
               yaml::Mark mark) {
    std::vector<Cursor> next;
    next.reserve(cursors.size());
    for (const auto& c : cursors) next.push_back(step(c, s, parent));
    walk(child_node, s.item ? std::string_view{} : std::string_view(s.key), next, mark);
  }
};

}  // namespace

SourceLayout lay_out(const Sources& sources) {
  SourceLayout layout;
  std::uint64_t next = 1;
  for (const auto& s : sources) {
    // Past the 32-bit line space (billions of lines: never for files within the build's
    // limits), marks stop pointing anywhere rather than into another file.
    layout.first.push_back(next + s.lines < k_no_line ? static_cast<std::uint32_t>(next) : k_no_line);
    next += s.lines;
  }
  return layout;
}

void set_provenance(yaml::Node& object, const std::vector<Contribution>& contributions, const SourceLayout& layout) {
  std::vector<Contribution> usable;
  for (const auto& c : contributions)
    if (c.node && c.source < layout.first.size() && layout.first[c.source] != k_no_line) usable.push_back(c);
  std::deque<OpTree> trees;  // stable addresses for the cursors
  std::vector<Cursor> cursors;
  for (const auto& c : usable) {
    if (c.kind == Contribution::Kind::value) {  // located by value, not by path
      cursors.push_back(Cursor{});
      continue;
    }
    if (c.kind != Contribution::Kind::json6902) {
      cursors.push_back(Cursor{c.node, nullptr, -1});
      continue;
    }
    trees.push_back(op_tree(*c.node));
    const OpTree& t = trees.back();
    // An operation on the whole object ("" path) puts its value at the root.
    cursors.push_back(t.op >= 0 ? Cursor{t.value, &t, t.op} : Cursor{nullptr, &t, -1});
  }
  Walker walker{usable, layout};
  walker.walk(object, {}, cursors, {});
}

std::optional<Location> Output::locate(yaml::Mark mark) const {
  if (mark.line == 0) return std::nullopt;
  auto it = std::upper_bound(sources.begin(), sources.end(), mark.line,
                             [](std::uint32_t line, const SourceSpan& s) { return line < s.first; });
  if (it == sources.begin()) return std::nullopt;
  const SourceSpan& s = *std::prev(it);
  if (mark.line - s.first >= s.lines) return std::nullopt;
  return Location{s.file, s.offset + (mark.line - s.first) + 1, mark.column};
}

}  // namespace portcullis::kustomize
