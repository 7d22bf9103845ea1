#pragma once
// A compiled set of JSON Schemas: the unit the validator runs. Built by `Compiler` in memory
// or mapped read-only from a store file; either way immutable and cheap to share.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::schema {

namespace format {
struct Header;
struct NodeRec;
struct PropRec;
struct StringRec;
struct RootRec;
}  // namespace format

enum class Scope { unknown, namespaced, cluster };

using NodeId = std::uint32_t;

struct Root {
  NodeId node;
  Scope scope;
};

class Program {
 public:
  Program();
  ~Program();
  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;

  // Takes ownership of serialized bytes (as produced by `Compiler::finish`).
  static util::Result<Program> from_bytes(std::vector<std::byte> bytes);
  // Maps a store file read-only. Fails on a missing, truncated or foreign file.
  static util::Result<Program> map_file(const std::filesystem::path& path);

  // The schema for objects of `api_version`/`kind` ("apps/v1", "Deployment"), if any.
  std::optional<Root> find(std::string_view api_version, std::string_view kind) const;
  std::size_t root_count() const;
  // Every root, in (apiVersion, kind) order: for listings and tests.
  struct RootInfo {
    std::string_view api_version, kind;
    Root root;
  };
  RootInfo root_at(std::size_t index) const;

  // The serialized bytes (to save as a store file).
  std::span<const std::byte> bytes() const;

  // Accessors for the validator.
  const format::NodeRec& node(NodeId id) const;
  std::span<const format::PropRec> props(const format::NodeRec& n) const;
  std::span<const std::uint32_t> pool(std::uint32_t begin, std::uint32_t count) const;
  std::string_view str(std::uint32_t id) const;

 private:
  util::Result<void> attach(const std::byte* data, std::size_t size);

  struct Storage;
  std::unique_ptr<Storage> m_storage;
  const format::Header* m_header = nullptr;
  const format::NodeRec* m_nodes = nullptr;
  const format::PropRec* m_props = nullptr;
  const std::uint32_t* m_pool = nullptr;
  const format::StringRec* m_strings = nullptr;
  const char* m_chars = nullptr;
  const format::RootRec* m_roots = nullptr;
};

}  // namespace portcullis::schema
