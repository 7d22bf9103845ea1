#include "shared/yamledit/yamledit.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include "shared/util/json.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "shared/yamledit/emit.hpp"
#include "shared/yamledit/locate.hpp"

namespace portcullis::yamledit {

using detail::Context;
using detail::LDocument;
using detail::LNode;
using detail::Located;
using detail::Resolved;

Step Step::of_key(std::string_view key) { return Step{Kind::key, std::string(key), 0, {}}; }
Step Step::at(std::size_t index) { return Step{Kind::index, {}, index, {}}; }
Step Step::where(std::string_view field, std::string_view value) {
  return Step{Kind::match, std::string(field), 0, std::string(value)};
}

Value Value::string(std::string_view text) { return Value{Type::string, std::string(text)}; }
Value Value::integer(std::int64_t number) { return Value{Type::integer, std::to_string(number)}; }
Value Value::boolean(bool value) { return Value{Type::boolean, value ? "true" : "false"}; }
Value Value::null() { return Value{Type::null, "null"}; }

namespace {

util::Error error_at(const LNode* n, std::string message, std::string rule) {
  return util::Error{std::move(message), std::move(rule), {}, n ? n->line : 0, n ? n->column : 0};
}

// Where the scalar itself starts: after its anchor and tag, which libyaml's mark includes.
std::size_t value_begin(std::string_view text, const LNode& n) {
  std::size_t p = n.begin;
  while (p < n.end && (text[p] == '&' || text[p] == '!')) {
    while (p < n.end && text[p] != ' ' && text[p] != '\t' && text[p] != '\n' && text[p] != '\r') ++p;
    while (p < n.end && (text[p] == ' ' || text[p] == '\t' || text[p] == '\n' || text[p] == '\r')) ++p;
  }
  return p;
}

std::size_t line_start(std::string_view text, std::size_t pos) {
  auto nl = text.rfind('\n', pos == 0 ? 0 : pos - 1);
  return pos == 0 || nl == std::string_view::npos ? 0 : nl + 1;
}

// The start of the line after the one `pos` is on (the text's end when it is the last line).
std::size_t next_line(std::string_view text, std::size_t pos) {
  if (pos > 0 && text[pos - 1] == '\n') return pos;
  auto nl = text.find('\n', pos);
  return nl == std::string_view::npos ? text.size() : nl + 1;
}

// Where a node's last written character ends: block collections end where their last child
// does (libyaml's end mark for them is the next token, which may be lines later).
std::size_t content_end(const LNode& n) {
  if (n.kind == LNode::Kind::mapping && !n.flow && !n.entries.empty()) return content_end(*n.entries.back().second);
  if (n.kind == LNode::Kind::sequence && !n.flow && !n.items.empty()) return content_end(*n.items.back());
  return n.end;
}

std::string describe_path(const Path& path) { return path.empty() ? "the document root" : format_path(path); }

// JSON of every document as shared/yaml reads `text`.
util::Result<std::vector<util::Json>> documents_json(std::string_view text) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) return util::fail(stream.error());
  std::vector<util::Json> out;
  for (const auto& d : stream->documents) {
    out.push_back(d.root ? util::Json::parse(yaml::to_json(*d.root), nullptr, false) : util::Json());
  }
  return out;
}

util::Json* json_at(util::Json& doc, const Path& concrete) {
  util::Json* at = &doc;
  for (const Step& s : concrete) {
    if (s.kind == Step::Kind::key) {
      if (!at->is_object() || !at->contains(s.key)) return nullptr;
      at = &(*at)[s.key];
    } else {
      if (!at->is_array() || s.index >= at->size()) return nullptr;
      at = &(*at)[s.index];
    }
  }
  return at;
}

util::Json json_of(const Value& v) {
  switch (v.type) {
    case Value::Type::string: return v.text;
    case Value::Type::integer: return std::stoll(v.text);
    case Value::Type::boolean: return v.text == "true";
    case Value::Type::null: return nullptr;
  }
  return nullptr;
}

