#include "hooks/secrets.hpp"

#include <unordered_set>

#include "shared/manifest/object.hpp"
#include "shared/render/environment.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks {

namespace {

using git::Oid;

// Files are read up to this size for Secrets (far beyond manifests' limit: a Secret in a large
// file outside environments still leaks).
constexpr std::uint64_t k_max_scanned = 64ull << 20;
constexpr std::size_t k_history_limit = 10'000;

// What a ref points at, peeled through annotated tags: ("commit"|"tree"|"blob", id).
std::optional<std::pair<std::string, Oid>> peel(const git::Repository& repo, Oid oid) {
  for (int depth = 0; depth < 16; ++depth) {
    auto raw = repo.read_raw(oid, k_max_scanned);
    if (!raw) return std::nullopt;
    if (raw->type != "tag") return std::pair{raw->type, oid};
    if (!raw->data.starts_with("object ")) return std::nullopt;
    auto next = Oid::from_hex(std::string_view(raw->data).substr(7, 40));
    if (!next) return std::nullopt;
    oid = *next;
  }
  return std::nullopt;
}

// UTF-16 (`width` 2) or UTF-32 (4) after a byte-order mark, to UTF-8.
std::string transcode(std::string_view bytes, int width, bool big_endian) {
  std::string out;
  auto unit = [&](std::size_t at) {
    char32_t v = 0;
    for (int k = 0; k < width; ++k) {
      auto b =
          static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(big_endian ? k : width - 1 - k)]);
      v = (v << 8) | b;
    }
    return v;
  };
  for (std::size_t i = static_cast<std::size_t>(width); i + static_cast<std::size_t>(width) <= bytes.size();
       i += static_cast<std::size_t>(width)) {
    char32_t cp = unit(i);
    if (width == 2 && cp >= 0xd800 && cp < 0xdc00 && i + 4 <= bytes.size()) {
      char32_t low = unit(i + 2);
      if (low >= 0xdc00 && low < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i += 2;
      }
    }
    util::append_utf8(out, cp);
  }
  return out;
}

Finding secret_finding(const Update& u, const std::string& path, std::string message, const yaml::Node* at,
                       std::string object = {}) {
  Finding f;
  f.rule = "content.plaintext-secret";
  f.ref = u.raw->ref;
  f.file = path;
  f.message = std::move(message) + "; plaintext Secrets are refused in every ref, inside environments or not";
  f.level =
      u.policy.severity("content.plaintext-secret") == policy::Severity::warn ? Level::warning : Level::error;
  if (at) {
    f.line = at->mark.line;
    f.column = at->mark.column;
  }
  f.object = std::move(object);
  return f;
}

// The plaintext Secrets of one parsed document.
void scan_document(const Update& u, const std::string& path, const yaml::Node& root, std::size_t index,
                   std::vector<Finding>& out) {
  if (!root.is_mapping() || manifest::is_sops(root)) return;
  std::vector<manifest::Object> objects;
  manifest::collect_objects(root, index, objects);
  for (const auto& o : objects) {
    const yaml::Node* values = manifest::secret_values(o);
    if (!values) continue;
    out.push_back(secret_finding(u, path,
                                 "Secret carries " +
                                     std::string(values == o.node->get("data") ? "data" : "stringData") +
                                     " in plaintext (base64 is an encoding, not encryption)",
                                 values, "Secret \"" + std::string(o.name) + "\""));
  }
}

// A text that does not parse, read for what would make it a Secret to a more lenient reader
// (duplicate keys, a broken document beside a good one): a kind of Secret and data to carry.
bool looks_like_a_secret(std::string_view text) {
  auto has = [&](std::string_view needle) { return text.find(needle) != std::string_view::npos; };
  bool kind = has("Secret") || has("U2VjcmV0") || has("\\u0053") || has("\\x53");
  return kind && (has("data") || has("Data"));
}

