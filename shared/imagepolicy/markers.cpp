#include "shared/imagepolicy/markers.hpp"

#include <algorithm>
#include <set>

#include "shared/git/repository.hpp"
#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"
#include "shared/yamledit/yamledit.hpp"

namespace portcullis::imagepolicy {

namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

std::optional<Field> field_named(std::string_view s) {
  if (s == "tag") return Field::tag;
  if (s == "name") return Field::name;
  if (s == "digest") return Field::digest;
  return std::nullopt;
}

// "name", "name:field", "ns:name", "ns:name:field" into `m`; false when malformed.
bool parse_reference(std::string_view ref, Marker& m) {
  auto parts = util::split(ref, ':');
  std::optional<Field> field = Field::reference;
  if (parts.size() == 1) {
    m.policy = std::string(parts[0]);
  } else if (parts.size() == 2 && field_named(parts[1])) {
    m.policy = std::string(parts[0]);
    field = field_named(parts[1]);
  } else if (parts.size() == 2) {
    m.namespace_ = std::string(parts[0]);
    m.policy = std::string(parts[1]);
  } else if (parts.size() == 3) {
    m.namespace_ = std::string(parts[0]);
    m.policy = std::string(parts[1]);
    field = field_named(parts[2]);
  } else {
    return false;
  }
  m.field = field.value_or(Field::reference);
  return field.has_value() && valid_name(m.policy) && (m.namespace_.empty() || valid_name(m.namespace_));
}

enum class Parsed { none, marker, malformed };

// Reads a marker out of a comment ("# {...}" or "# portcullis:image ...").
Parsed parse_comment(std::string_view comment, Marker& m) {
  std::string_view body = util::trim(comment.substr(comment.starts_with('#') ? 1 : 0));
  if (body.starts_with("portcullis:image")) {
    std::string_view rest = util::trim(body.substr(16));
    return parse_reference(rest, m) ? Parsed::marker : Parsed::malformed;
  }
  if (body.find("$imagepolicy") == std::string_view::npos) return Parsed::none;
  auto json = util::Json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("$imagepolicy") || !json["$imagepolicy"].is_string()) {
    return Parsed::malformed;
  }
  return parse_reference(json["$imagepolicy"].get<std::string>(), m) ? Parsed::marker : Parsed::malformed;
}

bool mentions_marker(std::string_view line) {
  return line.find("$imagepolicy") != std::string_view::npos || line.find("portcullis:image") != std::string_view::npos;
}

// 1-based line numbers of byte offsets, from the newlines found once.
class Lines {
 public:
  explicit Lines(std::string_view text) {
    for (std::size_t i = text.find('\n'); i != std::string_view::npos; i = text.find('\n', i + 1)) m_newlines.push_back(i);
  }
  std::uint32_t of(std::size_t offset) const {
    auto before = std::lower_bound(m_newlines.begin(), m_newlines.end(), offset) - m_newlines.begin();
    return static_cast<std::uint32_t>(before + 1);
  }

 private:
  std::vector<std::size_t> m_newlines;
};

std::string where(std::string_view path, std::uint32_t line) { return std::string(path) + ":" + std::to_string(line); }

}  // namespace

Found find_markers(std::string_view path, std::string_view text) {
  Found found;
  auto all = yamledit::scalars(text);
  if (!all) {
    found.problems.push_back(std::string(path) + ": " + all.error().describe());
    return found;
  }
  std::set<std::uint32_t> used;
  Lines lines(text);
  for (const auto& s : *all) {
    if (s.comment.empty() || s.style == yamledit::Style::literal || s.style == yamledit::Style::folded) continue;
    Marker m;
    Parsed p = parse_comment(s.comment, m);
    std::uint32_t comment_line = lines.of(s.end);
    if (p == Parsed::none) continue;
    used.insert(comment_line);
    if (p == Parsed::malformed) {
      found.problems.push_back(where(path, comment_line) + ": malformed image policy marker '" + s.comment + "'");
      continue;
    }
    m.document = s.document;
    m.line = s.line;
    m.column = s.column;
    m.value = s.value;
    found.markers.push_back(std::move(m));
  }
  std::uint32_t line = 1;
  for (auto l : util::split(text, '\n')) {
    if (mentions_marker(l) && !used.contains(line) && util::trim(l).find('#') != std::string_view::npos) {
      found.problems.push_back(where(path, line) +
                               ": an image policy marker here is not on the line of a scalar value it could update");
    }
    ++line;
  }
  return found;
}

