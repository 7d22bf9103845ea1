#include "hooks/report.hpp"

#include <algorithm>
#include <map>

#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks {

std::size_t Report::errors() const {
  return static_cast<std::size_t>(
      std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return f.level == Level::error; }));
}

std::size_t Report::warnings() const {
  return static_cast<std::size_t>(
      std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return f.level == Level::warning; }));
}

std::string_view default_hint(std::string_view rule) {
  struct Hint {
    std::string_view rule, hint;
  };
  static constexpr Hint hints[] = {
      {"yaml.syntax", "fix the YAML at that position; `yamllint` or your editor shows the same error"},
      {"yaml.duplicate-key", "remove one of the two keys; Kubernetes would silently keep only the last"},
      {"yaml.encoding", "save the file as UTF-8"},
      {"yaml.limit", "split the file or remove the deep nesting / alias expansion; limits are in the server config"},
      {"file.too-large", "split the manifest into smaller files (the limit is limits.maxFileSize in the server config)"},
      {"file.binary", "keep binary files out of environment paths; reference them from a ConfigMap or an image"},
      {"file.symlink", "replace the symlink with the file itself; links inside environments are not followed"},
      {"file.submodule", "vendor the content instead of a submodule; the reconciler does not fetch submodules"},
      {"k8s.not-an-object", "each YAML document under an environment must be one Kubernetes object (a mapping)"},
      {"k8s.missing-field", "add apiVersion, kind and metadata.name"},
      {"k8s.invalid-name", "use lower-case letters, digits and '-' (the apiserver would refuse this name)"},
      {"k8s.duplicate", "keep one declaration of the object; rename or delete the other"},
      {"schema.type", "give the field a value of the expected type (quote strings such as \"yes\" or \"1.0\")"},
      {"schema.unknown-field", "remove the field or fix its spelling; `kubectl explain` lists the valid fields"},
      {"schema.required", "add the missing field"},
      {"schema.enum", "use one of the allowed values"},
      {"schema.missing", "import the cluster's schemas (`portcullis schemas import`) or add the CRD to the repository"},
      {"schema.format", "write the value in the expected format"},
      {"schema.pattern", "change the value to match the pattern"},
      {"schema.range", "use a value within the allowed range"},
      {"schema.length", "adjust the length to the allowed range"},
      {"schema.unique", "remove the duplicate item"},
      {"schema.invalid", "change the value to one of the shapes the schema allows"},
      {"content.deny-kind", "this kind may not be committed to an environment (manifests.denyKinds in .portcullis.yaml)"},
      {"content.plaintext-secret", "encrypt it before committing (SealedSecret or SOPS); plaintext Secrets never enter Git"},
      {"content.image-latest", "pin the image to a version tag or a digest (image:1.2.3 or image@sha256:...)"},
      {"content.image-untagged", "pin the image to a version tag or a digest (image:1.2.3 or image@sha256:...)"},
      {"policy.invalid", "fix .portcullis.yaml; schemas/policy.schema.json describes every key"},
      {"ref.protected-delete", "protected refs cannot be deleted (protectedRefs in .portcullis.yaml)"},
      {"ref.protected-force", "rebase onto the current tip and push without --force"},
      {"ref.release-tag-move", "release tags are immutable; create a new tag for the new release"},
      {"ref.release-tag-delete", "release tags are immutable and cannot be deleted"},
      {"ref.not-a-commit", "push a commit to branches"},
      {"ref.invalid-name", "use a name `git check-ref-format` accepts: refs/<kind>/<name>, at most 4096 bytes"},
      {"identity.missing", "push through the Git server's authenticated access (ssh, gitolite, HTTP auth) so it knows who you are"},
      {"owners.invalid", "fix CODEOWNERS on the target first (a push that changes only CODEOWNERS, approved by its owners)"},
      {"owners.approval-required", "ask an owner to approve: `portcullis approve <commit>` (a signed approval tag) or a signed merge commit"},
      {"owners.teams", "define the team's members in the server config (identity.teams), or give the team another name"},
      {"owners.signature", "check the signer's key in the server's allowed-signers file and its validity dates"},
      {"promotion.not-promoted", "add the image to the environment it is promoted from first, then promote it"},
      {"promotion.soak", "wait until the image has run long enough in the environment it is promoted from"},
      {"promotion.digest-required", "pin the image by digest: image@sha256:..."},
      {"ref.environment-branch", "change the environment's directory on the main branch instead"},
      {"breakglass.denied", "break-glass is reserved to the users and teams in identity.breakGlass"},
      {"breakglass.reason-required", "say why: git push -o break-glass=\"INC-1234: what is down and what this does\""},
      {"content.sops-invalid", "encrypt the file with sops (a complete stanza: mac, lastmodified, keys) or remove the stanza"},
      {"confinement.denied", "write only where the environment may (the server config's confinement, as its portcullisd target)"},
      {"gate.budget", "the check ran out of time; retry, or split the push into smaller pushes"},
      {"gate.internal", "report this to the Git server's administrators"},
      {"gate.audit", "the server cannot record decisions; tell its administrators (disk full?)"},
  };
  for (const auto& h : hints)
    if (h.rule == rule) return h.hint;
  if (rule.starts_with("k8s."))
    return "the apiserver refuses this (kubectl apply --dry-run=server says the same): fix the field the message names "
           "(docs/validation.md lists the rules)";
  return {};
}