// Fails unless `after` parses, has as many documents as `before`, and they equal those of
// `before` changed by `change` (which sees every document).
util::Result<void> verify_all(std::string_view before, std::string_view after,
                              const std::function<bool(std::vector<util::Json>&)>& change) {
  auto old_docs = documents_json(before);
  if (!old_docs) {
    util::Error e = old_docs.error();
    e.message = "the file is not YAML Portcullis reads: " + e.message;
    e.rule = "yamledit.syntax";
    return util::fail(std::move(e));
  }
  auto new_docs = documents_json(after);
  if (!new_docs) return util::fail("the edited text does not parse (" + new_docs.error().describe() + "); nothing was changed",
                                   "yamledit.verify");
  if (new_docs->size() != old_docs->size()) {
    return util::fail("the edit changed the number of documents; nothing was changed", "yamledit.verify");
  }
  if (!change(*old_docs)) return util::fail("the intended document could not be built", "yamledit.verify");
  if (*old_docs != *new_docs) {
    return util::fail("the edited text does not read back as the intended document; nothing was changed",
                      "yamledit.verify");
  }
  return {};
}

// verify_all for a change of document `index` alone.
util::Result<void> verify(std::string_view before, std::string_view after, std::size_t index,
                          const std::function<bool(util::Json&)>& change) {
  return verify_all(before, after, [&](std::vector<util::Json>& docs) { return index < docs.size() && change(docs[index]); });
}

util::Result<Located> locate_document(std::string_view text, std::size_t document) {
  auto located = detail::locate(text);
  if (!located) return located;
  if (document >= located->documents.size() || !located->documents[document].root) {
    return util::fail("there is no document " + std::to_string(document) + " (the file has " +
                          std::to_string(located->documents.size()) + ")",
                      "yamledit.not-found");
  }
  return located;
}

// Refuses when a node of the chain is shared through an anchor (unless allowed).
util::Result<void> check_shared(const LDocument& doc, const Resolved& r, const Options& options) {
  for (const LNode* n : r.chain) {
    if (n->kind == LNode::Kind::alias) {
      return util::fail(error_at(n, "the path goes through an alias (*anchor); edit the anchored node instead",
                                 "yamledit.anchored"));
    }
    if (options.anchors == Anchors::refuse && doc.aliased.contains(n)) {
      return util::fail(error_at(n, "the target is inside an anchored node (&anchor) that aliases use elsewhere: "
                                    "editing it would change them too",
                                 "yamledit.anchored"));
    }
  }
  return {};
}

util::Result<Resolved> resolve_all(const LDocument& doc, const Path& path) {
  auto r = detail::resolve(doc, path);
  if (!r) return r;
  if (r->found < path.size()) {
    Path known(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(r->found));
    return util::fail(error_at(r->chain.back(),
                               "no " + format_path(Path{path[r->found]}) + " under " + describe_path(known),
                               "yamledit.not-found"));
  }
  return r;
}

bool is_merge_key(const LNode& k) { return k.kind == LNode::Kind::scalar && k.style == Style::plain && k.value == "<<"; }

const LNode* deref(const LNode* n) { return n->kind == LNode::Kind::alias ? n->target : n; }

// Every path at which `target` appears in the document as shared/yaml reads it (aliases and
// merge keys expanded), visiting at most `budget` nodes.
void occurrences(const LNode& n, const LNode* target, Path& path, std::vector<Path>& out, std::size_t& budget) {
  if (budget == 0) return;
  --budget;
  if (&n == target) {
    out.push_back(path);
    return;
  }
  if (n.kind == LNode::Kind::alias) return occurrences(*n.target, target, path, out, budget);
  if (n.kind == LNode::Kind::sequence) {
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      path.push_back(Step::at(i));
      occurrences(*n.items[i], target, path, out, budget);
      path.pop_back();
    }
  }
  if (n.kind != LNode::Kind::mapping) return;
  std::vector<std::string> seen;
  auto visit = [&](const LNode& k, const LNode& v) {
    if (k.kind != LNode::Kind::scalar || std::find(seen.begin(), seen.end(), k.value) != seen.end()) return;
    seen.push_back(k.value);
    path.push_back(Step::of_key(k.value));
    occurrences(v, target, path, out, budget);
    path.pop_back();
  };
  for (const auto& [k, v] : n.entries) {
    if (!is_merge_key(*k)) visit(*k, *v);
  }
  for (const auto& [k, v] : n.entries) {
    if (!is_merge_key(*k)) continue;
    std::vector<const LNode*> merged;
    const LNode* mv = deref(v);
    if (mv->kind == LNode::Kind::sequence) {
      for (const LNode* item : mv->items) merged.push_back(deref(item));
    } else {
      merged.push_back(mv);
    }
    for (const LNode* m : merged) {
      if (m->kind != LNode::Kind::mapping) continue;
      for (const auto& [mk, mvv] : m->entries) visit(*mk, *mvv);
    }
  }
}