std::vector<Marker> kustomization_targets(std::string_view text, std::span<const Policy> policies) {
  struct Entry {
    std::string name, new_name;
    const yamledit::Scalar* new_tag = nullptr;
    const yamledit::Scalar* digest = nullptr;
  };
  std::vector<Marker> out;
  auto all = yamledit::scalars(text);
  if (!all) return out;
  std::map<std::size_t, Entry> entries;
  for (const auto& s : *all) {
    const auto& p = s.path;
    if (s.document != 0 || p.size() != 3 || p[0].key != "images" || p[1].kind != yamledit::Step::Kind::index) continue;
    Entry& e = entries[p[1].index];
    if (p[2].key == "name") e.name = s.value;
    if (p[2].key == "newName") e.new_name = s.value;
    if (p[2].key == "newTag") e.new_tag = &s;
    if (p[2].key == "digest") e.digest = &s;
  }
  for (const auto& [index, e] : entries) {
    const std::string& image = e.new_name.empty() ? e.name : e.new_name;
    for (const Policy& policy : policies) {
      if (image.empty() || policy.image != image) continue;
      auto add = [&](Field field, const yamledit::Scalar* s) {
        Marker m;
        m.policy = policy.name;
        m.field = field;
        m.kustomization = true;
        m.entry = index;
        if (s) m.line = s->line, m.column = s->column, m.value = s->value;
        out.push_back(std::move(m));
      };
      add(Field::tag, e.new_tag);
      if (policy.pin == Pin::digest || e.digest) add(Field::digest, e.digest);
    }
  }
  return out;
}

namespace {

class GitSource final : public FileSource {
 public:
  GitSource(const git::Repository& repo, const git::Oid& tree, std::uint64_t max) : m_repo(repo), m_tree(tree), m_max(max) {}
  util::Result<std::vector<std::string>> files(std::string_view dir) const override {
    std::vector<std::string> out;
    auto entry = m_repo.entry_at(m_tree, dir);
    if (!entry) return util::fail(entry.error());
    if (!*entry || (*entry)->kind != git::EntryKind::tree) return out;
    std::string prefix = dir.empty() ? "" : std::string(dir) + "/";
    auto ok = m_repo.walk((*entry)->oid, prefix, [&](const std::string& path, const git::TreeEntry& e) {
      if (e.kind == git::EntryKind::blob || e.kind == git::EntryKind::executable) out.push_back(path);
      return true;
    });
    if (!ok) return util::fail(ok.error());
    return out;
  }
  util::Result<std::string> read(std::string_view path) const override {
    auto entry = m_repo.entry_at(m_tree, path);
    if (!entry) return util::fail(entry.error());
    if (!*entry) return util::fail(std::string(path) + ": no such file");
    return m_repo.read_blob((*entry)->oid, m_max);
  }

 private:
  const git::Repository& m_repo;
  git::Oid m_tree;
  std::uint64_t m_max;
};

class MemorySource final : public FileSource {
 public:
  explicit MemorySource(std::map<std::string, std::string> files) : m_files(std::move(files)) {}
  util::Result<std::vector<std::string>> files(std::string_view dir) const override {
    std::vector<std::string> out;
    for (const auto& [path, text] : m_files) {
      if (dir.empty() || (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/')) out.push_back(path);
    }
    return out;
  }
  util::Result<std::string> read(std::string_view path) const override {
    auto it = m_files.find(std::string(path));
    if (it == m_files.end()) return util::fail(std::string(path) + ": no such file");
    return it->second;
  }

 private:
  std::map<std::string, std::string> m_files;
};

}  // namespace

std::unique_ptr<FileSource> git_source(const git::Repository& repo, const git::Oid& tree, std::uint64_t max_bytes) {
  return std::make_unique<GitSource>(repo, tree, max_bytes);
}
std::unique_ptr<FileSource> memory_source(std::map<std::string, std::string> files) {
  return std::make_unique<MemorySource>(std::move(files));
}

std::string target_value(Field field, const Policy& policy, const Choice& choice) {
  bool pinned = (policy.pin == Pin::digest || policy.strategy == Strategy::digest) && !choice.digest.empty();
  switch (field) {
    case Field::reference: return choice.reference(policy);
    case Field::tag: return pinned ? choice.tag + "@" + choice.digest : choice.tag;
    case Field::name: return policy.image;
    case Field::digest: return choice.digest;
  }
  return {};
}

namespace {

bool is_yaml_file(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  return name.ends_with(".yaml") || name.ends_with(".yml") || name == "Kustomization";
}

bool is_kustomization(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization";
}

struct Target {
  Marker marker;
  const Policy* policy;
  std::string value;
};

// Applies `targets` to `text`: replacements from the end of the file backwards (so earlier
// marks stay valid), then insertions of missing kustomization keys.
std::string apply(const std::string& path, std::string text, std::vector<Target> targets, FileEdit& edit, Plan& plan) {
  std::sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
    if ((a.marker.line == 0) != (b.marker.line == 0)) return a.marker.line != 0;
    return std::tie(a.marker.line, a.marker.column) > std::tie(b.marker.line, b.marker.column);
  });
  // All replacements in one pass when they all go through; else one by one, so that a refused
  // one is a problem and the others still apply.
  std::vector<yamledit::Replacement> batch;
  for (const Target& t : targets) {
    if (t.marker.line != 0) batch.push_back({t.marker.line, t.marker.column, yamledit::Value::string(t.value)});
  }
  bool batched = false;
  if (batch.size() > 1) {
    if (auto all = yamledit::replace_all(text, batch)) {
      text = std::move(*all);
      batched = true;
    }
  }
  for (const Target& t : targets) {
    const Marker& m = t.marker;
    if (batched && m.line != 0) {
      edit.updates.push_back(Update{m.policy, t.policy->image, m.value, t.value, m.line});
      continue;
    }
    util::Result<std::string> out;
    if (m.line != 0) {
      out = yamledit::replace_at(text, m.line, m.column, yamledit::Value::string(t.value));
    } else {
      yamledit::Path p{yamledit::Step::of_key("images"), yamledit::Step::at(m.entry),
                       yamledit::Step::of_key(m.field == Field::digest ? "digest" : "newTag")};
      out = yamledit::set(text, 0, p, yamledit::Value::string(t.value));
    }
    if (!out) {
      plan.problems.push_back(where(path, m.line) + ": policy " + m.policy + ": " + out.error().message);
      continue;
    }
    text = std::move(*out);
    edit.updates.push_back(Update{m.policy, t.policy->image, m.value, t.value, m.line});
  }
  std::reverse(edit.updates.begin(), edit.updates.end());
  return text;
}

}  // namespace

