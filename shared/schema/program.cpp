#include "shared/schema/program.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "shared/schema/format.hpp"
#include "shared/util/fs.hpp"

namespace portcullis::schema {

using namespace format;

struct Program::Storage {
  std::vector<std::byte> owned;
  util::MappedFile file;
};

Program::Program() = default;
Program::~Program() = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;

util::Result<void> Program::attach(const std::byte* data, std::size_t size) {
  if (size < sizeof(Header)) return util::fail("schema program is truncated");
  const auto* h = reinterpret_cast<const Header*>(data);
  if (std::memcmp(h->magic, k_magic, sizeof(k_magic)) != 0) return util::fail("not a Portcullis schema program");
  if (h->version != k_version || h->endian != 0x01020304u)
    return util::fail("schema program was written by another Portcullis version or machine; re-run `portcullis schemas import`");
  auto in_bounds = [&](std::uint64_t off, std::uint64_t count, std::size_t elem) {
    return off <= size && count <= (size - off) / elem && off % 8 == 0;
  };
  if (!in_bounds(h->nodes_offset, h->nodes_count, sizeof(NodeRec)) ||
      !in_bounds(h->props_offset, h->props_count, sizeof(PropRec)) ||
      !in_bounds(h->pool_offset, h->pool_count, sizeof(std::uint32_t)) ||
      !in_bounds(h->strings_offset, h->strings_count, sizeof(StringRec)) ||
      !in_bounds(h->chars_offset, h->chars_count, 1) || !in_bounds(h->roots_offset, h->roots_count, sizeof(RootRec)))
    return util::fail("schema program is corrupt (section out of bounds)");
  m_header = h;
  m_nodes = reinterpret_cast<const NodeRec*>(data + h->nodes_offset);
  m_props = reinterpret_cast<const PropRec*>(data + h->props_offset);
  m_pool = reinterpret_cast<const std::uint32_t*>(data + h->pool_offset);
  m_strings = reinterpret_cast<const StringRec*>(data + h->strings_offset);
  m_chars = reinterpret_cast<const char*>(data + h->chars_offset);
  m_roots = reinterpret_cast<const RootRec*>(data + h->roots_offset);
  // Every reference must stay inside its section, so a corrupt file cannot make the
  // validator read out of bounds.
  for (std::uint64_t i = 0; i < h->strings_count; ++i)
    if (m_strings[i].offset > h->chars_count || m_strings[i].length > h->chars_count - m_strings[i].offset)
      return util::fail("schema program is corrupt (string out of bounds)");
  auto node_ok = [&](std::uint32_t id) { return id == k_none || id < h->nodes_count; };
  auto str_ok = [&](std::uint32_t id) { return id == k_none || id < h->strings_count; };
  auto range_ok = [&](std::uint64_t begin, std::uint64_t count, std::uint64_t limit) {
    return begin <= limit && count <= limit - begin;
  };
  for (std::uint64_t i = 0; i < h->nodes_count; ++i) {
    const NodeRec& n = m_nodes[i];
    if (!range_ok(n.props_begin, n.props_count, h->props_count) ||
        !range_ok(n.required_begin, n.required_count, h->pool_count) ||
        !range_ok(n.enum_begin, n.enum_count, h->pool_count) || !range_ok(n.all_begin, n.all_count, h->pool_count) ||
        !range_ok(n.any_begin, n.any_count, h->pool_count) || !range_ok(n.one_begin, n.one_count, h->pool_count) ||
        !node_ok(n.items) || !node_ok(n.additional) || !node_ok(n.not_node) || !str_ok(n.format) ||
        !str_ok(n.pattern) || ((n.flags & f_has_const) && !str_ok(n.const_value)))
      return util::fail("schema program is corrupt (node out of bounds)");
    for (auto id : pool(n.required_begin, n.required_count))
      if (id >= h->strings_count) return util::fail("schema program is corrupt (bad string id)");
    for (auto id : pool(n.enum_begin, n.enum_count))
      if (id >= h->strings_count) return util::fail("schema program is corrupt (bad string id)");
    for (auto [b, c] : {std::pair{n.all_begin, n.all_count}, {n.any_begin, n.any_count}, {n.one_begin, n.one_count}})
      for (auto id : pool(b, c))
        if (id >= h->nodes_count) return util::fail("schema program is corrupt (bad node id)");
  }
  for (std::uint64_t i = 0; i < h->props_count; ++i)
    if (m_props[i].name >= h->strings_count || m_props[i].node >= h->nodes_count)
      return util::fail("schema program is corrupt (bad property)");
  for (std::uint64_t i = 0; i < h->roots_count; ++i)
    if (m_roots[i].api_version >= h->strings_count || m_roots[i].kind >= h->strings_count ||
        m_roots[i].node >= h->nodes_count)
      return util::fail("schema program is corrupt (bad root)");
  return {};
}

util::Result<Program> Program::from_bytes(std::vector<std::byte> bytes) {
  Program p;
  p.m_storage = std::make_unique<Storage>();
  p.m_storage->owned = std::move(bytes);
  if (auto r = p.attach(p.m_storage->owned.data(), p.m_storage->owned.size()); !r) return util::fail(r.error());
  return p;
}

util::Result<Program> Program::map_file(const std::filesystem::path& path) {
  auto file = util::MappedFile::open(path);
  if (!file) return util::fail("schema store: " + file.error().message);
  if (file->bytes().empty()) return util::fail("schema store " + path.string() + " is empty or unreadable");
  Program p;
  p.m_storage = std::make_unique<Storage>();
  p.m_storage->file = std::move(*file);
  const std::string_view bytes = p.m_storage->file.bytes();
  if (auto r = p.attach(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()); !r) {
    auto e = r.error();
    e.message = path.string() + ": " + e.message;
    return util::fail(std::move(e));
  }
  return p;
}

std::optional<Root> Program::find(std::string_view api_version, std::string_view kind) const {
  if (!m_header) return std::nullopt;
  std::size_t lo = 0, hi = m_header->roots_count;
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    const RootRec& r = m_roots[mid];
    auto av = str(r.api_version);
    int c = av.compare(api_version);
    if (c == 0) c = str(r.kind).compare(kind);
    if (c == 0) return Root{r.node, static_cast<Scope>(r.scope)};
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return std::nullopt;
}

std::size_t Program::root_count() const { return m_header ? m_header->roots_count : 0; }

Program::RootInfo Program::root_at(std::size_t index) const {
  const RootRec& r = m_roots[index];
  return RootInfo{str(r.api_version), str(r.kind), Root{r.node, static_cast<Scope>(r.scope)}};
}

std::span<const std::byte> Program::bytes() const {
  if (!m_storage) return {};
  if (const std::string_view mapped = m_storage->file.bytes(); !mapped.empty())
    return {reinterpret_cast<const std::byte*>(mapped.data()), mapped.size()};
  return m_storage->owned;
}

const NodeRec& Program::node(NodeId id) const { return m_nodes[id]; }

std::span<const PropRec> Program::props(const NodeRec& n) const { return {m_props + n.props_begin, n.props_count}; }

std::span<const std::uint32_t> Program::pool(std::uint32_t begin, std::uint32_t count) const {
  return {m_pool + begin, count};
}

std::string_view Program::str(std::uint32_t id) const {
  const StringRec& s = m_strings[id];
  return {m_chars + s.offset, s.length};
}

}  // namespace portcullis::schema