// A scalar replacement, checked and written, not yet applied.
struct Splice {
  std::size_t document = 0;
  std::size_t begin = 0, end = 0;
  std::string written;
  std::vector<Path> where;  // every path the value appears at (aliases and merges expanded)
  Value value;
};

util::Result<Splice> prepare(std::string_view text, const Located& located, std::size_t document, const Resolved& r,
                             const Value& value, const Options& options) {
  const LDocument& doc = located.documents[document];
  const LNode* target = r.chain.back();
  if (auto ok = check_shared(doc, r, options); !ok) return util::fail(ok.error());
  if (target->kind != LNode::Kind::scalar) {
    return util::fail(error_at(target, describe_path(r.concrete) + " is a collection, not a scalar", "yamledit.not-scalar"));
  }
  if (target->tagged) {
    return util::fail(error_at(target, describe_path(r.concrete) + " carries a tag (!tag): not edited in place",
                               "yamledit.tagged"));
  }
  if (target->style == Style::literal || target->style == Style::folded) {
    return util::fail(error_at(target, describe_path(r.concrete) + " is a block scalar (| or >): not edited in place",
                               "yamledit.block-scalar"));
  }
  if (value.type == Value::Type::string && !util::Json(value.text).is_string()) {
    return util::fail("the new value is not valid UTF-8", "yamledit.value");
  }
  Splice s;
  s.document = document;
  s.value = value;
  s.begin = value_begin(text, *target);
  s.end = target->end;
  s.written = detail::emit(value, target->style, target->flow ? Context::flow : Context::block);
  if (s.begin == s.end && s.begin > 0 && text[s.begin - 1] != ' ' && text[s.begin - 1] != '\t') s.written.insert(0, " ");
  if (options.anchors == Anchors::refuse) {
    s.where.push_back(r.concrete);  // check_shared saw no alias share it: it is only here
    return s;
  }
  std::size_t budget = 1'000'000;
  Path scratch;
  occurrences(*doc.root, target, scratch, s.where, budget);
  if (budget == 0) return util::fail("the document expands to too many nodes to check the edit", "yamledit.verify");
  return s;
}

// Applies `splices` (any order, not overlapping) and verifies the result.
util::Result<std::string> apply_splices(std::string_view text, std::vector<Splice> splices) {
  std::sort(splices.begin(), splices.end(), [](const Splice& a, const Splice& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const Splice& s : splices) {
    if (s.begin < at) return util::fail("two replacements of one scalar", "yamledit.not-found");
    out.append(text.substr(at, s.begin - at)).append(s.written);
    at = s.end;
  }
  out.append(text.substr(at));
  auto ok = verify_all(text, out, [&](std::vector<util::Json>& docs) {
    for (const Splice& s : splices) {
      if (s.document >= docs.size() || s.where.empty()) return false;
      for (const Path& p : s.where) {
        util::Json* j = json_at(docs[s.document], p);
        if (!j) return false;
        *j = json_of(s.value);
      }
    }
    return true;
  });
  if (!ok) return util::fail(ok.error());
  return out;
}

util::Result<std::string> edit_scalar(std::string_view text, const Located& located, std::size_t document,
                                      const Resolved& r, const Value& value, const Options& options) {
  auto splice = prepare(text, located, document, r, value, options);
  if (!splice) return util::fail(splice.error());
  return apply_splices(text, {std::move(*splice)});
}

}  // namespace

util::Result<std::string> set_scalar(std::string_view text, std::size_t document, const Path& path,
                                     const Value& value, const Options& options) {
  auto located = locate_document(text, document);
  if (!located) return util::fail(located.error());
  auto r = resolve_all(located->documents[document], path);
  if (!r) return util::fail(r.error());
  return edit_scalar(text, *located, document, *r, value, options);
}

namespace {

// The text of new entries `keys` (nested block mappings) ending with `value`, at `indent`.
std::string new_entries(const Path& keys, const Value& value, std::size_t indent, const std::string& eol) {
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    out += std::string(indent + 2 * i, ' ') + detail::emit_key(keys[i].key) + ":";
    if (i + 1 < keys.size()) {
      out += eol;
    } else {
      out += " " + detail::emit(value, Style::plain, Context::block) + eol;
    }
  }
  return out;
}

}  // namespace

