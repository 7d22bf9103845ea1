#include "hooks/refs.hpp"

#include "shared/util/strings.hpp"

namespace portcullis::hooks {

namespace {

struct Verdicts {
  const Update& u;
  RefVerdict out;

  RefVerdict reject(std::string rule, std::string message) {
    Finding f;
    f.rule = std::move(rule);
    f.ref = u.raw->ref;
    f.message = std::move(message);
    out.findings.push_back(std::move(f));
    out.stop = true;
    return std::move(out);
  }
};

}  // namespace

std::optional<std::string> ref_name_problem(std::string_view ref) {
  if (ref.size() > k_max_ref_name)
    return "it is " + std::to_string(ref.size()) + " bytes long; the limit is " +
           std::to_string(k_max_ref_name);
  for (unsigned char c : ref) {
    if (c < 0x20 || c == 0x7f) return std::string("it contains a control character");
    if (c == ' ') return std::string("it contains a space");
    if (std::string_view("~^:?*[\\").find(static_cast<char>(c)) != std::string_view::npos)
      return std::string("it contains one of ~ ^ : ? * [ \\");
  }
  if (!ref.starts_with("refs/")) return std::string("it does not start with refs/");
  if (ref.find("..") != std::string_view::npos) return std::string("it contains \"..\"");
  if (ref.find("@{") != std::string_view::npos) return std::string("it contains \"@{\"");
  if (ref.ends_with('.')) return std::string("it ends with \".\"");
  auto parts = util::split(ref.substr(5), '/');
  if (parts.size() < 2) return std::string("it has only one level below refs/");
  for (auto part : parts) {
    if (part.empty()) return std::string("it has an empty component (\"//\" or a trailing /)");
    if (part.starts_with('.')) return std::string("a component starts with \".\"");
    if (part.ends_with(".lock")) return std::string("a component ends with \".lock\"");
  }
  return std::nullopt;
}

RefVerdict check_ref_rules(const git::Repository& repo, const Update& u) {
  Verdicts v{u, {}};
  const RefUpdate& raw = *u.raw;
  const policy::Policy& p = u.policy;
  // A name git refuses to store (from a client that is not git, or `git push HEAD:refs/x`): git
  // would refuse that ref alone and store the rest of a non-atomic push, so the push is rejected
  // here, in any failMode, and the name is shown escaped (printable).
  if (auto why = ref_name_problem(raw.ref))
    return v.reject("ref.invalid-name", "\"" + raw.ref + "\" is not a valid ref name: " + *why);
  if (raw.new_oid.is_zero()) {
    if (p.is_release_tag(raw.ref))
      return v.reject("ref.release-tag-delete", "release tag " + raw.ref + " cannot be deleted");
    if (p.is_protected_ref(raw.ref))
      return v.reject("ref.protected-delete", "protected ref " + raw.ref + " cannot be deleted");
    v.out.stop = true;
    return std::move(v.out);
  }
  if (!raw.old_oid.is_zero() && p.is_release_tag(raw.ref))
    return v.reject("ref.release-tag-move", "release tag " + raw.ref + " already points at " +
                                                raw.old_oid.short_hex() + " and cannot be moved");
  if (!raw.old_oid.is_zero() && u.protected_ref) {
    bool forward = false;
    if (u.old_commit && u.new_commit) {
      auto r = repo.is_ancestor(*u.old_commit, *u.new_commit);
      if (!r) return v.reject("gate.internal", r.error().message);
      forward = *r;
    }
    if (!forward)
      return v.reject("ref.protected-force", "protected ref " + raw.ref +
                                                 " can only move forward: " + raw.new_oid.short_hex() +
                                                 " does not contain the current tip " +
                                                 raw.old_oid.short_hex() + " (a force push?)");
  }
  if (raw.old_oid.is_zero() && u.base_tree) {
    // The environments at the target: one that cannot be read could be any of them.
    auto environments = render::environments_at(repo, p, *u.base_tree);
    if (!environments) return v.reject("gate.internal", environments.error().message);
    if (p.is_environment_branch(raw.ref, *environments))
      return v.reject(
          "ref.environment-branch",
          raw.ref + " names an environment; environments are directories on the main branch, not branches");
  }
  return std::move(v.out);
}

}  // namespace portcullis::hooks
