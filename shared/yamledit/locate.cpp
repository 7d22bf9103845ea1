#include "shared/yamledit/locate.hpp"

#include <yaml.h>

#include <unordered_map>

namespace portcullis::yamledit::detail {

namespace {

struct Parser {
  yaml_parser_t parser;
  Parser() { yaml_parser_initialize(&parser); }
  ~Parser() { yaml_parser_delete(&parser); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
};

struct Event {
  yaml_event_t event{};
  bool live = false;
  ~Event() {
    if (live) yaml_event_delete(&event);
  }
};

// libyaml's mark index counts characters after a BOM (CRLF as two); this maps it to bytes.
class Offsets {
 public:
  explicit Offsets(std::string_view text) {
    std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    for (; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) m_bytes.push_back(i);
    }
    m_bytes.push_back(text.size());
  }
  std::size_t operator()(std::size_t index) const { return index < m_bytes.size() ? m_bytes[index] : m_bytes.back(); }

 private:
  std::vector<std::size_t> m_bytes;
};

Style style_of(yaml_scalar_style_t s) {
  switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: return Style::single_quoted;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return Style::double_quoted;
    case YAML_LITERAL_SCALAR_STYLE: return Style::literal;
    case YAML_FOLDED_SCALAR_STYLE: return Style::folded;
    default: return Style::plain;
  }
}

std::string_view view(const yaml_char_t* s) {
  return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view{};
}

class Builder {
 public:
  Builder(Located& out, std::string_view text) : m_out(out), m_offsets(text) {}

  util::Result<void> on(const yaml_event_t& e);

 private:
  LNode& make(LNode::Kind kind, const yaml_event_t& e, std::string_view anchor, std::string_view tag) {
    LNode& n = m_out.nodes.emplace_back();
    n.kind = kind;
    n.begin = m_offsets(e.start_mark.index);
    n.end = m_offsets(e.end_mark.index);
    n.line = static_cast<std::uint32_t>(e.start_mark.line + 1);
    n.column = static_cast<std::uint32_t>(e.start_mark.column + 1);
    n.anchored = !anchor.empty();
    n.tagged = !tag.empty();
    n.flow = !m_stack.empty() && m_stack.back()->flow;
    if (n.anchored) m_anchors[std::string(anchor)] = &n;
    return n;
  }
  void add(const LNode* n) {
    if (m_stack.empty()) {
      m_out.documents.back().root = n;
      return;
    }
    LNode* parent = m_stack.back();
    if (parent->kind == LNode::Kind::sequence) {
      parent->items.push_back(n);
    } else if (m_pending.back() == nullptr) {
      m_pending.back() = n;
    } else {
      parent->entries.emplace_back(m_pending.back(), n);
      m_pending.back() = nullptr;
    }
  }

  Located& m_out;
  Offsets m_offsets;
  std::vector<LNode*> m_stack;
  std::vector<const LNode*> m_pending;  // per mapping on the stack: its key awaiting a value
  std::unordered_map<std::string, const LNode*> m_anchors;
};

util::Result<void> Builder::on(const yaml_event_t& e) {
  switch (e.type) {
    case YAML_DOCUMENT_START_EVENT:
      m_out.documents.emplace_back();
      m_anchors.clear();
      break;
    case YAML_SCALAR_EVENT: {
      LNode& n = make(LNode::Kind::scalar, e, view(e.data.scalar.anchor), view(e.data.scalar.tag));
      n.style = style_of(e.data.scalar.style);
      n.value.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
      add(&n);
      break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      bool seq = e.type == YAML_SEQUENCE_START_EVENT;
      LNode& n = make(seq ? LNode::Kind::sequence : LNode::Kind::mapping, e,
                      view(seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor),
                      view(seq ? e.data.sequence_start.tag : e.data.mapping_start.tag));
      bool flow = seq ? e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                      : e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
      n.flow = n.flow || flow;
      add(&n);
      m_stack.push_back(&n);
      m_pending.push_back(nullptr);
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
      LNode* n = m_stack.back();
      n->end = m_offsets(e.end_mark.index);
      m_stack.pop_back();
      m_pending.pop_back();
      break;
    }
    case YAML_ALIAS_EVENT: {
      LNode& n = make(LNode::Kind::alias, e, {}, {});
      auto it = m_anchors.find(std::string(view(e.data.alias.anchor)));
      if (it == m_anchors.end()) {
        return util::fail(util::Error{"unknown alias *" + std::string(view(e.data.alias.anchor)), "yamledit.syntax",
                                      {}, n.line, n.column});
      }
      n.target = it->second;
      m_out.documents.back().aliased.insert(it->second);
      add(&n);
      break;
    }
    default: break;
  }
  return {};
}

}  // namespace

