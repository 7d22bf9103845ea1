#include "shared/render/environment.hpp"

#include "shared/policy/policy.hpp"
#include "shared/util/hash.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::render {

std::string Selection::key() const {
  if (exclude.empty()) return {};
  std::string all;
  for (const auto& e : exclude) all += e + '\n';
  return "x" + util::sha256_hex(all).substr(0, 16);
}

std::optional<std::string_view> within(std::string_view env_path, std::string_view path) {
  if (env_path.empty()) return path;
  if (path.size() <= env_path.size() || !path.starts_with(env_path) || path[env_path.size()] != '/')
    return std::nullopt;
  return path.substr(env_path.size() + 1);
}

FileUse use_of(const Selection& selection, std::string_view env_path, std::string_view rel, git::EntryKind kind) {
  if (kind != git::EntryKind::blob && kind != git::EntryKind::executable) return FileUse::other;
  switch (manifest::role_of(rel)) {
    case manifest::FileRole::ignored: return FileUse::other;
    case manifest::FileRole::kustomization: return FileUse::kustomization;
    case manifest::FileRole::manifest: break;
  }
  if (!selection.exclude.empty()) {
    std::string full = env_path.empty() ? std::string(rel) : std::string(env_path) + "/" + std::string(rel);
    for (const auto& pattern : selection.exclude)
      if (util::glob_match(pattern, full, util::Slash::special)) return FileUse::excluded;
  }
  return FileUse::objects;
}

Declared declared_in(const yaml::Stream& stream) {
  Declared out;
  for (std::size_t i = 0; i < stream.documents.size(); ++i) {
    const yaml::Node* root = stream.documents[i].root;
    if (!root) continue;  // an empty document
    if (!root->is_mapping()) {
      out.not_objects.push_back(i);
      continue;
    }
    if (manifest::is_sops(*root)) {
      out.encrypted.push_back(i);
      continue;
    }
    manifest::collect_objects(*root, i, out.objects);
  }
  return out;
}

util::Result<yaml::Stream> parse_file(std::string_view path, std::string_view text, const yaml::Limits& limits) {
  return path.ends_with(".json") ? yaml::parse_json(text, limits) : yaml::parse_yaml(text, limits);
}

util::Result<std::vector<File>> environment_files(const git::Repository& repo, const git::Oid& tree,
                                                  std::string_view env_path, const Selection& selection) {
  std::vector<File> out;
  auto walked = repo.walk(tree, "", [&](const std::string& path, const git::TreeEntry& e) {
    if (use_of(selection, env_path, path, e.kind) == FileUse::objects) out.push_back(File{path, e.oid});
    return true;
  });
  if (!walked) return util::fail(walked.error());
  return out;
}

util::Result<Selection> selection_at(const git::Repository& repo, const git::Oid& commit) {
  auto tree = repo.commit_tree(commit);
  if (!tree) return util::fail(tree.error());
  auto entry = repo.entry_at(*tree, policy::k_policy_file);
  if (!entry) return util::fail(entry.error());
  if (!*entry) return Selection{};
  auto text = repo.read_blob((*entry)->oid, 1 << 20);
  if (!text) return util::fail(std::string(policy::k_policy_file) + " at " + commit.short_hex() + ": " + text.error().message);
  auto parsed = policy::parse_policy(*text, policy::k_policy_file);
  if (!parsed)
    return util::fail(std::string(policy::k_policy_file) + " at " + commit.short_hex() + " is invalid: " +
                      parsed.error().describe());
  return Selection{parsed->exclude};
}

}  // namespace portcullis::render