util::Result<std::string> set(std::string_view text, std::size_t document, const Path& path, const Value& value,
                              Create create, const Options& options) {
  auto located = locate_document(text, document);
  if (!located) return util::fail(located.error());
  const LDocument& doc = located->documents[document];
  auto r = detail::resolve(doc, path);
  if (!r) return util::fail(r.error());
  if (r->found == path.size()) return edit_scalar(text, *located, document, *r, value, options);
  if (create == Create::no) return util::fail(resolve_all(doc, path).error());
  Path rest(path.begin() + static_cast<std::ptrdiff_t>(r->found), path.end());
  const LNode* parent = r->chain.back();
  Path known(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(r->found));
  for (const Step& s : rest) {
    if (s.kind != Step::Kind::key) {
      return util::fail(error_at(parent, "no " + format_path(Path{s}) + " under " + describe_path(known) +
                                             " (list items are not created)",
                                 "yamledit.not-found"));
    }
  }
  if (parent->kind != LNode::Kind::mapping || parent->flow || parent->entries.empty()) {
    return util::fail(error_at(parent, describe_path(known) + " is not a block mapping with entries: cannot insert " +
                                           format_path(rest) + " in place",
                               "yamledit.not-found"));
  }
  if (auto ok = check_shared(doc, *r, options); !ok) return util::fail(ok.error());
  const LNode* first_key = parent->entries.front().first;
  std::size_t indent = first_key->begin - line_start(text, first_key->begin);
  std::size_t pos = next_line(text, content_end(*parent->entries.back().second));
  std::string insert = new_entries(rest, value, indent, located->eol);
  if (pos == text.size() && !text.empty() && text.back() != '\n') {
    insert = located->eol + insert.substr(0, insert.size() - located->eol.size());
  }
  std::string out(text.substr(0, pos));
  out.append(insert).append(text.substr(pos));
  auto ok = verify(text, out, document, [&](util::Json& d) {
    util::Json* at = json_at(d, r->concrete);
    if (!at || !at->is_object()) return false;
    for (std::size_t i = 0; i + 1 < rest.size(); ++i) at = &((*at)[rest[i].key] = util::Json::object());
    (*at)[rest.back().key] = json_of(value);
    return true;
  });
  if (!ok) return util::fail(ok.error());
  return out;
}

util::Result<std::string> remove_key(std::string_view text, std::size_t document, const Path& path,
                                     const Options& options) {
  if (path.empty() || path.back().kind != Step::Kind::key) {
    return util::fail("remove_key needs a path that ends with a key", "yamledit.not-found");
  }
  auto located = locate_document(text, document);
  if (!located) return util::fail(located.error());
  const LDocument& doc = located->documents[document];
  auto r = resolve_all(doc, path);
  if (!r) return util::fail(r.error());
  Resolved parent_chain = *r;
  parent_chain.chain.pop_back();
  if (auto ok = check_shared(doc, parent_chain, options); !ok) return util::fail(ok.error());
  const LNode* parent = r->chain[r->chain.size() - 2];
  std::size_t i = 0;
  while (parent->entries[i].second != r->chain.back()) ++i;
  const auto& [key, val] = parent->entries[i];
  if (parent->entries.size() == 1 && !parent->flow) {
    return util::fail(error_at(key, "removing " + path.back().key + " would leave an empty mapping; remove its parent "
                                        "instead",
                               "yamledit.not-found"));
  }
  std::size_t from = 0, to = 0;
  bool first_on_line = text.substr(line_start(text, key->begin), key->begin - line_start(text, key->begin))
                           .find_first_not_of(" \t") == std::string_view::npos;
  if (!parent->flow && first_on_line) {
    from = line_start(text, key->begin);
    to = next_line(text, content_end(*val));
  } else if (i + 1 < parent->entries.size()) {
    from = key->begin;
    to = parent->entries[i + 1].first->begin;
  } else if (parent->flow && i > 0) {
    from = content_end(*parent->entries[i - 1].second);
    to = content_end(*val);
  } else {
    from = key->begin;
    to = content_end(*val);
  }
  std::string out(text.substr(0, from));
  out.append(text.substr(to));
  Path parent_path(r->concrete.begin(), r->concrete.end() - 1);
  auto ok = verify(text, out, document, [&](util::Json& d) {
    util::Json* at = json_at(d, parent_path);
    return at && at->is_object() && at->erase(path.back().key) == 1;
  });
  if (!ok) return util::fail(ok.error());
  return out;
}

