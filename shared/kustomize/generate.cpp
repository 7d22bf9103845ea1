// configMapGenerator and secretGenerator: key/value sources (env files, literals, files),
// generator options, and how a generated object joins those already accumulated.
#include <set>

#include "shared/kustomize/generate.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::kustomize {

namespace {

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// kustomize's Secret values: base64 in lines of 70 characters, each ended by a newline when
// there is more than one.
std::string wrapped_base64(std::string_view in) {
  std::string enc = base64(in);
  constexpr std::size_t k_line = 70;
  if (enc.size() / k_line + 1 <= 1) return enc;
  std::string out;
  for (std::size_t i = 0; i < enc.size(); i += k_line) {
    out += enc.substr(i, k_line);
    out += '\n';
  }
  return out;
}

std::string remove_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == s.back() && (s.front() == '"' || s.front() == '\'')) return s.substr(1, s.size() - 2);
  return s;
}

std::string basename(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

util::Result<void> add_pair(std::vector<std::pair<std::string, std::string>>& pairs, std::string key,
                            std::string value, std::string_view file) {
  for (const auto& [k, v] : pairs)
    if (k == key)
      return util::fail(error("configmap/secret generator: duplicate key '" + key + "'", "kustomize.invalid", file));
  pairs.emplace_back(std::move(key), std::move(value));
  return {};
}

}  // namespace

util::Result<Resource> generate(const GeneratorArgs& args, bool secret, FileReader& reader) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& env : args.envs) {
    auto text = reader.read_file(env);
    if (!text) return util::fail(text.error());
    std::string_view rest = *text;
    if (util::starts_with(rest, "\xEF\xBB\xBF")) rest.remove_prefix(3);
    for (auto raw : util::split(rest, '\n')) {
      std::string line(raw);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos) continue;
      line = line.substr(start);
      if (line[0] == '#') continue;
      auto eq = line.find('=');
      std::string key = line.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
      if (key.find_first_of(" \t") != std::string::npos)
        return util::fail(error("env file " + env + ": key '" + key + "' has white space", "kustomize.invalid", env));
      auto ok = add_pair(pairs, key, value, env);
      if (!ok) return util::fail(ok.error());
    }
  }
  for (const auto& literal : args.literals) {
    auto eq = literal.find('=');
    if (eq == std::string::npos)
      return util::fail(error("invalid literal source " + literal + ", expected key=value", "kustomize.invalid",
                              args.kustomization));
    auto ok = add_pair(pairs, literal.substr(0, eq), remove_quotes(literal.substr(eq + 1)), args.kustomization);
    if (!ok) return util::fail(ok.error());
  }
  for (const auto& source : args.files) {
    std::string key, path;
    if (auto eq = source.find('='); eq != std::string::npos) {
      key = source.substr(0, eq);
      path = source.substr(eq + 1);
      if (key.empty() || path.empty())
        return util::fail(error("invalid file source '" + source + "'", "kustomize.invalid", args.kustomization));
    } else {
      path = source;
      key = basename(source);
    }
    auto text = reader.read_file(path);
    if (!text) return util::fail(text.error());
    auto ok = add_pair(pairs, key, std::move(*text), path);
    if (!ok) return util::fail(ok.error());
  }

  Resource r;
  r.generated = true;
  r.behavior = args.behavior.empty() ? "create" : args.behavior;
  r.file = args.kustomization;
  Json& o = r.object;
  o["apiVersion"] = "v1";
  o["kind"] = secret ? "Secret" : "ConfigMap";
  o["metadata"] = Json::object();
  o["metadata"]["name"] = args.name;
  if (!args.namespace_.empty()) o["metadata"]["namespace"] = args.namespace_;
  if (!args.labels.empty()) o["metadata"]["labels"] = args.labels;
  if (!args.annotations.empty()) o["metadata"]["annotations"] = args.annotations;
  if (secret) {
    o["type"] = args.type.empty() ? "Opaque" : args.type;
    Json data = Json::object();
    for (auto& [k, v] : pairs) data[k] = wrapped_base64(v);
    if (!data.empty()) o["data"] = std::move(data);
  } else {
    Json data = Json::object(), binary = Json::object();
    for (auto& [k, v] : pairs) {
      if (util::valid_utf8(v))
        data[k] = v;
      else
        binary[k] = base64(v);
    }
    if (!data.empty()) o["data"] = std::move(data);
    if (!binary.empty()) o["binaryData"] = std::move(binary);
  }
  if (args.immutable) o["immutable"] = true;
  r.needs_hash = !args.disable_hash;
  return r;
}

util::Result<void> absorb(Resources& resources, Resource generated, std::size_t max_objects) {
  Id id = generated.id();
  std::vector<std::size_t> found;
  for (std::size_t i = 0; i < resources.size(); ++i)
    if (resources[i].any_id([&](const Id& other) { return other == id; })) found.push_back(i);
  if (found.empty()) {
    if (generated.behavior == "merge" || generated.behavior == "replace")
      return util::fail(error("id " + id.str() + " does not exist; cannot merge or replace", "kustomize.invalid",
                              generated.file));
    if (resources.size() >= max_objects)
      return util::fail(error("more than " + std::to_string(max_objects) + " objects", "kustomize.limit", generated.file));
    resources.push_back(std::move(generated));
    return {};
  }
  if (found.size() > 1)
    return util::fail(error("found multiple objects that could accept merge of " + id.str(), "kustomize.conflict",
                            generated.file));
  Resource& old = resources[found[0]];
  if (generated.behavior != "merge" && generated.behavior != "replace")
    return util::fail(error("id " + id.str() + " exists; can not use behavior: '" + generated.behavior +
                                "', behavior must be merge or replace",
                            "kustomize.conflict", generated.file));
  Json& meta = generated.object["metadata"];
  const Json& old_meta = old.object["metadata"];
  for (const char* field : {"labels", "annotations"}) {
    Json merged = Json::object();
    if (old_meta.contains(field) && old_meta[field].is_object()) merged = old_meta[field];
    if (meta.contains(field) && meta[field].is_object())
      for (auto it = meta[field].begin(); it != meta[field].end(); ++it) merged[it.key()] = it.value();
    if (!merged.empty()) meta[field] = std::move(merged);
  }
  meta["name"] = old.name();
  if (old.namespace_().empty())
    meta.erase("namespace");
  else
    meta["namespace"] = old.namespace_();
  if (generated.behavior == "merge") {
    for (const char* field : {"data", "binaryData"}) {
      Json merged = Json::object();
      if (old.object.contains(field) && old.object[field].is_object()) merged = old.object[field];
      if (generated.object.contains(field) && generated.object[field].is_object())
        for (auto it = generated.object[field].begin(); it != generated.object[field].end(); ++it)
          merged[it.key()] = it.value();
      if (!merged.empty()) generated.object[field] = std::move(merged);
    }
  }
  generated.needs_hash = generated.needs_hash && old.needs_hash;
  generated.serial = old.serial;
  generated.previous = old.previous;
  generated.prefixes = old.prefixes;
  generated.suffixes = old.suffixes;
  generated.file = old.file;
  generated.line = old.line;
  generated.behavior = "create";
  old = std::move(generated);
  return {};
}

}  // namespace portcullis::kustomize
