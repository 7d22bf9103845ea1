#include "hooks/promote.hpp"

#include <algorithm>
#include <set>

#include "hooks/checks.hpp"
#include "hooks/update.hpp"
#include "shared/manifest/object.hpp"
#include "shared/render/environment.hpp"
#include "shared/yamledit/yamledit.hpp"

namespace portcullis::hooks {

namespace {

std::string name_of(std::string_view reference) { return std::string(manifest::parse_image(reference).name); }

bool wanted(const PromoteRequest& request, std::string_view name) {
  if (!request.image) return true;
  return name == *request.image || name.ends_with("/" + *request.image);
}

// What the environment runs at `tree`: its render's images.
util::Result<std::vector<std::string>> running(const git::Repository& repo, const git::Oid& commit,
                                               const git::Oid& tree, const policy::Environment& env) {
  auto kustomized = render::is_kustomized(repo, tree, env.path);
  if (!kustomized) return util::fail(kustomized.error());
  if (*kustomized) {
    auto images = rendered_images(repo, tree, env.path);
    if (!images) return util::fail("environment " + env.name + " does not build (portcullis render --repo . --env " + env.name + ")");
    return *images;
  }
  std::vector<std::string> out;
  auto dir = repo.entry_at(tree, env.path);
  if (!dir) return util::fail(dir.error());
  if (!*dir || (*dir)->kind != git::EntryKind::tree) return out;
  auto selection = render::selection_at(repo, commit);
  if (!selection) return util::fail(selection.error());
  auto files = render::environment_files(repo, (*dir)->oid, env.path, *selection);
  if (!files) return util::fail(files.error());
  for (const auto& f : *files) {
    auto text = repo.read_blob(f.blob, 16 << 20);
    if (!text) return util::fail(text.error());
    auto stream = render::parse_file(f.path, *text);
    if (!stream) return util::fail(env.path + "/" + f.path + ": " + stream.error().describe());
    for (const auto& image : images_in(*stream, ImageReading::runs)) out.push_back(image.reference);
  }
  return out;
}

struct Edit {
  std::uint32_t line = 0, column = 0;  // replace_at target; 0: by path
  yamledit::Path path;                 // kustomization edits
  bool remove = false;
  std::string old_value, new_value;
  std::string image;
};

// The edits of one file of the target: image fields of its objects, and kustomization entries.
std::vector<Edit> edits_in(const std::string& path, const std::string& text, const PromotePlan& plan) {
  std::vector<Edit> out;
  auto stream = render::parse_file(path, text);
  if (!stream) return out;
  for (const auto& o : render::declared_in(*stream).objects) {
    for (const auto& image : manifest::image_fields_of(o)) {
      auto it = plan.source.find(name_of(image.reference));
      if (it == plan.source.end() || it->second == image.reference) continue;
      out.push_back({image.node->mark.line, image.node->mark.column, {}, false, std::string(image.reference), it->second, it->first});
    }
  }
  if (manifest::role_of(path) != manifest::FileRole::kustomization || stream->documents.empty() ||
      !stream->documents.front().root) {
    return out;
  }
  const yaml::Node* images = stream->documents.front().root->get("images");
  if (!images || !images->is_sequence()) return out;
  for (std::size_t i = 0; i < images->items.size(); ++i) {
    const yaml::Node* entry = images->items[i];
    std::string name(entry->get_string("newName").empty() ? entry->get_string("name") : entry->get_string("newName"));
    auto it = plan.source.find(name);
    if (it == plan.source.end()) continue;
    auto ref = manifest::parse_image(it->second);
    auto key = [&](const char* k) {
      return yamledit::Path{yamledit::Step::of_key("images"), yamledit::Step::at(i), yamledit::Step::of_key(k)};
    };
    auto text_of = [&](const char* k) {
      const yaml::Node* n = entry->get(k);
      return n && n->is_scalar() ? std::string(n->text) : std::string();
    };
    std::string tag = text_of("newTag"), digest = text_of("digest");
    if (!ref.tag.empty() && tag != ref.tag) out.push_back({0, 0, key("newTag"), false, tag, std::string(ref.tag), name});
    if (ref.digest.empty() && entry->get("digest")) out.push_back({0, 0, key("digest"), true, digest, "", name});
    if (!ref.digest.empty() && digest != ref.digest) {
      out.push_back({0, 0, key("digest"), false, digest, std::string(ref.digest), name});
    }
  }
  return out;
}

std::string apply(const std::string& path, std::string text, std::vector<Edit> edits, imagepolicy::FileEdit& file,
                  PromotePlan& plan) {
  std::stable_sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) {
    if ((a.line == 0) != (b.line == 0)) return a.line != 0;
    return std::tie(a.line, a.column) > std::tie(b.line, b.column);
  });
  std::vector<yamledit::Replacement> batch;
  for (const Edit& e : edits) {
    if (e.line != 0) batch.push_back({e.line, e.column, yamledit::Value::string(e.new_value)});
  }
  bool batched = false;
  if (batch.size() > 1) {
    if (auto all = yamledit::replace_all(text, batch)) {
      text = std::move(*all);
      batched = true;
    }
  }
  for (const Edit& e : edits) {
    if (batched && e.line != 0) {
      file.updates.push_back({"promote", e.image, e.old_value, e.new_value, e.line});
      continue;
    }
    util::Result<std::string> out;
    if (e.line != 0) {
      out = yamledit::replace_at(text, e.line, e.column, yamledit::Value::string(e.new_value));
    } else if (e.remove) {
      out = yamledit::remove_key(text, 0, e.path);
    } else {
      out = yamledit::set(text, 0, e.path, yamledit::Value::string(e.new_value));
    }
    if (!out) {
      plan.problems.push_back(path + ":" + std::to_string(e.line) + ": " + e.image + ": " + out.error().describe());
      continue;
    }
    text = std::move(*out);
    file.updates.push_back({"promote", e.image, e.old_value, e.new_value, e.line});
  }
  std::reverse(file.updates.begin(), file.updates.end());
  return text;
}

}  // namespace