namespace {

// Calls `each` with the path of every scalar value below `n` (string keys only; aliases and
// complex keys are not entered).
void walk(const LNode& n, Path& path, const std::function<void(const Path&, const LNode&)>& each) {
  if (n.kind == LNode::Kind::scalar) each(path, n);
  if (n.kind == LNode::Kind::sequence) {
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      path.push_back(Step::at(i));
      walk(*n.items[i], path, each);
      path.pop_back();
    }
  }
  if (n.kind == LNode::Kind::mapping) {
    for (const auto& [k, v] : n.entries) {
      if (k->kind != LNode::Kind::scalar || k->tagged || (k->style == Style::plain && k->value == "<<")) continue;
      path.push_back(Step::of_key(k->value));
      walk(*v, path, each);
      path.pop_back();
    }
  }
}

std::string trailing_comment(std::string_view text, std::size_t end) {
  std::size_t eol = text.find('\n', end);
  std::string_view rest = text.substr(end, eol == std::string_view::npos ? std::string_view::npos : eol - end);
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  auto hash = rest.find('#');
  if (hash == std::string_view::npos || (hash > 0 && rest[hash - 1] != ' ' && rest[hash - 1] != '\t')) return {};
  return std::string(rest.substr(hash));
}

}  // namespace

util::Result<std::vector<Scalar>> scalars(std::string_view text) {
  auto located = detail::locate(text);
  if (!located) return util::fail(located.error());
  std::vector<Scalar> out;
  for (std::size_t d = 0; d < located->documents.size(); ++d) {
    const LNode* root = located->documents[d].root;
    if (!root) continue;
    Path path;
    walk(*root, path, [&](const Path& p, const LNode& n) {
      Scalar s;
      s.document = d;
      s.path = p;
      s.value = n.value;
      s.style = n.style;
      s.line = n.line;
      s.column = n.column;
      s.begin = value_begin(text, n);
      s.end = n.end;
      s.in_flow = n.flow;
      s.anchored = n.anchored;
      s.tagged = n.tagged;
      s.comment = trailing_comment(text, n.end);
      out.push_back(std::move(s));
    });
  }
  return out;
}

util::Result<std::string> replace_at(std::string_view text, std::uint32_t line, std::uint32_t column,
                                     const Value& value, const Options& options) {
  auto all = scalars(text);
  if (!all) return util::fail(all.error());
  for (const Scalar& s : *all) {
    if (s.line == line && s.column == column) return set_scalar(text, s.document, s.path, value, options);
  }
  return util::fail(util::Error{"no scalar value starts at line " + std::to_string(line) + ", column " +
                                    std::to_string(column),
                                "yamledit.not-found", {}, line, column});
}

util::Result<std::string> replace_all(std::string_view text, const std::vector<Replacement>& replacements,
                                      const Options& options) {
  auto located = detail::locate(text);
  if (!located) return util::fail(located.error());
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::pair<std::size_t, Path>> at;
  for (std::size_t d = 0; d < located->documents.size(); ++d) {
    if (!located->documents[d].root) continue;
    Path path;
    walk(*located->documents[d].root, path, [&](const Path& p, const LNode& n) { at[{n.line, n.column}] = {d, p}; });
  }
  std::vector<Splice> splices;
  for (const Replacement& r : replacements) {
    auto it = at.find({r.line, r.column});
    if (it == at.end()) {
      return util::fail(util::Error{"no scalar value starts at line " + std::to_string(r.line) + ", column " +
                                        std::to_string(r.column),
                                    "yamledit.not-found", {}, r.line, r.column});
    }
    auto resolved = resolve_all(located->documents[it->second.first], it->second.second);
    if (!resolved) return util::fail(resolved.error());
    auto splice = prepare(text, *located, it->second.first, *resolved, r.value, options);
    if (!splice) return util::fail(splice.error());
    splices.push_back(std::move(*splice));
  }
  if (splices.empty()) return std::string(text);
  return apply_splices(text, std::move(splices));
}

}  // namespace portcullis::yamledit
