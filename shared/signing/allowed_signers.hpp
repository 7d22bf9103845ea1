#pragma once
// git's gpg.ssh.allowedSignersFile, in the format of ssh-keygen(1) "ALLOWED SIGNERS":
//   principals [options] keytype base64-key [comment]
// `principals` is a comma-separated list of patterns (`*`, `?`, `!negation`), optionally in
// double quotes. Options (comma-separated, names case-insensitive, values in double quotes as
// ssh-keygen requires): namespaces="git,file", valid-after="YYYYMMDD[HHMM[SS]][Z|UTC]",
// valid-before="...". Times without Z/UTC are local time, as in ssh-keygen.
// `cert-authority` lines are rejected: certificates are not supported.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/signing/sshsig.hpp"
#include "shared/util/error.hpp"

namespace portcullis::signing {

struct AllowedSigner {
  std::vector<std::string> principals;  // patterns, as written (negations keep their '!')
  std::vector<std::string> namespaces;  // patterns; empty = every namespace
  std::optional<Seconds> valid_after;
  std::optional<Seconds> valid_before;
  std::string declared_type;  // the keytype field, e.g. "ssh-ed25519"
  std::string key_type;       // the type named inside the key blob
  std::string key_blob;       // decoded wire-format public key
  std::string comment;
  std::uint32_t line = 0;
};

struct AllowedSigners {
  std::string file;  // for messages; may be empty
  std::vector<AllowedSigner> signers;
};

// Parses `text`. Fails on the first bad line with rule "signing.allowed-signers" and
// `file`, line and column set: unknown option, unquoted or malformed value, valid-before
// not after valid-after, empty principal, unknown key type, bad base64, malformed key,
// cert-authority. A line whose keytype differs from the type inside its key is kept (so that
// verification can say "wrong key type" for it).
util::Result<AllowedSigners> parse_allowed_signers(std::string_view text, std::string_view file = {});

// Reads and parses the file at `path`.
util::Result<AllowedSigners> load_allowed_signers(const std::filesystem::path& path);

// True when `name` matches the pattern list `patterns` as OpenSSH's match_pattern_list
// does: some pattern matches and no negated (`!`) pattern matches. Case-sensitive.
bool matches_patterns(const std::vector<std::string>& patterns, std::string_view name);

// Parses an allowed-signers time ("20240131", "202401311200", "20240131120000Z", "...UTC").
std::optional<Seconds> parse_signer_time(std::string_view text);

}  // namespace portcullis::signing