// The documents of a YAML text, split at "---" lines, each parsed on its own.
std::vector<std::string_view> yaml_documents(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0, at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    std::string_view line =
        text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (line.starts_with("---") &&
        (line.size() == 3 || line[3] == ' ' || line[3] == '\r' || line[3] == '\t')) {
      out.push_back(text.substr(start, at - start));
      start = at;
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  out.push_back(text.substr(start));
  return out;
}

// Whether a file may hold objects: a YAML or JSON name, or (notes and files without an
// extension) a text that mentions a kind.
bool may_hold_objects(std::string_view path, std::string_view text) {
  auto role = manifest::role_of(path);
  if (role == manifest::FileRole::kustomization) return false;
  if (role == manifest::FileRole::manifest) return true;
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return base.find('.') == std::string_view::npos && text.find("kind") != std::string_view::npos;
}

void scan_blob(const ContentContext& ctx, const Update& u, const std::string& path, const Oid& blob,
               std::vector<Finding>& out) {
  auto bytes = ctx.repo.read_blob(blob, k_max_scanned);
  if (!bytes) {
    if (bytes.error().rule != "file.too-large") {
      // A file entry that is not a readable blob: fail closed.
      out.push_back(secret_finding(u, path, "the file cannot be read for Secrets (" + bytes.error().message + ")",
                                   nullptr));
      out.back().level = Level::error;
    } else if (manifest::role_of(path) == manifest::FileRole::manifest) {
      out.push_back(secret_finding(
          u, path, "the file is too large to be read for Secrets (" + bytes.error().message + ")", nullptr));
    }
    return;
  }
  auto text = yaml_text(*bytes);
  if (!text || !may_hold_objects(path, *text)) return;
  auto whole = path.ends_with(".json") ? yaml::parse_json(*text, ctx.config.yaml_limits)
                                       : yaml::parse_yaml(*text, ctx.config.yaml_limits);
  if (whole) {
    for (std::size_t i = 0; i < whole->documents.size(); ++i)
      if (const yaml::Node* root = whole->documents[i].root) scan_document(u, path, *root, i, out);
    return;
  }
  // Not one valid stream: each document on its own, and what none of them shows is judged by
  // its text.
  std::vector<std::string_view> docs =
      path.ends_with(".json") ? std::vector<std::string_view>{*text} : yaml_documents(*text);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    auto one = path.ends_with(".json") ? yaml::parse_json(docs[i], ctx.config.yaml_limits)
                                       : yaml::parse_yaml(docs[i], ctx.config.yaml_limits);
    if (one) {
      for (const auto& d : one->documents)
        if (d.root) scan_document(u, path, *d.root, i, out);
    } else if (looks_like_a_secret(docs[i])) {
      out.push_back(secret_finding(
          u, path,
          "a document that cannot be parsed (" + one.error().message + ") reads like a Secret with data",
          nullptr));
    }
  }
}

// Every (path, blob) the commits of the push bring: each new commit's changes against its first
// parent (the root's against nothing), each blob once. What cannot be read (a commit, a tree a
// name in it stands for another path, ...) is `unreadable`: a Secret could hide behind it.
template <class Visit>
bool each_pushed_blob(const ContentContext& ctx, const Oid& tip, Visit&& visit, std::string& unreadable) {
  bool truncated = false;
  auto commits = ctx.repo.new_commits(tip, {}, "refs/*", k_history_limit, &truncated);
  if (!commits) {
    unreadable = commits.error().message;
    return true;
  }
  for (const auto& c : *commits) {
    auto info = ctx.repo.commit_info(c);
    auto tree = ctx.repo.commit_tree(c);
    if (!info || !tree) {
      unreadable = "commit " + c.short_hex() + ": " + (!info ? info.error().message : tree.error().message);
      break;
    }
    std::optional<Oid> parent_tree;
    if (!info->parents.empty()) {
      auto t = ctx.repo.commit_tree(info->parents.front());
      if (!t) {
        unreadable = "commit " + info->parents.front().short_hex() + ": " + t.error().message;
        break;
      }
      parent_tree = *t;
    }
    auto diffed = ctx.repo.diff(parent_tree, *tree, "", [&](const git::Change& ch) {
      if (ch.after &&
          (ch.after->kind == git::EntryKind::blob || ch.after->kind == git::EntryKind::executable))
        visit(ch.path, ch.after->oid);
      return !ctx.deadline.expired();
    });
    if (!diffed) {
      unreadable = "commit " + c.short_hex() + ": " + diffed.error().message;
      break;
    }
    if (ctx.deadline.expired()) break;
  }
  return !truncated;
}

}  // namespace

std::optional<std::string> yaml_text(std::string_view b) {
  auto starts = [&](std::initializer_list<unsigned char> bom) {
    if (b.size() < bom.size()) return false;
    std::size_t i = 0;
    for (unsigned char c : bom)
      if (static_cast<unsigned char>(b[i++]) != c) return false;
    return true;
  };
  if (starts({0x00, 0x00, 0xfe, 0xff})) return transcode(b, 4, true);
  if (starts({0xff, 0xfe, 0x00, 0x00})) return transcode(b, 4, false);
  if (starts({0xfe, 0xff})) return transcode(b, 2, true);
  if (starts({0xff, 0xfe})) return transcode(b, 2, false);
  if (b.substr(0, 8000).find('\0') != std::string_view::npos) return std::nullopt;  // git's binary heuristic
  return std::string(b);
}

