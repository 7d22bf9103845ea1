#include "shared/schema/compiler.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/schema/format.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"

namespace portcullis::schema {

using namespace format;
using yaml::Node;
using yaml::Type;

const Node* resolve_pointer(const Node& document, std::string_view pointer) {
  if (!pointer.starts_with("#")) return nullptr;
  pointer.remove_prefix(1);
  const Node* n = &document;
  if (!pointer.empty() && pointer.front() != '/') return nullptr;
  for (const auto& token : util::pointer_tokens(pointer)) {
    if (n->is_mapping()) {
      n = n->get(token);
    } else if (n->is_sequence()) {
      char* endp = nullptr;
      unsigned long idx = std::strtoul(token.c_str(), &endp, 10);
      if (token.empty() || *endp || idx >= n->items.size()) return nullptr;
      n = n->items[idx];
    } else {
      return nullptr;
    }
    if (!n) return nullptr;
  }
  return n;
}

struct Compiler::Impl {
  std::vector<NodeRec> nodes;
  std::vector<PropRec> props;
  std::vector<std::uint32_t> pool;
  std::vector<StringRec> strings;
  std::string chars;
  std::unordered_map<std::string, std::uint32_t> string_ids;
  std::unordered_map<const Node*, NodeId> memo;
  std::map<std::pair<std::string, std::string>, std::pair<NodeId, Scope>> roots;
  NodeId any_node = k_none;

  std::uint32_t intern(std::string_view s) {
    auto it = string_ids.find(std::string(s));
    if (it != string_ids.end()) return it->second;
    auto id = static_cast<std::uint32_t>(strings.size());
    strings.push_back(StringRec{static_cast<std::uint32_t>(chars.size()), static_cast<std::uint32_t>(s.size())});
    chars.append(s);
    string_ids.emplace(std::string(s), id);
    return id;
  }

  static NodeRec blank() {
    NodeRec r{};
    r.items = r.additional = r.not_node = r.format = r.pattern = r.const_value = k_none;
    r.min_length = r.max_length = r.min_items = r.max_items = r.min_props = r.max_props = k_none;
    return r;
  }

  NodeId add_node(const NodeRec& r) {
    nodes.push_back(r);
    return static_cast<NodeId>(nodes.size() - 1);
  }

  util::Error error(const Node& at, std::string message) const {
    util::Error e;
    e.message = std::move(message);
    e.rule = "schema.definition";
    e.line = at.mark.line;
    e.column = at.mark.column;
    return e;
  }

  static std::uint16_t type_bit(std::string_view t) {
    if (t == "null") return t_null;
    if (t == "boolean") return t_boolean;
    if (t == "integer") return t_integer;
    if (t == "number") return t_number;
    if (t == "string") return t_string;
    if (t == "array") return t_array;
    if (t == "object") return t_object;
    return 0;
  }

  util::Result<std::uint32_t> count_value(const Node& s, std::string_view key) {
    const Node* v = s.get(key);
    if (!v) return k_none;
    if (v->type == Type::integer && v->value.integer >= 0)
      return static_cast<std::uint32_t>(std::min<std::int64_t>(v->value.integer, k_none - 1));
    if (v->type == Type::number && v->value.number >= 0 && v->value.number == std::trunc(v->value.number))
      return static_cast<std::uint32_t>(std::min(v->value.number, double(k_none - 1)));
    return util::fail(error(*v, std::string(key) + " must be a non-negative integer"));
  }

  static bool number_of(const Node* v, double& out) {
    if (!v) return false;
    if (v->type == Type::integer) out = static_cast<double>(v->value.integer);
    else if (v->type == Type::number) out = v->value.number;
    else return false;
    return true;
  }

  util::Result<std::pair<std::uint32_t, std::uint32_t>> compile_list(const Node& list, const Node& doc, int depth) {
    if (!list.is_sequence()) return util::fail(error(list, "expected a list of schemas"));
    std::vector<std::uint32_t> ids;
    for (const Node* item : list.items) {
      auto id = compile(*item, doc, depth + 1);
      if (!id) return util::fail(id.error());
      ids.push_back(*id);
    }
    auto begin = static_cast<std::uint32_t>(pool.size());
    pool.insert(pool.end(), ids.begin(), ids.end());
    return std::pair{begin, static_cast<std::uint32_t>(ids.size())};
  }