util::Result<Located> locate(std::string_view text) {
  Located out;
  if (auto nl = text.find('\n'); nl != std::string_view::npos && nl > 0 && text[nl - 1] == '\r') out.eol = "\r\n";
  Builder builder(out, text);
  Parser p;
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  while (true) {
    Event ev;
    if (!yaml_parser_parse(&p.parser, &ev.event)) {
      const yaml_parser_t& pp = p.parser;
      return util::fail(util::Error{std::string("YAML does not parse: ") + (pp.problem ? pp.problem : "malformed"),
                                    "yamledit.syntax", {}, static_cast<std::uint32_t>(pp.problem_mark.line + 1),
                                    static_cast<std::uint32_t>(pp.problem_mark.column + 1)});
    }
    ev.live = true;
    if (ev.event.type == YAML_STREAM_END_EVENT) return out;
    if (auto r = builder.on(ev.event); !r) return util::fail(r.error());
  }
}

namespace {

util::Error at_node(const LNode& n, std::string message, std::string rule) {
  return util::Error{std::move(message), std::move(rule), {}, n.line, n.column};
}

bool key_is(const LNode& key, std::string_view name) {
  return key.kind == LNode::Kind::scalar && !key.tagged && key.value == name &&
         !(key.style == Style::plain && key.value == "<<");
}

}  // namespace

util::Result<Resolved> resolve(const LDocument& doc, const Path& path) {
  Resolved r;
  if (!doc.root) return r;
  r.chain.push_back(doc.root);
  for (const Step& step : path) {
    const LNode* at = r.chain.back();
    if (at->kind == LNode::Kind::alias) {
      return util::fail(at_node(*at, "the path goes through an alias (*anchor); edit the anchored node instead",
                                "yamledit.anchored"));
    }
    const LNode* next = nullptr;
    Step concrete = step;
    if (step.kind == Step::Kind::key && at->kind == LNode::Kind::mapping) {
      for (const auto& [k, v] : at->entries) {
        if (key_is(*k, step.key)) next = v;
      }
    } else if (step.kind == Step::Kind::index && at->kind == LNode::Kind::sequence) {
      if (step.index < at->items.size()) next = at->items[step.index];
    } else if (step.kind == Step::Kind::match && at->kind == LNode::Kind::sequence) {
      for (std::size_t i = 0; i < at->items.size(); ++i) {
        const LNode* item = at->items[i];
        if (item->kind != LNode::Kind::mapping) continue;
        for (const auto& [k, v] : item->entries) {
          if (key_is(*k, step.key) && v->kind == LNode::Kind::scalar && v->value == step.value) {
            if (next) {
              return util::fail(at_node(*at, "more than one item has " + step.key + ": " + step.value,
                                        "yamledit.ambiguous"));
            }
            next = item;
            concrete = Step::at(i);
          }
        }
      }
    }
    if (!next) return r;
    r.chain.push_back(next);
    r.concrete.push_back(concrete);
    ++r.found;
  }
  return r;
}

}  // namespace portcullis::yamledit::detail
