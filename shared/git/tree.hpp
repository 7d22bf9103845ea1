#pragma once
// Git's tree object format, read here rather than by libgit2: its parser spends ~330
// instructions per entry (its mode parser alone ~220) and checks neither order nor names, so a
// one-file push into a directory of 6,667 manifests spent more in parsing and checking the
// directory's two versions than in everything else it did.
#include <cstdint>
#include <string_view>
#include <vector>

#include "shared/git/repository.hpp"
#include "shared/util/error.hpp"

namespace portcullis::git {

struct RawEntry {
  std::string_view name;              // inside the tree's bytes
  const unsigned char* id = nullptr;  // 20 bytes, inside the tree's bytes
  std::uint32_t mode = 0;             // normalised as libgit2 normalises it (0100644, 040000, ...)
  EntryKind kind = EntryKind::blob;
  bool is_tree() const { return kind == EntryKind::tree; }
};

// Git's tree order: names compare bytewise, a tree's name as if it ended in '/'.
int compare_entries(std::string_view a, bool a_tree, std::string_view b, bool b_tree);

// The entries of a tree object's bytes (which they point into). Refuses, naming the entry by
// `where` (the tree's path) joined with its name:
// - what git's own reader refuses: a mode that is not octal digits followed by one space, an
//   empty name, an id cut short;
// - names a checkout refuses and that would let one path stand for another: ".", "..", ".git"
//   (in any case) and names with '/' (git fsck: hasDot, hasDotdot, hasDotgit, fullPathname);
// - a name listed twice or out of Git's order (git fsck: duplicateEntries, treeNotSorted).
util::Result<std::vector<RawEntry>> parse_tree(std::string_view data, std::string_view where);

// What parse_tree_after found unchanged: the first `head` and the last `tail` entries of the
// tree it read are the base's.
struct Unchanged {
  std::size_t head = 0;
  std::size_t tail = 0;
};

// parse_tree(data, where), reading only the bytes that differ from `base_data`, a tree
// parse_tree accepted (`base` its entries): the next version of a directory repeats most of the
// last one, and reading and checking 20,000 entries to find the one that changed was most of a
// one-file push. The result is parse_tree's, entry for entry and refusal for refusal: the
// entries wholly inside the bytes both share at the start, and those from where the reading
// meets the base's entries in the bytes both share at the end, are the base's, already checked;
// what lies between is read with every check, and checked against both; any doubt reads the
// whole tree with parse_tree.
util::Result<std::vector<RawEntry>> parse_tree_after(std::string_view base_data, const std::vector<RawEntry>& base,
                                                     std::string_view data, std::string_view where,
                                                     Unchanged* unchanged = nullptr);

// The entries of bytes known to be a tree parse_tree accepted (a copy checked against its
// object id): only their structure is read, without parse_tree's checks on names and order.
util::Result<std::vector<RawEntry>> reread_tree(std::string_view data);

// The entry of `entries` (a parsed tree) called `name`; with `want_tree`, only a tree.
const RawEntry* find_entry(const std::vector<RawEntry>& entries, std::string_view name, bool want_tree);

}  // namespace portcullis::git
