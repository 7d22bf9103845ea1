#pragma once
// Plaintext Secrets stay out of every ref the gate sees. Inside environments the content checks
// judge them (content.plaintext-secret); this rule looks everywhere else a push can put one:
// every blob the push brings (each pushed commit's changes, not only the tip's, so a Secret
// added and removed again is still refused), files outside environments and excluded ones,
// tags (also of blobs and trees), notes, refs/for/*. Files are read as Kubernetes reads them:
// escapes and !!binary decoded, UTF-16/32 transcoded, document by document when one is broken,
// and a file that cannot be read but looks like a Secret is refused too.
#include <optional>
#include <string>
#include <vector>

#include "hooks/content.hpp"
#include "hooks/report.hpp"
#include "hooks/update.hpp"

namespace portcullis::hooks {

enum class SecretScan {
  tip,                // what the tip adds against `against` (portcullis check)
  history,            // every blob the push brings (pre-receive)
  history_fail_open,  // the same, and the environments' own files looked at for a spelling of
                      // Secret (only failMode open needs to know: judged_may_hold_secret)
};

struct SecretScanResult {
  std::vector<Finding> findings;  // content.plaintext-secret
  bool complete = true;           // every blob was read (the deadline did not stop it)
  // A file the environment checks read later could spell a Secret (it mentions "ecret", or has
  // escapes or tags): the push must be judged whole, never accepted unjudged (failMode open).
  bool judged_may_hold_secret = false;
};

// content.plaintext-secret findings for `update`, against the tree `against` (nullopt:
// everything). The tip's files that the environment checks read whole (the render's objects
// files of the update's environments) are not parsed here, only looked at for a spelling of
// Secret.
SecretScanResult scan_plaintext_secrets(const ContentContext& ctx, const Update& update,
                                        const std::optional<git::Oid>& against, SecretScan scope);

// Whether `text` could spell the kind Secret: the word, or an escape, a tag, or the base64 of it.
bool may_spell_secret(std::string_view text);

// The text of a blob as YAML reads it: UTF-16 and UTF-32 (with a byte-order mark) transcoded to
// UTF-8; nullopt for binary content.
std::optional<std::string> yaml_text(std::string_view bytes);

}  // namespace portcullis::hooks
