#include "shared/render/environment.hpp"

#include "shared/policy/policy.hpp"
#include "shared/util/hash.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::render {

util::Result<std::vector<policy::Environment>> environments_at(const git::Repository& repo, const policy::Policy& p,
                                                               const git::Oid& tree) {
  if (!p.discover_environments) return p.environments;
  std::vector<policy::Environment> out;
  auto dir = repo.entry_at(tree, policy::k_environments_dir);
  if (!dir) return util::fail(dir.error());
  if (!*dir || (*dir)->kind != git::EntryKind::tree) return out;
  // Every directory directly under environments/ (git stores no empty ones), without reading
  // what is in them: a 20,000-file environment costs one tree read.
  auto entries = repo.entries((*dir)->oid);
  if (!entries) return util::fail(entries.error());
  for (const auto& [name, e] : *entries)
    if (e.kind == git::EntryKind::tree) out.push_back(policy::discovered_environment(name));
  return out;
}

std::vector<policy::Environment> environments_of(const git::Repository& repo, const policy::Policy& p,
                                                 const git::Oid& tree) {
  return environments_at(repo, p, tree).value_or(std::vector<policy::Environment>{});
}

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

util::Result<bool> is_kustomized(const git::Repository& repo, const git::Oid& root, std::string_view env_path) {
  kustomize::GitSource source(repo, root);
  return kustomize::has_kustomization(source, env_path);
}

util::Result<Kustomized> build_environment(const git::Repository& repo, const git::Oid& root,
                                           std::string_view env_path) {
  kustomize::GitSource source(repo, root);
  auto built = kustomize::build(source, env_path);
  if (!built) return util::fail(built.error());
  Kustomized k;
  k.output = std::move(*built);
  k.objects.reserve(k.output.objects.size());
  for (std::size_t i = 0; i < k.output.objects.size(); ++i) {
    const yaml::Node& node = *k.output.objects[i].node;
    manifest::collect_objects(node, i, node.is_mapping() && manifest::is_sops(node) ? k.encrypted : k.objects);
  }
  return k;
}

std::string inputs_digest(const git::Repository& repo, const git::Oid& root, const std::vector<std::string>& paths) {
  std::string all;
  for (const auto& p : paths) {
    all += p;
    all += '\x1f';
    auto e = repo.entry_at(root, p);
    if (!e)
      all += "?" + e.error().message;
    else if (!*e)
      all += "-";
    else if ((*e)->kind == git::EntryKind::tree)
      all += "tree";  // a directory is probed for its type only; what the build reads in it is listed
    else
      all += (*e)->oid.hex() + ":" + std::to_string(static_cast<int>((*e)->kind));
    all += '\n';
  }
  return util::sha256_hex(all);
}

std::optional<std::vector<std::string>> outside_inputs(const git::Repository& repo, const git::Oid& root,
                                                       std::string_view env_path) {
  auto kustomized = is_kustomized(repo, root, env_path);
  if (!kustomized) return std::nullopt;
  if (!*kustomized) return std::vector<std::string>{};
  auto built = build_environment(repo, root, env_path);
  if (!built) return std::nullopt;
  std::vector<std::string> out;
  for (auto& p : built->output.files_read)
    if (!within(env_path, p) && p != env_path) out.push_back(std::move(p));
  return out;
}

}  // namespace portcullis::render
