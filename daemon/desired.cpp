#include "daemon/desired.hpp"

#include <algorithm>
#include <utility>

#include <zlib.h>

#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

std::string owner_value(std::string_view target, std::string_view group, std::string_view kind, std::string_view ns,
                        std::string_view name) {
  return std::string(target) + "/" + std::string(group) + "/" + std::string(kind) + "/" + std::string(ns) + "/" +
         std::string(name);
}

namespace {

void append_string(std::string& out, std::string_view s) {
  out += '"';
  util::append_json_escaped(out, s);
  out += '"';
}

// A mapping with extra string entries, existing keys of the same name replaced.
void append_map_with(std::string& out, const yaml::Node* existing,
                     const std::vector<std::pair<std::string_view, std::string_view>>& extra) {
  out += '{';
  bool first = true;
  if (existing && existing->is_mapping()) {
    for (const auto& e : existing->entries) {
      bool replaced = std::any_of(extra.begin(), extra.end(), [&](const auto& x) { return x.first == e.key->text; });
      if (replaced) continue;
      if (!first) out += ',';
      first = false;
      append_string(out, e.key->text);
      out += ':';
      yaml::append_json(out, *e.value);
    }
  }
  for (const auto& [k, v] : extra) {
    if (!first) out += ',';
    first = false;
    append_string(out, k);
    out += ':';
    append_string(out, v);
  }
  out += '}';
}

}  // namespace

util::Result<std::string> owned_body(std::string_view body, std::string_view target, std::string_view group,
                                     std::string_view kind, std::string_view ns, std::string_view name,
                                     bool set_namespace, std::string_view resource_version) {
  auto doc = yaml::parse_json(body, yaml::Limits{256, 10'000'000, 10'000'000});
  if (!doc || doc->documents.empty() || !doc->documents[0].root || !doc->documents[0].root->is_mapping())
    return util::fail("object body is not a JSON object");
  const yaml::Node& root = *doc->documents[0].root;
  std::string owner = owner_value(target, group, kind, ns, name);
  std::string out = "{";
  bool first = true;
  for (const auto& e : root.entries) {
    if (!first) out += ',';
    first = false;
    append_string(out, e.key->text);
    out += ':';
    if (e.key->text != "metadata" || !e.value->is_mapping()) {
      yaml::append_json(out, *e.value);
      continue;
    }
    out += '{';
    bool mfirst = true;
    for (const auto& m : e.value->entries) {
      if (m.key->text == "labels" || m.key->text == "annotations" || (set_namespace && m.key->text == "namespace") ||
          (!resource_version.empty() && m.key->text == "resourceVersion"))
        continue;
      if (!mfirst) out += ',';
      mfirst = false;
      append_string(out, m.key->text);
      out += ':';
      yaml::append_json(out, *m.value);
    }
    if (!mfirst) out += ',';
    if (set_namespace) {
      out += "\"namespace\":";
      append_string(out, ns);
      out += ',';
    }
    if (!resource_version.empty()) {
      out += "\"resourceVersion\":";
      append_string(out, resource_version);
      out += ',';
    }
    out += "\"labels\":";
    append_map_with(out, e.value->get("labels"), {{k_target_label, target}});
    out += ",\"annotations\":";
    append_map_with(out, e.value->get("annotations"), {{k_owner_annotation, owner}});
    out += '}';
  }
  out += '}';
  return out;
}

namespace {

// One deflate and one inflate stream per thread, reset between uses: compress2()/uncompress()
// set up (and zero) the whole deflate state per call, which cost more than the compression
// itself for thousands of small bodies. Every thread that applies deflates: memLevel 5 keeps
// the hash table that each reset zeroes at 8 KB (64 KB at zlib's default 8); the window stays
// 32 KiB, touched only as far as a body reaches, so large bodies (CRDs) compress as well.
struct Deflater {
  z_stream s{};
  // level 1: most of the gain; JSON of manifests shrinks 4-8x
  bool ok = deflateInit2(&s, 1, Z_DEFLATED, 15, 5, Z_DEFAULT_STRATEGY) == Z_OK;
  ~Deflater() {
    if (ok) deflateEnd(&s);
  }
};
struct Inflater {
  z_stream s{};
  bool ok = inflateInit(&s) == Z_OK;
  ~Inflater() {
    if (ok) inflateEnd(&s);
  }
};

bool deflate_into(std::string_view in, std::string& out) {
  thread_local Deflater d;
  if (!d.ok || deflateReset(&d.s) != Z_OK) return false;
  out.resize(deflateBound(&d.s, static_cast<uLong>(in.size())));
  d.s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  d.s.avail_in = static_cast<uInt>(in.size());
  d.s.next_out = reinterpret_cast<Bytef*>(out.data());
  d.s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&d.s, Z_FINISH) != Z_STREAM_END) return false;
  out.resize(d.s.total_out);
  out.shrink_to_fit();
  return true;
}

bool inflate_into(std::string_view in, std::string& out) {
  thread_local Inflater f;
  if (!f.ok || inflateReset(&f.s) != Z_OK) return false;
  f.s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  f.s.avail_in = static_cast<uInt>(in.size());
  f.s.next_out = reinterpret_cast<Bytef*>(out.data());
  f.s.avail_out = static_cast<uInt>(out.size());
  return inflate(&f.s, Z_FINISH) == Z_STREAM_END && f.s.total_out == out.size();
}

}  // namespace

DesiredState::DesiredState(std::string api_version_, std::string kind_, std::string group_, std::string ns_,
                           std::string name_, std::string path_, kube::Resource resource_, std::string_view body)
    : api_version(std::move(api_version_)), kind(std::move(kind_)), group(std::move(group_)), ns(std::move(ns_)),
      name(std::move(name_)), path(std::move(path_)), resource(std::move(resource_)), m_size(body.size()) {
  if (!deflate_into(body, m_packed)) {
    m_packed.assign(body);  // kept as is, marked by an impossible size
    m_size = std::string::npos;
  }
}

std::string DesiredState::body() const {
  if (m_size == std::string::npos) return m_packed;
  std::string out(m_size, '\0');
  if (!inflate_into(m_packed, out)) return {};  // cannot happen with what the constructor wrote
  return out;
}

std::string object_key(std::string_view group, std::string_view kind, std::string_view ns, std::string_view name) {
  std::string key;
  key.reserve(group.size() + kind.size() + ns.size() + name.size() + 3);
  key.append(group).append("/").append(kind).append("/").append(ns).append("/").append(name);
  return key;
}

bool ignore_matches(const IgnoreRule& rule, std::string_view group, std::string_view kind, std::string_view ns,
                    std::string_view name) {
  auto match = [](const std::string& pattern, std::string_view value) {
    return pattern.empty() || pattern == "*" || util::glob_match(pattern, value);
  };
  bool group_ok = rule.group.empty() || rule.group == "*" || rule.group == group;
  return group_ok && match(rule.kind, kind) && match(rule.namespace_, ns) && match(rule.name, name);
}

}  // namespace portcullis::daemon
