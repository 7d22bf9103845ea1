#include "shared/imagepolicy/policy.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>

#include "schemas/programs.hpp"
#include "shared/imagepolicy/semver.hpp"
#include "shared/manifest/object.hpp"
#include "shared/policy/policy.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::imagepolicy {

std::string Choice::reference(const Policy& policy) const {
  std::string out = policy.image + ":" + tag;
  bool pinned = policy.pin == Pin::digest || policy.strategy == Strategy::digest;
  if (pinned && !digest.empty()) out += "@" + digest;
  return out;
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  for (std::size_t i = 0; i < tag.size(); ++i) {
    char c = tag[i];
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word && (i == 0 || (c != '.' && c != '-'))) return false;
  }
  return true;
}

bool is_valid_digest(std::string_view digest) {
  std::size_t hex = 0;
  if (digest.starts_with("sha256:")) {
    hex = 64;
  } else if (digest.starts_with("sha512:")) {
    hex = 128;
  } else {
    return false;
  }
  std::string_view h = digest.substr(7);
  return h.size() == hex && std::all_of(h.begin(), h.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

namespace {

// A compiled PCRE2 pattern with match limits (patterns come from pushed files).
class Pattern {
 public:
  static util::Result<Pattern> compile(std::string_view text) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), PCRE2_UTF, &code, &offset, nullptr);
    if (!re) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(code, buf, sizeof buf);
      return util::fail("pattern does not compile at offset " + std::to_string(offset) + ": " +
                            reinterpret_cast<const char*>(buf),
                        "imagepolicy.invalid");
    }
    Pattern p;
    p.m_code.reset(re);
    p.m_context.reset(pcre2_match_context_create(nullptr));
    pcre2_set_match_limit(p.m_context.get(), 100'000);
    pcre2_set_depth_limit(p.m_context.get(), 1'000);
    std::uint32_t groups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
    p.m_groups = groups;
    int named = pcre2_substring_number_from_name(re, reinterpret_cast<PCRE2_SPTR>("version"));
    p.m_group = named > 0 ? static_cast<std::uint32_t>(named) : 1;
    return p;
  }
  std::uint32_t groups() const { return m_groups; }
  // The compared group of `subject` when the whole pattern matches; nullopt otherwise (also
  // when the match limit is hit).
  std::optional<std::string> capture(std::string_view subject) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(m_code.get(), nullptr), pcre2_match_data_free);
    int rc = pcre2_match(m_code.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md.get(),
                         m_context.get());
    if (rc <= 0 || static_cast<std::uint32_t>(rc) <= m_group) return std::nullopt;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    if (ov[2 * m_group] == PCRE2_UNSET) return std::nullopt;
    return std::string(subject.substr(ov[2 * m_group], ov[2 * m_group + 1] - ov[2 * m_group]));
  }

 private:
  struct CodeFree {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
  };
  struct ContextFree {
    void operator()(pcre2_match_context* c) const { pcre2_match_context_free(c); }
  };
  std::unique_ptr<pcre2_code, CodeFree> m_code;
  std::unique_ptr<pcre2_match_context, ContextFree> m_context;
  std::uint32_t m_groups = 0;
  std::uint32_t m_group = 1;
};

bool numeric_less(std::string_view a, std::string_view b) {
  a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
  b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<Choice> choose_semver(const Policy& policy, std::span<const Candidate> candidates) {
  auto range = Range::parse(policy.range);
  if (!range) return std::nullopt;
  const Candidate* best = nullptr;
  Version best_version;
  for (const Candidate& c : candidates) {
    auto v = parse_version(c.tag);
    if (!v || !range->contains(*v, policy.prereleases)) continue;
    if (!best || *v > best_version) best = &c, best_version = *v;
  }
  if (!best) return std::nullopt;
  return Choice{best->tag, best->digest};
}

std::optional<Choice> choose_regex(const Policy& policy, std::span<const Candidate> candidates) {
  auto pattern = Pattern::compile(policy.pattern);
  if (!pattern || pattern->groups() == 0) return std::nullopt;
  const Candidate* best = nullptr;
  std::string best_key;
  for (const Candidate& c : candidates) {
    auto key = pattern->capture(c.tag);
    if (!key) continue;
    if (policy.order == Order::numerical && !all_digits(*key)) continue;
    bool better = !best || (policy.order == Order::numerical ? numeric_less(best_key, *key) : best_key < *key);
    if (better) best = &c, best_key = *key;
  }
  if (!best) return std::nullopt;
  return Choice{best->tag, best->digest};
}

}  // namespace

