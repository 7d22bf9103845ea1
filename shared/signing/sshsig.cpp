#include "shared/signing/sshsig.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <ctime>
#include <memory>

#include "shared/signing/allowed_signers.hpp"
#include "shared/signing/wire.hpp"

namespace portcullis::signing {

namespace {

struct RuleName {
  Failure failure;
  std::string_view rule;
};
constexpr std::array<RuleName, 10> k_rules = {{
    {Failure::malformed_signature, "signing.malformed-signature"},
    {Failure::wrong_namespace, "signing.wrong-namespace"},
    {Failure::unknown_key, "signing.unknown-key"},
    {Failure::key_expired, "signing.key-expired"},
    {Failure::key_not_yet_valid, "signing.key-not-yet-valid"},
    {Failure::namespace_not_allowed, "signing.namespace-not-allowed"},
    {Failure::wrong_key_type, "signing.wrong-key-type"},
    {Failure::unsupported_algorithm, "signing.unsupported-algorithm"},
    {Failure::bad_signature, "signing.bad-signature"},
    {Failure::unsigned_object, "signing.unsigned"},
}};

constexpr std::string_view k_begin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view k_end = "-----END SSH SIGNATURE-----";
constexpr std::string_view k_magic = "SSHSIG";
constexpr std::size_t k_max_armored = 64 * 1024;
constexpr std::size_t k_min_rsa_bits = 2048;
constexpr std::size_t k_max_rsa_bits = 16384;

using wire::failure;
using wire::printable;

// ---- OpenSSL ownership ------------------------------------------------------------------

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The oldest queued OpenSSL error as text; empties the queue so that no error leaks to
// unrelated OpenSSL callers in the same thread.
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

std::string digest(const EVP_MD* md, std::string_view data) {
  std::string out(static_cast<std::size_t>(EVP_MAX_MD_SIZE), '\0');
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length, md,
                 nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  out.resize(length);
  return out;
}

// Verifies `signature` over `data` with `key` and message digest `md` (nullptr for Ed25519).
util::Result<void> evp_verify(EVP_PKEY* key, const EVP_MD* md, std::string_view signature,
                              std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1)
    return failure(Failure::malformed_signature, "cannot set up signature verification: " + openssl_error());
  int rc = EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(data), data.size());
  ERR_clear_error();
  if (rc != 1)
    return failure(Failure::bad_signature,
                   "the signature does not verify: the signed data was changed or the signature was not made "
                   "by this key");
  return {};
}

PkeyPtr key_from_params(const char* algorithm, const OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) != 1)
    return nullptr;
  PkeyPtr key(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

// ---- the three key families -------------------------------------------------------------

util::Result<void> verify_ed25519(const wire::PublicKey& key, std::string_view sig, std::string_view data) {
  if (sig.size() != 64)
    return failure(Failure::malformed_signature, "Ed25519 signature is not 64 bytes long");
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes_of(key.a), key.a.size()));
  if (!pkey) return failure(Failure::malformed_signature, "invalid Ed25519 public key: " + openssl_error());
  return evp_verify(pkey.get(), nullptr, sig, data);
}

util::Result<void> verify_ecdsa(const wire::PublicKey& key, std::string_view sig, std::string_view data) {
  const char* group = nullptr;
  const EVP_MD* md = nullptr;
  std::size_t order_bytes = 0;
  if (key.type == "ecdsa-sha2-nistp256") {
    group = "P-256", md = EVP_sha256(), order_bytes = 32;
  } else if (key.type == "ecdsa-sha2-nistp384") {
    group = "P-384", md = EVP_sha384(), order_bytes = 48;
  } else {
    group = "P-521", md = EVP_sha512(), order_bytes = 66;
  }
  // The SSH signature blob is mpint r, mpint s; OpenSSL wants DER ECDSA-Sig-Value.
  wire::Reader reader(sig);
  std::string_view r, s;
  if (!wire::get_unsigned_mpint(reader, r) || !wire::get_unsigned_mpint(reader, s) || !reader.empty() ||
      r.size() > order_bytes || s.size() > order_bytes)
    return failure(Failure::malformed_signature, "ECDSA signature is not two non-negative integers r, s");
  if (r.empty() || s.empty())
    return failure(Failure::bad_signature, "ECDSA signature has r or s equal to zero");

  std::array<OSSL_PARAM, 3> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(key.b.data()),
                                        key.b.size()),
      OSSL_PARAM_construct_end()};
  PkeyPtr pkey = key_from_params("EC", params.data());
  if (!pkey) return failure(Failure::malformed_signature, "invalid ECDSA public key: " + openssl_error());

  EcdsaSigPtr ecsig(ECDSA_SIG_new());
  BignumPtr br(BN_bin2bn(bytes_of(r), static_cast<int>(r.size()), nullptr));
  BignumPtr bs(BN_bin2bn(bytes_of(s), static_cast<int>(s.size()), nullptr));
  if (!ecsig || !br || !bs || ECDSA_SIG_set0(ecsig.get(), br.get(), bs.get()) != 1)
    return failure(Failure::malformed_signature, "cannot convert ECDSA signature: " + openssl_error());
  br.release();  // owned by ecsig now
  bs.release();
  unsigned char* der = nullptr;
  int der_length = i2d_ECDSA_SIG(ecsig.get(), &der);
  if (der_length <= 0)
    return failure(Failure::malformed_signature, "cannot encode ECDSA signature: " + openssl_error());
  std::string der_sig(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_length));
  OPENSSL_free(der);
  return evp_verify(pkey.get(), md, der_sig, data);
}

