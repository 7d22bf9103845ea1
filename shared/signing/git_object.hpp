#pragma once
// Separates a raw git object (as `git cat-file commit|tag` prints it) into the bytes that
// were signed and the signature, exactly as git does before it calls ssh-keygen.
#include <optional>
#include <string>
#include <string_view>

#include "shared/signing/sshsig.hpp"
#include "shared/util/error.hpp"

namespace portcullis::signing {

struct SignedObject {
  std::string payload;                 // the object without its signature: what was signed
  std::string signature;               // the armored signature text
  std::optional<TimePoint> signed_at;  // committer (commit) or tagger (tag) date: the time
                                       // git verifies the key's validity at; nullopt if absent
};

// The object's hash function decides which header holds the commit signature.
enum class ObjectFormat { sha1, sha256 };

// A commit: the signature is the value of the `gpgsig` header (`gpgsig-sha256` in SHA-256
// repositories), continuation lines starting with a space; the payload is the commit with
// that header and its continuation lines removed. Headers of the other hash function stay
// in the payload, as in git. Fails with Failure::unsigned_object when there is no such
// header and with Failure::malformed_signature when it appears twice.
util::Result<SignedObject> split_signed_commit(std::string_view raw,
                                               ObjectFormat format = ObjectFormat::sha1);

// An annotated tag: the signature starts at the last line that begins an armored signature
// ("-----BEGIN SSH SIGNATURE-----", or an OpenPGP/X.509 one) and runs to the end; the
// payload is everything before it. Fails with Failure::unsigned_object when there is none.
util::Result<SignedObject> split_signed_tag(std::string_view raw);

}  // namespace portcullis::signing