  util::Result<NodeId> compile(const Node& s, const Node& doc, int depth) {
    if (depth > 200) return util::fail(error(s, "schema nested too deeply"));
    if (s.type == Type::boolean) {
      NodeRec r = blank();
      if (!s.value.boolean) r.flags |= f_never;
      return add_node(r);
    }
    if (!s.is_mapping()) return util::fail(error(s, "a schema must be an object or a boolean"));
    if (auto it = memo.find(&s); it != memo.end()) return it->second;

    if (const Node* ref = s.get("$ref")) {
      if (!ref->is_string()) return util::fail(error(*ref, "$ref must be a string"));
      const Node* target = resolve_pointer(doc, ref->text);
      if (!target) return util::fail(error(*ref, "$ref " + std::string(ref->text) + " points at nothing"));
      // Kubernetes' Quantity is declared as a string but its decoder accepts numbers too
      // ("cpu: 1"), so the apiserver does; so do we.
      bool quantity = ref->text.ends_with("/io.k8s.apimachinery.pkg.api.resource.Quantity");
      auto id = quantity ? compile_quantity(*target, doc, depth) : compile(*target, doc, depth + 1);
      if (!id) return id;
      memo[&s] = *id;
      return id;
    }

    NodeId id = add_node(blank());
    memo[&s] = id;
    NodeRec r = blank();

    if (const Node* t = s.get("type")) {
      if (t->is_string()) {
        r.types = type_bit(t->text);
        if (!r.types) return util::fail(error(*t, "unknown type \"" + std::string(t->text) + "\""));
      } else if (t->is_sequence()) {
        for (const Node* item : t->items) {
          auto bit = item->is_string() ? type_bit(item->text) : std::uint16_t{0};
          if (!bit) return util::fail(error(*item, "unknown type in type list"));
          r.types |= bit;
        }
      } else {
        return util::fail(error(*t, "type must be a string or a list of strings"));
      }
    }
    auto flag = [&](std::string_view key) {
      const Node* v = s.get(key);
      return v && v->type == Type::boolean && v->value.boolean;
    };
    if (flag("nullable") && r.types) r.types |= t_null;
    if (const Node* f = s.get("format"); f && f->is_string()) {
      r.format = intern(f->text);
      if (f->text == "int-or-string") r.flags |= f_int_or_string;
    }
    if (flag("x-kubernetes-int-or-string")) r.flags |= f_int_or_string;
    if (flag("x-kubernetes-preserve-unknown-fields")) r.flags |= f_preserve_unknown;
    if (flag("x-kubernetes-embedded-resource")) r.flags |= f_embedded_resource;
    if (flag("uniqueItems")) r.flags |= f_unique_items;

    if (const Node* p = s.get("properties")) {
      if (!p->is_mapping()) return util::fail(error(*p, "properties must be an object"));
      std::vector<PropRec> own;
      for (const auto& e : p->entries) {
        auto child = compile(*e.value, doc, depth + 1);
        if (!child) return util::fail(child.error());
        own.push_back(PropRec{intern(e.key->text), *child});
      }
      std::sort(own.begin(), own.end(), [&](const PropRec& a, const PropRec& b) { return str(a.name) < str(b.name); });
      r.props_begin = static_cast<std::uint32_t>(props.size());
      r.props_count = static_cast<std::uint32_t>(own.size());
      props.insert(props.end(), own.begin(), own.end());
    }
    const Node* additional = s.get("additionalProperties");
    if (additional) {
      if (additional->type == Type::boolean) {
        if (!additional->value.boolean) r.flags |= f_additional_false;
      } else {
        auto child = compile(*additional, doc, depth + 1);
        if (!child) return util::fail(child.error());
        r.additional = *child;
      }
    }
    if (s.get("properties") && !additional && !(r.flags & f_preserve_unknown)) r.flags |= f_closed;

    if (const Node* items = s.get("items")) {
      if (items->is_mapping() || items->type == Type::boolean) {
        auto child = compile(*items, doc, depth + 1);
        if (!child) return util::fail(child.error());
        r.items = *child;
      }
    }
    if (const Node* req = s.get("required")) {
      if (!req->is_sequence()) return util::fail(error(*req, "required must be a list of names"));
      r.required_begin = static_cast<std::uint32_t>(pool.size());
      for (const Node* name : req->items) {
        if (!name->is_string()) return util::fail(error(*name, "required must list strings"));
        pool.push_back(intern(name->text));
      }
      r.required_count = static_cast<std::uint32_t>(pool.size() - r.required_begin);
    }
    if (const Node* en = s.get("enum")) {
      if (!en->is_sequence()) return util::fail(error(*en, "enum must be a list"));
      r.enum_begin = static_cast<std::uint32_t>(pool.size());
      for (const Node* v : en->items) pool.push_back(intern(yaml::canonical_json(*v)));
      r.enum_count = static_cast<std::uint32_t>(pool.size() - r.enum_begin);
    }
    if (const Node* c = s.get("const")) {
      r.flags |= f_has_const;
      r.const_value = intern(yaml::canonical_json(*c));
    }
    for (auto [key, begin, count] : {std::tuple{"allOf", &r.all_begin, &r.all_count},
                                     std::tuple{"anyOf", &r.any_begin, &r.any_count},
                                     std::tuple{"oneOf", &r.one_begin, &r.one_count}}) {
      if (const Node* list = s.get(key)) {
        auto range = compile_list(*list, doc, depth);
        if (!range) return util::fail(range.error());
        *begin = range->first;
        *count = range->second;
      }
    }
    if (const Node* n = s.get("not")) {
      auto child = compile(*n, doc, depth + 1);
      if (!child) return util::fail(child.error());
      r.not_node = *child;
    }
    if (const Node* p = s.get("pattern"); p && p->is_string()) r.pattern = intern(p->text);

    double v;
    if (number_of(s.get("minimum"), v)) r.minimum = v, r.flags |= f_has_minimum;
    if (number_of(s.get("maximum"), v)) r.maximum = v, r.flags |= f_has_maximum;
    if (flag("exclusiveMinimum")) r.flags |= f_exclusive_minimum;  // draft-04 / OpenAPI form
    if (flag("exclusiveMaximum")) r.flags |= f_exclusive_maximum;
    if (number_of(s.get("exclusiveMinimum"), v)) r.minimum = v, r.flags |= f_has_minimum | f_exclusive_minimum;
    if (number_of(s.get("exclusiveMaximum"), v)) r.maximum = v, r.flags |= f_has_maximum | f_exclusive_maximum;
    if (number_of(s.get("multipleOf"), v) && v > 0) r.multiple_of = v, r.flags |= f_has_multiple_of;
    for (auto [key, field] : {std::pair{"minLength", &r.min_length}, {"maxLength", &r.max_length},
                              {"minItems", &r.min_items}, {"maxItems", &r.max_items},
                              {"minProperties", &r.min_props}, {"maxProperties", &r.max_props}}) {
      auto c = count_value(s, key);
      if (!c) return util::fail(c.error());
      *field = *c;
    }
    nodes[id] = r;
    return id;
  }