std::size_t bit_length(std::string_view magnitude) {
  if (magnitude.empty()) return 0;
  auto top = static_cast<unsigned char>(magnitude[0]);
  std::size_t bits = (magnitude.size() - 1) * 8;
  while (top != 0) {
    ++bits;
    top >>= 1;
  }
  return bits;
}

util::Result<void> check_rsa_key(const wire::PublicKey& key) {
  std::size_t bits = bit_length(key.b);
  if (bits < k_min_rsa_bits || bits > k_max_rsa_bits)
    return failure(
        Failure::unsupported_algorithm,
        "RSA key of " + std::to_string(bits) + " bits is not accepted; use 2048 to 16384 bits (or Ed25519)");
  bool odd = (static_cast<unsigned char>(key.a.back()) & 1) != 0;
  if (!odd || (key.a.size() == 1 && key.a[0] == '\x01') || key.a.size() > 8)
    return failure(Failure::malformed_signature, "RSA public exponent is not a valid odd integer above 1");
  return {};
}

util::Result<void> verify_rsa(const wire::PublicKey& key, std::string_view algorithm, std::string_view sig,
                              std::string_view data) {
  const EVP_MD* md = algorithm == "rsa-sha2-256" ? EVP_sha256() : EVP_sha512();
  std::size_t modulus_bytes = key.b.size();
  if (sig.size() > modulus_bytes)
    return failure(Failure::malformed_signature, "RSA signature is longer than the key's modulus");
  // OpenSSH accepts signatures with their leading zero bytes dropped; OpenSSL does not.
  std::string padded(modulus_bytes - sig.size(), '\0');
  padded.append(sig);

  BignumPtr n(BN_bin2bn(bytes_of(key.b), static_cast<int>(key.b.size()), nullptr));
  BignumPtr e(BN_bin2bn(bytes_of(key.a), static_cast<int>(key.a.size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!n || !e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
    return failure(Failure::malformed_signature, "cannot load RSA key: " + openssl_error());
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyPtr pkey = params ? key_from_params("RSA", params.get()) : nullptr;
  if (!pkey) return failure(Failure::malformed_signature, "invalid RSA public key: " + openssl_error());
  return evp_verify(pkey.get(), md, padded, data);
}

// ---- SSHSIG -----------------------------------------------------------------------------

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

util::Result<std::string> dearmor(std::string_view armored) {
  if (armored.size() > k_max_armored)
    return failure(Failure::malformed_signature, "signature is larger than 64 KiB");
  std::string_view text = trim(armored);
  if (text.empty()) return failure(Failure::malformed_signature, "signature is empty");
  for (std::string_view other :
       {"-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----", "-----BEGIN SIGNED MESSAGE-----"})
    if (text.starts_with(other))
      return failure(Failure::unsupported_algorithm,
                     "an OpenPGP or X.509 signature; only SSH signatures (gpg.format=ssh) are accepted");
  if (!text.starts_with(k_begin))
    return failure(Failure::malformed_signature, "signature does not start with " + std::string(k_begin));
  text.remove_prefix(k_begin.size());
  if (text.starts_with("\r\n")) {
    text.remove_prefix(2);
  } else if (text.starts_with("\n")) {
    text.remove_prefix(1);
  } else {
    return failure(Failure::malformed_signature, "no line break after " + std::string(k_begin));
  }
  if (!text.ends_with(k_end) || text.size() < k_end.size() + 1 ||
      text[text.size() - k_end.size() - 1] != '\n')
    return failure(Failure::malformed_signature, "signature does not end with a line " + std::string(k_end) +
                                                     " (truncated, or text after it)");
  text.remove_suffix(k_end.size());
  auto blob = wire::base64_decode(text);
  if (!blob) return failure(Failure::malformed_signature, "signature body is not valid base64");
  return std::move(*blob);
}

struct Parsed {
  std::string_view public_key;
  wire::PublicKey key;
  std::string_view ns;
  std::string_view hash_algorithm;
  std::string_view algorithm;
  std::string_view signature;
};

// Takes `blob` apart; the views point into `blob`.
util::Result<Parsed> parse_sshsig(std::string_view blob) {
  wire::Reader r(blob);
  std::string_view magic, reserved, sig;
  std::uint32_t version = 0;
  Parsed p;
  if (!r.bytes(k_magic.size(), magic) || magic != k_magic)
    return failure(Failure::malformed_signature,
                   "not an SSH signature: the blob does not start with \"SSHSIG\"");
  if (!r.u32(version))
    return failure(Failure::malformed_signature, "SSH signature is truncated after its magic");
  if (version != 1)
    return failure(Failure::malformed_signature,
                   "SSH signature has version " + std::to_string(version) + "; only version 1 is defined");
  if (!r.string(p.public_key) || !r.string(p.ns) || !r.string(reserved) || !r.string(p.hash_algorithm) ||
      !r.string(sig))
    return failure(Failure::malformed_signature,
                   "SSH signature is truncated or a length field is out of range");
  if (!r.empty())
    return failure(Failure::malformed_signature,
                   "SSH signature has " + std::to_string(r.remaining()) + " bytes of trailing data");
  // PROTOCOL.sshsig: a non-empty reserved field is ignored; like OpenSSH we verify the data
  // with it empty.
  (void)reserved;
  wire::Reader s(sig);
  if (!s.string(p.algorithm) || !s.string(p.signature) || !s.empty())
    return failure(Failure::malformed_signature, "the signature inside the SSH signature is malformed");
  auto key = wire::parse_public_key(p.public_key);
  if (!key) return std::unexpected(key.error());
  p.key = *key;
  return p;
}

// Refuses key types, algorithms and hashes we do not verify, and algorithm/key mismatches.
util::Result<void> check_algorithms(const Parsed& p) {
  std::string type = printable(p.key.type);
  if (!p.key.supported) {
    std::string why = p.key.type.find("-cert-") != std::string_view::npos
                          ? " (certificates are not supported)"
                      : p.key.type.starts_with("sk-") ? " (security keys are not supported)"
                                                      : "";
    return failure(Failure::unsupported_algorithm, "signatures by " + type + " keys are not supported" + why);
  }
  if (p.hash_algorithm != "sha256" && p.hash_algorithm != "sha512")
    return failure(Failure::unsupported_algorithm,
                   "message hash '" + printable(p.hash_algorithm) + "' is not supported (sha256 or sha512)");
  if (p.key.type == "ssh-rsa") {
    if (p.algorithm == "ssh-rsa")
      return failure(Failure::unsupported_algorithm,
                     "RSA signature uses SHA-1 (ssh-rsa); only rsa-sha2-256 and rsa-sha2-512 are accepted");
    if (p.algorithm != "rsa-sha2-256" && p.algorithm != "rsa-sha2-512")
      return failure(Failure::wrong_key_type, "signature algorithm '" + printable(p.algorithm) +
                                                  "' does not belong to an ssh-rsa key");
    return check_rsa_key(p.key);
  }
  if (p.algorithm != p.key.type)
    return failure(Failure::wrong_key_type, "signature algorithm '" + printable(p.algorithm) +
                                                "' does not belong to a " + type + " key");
  return {};
}

util::Result<void> verify_crypto(const Parsed& p, std::string_view message) {
  const EVP_MD* md = p.hash_algorithm == "sha256" ? EVP_sha256() : EVP_sha512();
  std::string hash = digest(md, message);
  if (hash.empty())
    return failure(Failure::malformed_signature, "cannot hash the message: " + openssl_error());
  // PROTOCOL.sshsig: the signed data. The reserved field is signed empty, as OpenSSH does.
  std::string data(k_magic);
  wire::put_string(data, p.ns);
  wire::put_string(data, {});
  wire::put_string(data, p.hash_algorithm);
  wire::put_string(data, hash);
  if (p.key.type == "ssh-ed25519") return verify_ed25519(p.key, p.signature, data);
  if (p.key.type == "ssh-rsa") return verify_rsa(p.key, p.algorithm, p.signature, data);
  return verify_ecdsa(p.key, p.signature, data);
}

std::string format_time(Seconds t) {
  auto secs = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(secs);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string where(const AllowedSigners& signers, const AllowedSigner& entry) {
  return (signers.file.empty() ? std::string("allowed signers") : signers.file) + ":" +
         std::to_string(entry.line);
}

// Why `entry` (which lists the signing key) does not admit a signature for `ns` at `at`.
std::optional<std::pair<Failure, std::string>> reject(const AllowedSigners& signers,
                                                      const AllowedSigner& entry, std::string_view ns,
                                                      TimePoint at) {
  if (wire::canonical_key_type(entry.declared_type) != entry.key_type)
    return std::pair{Failure::wrong_key_type, where(signers, entry) + ": declares key type '" +
                                                  entry.declared_type + "' but the key is " + entry.key_type};
  if (!entry.namespaces.empty() && !matches_patterns(entry.namespaces, ns))
    return std::pair{
        Failure::namespace_not_allowed,
        where(signers, entry) + ": the key is not allowed to sign in namespace \"" + printable(ns) + "\""};
  auto t = std::chrono::floor<std::chrono::seconds>(at);
  if (entry.valid_after && t < *entry.valid_after)
    return std::pair{Failure::key_not_yet_valid, where(signers, entry) + ": the key is not valid before " +
                                                     format_time(*entry.valid_after) + " (checked at " +
                                                     format_time(t) + ")"};
  if (entry.valid_before && t > *entry.valid_before)
    return std::pair{Failure::key_expired, where(signers, entry) + ": the key expired at " +
                                               format_time(*entry.valid_before) + " (checked at " +
                                               format_time(t) + ")"};
  return std::nullopt;
}

}  // namespace

std::string_view rule_of(Failure failure) {
  for (const auto& r : k_rules)
    if (r.failure == failure) return r.rule;
  return "signing.unknown";
}

std::optional<Failure> failure_of(const util::Error& error) {
  for (const auto& r : k_rules)
    if (r.rule == error.rule) return r.failure;
  return std::nullopt;
}

std::string fingerprint(std::string_view key_blob) {
  return "SHA256:" + wire::base64_encode(digest(EVP_sha256(), key_blob), false);
}

util::Result<SignatureKey> inspect(std::string_view armored_signature) {
  auto blob = dearmor(armored_signature);
  if (!blob) return std::unexpected(blob.error());
  auto parsed = parse_sshsig(*blob);
  if (!parsed) return std::unexpected(parsed.error());
  return SignatureKey{fingerprint(parsed->public_key), std::string(parsed->key.type),
                      std::string(parsed->ns)};
}

util::Result<Verified> verify(std::string_view armored_signature, std::string_view message,
                              std::string_view ns, const AllowedSigners& signers, TimePoint at) {
  auto blob = dearmor(armored_signature);
  if (!blob) return std::unexpected(blob.error());
  auto parsed = parse_sshsig(*blob);
  if (!parsed) return std::unexpected(parsed.error());
  const Parsed& p = *parsed;
  if (auto ok = check_algorithms(p); !ok) return std::unexpected(ok.error());
  if (p.ns != ns)
    return failure(Failure::wrong_namespace, "signature was made for namespace \"" + printable(p.ns) +
                                                 "\", expected \"" + printable(ns) + "\"");
  if (auto ok = verify_crypto(p, message); !ok) return std::unexpected(ok.error());

  std::string print = fingerprint(p.public_key);
  std::optional<std::pair<Failure, std::string>> first_rejection;
  for (const auto& entry : signers.signers) {
    if (entry.key_blob != p.public_key) continue;
    auto rejection = reject(signers, entry, ns, at);
    if (!rejection) {
      return Verified{entry.principals,
                      entry.line,
                      print,
                      std::string(p.key.type),
                      std::string(p.algorithm),
                      std::string(p.hash_algorithm)};
    }
    if (!first_rejection) first_rejection = std::move(rejection);
  }
  if (first_rejection) return failure(first_rejection->first, std::move(first_rejection->second));
  return failure(Failure::unknown_key,
                 "the signing key " + print + " (" + std::string(p.key.type) + ") is not listed in " +
                     (signers.file.empty() ? std::string("the allowed signers") : signers.file));
}

}  // namespace portcullis::signing
