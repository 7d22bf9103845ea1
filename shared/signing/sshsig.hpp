#pragma once
// Verifies SSH signatures (OpenSSH PROTOCOL.sshsig, what `git` makes with gpg.format=ssh)
// in-process, as `ssh-keygen -Y verify` does, against an allowed-signers file.
//
// Verified key types: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa (at least 2048
// bits) with the rsa-sha2-256 / rsa-sha2-512 signature algorithms. Refused as unsupported:
// SHA-1 "ssh-rsa" signatures, ssh-dss, security keys (sk-*), certificates.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::signing {

struct AllowedSigners;

using TimePoint = std::chrono::system_clock::time_point;
// Whole seconds, for dates that outlive TimePoint's range (ssh-keygen allows years up to 9999).
using Seconds = std::chrono::sys_seconds;

// Why a signature was not accepted. Each value has a stable rule id, set as
// `util::Error::rule` on every failure this module returns (see `rule_of`).
enum class Failure {
  malformed_signature,    // "signing.malformed-signature": not an SSHSIG blob, bad armor/base64, truncated
  wrong_namespace,        // "signing.wrong-namespace": signed for another namespace (e.g. -n file)
  unknown_key,            // "signing.unknown-key": signing key is not in the allowed signers
  key_expired,            // "signing.key-expired": `at` is after the key's valid-before
  key_not_yet_valid,      // "signing.key-not-yet-valid": `at` is before the key's valid-after
  namespace_not_allowed,  // "signing.namespace-not-allowed": the key's namespaces="..." excludes it
  wrong_key_type,         // "signing.wrong-key-type": allowed-signers line or signature algorithm
                          //   names another type than the key has
  unsupported_algorithm,  // "signing.unsupported-algorithm": ssh-rsa/SHA-1, DSA, sk-*, certificates,
                          //   hash other than sha256/sha512, RSA below 2048 bits, OpenPGP armor
  bad_signature,          // "signing.bad-signature": well-formed but does not verify (tampered message)
  unsigned_object,        // "signing.unsigned": a git object without a signature (git_object.hpp)
};

// The stable rule id of `failure`, e.g. "signing.bad-signature".
std::string_view rule_of(Failure failure);

// The Failure whose rule `error` carries; nullopt for errors of other origins (such as
// "signing.allowed-signers" parse errors).
std::optional<Failure> failure_of(const util::Error& error);

// Who made an accepted signature.
struct Verified {
  std::vector<std::string> principals;  // principals field of the allowed-signers line, as written
  std::uint32_t line = 0;               // that line's number in the allowed-signers file
  std::string fingerprint;              // "SHA256:<base64>", as `ssh-keygen -l` prints it
  std::string key_type;                 // e.g. "ssh-ed25519"
  std::string algorithm;                // signature algorithm, e.g. "rsa-sha2-512"
  std::string hash_algorithm;           // "sha256" or "sha512", the SSHSIG message hash
};

// Verifies `armored_signature` ("-----BEGIN SSH SIGNATURE-----" ... "-----END SSH
// SIGNATURE-----") over `message` for namespace `ns` (git uses "git"), and then checks the
// signing key against `signers` at time `at` (git uses the committer/tagger date).
//
// Checks run in this order, and the first that fails decides the Failure: armor and wire
// format; key type and algorithms; namespace; the signature itself; then the allowed-signers
// lines that list the key (first in file order wins): declared key type, namespaces="...",
// valid-after / valid-before. So an allowed-signers problem is only reported for a genuine
// signature. Never throws; hostile input only ever yields malformed_signature.
util::Result<Verified> verify(std::string_view armored_signature, std::string_view message,
                              std::string_view ns, const AllowedSigners& signers, TimePoint at);

// The key inside an armored signature, checked for form but not for validity: what
// `ssh-keygen -Y check-novalidate` would name. Fails like `verify` on malformed input.
struct SignatureKey {
  std::string fingerprint;
  std::string key_type;
  std::string ns;
};
util::Result<SignatureKey> inspect(std::string_view armored_signature);

// "SHA256:" + unpadded base64 of SHA-256(`key_blob`), the wire-format public key.
std::string fingerprint(std::string_view key_blob);

}  // namespace portcullis::signing
