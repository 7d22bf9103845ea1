#pragma once
// Edits of YAML text that keep the file as written: only the bytes of the target change.
// Comments, key order, quoting style, indentation, CRLF line ends, a BOM and the other
// documents of a multi-document stream stay byte for byte. Nodes are located with libyaml's
// marks, the new bytes are spliced in, and the result is parsed again (shared/yaml) and
// compared with the intended document (the old one with only the edited value changed)
// before it is returned: an edit that cannot be shown to do exactly that fails (fail closed).
//
// What is refused, with a clear error (rule ids in brackets):
// - a path that names nothing, or names a collection where a scalar is wanted [yamledit.not-found,
//   yamledit.not-scalar]; a match step (`[name=app]`) that matches several items [yamledit.ambiguous];
// - a target that an alias shares: an anchored scalar some alias (or merge key) uses, or one
//   inside an anchored collection some alias uses (editing it would change every alias too),
//   unless `Anchors::allow`; a path through an alias, always [yamledit.anchored]. An anchored
//   node nothing aliases is edited like any other (the anchor stays);
// - a block scalar (| or >) as target [yamledit.block-scalar];
// - a tagged scalar (!!str 1, !custom x) as target [yamledit.tagged];
// - keys that are not strings are never matched [yamledit.not-found];
// - text libyaml cannot parse, or that shared/yaml refuses (complex keys, duplicate keys,
//   unsupported tags, alias bombs) [yamledit.syntax]; a result that does not re-parse to the
//   intended document [yamledit.verify].
// Scalars inside flow collections ({a: 1}, [x, y]) are edited in flow style; keys are inserted
// into block mappings only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::yamledit {

// One step of a path: a mapping key, a sequence index, or the item of a sequence of mappings
// whose field `key` is the string `value` (containers are addressed by `name`).
struct Step {
  enum class Kind : std::uint8_t { key, index, match };
  Kind kind = Kind::key;
  std::string key;        // key: the mapping key; match: the field compared
  std::size_t index = 0;  // index: 0-based
  std::string value;      // match: the field's value

  static Step of_key(std::string_view key);
  static Step at(std::size_t index);
  static Step where(std::string_view field, std::string_view value);
  bool operator==(const Step&) const = default;
};
using Path = std::vector<Step>;

// Parses a dotted path: `spec.template.spec.containers[name=app].image`, `items[0]`,
// `metadata.annotations["example.com/x.y"]` (a quoted key may hold dots, brackets and \" \\).
// Fails on an empty step, an unclosed bracket or quote.
util::Result<Path> parse_path(std::string_view text);
// The inverse of parse_path (keys quoted when they need it).
std::string format_path(const Path& path);

// A new scalar value. `string` values always read back as strings: written plain when that is
// unambiguous, quoted otherwise ("1.10", "yes", "null", "0x1F", ": x", "#x", leading spaces...);
// when the old scalar was quoted its quote style is kept (escaped as that style needs; a value
// a single-quoted scalar cannot hold, such as a newline, switches to double quotes). The others
// are written plain and read back as their type.
struct Value {
  enum class Type : std::uint8_t { string, integer, boolean, null };
  Type type = Type::string;
  std::string text;  // string: the value; others: their plain spelling

  static Value string(std::string_view text);
  static Value integer(std::int64_t number);
  static Value boolean(bool value);
  static Value null();
  bool operator==(const Value&) const = default;
};

enum class Anchors : std::uint8_t { refuse, allow };
enum class Create : std::uint8_t { no, yes };  // set(): insert missing keys (and block maps)

struct Options {
  Anchors anchors = Anchors::refuse;
};

// The text with the scalar at `path` of document `document` (0-based) replaced by `value`.
util::Result<std::string> set_scalar(std::string_view text, std::size_t document, const Path& path,
                                     const Value& value, const Options& options = {});

// Like set_scalar, but with `Create::yes` a missing final key is inserted into its block mapping
// (after its last entry, at its siblings' indentation), and missing intermediate keys become
// block mappings (indented two spaces more than their parent's entries). Index and match steps
// are never created. An empty `{}` or `null` value of an intermediate key is not replaced:
// refused (yamledit.not-found).
util::Result<std::string> set(std::string_view text, std::size_t document, const Path& path, const Value& value,
                              Create create = Create::yes, const Options& options = {});

// The text without the key at `path`: in a block mapping, the lines from the key's to the end
// of its value's last line (a trailing comment on them goes too; comment lines before the key
// stay); after a "- " the entry up to the next key; in a flow mapping, the entry and a comma.
// Removing an absent key, or the only key of a block mapping (which would turn it into null),
// is an error (yamledit.not-found).
util::Result<std::string> remove_key(std::string_view text, std::size_t document, const Path& path,
                                     const Options& options = {});

// The text with the scalar that starts at `line`:`column` (1-based, libyaml's marks: columns
// count characters) replaced by `value`: what markers use. Fails when no scalar value starts
// there (yamledit.not-found).
util::Result<std::string> replace_at(std::string_view text, std::uint32_t line, std::uint32_t column,
                                     const Value& value, const Options& options = {});

// One replacement of a batch: the scalar that starts at `line`:`column`, as replace_at takes it.
struct Replacement {
  std::uint32_t line = 0, column = 0;
  Value value;
};

// Every replacement at once: located once, spliced, and verified by one re-parse (what a plan
// with many markers in one large file needs; one edit at a time re-parses the file each time).
// Fails as a whole, with the first refusal, when any one would fail alone; two replacements of
// one scalar are an error (yamledit.not-found).
util::Result<std::string> replace_all(std::string_view text, const std::vector<Replacement>& replacements,
                                      const Options& options = {});

// How a scalar is written.
enum class Style : std::uint8_t { plain, single_quoted, double_quoted, literal, folded };

// A scalar value (not a key) of the stream, where it is and how it is written.
struct Scalar {
  std::size_t document = 0;
  Path path;            // from the document root; match steps are never used here
  std::string value;    // as parsed (escapes decoded)
  Style style = Style::plain;
  std::uint32_t line = 0, column = 0;  // 1-based start, as replace_at takes it
  std::size_t begin = 0, end = 0;      // byte range in the text, quotes included
  bool in_flow = false;                // inside a flow collection
  bool anchored = false;               // carries an &anchor
  bool tagged = false;                 // carries a !tag
  // Trailing comment on the scalar's last line ("# ..." after it), "" when none.
  std::string comment;
};

// Every scalar value of every document, in document order (aliases are not listed: they are
// no scalar of their own). Fails like parse errors do (yamledit.syntax).
util::Result<std::vector<Scalar>> scalars(std::string_view text);

}  // namespace portcullis::yamledit