std::vector<std::string> PromotePlan::references() const {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& f : files) {
    for (const auto& u : f.updates) {
      auto it = source.find(u.image);
      if (it != source.end() && seen.insert(it->second).second) out.push_back(it->second);
    }
  }
  return out;
}

util::Result<PromotePlan> plan_promotion(const git::Repository& repo, const git::Oid& commit,
                                         const PromoteRequest& request) {
  auto tree = repo.commit_tree(commit);
  if (!tree) return util::fail(tree.error());
  policy::ServerConfig config;
  auto read = render::environments_at(repo, policy_at(repo, commit, config), *tree);
  if (!read) return util::fail(read.error());
  const std::vector<policy::Environment>& environments = *read;
  auto find = [&](const std::string& name) {
    return std::find_if(environments.begin(), environments.end(),
                        [&](const policy::Environment& e) { return e.name == name || e.path == name; });
  };
  auto from = find(request.from), to = find(request.to);
  if (from == environments.end()) return util::fail("no environment named " + request.from);
  if (to == environments.end()) return util::fail("no environment named " + request.to);
  if (from == to) return util::fail("--from and --to name the same environment");
  PromotePlan plan;
  plan.from = *from;
  plan.to = *to;
  auto images = running(repo, commit, *tree, *from);
  if (!images) return util::fail(images.error());
  std::map<std::string, std::set<std::string>> by_name;
  for (const auto& ref : *images) {
    if (wanted(request, name_of(ref))) by_name[name_of(ref)].insert(ref);
  }
  bool digests = to->promotion && to->promotion->require_digest;
  for (const auto& [name, refs] : by_name) {
    if (refs.size() > 1) {
      std::string all;
      for (const auto& r : refs) all += (all.empty() ? "" : ", ") + r;
      plan.blocked.push_back({name, from->name + " runs several versions of it (" + all + "): not copied"});
    } else if (digests && manifest::parse_image(*refs.begin()).digest.empty()) {
      plan.blocked.push_back({name, to->name + " requires images pinned by digest and " + from->name + " runs " +
                                        *refs.begin() + " by tag: pin it by digest in " + from->name + " first"});
    } else {
      plan.source[name] = *refs.begin();
    }
  }
  auto source = imagepolicy::git_source(repo, *tree, 16 << 20);
  auto files = source->files(to->path);
  if (!files) return util::fail(files.error());
  for (const auto& path : *files) {
    if (manifest::role_of(path) == manifest::FileRole::ignored || path.ends_with(".json")) continue;
    auto text = source->read(path);
    if (!text) {
      plan.problems.push_back(path + ": " + text.error().message);
      continue;
    }
    auto edits = edits_in(path, *text, plan);
    if (edits.empty()) continue;
    imagepolicy::FileEdit file;
    file.path = path;
    file.old_text = *text;
    file.new_text = apply(path, *text, std::move(edits), file, plan);
    if (file.new_text != file.old_text) plan.files.push_back(std::move(file));
  }
  return plan;
}

std::vector<SoakVerdict> soak_verdicts(const PromotePlan& plan, const SoakLedger* ledger, std::int64_t now) {
  std::vector<SoakVerdict> out;
  std::int64_t need = plan.to.promotion ? plan.to.promotion->soak_ms / 1000 : 0;
  for (const auto& ref : plan.references()) {
    SoakVerdict v;
    v.reference = ref;
    v.met = need <= 0;
    if (ledger) {
      if (auto it = ledger->find(ref); it != ledger->end()) {
        v.known = true;
        v.since = it->second.time;
        v.ready_at = it->second.time + need;
        v.arrival_commit = it->second.commit.short_hex();
        v.met = v.met || now >= v.ready_at;
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::string promote_message(const PromotePlan& plan, const std::vector<SoakVerdict>& soak) {
  std::vector<std::string> names;
  std::string body;
  for (const auto& f : plan.files) {
    for (const auto& u : f.updates) {
      if (std::find(names.begin(), names.end(), u.image) == names.end()) names.push_back(u.image);
      body += "- " + u.image + ": " + (u.old_value.empty() ? "(none)" : u.old_value) + " -> " + u.new_value + " (" +
              f.path + (u.line ? ":" + std::to_string(u.line) : "") + ")\n";
    }
  }
  std::string subject = "Promote " + plan.from.name + " to " + plan.to.name + ": ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto it = plan.source.find(names[i]);
    std::string version = it == plan.source.end() ? "" : it->second.substr(std::min(it->second.size(), names[i].size()));
    subject += (i ? ", " : "") + names[i] + version;
  }
  std::string why = "\nWhy: " + plan.from.name + " runs these references (its render at the commit promoted from).\n";
  for (const auto& v : soak) {
    if (v.known) {
      why += "Soak: " + v.reference + (v.met ? " has soaked" : " has NOT soaked yet") + " in " + plan.from.name +
             " (there since the push of " + v.arrival_commit + ", by the Git server's clock).\n";
    }
  }
  if (plan.to.promotion && plan.to.promotion->require_digest) why += "Digests: " + plan.to.name + " requires them; every reference is pinned.\n";
  return subject + "\n\n" + body + why;
}

}  // namespace portcullis::hooks
