#include "shared/yaml/parse.hpp"

#include <yaml.h>

#include <string>

#include "shared/util/strings.hpp"
#include "shared/yaml/arena.hpp"
#include "shared/yaml/builder.hpp"

namespace portcullis::yaml {

Stream::Stream() : m_arena(std::make_unique<Arena>()) {}
Stream::~Stream() = default;
Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;
Arena& Stream::arena() { return *m_arena; }

namespace {

Mark to_mark(const yaml_mark_t& m) {
  return Mark{static_cast<std::uint32_t>(m.line + 1), static_cast<std::uint32_t>(m.column + 1)};
}

// Position of byte `offset` in `text` as 1-based line and column.
Mark mark_of_offset(std::string_view text, std::size_t offset) {
  Mark m{1, 1};
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++m.line;
      m.column = 1;
    } else {
      ++m.column;
    }
  }
  return m;
}

struct Parser {
  yaml_parser_t parser;
  Parser() { yaml_parser_initialize(&parser); }
  ~Parser() { yaml_parser_delete(&parser); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
};

struct Event {
  yaml_event_t event;
  bool live = false;
  ~Event() {
    if (live) yaml_event_delete(&event);
  }
};

std::string_view view(const yaml_char_t* s) {
  return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view{};
}

util::Error parser_error(const yaml_parser_t& p) {
  util::Error e;
  e.rule = p.error == YAML_READER_ERROR ? "yaml.encoding" : "yaml.syntax";
  std::string problem = p.problem ? p.problem : "malformed YAML";
  e.message = problem;
  if (p.context) {
    // libyaml says "while parsing a block mapping"; where that mapping starts is the useful part.
    e.message += " (";
    e.message += p.context;
    e.message += " that starts at line " + std::to_string(p.context_mark.line + 1) + ", column " +
                 std::to_string(p.context_mark.column + 1) + ")";
  }
  e.line = static_cast<std::uint32_t>(p.problem_mark.line + 1);
  e.column = static_cast<std::uint32_t>(p.problem_mark.column + 1);
  return e;
}

// Sets `node` from a scalar with an explicit tag. Returns false for tags Kubernetes' decoder
// does not understand.
bool resolve_tagged(std::string_view tag, std::string_view text, Node& node) {
  constexpr std::string_view core = "tag:yaml.org,2002:";
  if (tag == "!") {
    node.type = Type::string;
    return true;
  }
  if (!tag.starts_with(core)) return false;
  std::string_view t = tag.substr(core.size());
  if (t == "str" || t == "binary" || t == "timestamp") {
    node.type = Type::string;
    return true;
  }
  Node probe;
  resolve_plain_scalar(text, probe);
  if (t == "null" && probe.type == Type::null) return node.type = Type::null, true;
  if (t == "bool" && probe.type == Type::boolean) return node.type = probe.type, node.value = probe.value, true;
  if (t == "int" && probe.type == Type::integer) return node.type = probe.type, node.value = probe.value, true;
  if (t == "float" && (probe.type == Type::number || probe.type == Type::integer)) {
    node.type = Type::number;
    node.value.number = probe.type == Type::integer ? static_cast<double>(probe.value.integer) : probe.value.number;
    return true;
  }
  return false;
}

}  // namespace

util::Result<Stream> parse_yaml(std::string_view text, const Limits& limits) {
  std::size_t bad = 0;
  if (!util::valid_utf8(text, &bad)) {
    Mark m = mark_of_offset(text, bad);
    util::Error e{"invalid UTF-8 (byte 0x" + [&] {
                    static const char* hex = "0123456789abcdef";
                    unsigned char c = static_cast<unsigned char>(text[bad]);
                    return std::string{hex[c >> 4], hex[c & 15]};
                  }() + "); manifests must be UTF-8 text",
                  "yaml.encoding", {}, m.line, m.column};
    return util::fail(std::move(e));
  }
  Stream stream;
  TreeBuilder builder(stream, limits);
  Parser p;
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  while (true) {
    Event ev;
    if (!yaml_parser_parse(&p.parser, &ev.event)) return util::fail(parser_error(p.parser));
    ev.live = true;
    const yaml_event_t& e = ev.event;
    std::optional<util::Error> err;
    switch (e.type) {
      case YAML_STREAM_END_EVENT: return stream;
      case YAML_DOCUMENT_START_EVENT: builder.begin_document(to_mark(e.start_mark)); break;
      case YAML_DOCUMENT_END_EVENT: err = builder.end_document(); break;
      case YAML_SCALAR_EVENT: {
        Node* n = builder.new_node(Type::string, to_mark(e.start_mark));
        std::string_view value(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        n->text = builder.copy(value);
        std::string_view tag = view(e.data.scalar.tag);
        if (!tag.empty()) {
          if (!resolve_tagged(tag, value, *n)) {
            util::Error bad_tag{"unsupported YAML tag " + std::string(tag), "yaml.syntax", {}, n->mark.line,
                                n->mark.column};
            return util::fail(std::move(bad_tag));
          }
        } else if (e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
          resolve_plain_scalar(value, *n);
          // A plain "<<" is a merge key; marked here so a quoted "<<" stays an ordinary key.
          if (n->type == Type::string && value == "<<") n->value.integer = 1;
        }
        err = builder.scalar(n, view(e.data.scalar.anchor));
        break;
      }
      case YAML_SEQUENCE_START_EVENT: {
        Node* n = builder.new_node(Type::sequence, to_mark(e.start_mark));
        err = builder.begin_collection(n, view(e.data.sequence_start.anchor));
        break;
      }
      case YAML_MAPPING_START_EVENT: {
        Node* n = builder.new_node(Type::mapping, to_mark(e.start_mark));
        err = builder.begin_collection(n, view(e.data.mapping_start.anchor));
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: err = builder.end_collection(); break;
      case YAML_ALIAS_EVENT: err = builder.alias(view(e.data.alias.anchor), to_mark(e.start_mark)); break;
      default: break;
    }
    if (err) return util::fail(std::move(*err));
  }
}

}  // namespace portcullis::yaml