std::optional<Choice> choose(const Policy& policy, std::span<const Candidate> candidates) {
  std::vector<Candidate> valid;
  for (const Candidate& c : candidates) {
    if (is_valid_tag(c.tag) && (c.digest.empty() || is_valid_digest(c.digest))) valid.push_back(c);
  }
  switch (policy.strategy) {
    case Strategy::semver: return choose_semver(policy, valid);
    case Strategy::regex: return choose_regex(policy, valid);
    case Strategy::digest:
      for (const Candidate& c : valid) {
        if (c.tag == policy.tag && !c.digest.empty()) return Choice{c.tag, c.digest};
      }
      return std::nullopt;
  }
  return std::nullopt;
}

namespace {

util::Error invalid_at(const yaml::Node& node, std::string_view file, std::string message) {
  return util::Error{"invalid image policy: " + message, "imagepolicy.invalid", std::string(file), node.mark.line,
                     node.mark.column};
}

util::Result<Policy> policy_of(const yaml::Node& item, std::string_view file) {
  Policy p;
  p.name = std::string(item.get_string("name"));
  p.namespace_ = std::string(item.get_string("namespace"));
  p.image = std::string(item.get_string("image"));
  p.line = item.mark.line;
  if (const auto* envs = item.get("environments")) {
    for (const auto* e : envs->items) p.environments.emplace_back(e->text);
  }
  auto ref = manifest::parse_image(p.image);
  if (!ref.tag.empty() || !ref.digest.empty()) {
    return util::fail(invalid_at(item, file, p.name + ": image '" + p.image + "' has a tag or digest; name the repository only"));
  }
  if (const auto* s = item.get("semver")) {
    p.strategy = Strategy::semver;
    p.range = std::string(s->get_string("range"));
    const auto* pre = s->get("prereleases");
    p.prereleases = pre && pre->type == yaml::Type::boolean && pre->value.boolean;
    if (auto r = Range::parse(p.range); !r) return util::fail(invalid_at(*s, file, p.name + ": " + r.error().message));
  } else if (const auto* r = item.get("regex")) {
    p.strategy = Strategy::regex;
    p.pattern = std::string(r->get_string("pattern"));
    p.order = r->get_string("order") == "alphabetical" ? Order::alphabetical : Order::numerical;
    auto compiled = Pattern::compile(p.pattern);
    if (!compiled) return util::fail(invalid_at(*r, file, p.name + ": " + compiled.error().message));
    if (compiled->groups() == 0) return util::fail(invalid_at(*r, file, p.name + ": the pattern needs a capture group to order tags by"));
  } else if (const auto* d = item.get("digest")) {
    p.strategy = Strategy::digest;
    p.tag = std::string(d->get_string("tag"));
  }
  p.pin = item.get_string("pin") == "digest" || p.strategy == Strategy::digest ? Pin::digest : Pin::tag;
  return p;
}

}  // namespace

util::Result<std::vector<Policy>> parse_policies(const yaml::Node& root, std::string_view file) {
  std::vector<Policy> out;
  const yaml::Node* list = root.at({"images", "policies"});
  if (!list) return out;
  if (auto ok = policy::validate_against(schemas::policy_program(), root, file, "policy"); !ok) {
    util::Error e = ok.error();
    e.rule = "imagepolicy.invalid";
    return util::fail(std::move(e));
  }
  for (const auto* item : list->items) {
    auto p = policy_of(*item, file);
    if (!p) return util::fail(p.error());
    if (find_policy(out, p->name)) return util::fail(invalid_at(*item, file, "two policies are named " + p->name));
    out.push_back(std::move(*p));
  }
  return out;
}

util::Result<std::vector<Policy>> parse_policies(std::string_view text, std::string_view file) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) {
    util::Error e = stream.error();
    e.file = std::string(file);
    return util::fail(std::move(e));
  }
  if (stream->documents.empty() || !stream->documents.front().root) return std::vector<Policy>{};
  return parse_policies(*stream->documents.front().root, file);
}

const Policy* find_policy(std::span<const Policy> policies, std::string_view name) {
  for (const Policy& p : policies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace portcullis::imagepolicy