bool may_spell_secret(std::string_view text) {
  return text.find("ecret") != std::string_view::npos || text.find('\\') != std::string_view::npos ||
         text.find('!') != std::string_view::npos || text.find("U2Vjcm") != std::string_view::npos;
}

SecretScanResult scan_plaintext_secrets(const ContentContext& ctx, const Update& u,
                                        const std::optional<Oid>& against, SecretScan scope) {
  SecretScanResult r;
  if (u.raw->new_oid.is_zero() || u.policy.severity("content.plaintext-secret") == policy::Severity::off)
    return r;
  auto target = peel(ctx.repo, u.raw->new_oid);
  if (!target) {  // fail closed: what cannot be read cannot be shown to hold no Secret
    r.findings.push_back(secret_finding(u, "",
                                        "what the ref points at cannot be read for Secrets (an object over " +
                                            std::to_string(k_max_scanned >> 20) +
                                            " MiB, or more than 16 tags deep)",
                                        nullptr));
    r.findings.back().level = Level::error;
    return r;
  }
  if (target->first == "blob") {
    scan_blob(ctx, u, "(blob " + target->second.short_hex() + ")", target->second, r.findings);
    return r;
  }
  // Fail closed: what cannot be read cannot be shown to hold no Secret.
  auto unreadable = [&](const std::string& why) {
    r.findings.push_back(secret_finding(u, "", "what the push brings cannot be read for Secrets (" + why + ")", nullptr));
    r.findings.back().level = Level::error;
  };
  std::optional<Oid> tree;
  if (target->first == "tree") {
    tree = target->second;
  } else if (target->first == "commit") {
    auto t = ctx.repo.commit_tree(target->second);
    if (!t) return unreadable(t.error().message), r;
    tree = *t;
  }
  if (!tree) return r;
  // The tip's files the environment checks read whole (a branch's commit) are judged there.
  auto judged_later = [&](const std::string& path, git::EntryKind kind) {
    if (target->first != "commit" || !u.policy.is_checked_ref(u.raw->ref)) return false;
    for (const auto& env : u.environments)
      if (auto rel = render::within(env.path, path))
        return render::use_of(u.selection_after, env.path, *rel, kind) == render::FileUse::objects;
    return false;
  };
  std::unordered_set<std::string> seen;
  auto visit = [&](const std::string& path, const Oid& blob) {
    if (seen.insert(blob.hex()).second) scan_blob(ctx, u, path, blob, r.findings);
  };
  auto diffed = ctx.repo.diff(against, *tree, "", [&](const git::Change& ch) {
    if (!ch.after || (ch.after->kind != git::EntryKind::blob && ch.after->kind != git::EntryKind::executable))
      return true;
    if (!judged_later(ch.path, ch.after->kind)) {
      visit(ch.path, ch.after->oid);
    } else if (seen.insert(ch.after->oid.hex()).second && scope == SecretScan::history_fail_open &&
               !r.judged_may_hold_secret) {
      // Judged whole by the content checks (and so not again in the history below); read here
      // only when the push might fail open, for a spelling of Secret.
      auto bytes = ctx.repo.read_blob(ch.after->oid, k_max_scanned);
      auto text = bytes ? yaml_text(*bytes) : std::nullopt;
      if (!text || may_spell_secret(*text)) r.judged_may_hold_secret = true;
    }
    return !ctx.deadline.expired();
  });
  if (!diffed) unreadable(diffed.error().message);
  if (!diffed || ctx.deadline.expired()) r.complete = false;
  std::string history_unreadable;
  if (scope != SecretScan::tip && target->first == "commit" &&
      !each_pushed_blob(ctx, target->second, visit, history_unreadable)) {
    Finding f;
    f.rule = "content.plaintext-secret";
    f.ref = u.raw->ref;
    f.message = "the push brings more than " + std::to_string(k_history_limit) +
                " commits, which cannot all be read for plaintext Secrets; push the history in smaller steps";
    r.findings.push_back(std::move(f));
  }
  if (!history_unreadable.empty()) unreadable(history_unreadable);
  if (ctx.deadline.expired()) r.complete = false;
  return r;
}

}  // namespace portcullis::hooks