util::Result<Plan> plan(const FileSource& source, std::span<const policy::Environment> environments,
                        std::span<const Policy> policies, const std::map<std::string, Choice>& choices) {
  Plan result;
  std::map<std::string, std::vector<const Policy*>> by_file;  // file -> policies that may edit it
  for (const Policy& policy : policies) {
    if (!choices.contains(policy.name)) continue;
    for (const std::string& env_name : policy.environments) {
      auto env = std::find_if(environments.begin(), environments.end(), [&](const auto& e) { return e.name == env_name; });
      if (env == environments.end()) {
        result.problems.push_back("policy " + policy.name + ": no environment named " + env_name);
        continue;
      }
      auto files = source.files(env->path);
      if (!files) return util::fail(files.error());
      for (const auto& f : *files) {
        if (is_yaml_file(f)) by_file[f].push_back(&policy);
      }
    }
  }
  for (const auto& [path, allowed] : by_file) {
    auto text = source.read(path);
    if (!text) return util::fail(text.error());
    if (!mentions_marker(*text) && !is_kustomization(path)) continue;
    Found found = find_markers(path, *text);
    for (auto& p : found.problems) result.problems.push_back(std::move(p));
    if (is_kustomization(path)) {
      std::vector<Policy> scoped;
      for (const Policy* p : allowed) scoped.push_back(*p);
      for (auto& m : kustomization_targets(*text, scoped)) {
        bool marked = m.line != 0 && std::any_of(found.markers.begin(), found.markers.end(), [&](const Marker& o) {
          return o.line == m.line && o.column == m.column;
        });
        if (!marked) found.markers.push_back(std::move(m));
      }
    }
    std::vector<Target> targets;
    for (const Marker& m : found.markers) {
      auto pol = std::find_if(allowed.begin(), allowed.end(), [&](const Policy* p) { return p->name == m.policy; });
      if (pol == allowed.end()) {
        if (!find_policy(policies, m.policy)) result.problems.push_back(where(path, m.line) + ": no image policy named " + m.policy);
        continue;
      }
      const Policy& policy = **pol;
      if (!m.namespace_.empty() && !policy.namespace_.empty() && m.namespace_ != policy.namespace_) {
        result.problems.push_back(where(path, m.line) + ": marker names namespace " + m.namespace_ + " but policy " +
                                  policy.name + " is in " + policy.namespace_);
        continue;
      }
      const Choice& choice = choices.at(policy.name);
      std::string value = m.kustomization && m.field == Field::tag ? choice.tag : target_value(m.field, policy, choice);
      if (value.empty()) {
        result.problems.push_back(where(path, m.line) + ": policy " + policy.name + " has no digest to write");
        continue;
      }
      if (m.line != 0 && value == m.value) continue;
      targets.push_back(Target{m, &policy, value});
    }
    if (targets.empty()) continue;
    FileEdit edit;
    edit.path = path;
    edit.old_text = *text;
    edit.new_text = apply(path, *text, std::move(targets), edit, result);
    if (edit.new_text != edit.old_text) result.files.push_back(std::move(edit));
  }
  return result;
}

std::string commit_message(const Plan& plan) {
  std::vector<std::string> heads;
  std::string body;
  for (const FileEdit& f : plan.files) {
    for (const Update& u : f.updates) {
      std::string head = u.image + " to " + (u.new_value.find(':') != std::string::npos && u.new_value.starts_with(u.image)
                                                   ? u.new_value.substr(u.image.size() + 1)
                                                   : u.new_value);
      if (std::find(heads.begin(), heads.end(), head) == heads.end()) heads.push_back(head);
      body += "- " + u.image + ": " + (u.old_value.empty() ? "(none)" : u.old_value) + " -> " + u.new_value + " (policy " +
              u.policy + ", " + f.path + (u.line ? ":" + std::to_string(u.line) : "") + ")\n";
    }
  }
  std::string subject = "Update " + (heads.empty() ? std::string("images") : heads.front());
  if (heads.size() > 1) subject += " and " + std::to_string(heads.size() - 1) + " more";
  return subject + "\n\n" + body;
}

}  // namespace portcullis::imagepolicy
