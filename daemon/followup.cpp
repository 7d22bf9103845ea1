#include "daemon/followup.hpp"

#include <algorithm>
#include <optional>

#include "shared/kustomize/kustomize.hpp"
#include "shared/kustomize/source.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/process.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "shared/yamledit/yamledit.hpp"

namespace portcullis::daemon {

namespace fs = std::filesystem;
using yaml::Node;

namespace {

std::vector<std::string> tokens_of(std::string_view pointer) {
  std::vector<std::string> out;
  if (pointer.empty() || pointer[0] != '/') return out;
  for (auto part : util::split(pointer.substr(1), '/')) {
    std::string t;
    for (std::size_t k = 0; k < part.size(); ++k) {
      if (part[k] == '~' && k + 1 < part.size()) {
        t += part[k + 1] == '1' ? '/' : '~';
        ++k;
      } else {
        t += part[k];
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }); }

const Node* node_at(const Node* n, const std::vector<std::string>& tokens) {
  for (const auto& t : tokens) {
    if (!n) return nullptr;
    if (n->is_mapping()) n = n->get(t);
    else if (n->is_sequence() && all_digits(t) && std::stoul(t) < n->items.size()) n = n->items[std::stoul(t)];
    else return nullptr;
  }
  return n;
}

// The yamledit path of `tokens`: indexes where the live object (else Git) has a list.
yamledit::Path path_of(const std::vector<std::string>& tokens, const Node* live) {
  yamledit::Path path;
  const Node* n = live;
  for (const auto& t : tokens) {
    bool index = n ? n->is_sequence() : all_digits(t);
    path.push_back(index ? yamledit::Step::at(std::stoul(t)) : yamledit::Step::of_key(t));
    n = n ? node_at(n, {t}) : nullptr;
  }
  return path;
}

std::optional<std::size_t> document_of(const yaml::Stream& stream, const FollowUpObject& o) {
  for (std::size_t i = 0; i < stream.documents.size(); ++i) {
    const Node* root = stream.documents[i].root;
    if (root && root->is_mapping() && root->get_string("kind") == o.kind && root->at({"metadata", "name"}) &&
        root->at({"metadata", "name"})->text == o.name)
      return i;
  }
  return std::nullopt;
}

std::optional<yamledit::Value> value_of(const Node& n) {
  switch (n.type) {
    case yaml::Type::string: return yamledit::Value::string(n.text);
    case yaml::Type::integer: return yamledit::Value::integer(n.value.integer);
    case yaml::Type::boolean: return yamledit::Value::boolean(n.value.boolean);
    case yaml::Type::null: return yamledit::Value::null();
    default: return std::nullopt;
  }
}

struct Git {
  std::vector<std::string> prefix;  // "git" and the transport's -c options
  util::Result<util::ProcessResult> run(const fs::path& cwd, std::vector<std::string> args) const {
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = util::run_process(argv, cwd);
    if (!r) return r;
    if (r->status != 0)
      return util::fail("git " + (args.empty() ? std::string() : args.front()) + " failed: " + std::string(util::trim(r->err)).substr(0, 600));
    return r;
  }
};

// git with the transport of the daemon config (the key and known hosts of ssh://).
util::Result<Git> git_for(const RepositoryConfig& repo) {
  Git g{{"git", "-c", "user.name=portcullisd", "-c", "user.email=portcullisd@localhost", "-c", "commit.gpgsign=false"}};
  if (repo.url.starts_with("https://") && !repo.password_file.empty())
    return util::fail("the follow-up cannot push over https with a passwordFile yet; push the branch by hand");
  if (repo.url.starts_with("ssh://")) {
    auto quote = [](const fs::path& p) {
      std::string out = "'";
      for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      return out + "'";
    };
    std::string ssh = "ssh -o BatchMode=yes -o IdentitiesOnly=yes";
    if (!repo.ssh_key_file.empty()) ssh += " -i " + quote(repo.ssh_key_file);
    if (!repo.known_hosts_file.empty()) ssh += " -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + quote(repo.known_hosts_file);
    g.prefix.insert(g.prefix.end(), {"-c", "core.sshCommand=" + ssh});
  }
  return g;
}

// The rendered value at `tokens` of `o` when the kustomize environment at `env` of `root` is
// built, as JSON ("" absent); nullopt when the build fails or lacks the object.
std::optional<std::string> built_value(const fs::path& root, const std::string& env, const FollowUpObject& o,
                                       const std::vector<std::string>& tokens) {
  kustomize::DiskSource source(root);
  auto out = kustomize::build(source, env);
  if (!out) return std::nullopt;
  for (const auto& obj : out->objects)
    if (obj.node && obj.node->get_string("kind") == o.kind && obj.node->at({"metadata", "name"}) &&
        obj.node->at({"metadata", "name"})->text == o.name) {
      const Node* v = node_at(obj.node, tokens);
      return v ? yaml::to_json(*v) : std::string();
    }
  return std::nullopt;
}

// Inside `root` (no `..` out of it): the file, else nullopt.
std::optional<fs::path> inside(const fs::path& root, const fs::path& rel) {
  fs::path p = (root / rel).lexically_normal();
  auto r = p.lexically_relative(root);
  if (r.empty() || r.begin()->string() == "..") return std::nullopt;
  return p;
}

bool is_kustomized(const fs::path& dir) {
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"})
    if (fs::is_regular_file(dir / name)) return true;
  return false;
}

// The files of a kustomize environment where a field of `o` may come from: its patches (YAML
// files of the directory, not the kustomization, with a document of `o`), then `origin`.
std::vector<fs::path> candidates(const fs::path& env_dir, const fs::path& origin, const FollowUpObject& o) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(env_dir, ec)) {
    auto name = e.path().filename().string();
    if (!e.is_regular_file() || e.path() == origin || name.starts_with("kustomization") || name == "Kustomization") continue;
    if (!name.ends_with(".yaml") && !name.ends_with(".yml")) continue;
    auto text = util::read_file(e.path(), 4 << 20);
    auto stream = text ? yaml::parse_yaml(*text) : util::Result<yaml::Stream>(util::fail("unread"));
    if (stream && document_of(*stream, o)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  out.push_back(origin);
  return out;
}

// One field of `o` in a kustomize environment: the first candidate whose edit makes the build
// carry the live value. Returns the path edited, or a note.
std::optional<fs::path> edit_kustomized(const fs::path& root, const std::string& env, const FollowUpObject& o,
                                        const std::string& pointer, const fs::path& origin, std::vector<std::string>& notes) {
  auto live = o.live.empty() ? util::Result<yaml::Stream>(util::fail("deleted")) : yaml::parse_json(o.live);
  const Node* live_root = live && !live->documents.empty() ? live->documents[0].root : nullptr;
  const Node* want = node_at(live_root, tokens_of(pointer));
  std::string wanted = want ? yaml::to_json(*want) : std::string();
  FollowUpObject one = o;
  one.pointers = {pointer};
  for (const auto& file : candidates(root / env, origin, o)) {
    auto text = util::read_file(file, 4 << 20);
    if (!text) continue;
    std::vector<std::string> ignored;
    std::string edited = edit_manifest(*text, one, ignored);
    if (edited == *text) continue;
    if (!util::write_file(file, edited)) continue;
    if (built_value(root, env, o, tokens_of(pointer)) == wanted) return file;
    (void)util::write_file(file, *text);
  }
  notes.push_back(o.what + " " + pointer + ": no patch or origin file of the kustomize environment can be edited to give the "
                  "live value (it comes from a generator, a transformer or a JSON 6902 patch?); edit it by hand");
  return std::nullopt;
}

}  // namespace

std::string edit_manifest(std::string_view text, const FollowUpObject& object, std::vector<std::string>& notes) {
  if (object.live.empty()) {
    notes.push_back(object.what + " was deleted in the cluster; remove it from Git by hand if that is to stay");
    return std::string(text);
  }
  auto stream = yaml::parse_yaml(text);
  auto live = yaml::parse_json(object.live);
  if (!stream || !live || live->documents.empty() || !live->documents[0].root) {
    notes.push_back(object.what + ": " + object.file + " or the live object cannot be parsed");
    return std::string(text);
  }
  auto doc = document_of(*stream, object);
  if (!doc) {
    notes.push_back(object.what + ": not declared in " + object.file);
    return std::string(text);
  }
  const Node* live_root = live->documents[0].root;
  std::string out(text);
  for (const auto& pointer : object.pointers) {
    auto tokens = tokens_of(pointer);
    const Node* value = node_at(live_root, tokens);
    auto path = path_of(tokens, live_root);
    util::Result<std::string> r = util::fail("");
    if (!value) {
      r = yamledit::remove_key(out, *doc, path);
    } else if (auto v = value_of(*value)) {
      r = yamledit::set(out, *doc, path, *v, yamledit::Create::yes);
    } else {
      notes.push_back(object.what + " " + pointer + ": the live value is a " + std::string(yaml::type_name(value->type)) +
                      ", not a scalar; edit it by hand");
      continue;
    }
    if (!r) {
      notes.push_back(object.what + " " + pointer + ": " + r.error().message);
      continue;
    }
    out = std::move(*r);
  }
  return out;
}

util::Result<FollowUp> write_follow_up(const RepositoryConfig& repo, const TargetConfig& target, const std::string& revision,
                                       const std::string& branch, const std::string& message,
                                       const std::vector<FollowUpObject>& objects, const fs::path& work_dir) {
  auto git = git_for(repo);
  if (!git) return util::fail(git.error());
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  auto dir = util::make_temp_dir(work_dir, "follow-up-");
  if (!dir) return util::fail(dir.error());
  util::TempDirGuard guard(*dir);
  fs::path root = *dir / "repo";
  if (auto r = git->run(*dir, {"clone", "-q", "--no-checkout", "--", repo.url, root.string()}); !r) return util::fail(r.error());
  if (auto r = git->run(root, {"checkout", "-q", "-b", branch, revision}); !r) return util::fail(r.error());
  FollowUp out;
  out.branch = branch;
  const bool kustomized = is_kustomized(root / target.path);
  for (const auto& o : objects) {
    auto file = inside(root, fs::path(target.path) / o.file);
    if (!file) {
      out.notes.push_back(o.what + ": its file " + o.file + " is outside the repository");
      continue;
    }
    std::vector<fs::path> edited;
    if (kustomized && !o.live.empty()) {
      for (const auto& p : o.pointers)
        if (auto f = edit_kustomized(root, target.path, o, p, *file, out.notes)) edited.push_back(*f);
    } else {
      auto text = util::read_file(*file, 4 << 20);
      if (!text) {
        out.notes.push_back(o.what + ": " + text.error().message);
        continue;
      }
      std::string changed = edit_manifest(*text, o, out.notes);
      if (changed == *text) continue;
      if (auto w = util::write_file(*file, changed); !w) return util::fail(w.error());
      edited.push_back(*file);
    }
    for (const auto& f : edited) {
      std::string rel = f.lexically_relative(root).string();
      if (std::find(out.edited.begin(), out.edited.end(), rel) == out.edited.end()) out.edited.push_back(rel);
    }
  }
  if (out.edited.empty()) return out;
  std::vector<std::string> add{"add", "--"};
  add.insert(add.end(), out.edited.begin(), out.edited.end());
  if (auto r = git->run(root, add); !r) return util::fail(r.error());
  if (auto r = git->run(root, {"commit", "-q", "-m", message}); !r) return util::fail(r.error());
  auto head = git->run(root, {"rev-parse", "HEAD"});
  if (!head) return util::fail(head.error());
  out.commit = std::string(util::trim(head->out));
  if (auto r = git->run(root, {"push", "-q", "origin", "HEAD:refs/heads/" + branch}); !r) return util::fail(r.error());
  return out;
}

}  // namespace portcullis::daemon
