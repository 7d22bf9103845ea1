#pragma once
// Internal to shared/signing: the SSH wire format (RFC 4251 section 5) read with bounds
// checks, strict base64, and the structure of the public keys we verify. No OpenSSL here.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/signing/sshsig.hpp"
#include "shared/util/error.hpp"

namespace portcullis::signing::wire {

// Reads SSH wire fields from a byte string. Every getter returns false (and consumes
// nothing) when the field would run past the end; views point into the original bytes.
class Reader {
 public:
  explicit Reader(std::string_view data) : m_data(data) {}
  bool bytes(std::size_t count, std::string_view& out);
  bool u32(std::uint32_t& out);
  bool string(std::string_view& out);
  bool empty() const { return m_data.empty(); }
  std::size_t remaining() const { return m_data.size(); }

 private:
  std::string_view m_data;
};

// Appends SSH wire fields.
void put_u32(std::string& out, std::uint32_t value);
void put_string(std::string& out, std::string_view value);

// Standard base64 with '=' padding. `decode` skips ASCII whitespace and fails on any other
// character outside the alphabet, on misplaced padding and on a length that is not a
// multiple of four.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes, bool pad = true);

// A public key blob taken apart, without checking the mathematics (that is OpenSSL's job).
// ssh-ed25519: `a` = 32-byte key. ecdsa-sha2-*: `a` = curve id, `b` = uncompressed point.
// ssh-rsa: `a` = exponent, `b` = modulus (mpints with leading zeros removed).
// For key types we recognise but do not verify, only `type` is set and `supported` is false.
struct PublicKey {
  std::string_view type;
  std::string_view a;
  std::string_view b;
  bool supported = false;
};

// Takes apart `blob`; fails with Failure::malformed_signature when it is truncated, has
// trailing bytes or inconsistent fields, and with Failure::unsupported_algorithm for a key
// type that is neither verified nor recognised.
util::Result<PublicKey> parse_public_key(std::string_view blob);

// Reads an mpint that must be non-negative; strips leading zero bytes.
bool get_unsigned_mpint(Reader& reader, std::string_view& out);

// Key types that may appear in allowed-signers files and SSH signatures. Names we verify
// return true from `supported_key_type`; `known_key_type` also covers DSA, security keys and
// certificates, which are recognised (so a line with them parses) but never verified.
bool supported_key_type(std::string_view name);
bool known_key_type(std::string_view name);

// `text` for a message: non-printable bytes as \xNN, cut to `limit` characters.
std::string printable(std::string_view text, std::size_t limit = 64);

// The key type an allowed-signers keytype field stands for: "rsa-sha2-256" and
// "rsa-sha2-512" name ssh-rsa keys, as in OpenSSH; other names stand for themselves.
std::string_view canonical_key_type(std::string_view name);

// A failure value carrying `failure`'s rule.
std::unexpected<util::Error> failure(Failure failure, std::string message);

}  // namespace portcullis::signing::wire