namespace {

std::string_view level_name(Level l) {
  switch (l) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
  }
  return "error";
}

// The length of the UTF-8 sequence at the start of `s` and its code point; 0 when invalid.
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(0);
  std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || len > s.size()) return 0;
  cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
  for (std::size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  static constexpr char32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < k_min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;  // overlong, too big, surrogate
  return len;
}

std::string plural(std::size_t n, std::string_view word) {
  std::string s = std::to_string(n) + " " + std::string(word);
  if (n != 1) s += 's';
  return s;
}

}  // namespace

std::string printable(std::string_view text) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    char32_t cp = 0;
    std::size_t len = utf8_sequence(text, cp);
    if (len == 0) {  // not UTF-8: the byte
      auto c = static_cast<unsigned char>(text[0]);
      out += "\\x";
      out += k_hex[c >> 4];
      out += k_hex[c & 15];
      text.remove_prefix(1);
      continue;
    }
    bool bidi = (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F ||
                cp == 0x061C;
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7f) {
      out += "\\x";
      out += k_hex[cp >> 4];
      out += k_hex[cp & 15];
    } else if ((cp >= 0x80 && cp < 0xA0) || bidi) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += k_hex[(cp >> shift) & 15];
    } else {
      out.append(text.substr(0, len));
    }
    text.remove_prefix(len);
  }
  return out;
}

std::string render_text(const Report& report) {
  std::string out;
  // Group by ref, then file, keeping the order in which they were found.
  std::vector<std::string> refs;
  for (const auto& f : report.findings)
    if (std::find(refs.begin(), refs.end(), f.ref) == refs.end()) refs.push_back(f.ref);
  for (const auto& ref : refs) {
    out += ref.empty() ? std::string("push:\n") : printable(ref) + ":\n";
    std::vector<std::string> files;
    for (const auto& f : report.findings)
      if (f.ref == ref && std::find(files.begin(), files.end(), f.file) == files.end()) files.push_back(f.file);
    for (const auto& file : files) {
      std::vector<const Finding*> in_file;
      for (const auto& f : report.findings)
        if (f.ref == ref && f.file == file) in_file.push_back(&f);
      std::stable_sort(in_file.begin(), in_file.end(), [](const Finding* a, const Finding* b) {
        return std::tie(a->line, a->column) < std::tie(b->line, b->column);
      });
      for (const Finding* fp : in_file) {
        const Finding& f = *fp;
        out += "  ";
        if (!f.file.empty()) {
          out += printable(f.file);
          if (f.line) out += ":" + std::to_string(f.line) + ":" + std::to_string(f.column ? f.column : 1);
          out += ": ";
        }
        out += level_name(f.level);
        out += " [" + f.rule + "] ";
        if (!f.object.empty()) out += printable(f.object) + ": ";
        out += printable(f.message) + "\n";
        std::string_view hint = f.hint.empty() ? default_hint(f.rule) : std::string_view(f.hint);
        if (!hint.empty() && f.level != Level::notice) out += "      fix: " + printable(hint) + "\n";
      }
    }
  }
  for (const auto& note : report.notes) out += "note: " + printable(note) + "\n";
  std::string counts = plural(report.errors(), "error") + ", " + plural(report.warnings(), "warning");
  std::string scope = plural(report.stats.files, "file") + ", " + plural(report.stats.objects, "object") + " in " +
                      plural(report.stats.refs, "ref") + " checked in " + std::to_string(report.stats.duration_ms) +
                      " ms";
  if (report.rejected())
    out += "portcullis: push rejected: " + counts + " (" + scope + ")\n";
  else if (report.fail_open)
    out += "portcullis: push ACCEPTED WITHOUT A VERDICT (failMode: open): " + counts + " (" + scope + ")\n";
  else
    out += "portcullis: push accepted: " + counts + " (" + scope + ")\n";
  return out;
}

std::string render_json(const Report& report) {
  util::Json findings = util::Json::array();
  for (const auto& f : report.findings) {
    std::string_view hint = f.hint.empty() ? default_hint(f.rule) : std::string_view(f.hint);
    findings.push_back({{"level", level_name(f.level)},
                        {"rule", f.rule},
                        {"ref", f.ref},
                        {"file", f.file},
                        {"line", f.line},
                        {"column", f.column},
                        {"object", f.object},
                        {"message", f.message},
                        {"hint", std::string(hint)}});
  }
  util::Json out{{"decision", report.rejected() ? "rejected" : "accepted"},
                 {"failOpen", report.fail_open},
                 {"errors", report.errors()},
                 {"warnings", report.warnings()},
                 {"stats",
                  {{"refs", report.stats.refs},
                   {"files", report.stats.files},
                   {"objects", report.stats.objects},
                   {"durationMs", report.stats.duration_ms}}},
                 {"notes", report.notes},
                 {"findings", findings}};
  return util::dump(out) + "\n";
}

}  // namespace portcullis::hooks