  util::Result<NodeId> compile_quantity(const Node& target, const Node& doc, int depth) {
    auto id = compile(target, doc, depth + 1);
    if (!id) return id;
    nodes[*id].types |= t_string | t_integer | t_number;
    nodes[*id].format = intern("quantity");
    return id;
  }

  std::string_view str(std::uint32_t id) const { return {chars.data() + strings[id].offset, strings[id].length}; }
};

Compiler::Compiler() : m_impl(std::make_unique<Impl>()) {}
Compiler::~Compiler() = default;

util::Result<NodeId> Compiler::compile(const yaml::Node& schema, const yaml::Node& document) {
  return m_impl->compile(schema, document, 0);
}

util::Result<NodeId> Compiler::compile_pointer(std::string_view pointer, const yaml::Node& document) {
  const Node* target = resolve_pointer(document, pointer);
  if (!target) return util::fail("no schema at " + std::string(pointer), "schema.definition");
  if (pointer.ends_with("/io.k8s.apimachinery.pkg.api.resource.Quantity"))
    return m_impl->compile_quantity(*target, document, 0);
  return m_impl->compile(*target, document, 0);
}

void Compiler::forget_nodes() { m_impl->memo.clear(); }

NodeId Compiler::any() {
  if (m_impl->any_node == k_none) m_impl->any_node = m_impl->add_node(Impl::blank());
  return m_impl->any_node;
}

void Compiler::add_root(std::string_view api_version, std::string_view kind, NodeId node, Scope scope) {
  m_impl->roots[{std::string(api_version), std::string(kind)}] = {node, scope};
}

namespace {

template <class T>
void append_section(std::vector<std::byte>& out, const std::vector<T>& items, std::uint64_t& offset,
                    std::uint64_t& count) {
  while (out.size() % 8) out.push_back(std::byte{0});
  offset = out.size();
  count = items.size();
  const auto* p = reinterpret_cast<const std::byte*>(items.data());
  out.insert(out.end(), p, p + items.size() * sizeof(T));
}

}  // namespace

util::Result<Program> Compiler::finish() {
  Impl& m = *m_impl;
  std::vector<RootRec> roots;
  roots.reserve(m.roots.size());
  for (const auto& [key, value] : m.roots)
    roots.push_back(RootRec{m.intern(key.first), m.intern(key.second), value.first,
                            static_cast<std::uint32_t>(value.second)});
  // std::map ordered the roots by (apiVersion, kind), which `Program::find` relies on.
  std::vector<std::byte> out(sizeof(Header));
  Header h{};
  std::memcpy(h.magic, k_magic, sizeof(k_magic));
  h.version = k_version;
  h.endian = 0x01020304u;
  append_section(out, m.nodes, h.nodes_offset, h.nodes_count);
  append_section(out, m.props, h.props_offset, h.props_count);
  append_section(out, m.pool, h.pool_offset, h.pool_count);
  append_section(out, m.strings, h.strings_offset, h.strings_count);
  std::vector<char> chars(m.chars.begin(), m.chars.end());
  append_section(out, chars, h.chars_offset, h.chars_count);
  append_section(out, roots, h.roots_offset, h.roots_count);
  std::memcpy(out.data(), &h, sizeof h);
  return Program::from_bytes(std::move(out));
}

}  // namespace portcullis::schema
