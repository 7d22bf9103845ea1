#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "shared/signing/allowed_signers.hpp"
#include "shared/signing/git_object.hpp"
#include "shared/signing/sshsig.hpp"
#include "shared/signing/wire.hpp"
#include "tests/unit/support/process.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using signing::Failure;
using signing::TimePoint;
using test::run_process;
namespace fs = std::filesystem;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A key pair made by the real ssh-keygen.
struct Key {
  fs::path path;       // private key; the public key is path + ".pub"
  std::string type;    // "ssh-ed25519"
  std::string base64;  // the public key blob as in the .pub file
  std::string pub() const { return type + " " + base64; }
  std::string blob() const { return *signing::wire::base64_decode(base64); }
};

Key make_key(const test::TempDir& dir, const std::string& name, const std::vector<std::string>& type_args) {
  Key key;
  key.path = dir / name;
  std::vector<std::string> argv{"ssh-keygen", "-q", "-N", "", "-C", name + "@test", "-f", key.path.string()};
  argv.insert(argv.end(), type_args.begin(), type_args.end());
  auto r = run_process(argv, dir.path());
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto p = fs::path(key.path.string() + ".pub");
  auto text = run_process({"cat", p.string()}, dir.path()).out;
  auto space = text.find(' ');
  key.type = text.substr(0, space);
  key.base64 = text.substr(space + 1, text.find(' ', space + 1) - space - 1);
  return key;
}

// `ssh-keygen -Y sign -f KEY -n NS` over `message` on stdin; returns the armored signature.
std::string ssh_sign(const test::TempDir& dir, const Key& key, const std::string& ns,
                     const std::string& message, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"ssh-keygen", "-Y", "sign", "-f", key.path.string(), "-n", ns};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = run_process(argv, dir.path(), message);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return r.out;
}

// The cross-check: `ssh-keygen -Y verify -f allowed -I principal -n ns -s sig < message`.
bool ssh_keygen_accepts(const test::TempDir& dir, const std::string& allowed, const std::string& principal,
                        const std::string& ns, const std::string& signature, const std::string& message,
                        const std::string& verify_time = {}) {
  auto allowed_path = dir.write("xcheck/allowed_signers", allowed);
  auto sig_path = dir.write("xcheck/message.sig", signature);
  std::vector<std::string> argv{"ssh-keygen", "-Y", "verify", "-f", allowed_path.string(), "-I",
                                principal,    "-n", ns,       "-s", sig_path.string()};
  if (!verify_time.empty()) argv.push_back("-Overify-time=" + verify_time);
  return run_process(argv, dir.path(), message).status == 0;
}

std::string armor(std::string_view blob) {
  std::string b64 = signing::wire::base64_encode(blob);
  std::string out = "-----BEGIN SSH SIGNATURE-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 70) out += b64.substr(i, 70) + "\n";
  return out + "-----END SSH SIGNATURE-----\n";
}

std::string dearmor(const std::string& armored) {
  auto begin = armored.find('\n') + 1;
  auto end = armored.find("-----END");
  auto blob = signing::wire::base64_decode(armored.substr(begin, end - begin));
  REQUIRE(blob);
  return *blob;
}

std::string wire_string(std::string_view s) {
  std::string out;
  signing::wire::put_string(out, s);
  return out;
}

// An SSHSIG blob from its fields (PROTOCOL.sshsig), for crafted signatures.
struct SigFields {
  std::string magic = "SSHSIG";
  std::uint32_t version = 1;
  std::string public_key;
  std::string ns = "git";
  std::string reserved;
  std::string hash = "sha512";
  std::string algorithm;
  std::string signature;
  std::string trailing;
};
std::string build(const SigFields& f) {
  std::string out = f.magic;
  signing::wire::put_u32(out, f.version);
  out += wire_string(f.public_key) + wire_string(f.ns) + wire_string(f.reserved) + wire_string(f.hash);
  out += wire_string(wire_string(f.algorithm) + wire_string(f.signature));
  return out + f.trailing;
}

// Takes a real SSHSIG blob apart into its fields.
SigFields fields_of(std::string_view blob) {
  signing::wire::Reader r(blob);
  SigFields f;
  std::string_view magic, pk, ns, reserved, hash, sig, alg, inner;
  REQUIRE(r.bytes(6, magic));
  REQUIRE(r.u32(f.version));
  REQUIRE((r.string(pk) && r.string(ns) && r.string(reserved) && r.string(hash) && r.string(sig)));
  signing::wire::Reader s(sig);
  REQUIRE((s.string(alg) && s.string(inner)));
  f.public_key = pk, f.ns = ns, f.reserved = reserved, f.hash = hash, f.algorithm = alg, f.signature = inner;
  return f;
}

signing::AllowedSigners signers_from(const std::string& text) {
  auto parsed = signing::parse_allowed_signers(text, "allowed_signers");
  INFO((parsed ? "" : parsed.error().describe()));
  REQUIRE(parsed);
  return *parsed;
}

signing::Seconds utc(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d));
}

std::optional<Failure> reason(const util::Result<signing::Verified>& r) {
  if (r) return std::nullopt;
  return signing::failure_of(r.error());
}

const std::string k_message = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nthe signed message\n";

}  // namespace

TEST_CASE("signatures made by ssh-keygen verify for every key type", "[signing]") {
  test::TempDir dir;
  struct KeySpec {
    const char* name;
    std::vector<std::string> args;
  };
  const KeySpec key_specs[] = {{"ed25519", {"-t", "ed25519"}},
                               {"ecdsa256", {"-t", "ecdsa", "-b", "256"}},
                               {"ecdsa384", {"-t", "ecdsa", "-b", "384"}},
                               {"ecdsa521", {"-t", "ecdsa", "-b", "521"}},
                               {"rsa3072", {"-t", "rsa", "-b", "3072"}}};
  std::map<std::string, Key> keys;
  for (const auto& spec : key_specs) keys[spec.name] = make_key(dir, spec.name, spec.args);

  struct Case {
    const char* key;
    const char* hash;  // -Ohashalg=; nullptr = ssh-keygen's default (sha512)
    const char* type;
    const char* algorithm;
  };
  const Case cases[] = {
      {"ed25519", nullptr, "ssh-ed25519", "ssh-ed25519"},
      {"ed25519", "sha256", "ssh-ed25519", "ssh-ed25519"},
      {"ecdsa256", nullptr, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"},
      {"ecdsa384", nullptr, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"},
      {"ecdsa384", "sha256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"},
      {"ecdsa521", nullptr, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"},
      {"rsa3072", nullptr, "ssh-rsa", "rsa-sha2-512"},
      {"rsa3072", "sha256", "ssh-rsa", "rsa-sha2-512"},
  };
  for (const auto& c : cases) {
    INFO("key " << c.key << ", hash " << (c.hash ? c.hash : "default"));
    const Key& key = keys.at(c.key);
    std::vector<std::string> extra;
    if (c.hash) extra.push_back(std::string("-Ohashalg=") + c.hash);
    auto sig = ssh_sign(dir, key, "git", k_message, extra);
    const std::string allowed = "# team\nalice@example.com,bob@example.com " + key.pub() + " laptop\n";
    auto signers = signers_from(allowed);

    auto ok = signing::verify(sig, k_message, "git", signers, std::chrono::system_clock::now());
    INFO((ok ? "" : ok.error().message));
    REQUIRE(ok);
    CHECK(ok->principals == std::vector<std::string>{"alice@example.com", "bob@example.com"});
    CHECK(ok->line == 2);
    CHECK(ok->key_type == c.type);
    CHECK(ok->algorithm == c.algorithm);
    CHECK(ok->hash_algorithm == (c.hash ? c.hash : "sha512"));
    auto listed =
        run_process({"ssh-keygen", "-l", "-E", "sha256", "-f", key.path.string() + ".pub"}, dir.path());
    REQUIRE(listed.status == 0);
    CHECK(listed.out.find(" " + ok->fingerprint + " ") != std::string::npos);
    auto inspected = signing::inspect(sig);
    REQUIRE(inspected);
    CHECK(inspected->fingerprint == ok->fingerprint);
    CHECK(inspected->ns == "git");
    CHECK(ssh_keygen_accepts(dir, allowed, "alice@example.com", "git", sig, k_message));
    auto found =
        run_process({"ssh-keygen", "-Y", "find-principals", "-f", (dir / "xcheck/allowed_signers").string(),
                     "-s", (dir / "xcheck/message.sig").string()},
                    dir.path());
    CHECK(trimmed(found.out) == "alice@example.com\nbob@example.com");  // one per line

    // The same signature over a changed message.
    const std::string changed = k_message + "one more line\n";
    auto bad = signing::verify(sig, changed, "git", signers, std::chrono::system_clock::now());
    CHECK(reason(bad) == Failure::bad_signature);
    CHECK_FALSE(ssh_keygen_accepts(dir, allowed, "alice@example.com", "git", sig, changed));
  }
}

TEST_CASE("tampered and mis-scoped signatures fail with the precise reason", "[signing]") {
  test::TempDir dir;
  const Key key = make_key(dir, "signer", {"-t", "ed25519"});
  const Key ecdsa = make_key(dir, "ecdsa", {"-t", "ecdsa", "-b", "256"});
  const Key other = make_key(dir, "other", {"-t", "ed25519"});
  struct Case {
    const char* name;
    const Key* key;
    const char* sign_ns;
    std::string allowed;              // "{KEY}" stands for the signer's public key, "{B64}" for its base64
    const char* principal;            // for the ssh-keygen cross-check
    const char* verify_time;          // UTC "YYYYMMDDhhmmssZ" to check at; nullptr = now
    std::optional<Failure> expected;  // nullopt = accepted
  };
  const Case cases[] = {
      {"accepted", &key, "git", "p {KEY}", "p", nullptr, std::nullopt},
      {"accepted ecdsa", &ecdsa, "git", "p {KEY}", "p", nullptr, std::nullopt},
      {"signed for namespace file", &key, "file", "p {KEY}", "p", nullptr, Failure::wrong_namespace},
      {"ecdsa signed for namespace file", &ecdsa, "file", "p {KEY}", "p", nullptr, Failure::wrong_namespace},
      {"expired key", &key, "git", "p valid-before=\"20200101Z\" {KEY}", "p", nullptr, Failure::key_expired},
      {"not yet valid key", &key, "git", "p valid-after=\"29990101Z\" {KEY}", "p", nullptr,
       Failure::key_not_yet_valid},
      {"inside the validity window", &key, "git",
       "p valid-after=\"20200101Z\",valid-before=\"20300101\" {KEY}", "p", "20240601000000Z", std::nullopt},
      {"expired at the time checked", &key, "git", "p valid-before=\"20240101Z\" {KEY}", "p",
       "20240601000000Z", Failure::key_expired},
      {"valid-after exactly at the time checked", &key, "git", "p valid-after=\"20240601Z\" {KEY}", "p",
       "20240601000000Z", std::nullopt},
      {"unknown key", &key, "git", "p ssh-ed25519 " + other.base64, "p", nullptr, Failure::unknown_key},
      {"empty allowed signers", &key, "git", "# nobody\n", "p", nullptr, Failure::unknown_key},
      {"wrong key type on the line", &key, "git", "p ecdsa-sha2-nistp256 {B64}", "p", nullptr,
       Failure::wrong_key_type},
      {"ecdsa listed as ed25519", &ecdsa, "git", "p ssh-ed25519 {B64}", "p", nullptr,
       Failure::wrong_key_type},
      {"namespaces excludes git", &key, "git", "p namespaces=\"file\" {KEY}", "p", nullptr,
       Failure::namespace_not_allowed},
      {"namespaces includes git", &key, "git", "p namespaces=\"file,git\" {KEY}", "p", nullptr, std::nullopt},
      {"namespaces pattern", &key, "git", "p NAMESPACES=\"g?t\" {KEY}", "p", nullptr, std::nullopt},
      {"namespaces negation", &key, "git", "p namespaces=\"*,!git\" {KEY}", "p", nullptr,
       Failure::namespace_not_allowed},
      {"a later line admits the key", &key, "git", "p namespaces=\"file\" {KEY}\nq {KEY}", "q", nullptr,
       std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::string allowed = c.allowed;
    const std::vector<std::pair<std::string, std::string>> substitutions{{"{KEY}", c.key->pub()},
                                                                         {"{B64}", c.key->base64}};
    for (const auto& [token, value] : substitutions)
      for (auto at = allowed.find(token); at != std::string::npos; at = allowed.find(token))
        allowed.replace(at, token.size(), value);
    auto sig = ssh_sign(dir, *c.key, c.sign_ns, k_message);
    auto signers = signers_from(allowed);
    TimePoint at = std::chrono::system_clock::now();
    if (c.verify_time) at = *signing::parse_signer_time(c.verify_time);
    auto result = signing::verify(sig, k_message, "git", signers, at);
    INFO((result ? "accepted" : result.error().message));
    CHECK(reason(result) == c.expected);
    if (!result) CHECK(result.error().rule == signing::rule_of(*c.expected));
    CHECK(ssh_keygen_accepts(dir, allowed, c.principal, "git", sig, k_message,
                             c.verify_time ? c.verify_time : "") == !c.expected.has_value());
  }
}

TEST_CASE("RSA signature algorithms: rsa-sha2-256/512 accepted, SHA-1 and weak keys refused", "[signing]") {
  test::TempDir dir;
  const Key key = make_key(dir, "rsa", {"-t", "rsa", "-b", "3072"});
  // The same private key as PEM, for the openssl command line tool.
  fs::copy_file(key.path, dir / "rsa.pem");
  auto converted = run_process(
      {"ssh-keygen", "-p", "-m", "PEM", "-P", "", "-N", "", "-f", (dir / "rsa.pem").string()}, dir.path());
  INFO(converted.err);
  REQUIRE(converted.status == 0);
  auto hashed = run_process({"openssl", "dgst", "-sha512", "-binary"}, dir.path(), k_message);
  REQUIRE(hashed.status == 0);
  std::string signed_data =
      "SSHSIG" + wire_string("git") + wire_string("") + wire_string("sha512") + wire_string(hashed.out);
  const std::string allowed = "p " + key.pub() + "\n";
  auto signers = signers_from(allowed);

  struct Case {
    const char* algorithm;  // the name put into the signature
    const char* digest;     // what openssl really signs with
    std::optional<Failure> expected;
  };
  const Case cases[] = {
      {"rsa-sha2-256", "-sha256", std::nullopt},
      {"rsa-sha2-512", "-sha512", std::nullopt},
      {"ssh-rsa", "-sha1", Failure::unsupported_algorithm},
      {"rsa-sha2-256", "-sha512", Failure::bad_signature},
      {"ssh-ed25519", "-sha512", Failure::wrong_key_type},
  };
  SECTION("the algorithm named in the signature decides") {
    for (const auto& c : cases) {
      INFO(c.algorithm << " made with " << c.digest);
      auto raw = run_process({"openssl", "dgst", c.digest, "-sign", (dir / "rsa.pem").string()}, dir.path(),
                             signed_data);
      INFO(raw.err);
      REQUIRE(raw.status == 0);
      SigFields f;
      f.public_key = key.blob();
      f.algorithm = c.algorithm;
      f.signature = raw.out;
      auto sig = armor(build(f));
      auto result = signing::verify(sig, k_message, "git", signers, std::chrono::system_clock::now());
      INFO((result ? "accepted" : result.error().message));
      CHECK(reason(result) == c.expected);
      CHECK(ssh_keygen_accepts(dir, allowed, "p", "git", sig, k_message) == !c.expected.has_value());
      if (c.expected) continue;
      // rsa-sha2-256 and rsa-sha2-512 as the keytype of the allowed-signers line name ssh-rsa keys.
      const std::string alias = "p rsa-sha2-512 " + key.base64 + "\n";
      CHECK(signing::verify(sig, k_message, "git", signers_from(alias), std::chrono::system_clock::now()));
      CHECK(ssh_keygen_accepts(dir, alias, "p", "git", sig, k_message));
    }
  }

  SECTION("leading zero bytes dropped from the signature are restored, as OpenSSH does") {
    // Vary the namespace (one openssl run per try) until the signature starts with a zero
    // byte, then drop that byte.
    bool found = false;
    for (int i = 0; i < 3000 && !found; ++i) {
      const std::string ns = "ns" + std::to_string(i);
      std::string data =
          "SSHSIG" + wire_string(ns) + wire_string("") + wire_string("sha512") + wire_string(hashed.out);
      auto raw =
          run_process({"openssl", "dgst", "-sha512", "-sign", (dir / "rsa.pem").string()}, dir.path(), data)
              .out;
      if (raw.empty() || raw[0] != '\0') continue;
      found = true;
      SigFields f;
      f.public_key = key.blob();
      f.ns = ns;
      f.algorithm = "rsa-sha2-512";
      f.signature = raw.substr(1);
      auto sig = armor(build(f));
      CHECK(signing::verify(sig, k_message, ns, signers, std::chrono::system_clock::now()));
      CHECK(ssh_keygen_accepts(dir, allowed, "p", ns, sig, k_message));
    }
    CHECK(found);
  }

  SECTION("RSA keys below 2048 bits are refused (ssh-keygen still accepts 1024)") {
    const Key weak = make_key(dir, "weak", {"-t", "rsa", "-b", "1024"});
    auto sig = ssh_sign(dir, weak, "git", k_message);
    auto result = signing::verify(sig, k_message, "git", signers_from("p " + weak.pub()),
                                  std::chrono::system_clock::now());
    CHECK(reason(result) == Failure::unsupported_algorithm);
    CHECK(ssh_keygen_accepts(dir, "p " + weak.pub(), "p", "git", sig, k_message));
  }
}

TEST_CASE("hostile signature blobs are refused without crashing", "[signing]") {
  test::TempDir dir;
  const Key ed = make_key(dir, "ed", {"-t", "ed25519"});
  const Key ec = make_key(dir, "ec", {"-t", "ecdsa", "-b", "256"});
  const std::string allowed = "p " + ed.pub() + "\np " + ec.pub() + "\n";
  auto signers = signers_from(allowed);
  const auto now = std::chrono::system_clock::now();
  const std::string ed_sig = ssh_sign(dir, ed, "git", k_message);
  const std::string ec_sig = ssh_sign(dir, ec, "git", k_message);
  REQUIRE(signing::verify(ed_sig, k_message, "git", signers, now));
  REQUIRE(signing::verify(ec_sig, k_message, "git", signers, now));

  SECTION("every truncation of the blob and of the armored text") {
    for (const auto* sig : {&ed_sig, &ec_sig}) {
      std::string blob = dearmor(*sig);
      for (std::size_t n = 0; n < blob.size(); ++n) {
        INFO("blob cut to " << n << " bytes");
        CHECK(reason(signing::verify(armor(blob.substr(0, n)), k_message, "git", signers, now)) ==
              Failure::malformed_signature);
      }
      std::string text = trimmed(*sig);
      for (std::size_t n = 0; n < text.size(); ++n) {
        INFO("text cut to " << n << " characters");
        CHECK(reason(signing::verify(text.substr(0, n), k_message, "git", signers, now)) ==
              Failure::malformed_signature);
      }
    }
  }

  SECTION("every single-bit change is refused, as ssh-keygen refuses it") {
    std::string blob = dearmor(ed_sig);
    for (std::size_t i = 0; i < blob.size(); ++i) {
      std::string flipped = blob;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
      auto sig = armor(flipped);
      INFO("byte " << i);
      auto result = signing::verify(sig, k_message, "git", signers, now);
      CHECK_FALSE(result);
      // Byte 9 turns version 1 into 0, which ssh-keygen accepts and we do not.
      CHECK(ssh_keygen_accepts(dir, allowed, "p", "git", sig, k_message) == (i == 9));
    }
    std::string ec_blob = dearmor(ec_sig);
    for (std::size_t i = 0; i < ec_blob.size(); ++i) {
      std::string flipped = ec_blob;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
      INFO("ecdsa byte " << i);
      CHECK_FALSE(signing::verify(armor(flipped), k_message, "git", signers, now));
    }
  }

  SECTION("random blobs behind a valid prefix") {
    // A fixed-seed generator: the same hostile inputs on every run.
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    auto next = [&] {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      return state;
    };
    const std::string prefix = dearmor(ed_sig).substr(0, 10);  // "SSHSIG" and version 1
    for (int i = 0; i < 3000; ++i) {
      std::string blob = i % 2 ? prefix : std::string();
      std::size_t length = next() % 300;
      for (std::size_t k = 0; k < length; ++k) {
        // Mostly small bytes, so that length fields often land in range.
        auto v = next();
        blob.push_back(static_cast<char>(v % 4 == 0 ? v >> 8 : (v >> 8) % 8));
      }
      auto result = signing::verify(armor(blob), k_message, "git", signers, now);
      REQUIRE_FALSE(result);
      CHECK(signing::failure_of(result.error()));
    }
  }

  SECTION("crafted blobs and armor") {
    const SigFields ed_fields = fields_of(dearmor(ed_sig));
    const SigFields ec_fields = fields_of(dearmor(ec_sig));
    auto with = [](SigFields f, auto change) {
      change(f);
      return armor(build(f));
    };
    std::string ec_negative_r = ec_fields.signature;
    ec_negative_r[4] = static_cast<char>(ec_negative_r[4] | 0x80);  // first byte of r's magnitude
    std::string ec_bad_point = ec_fields.public_key;
    ec_bad_point[ec_bad_point.size() - 1] = static_cast<char>(ec_bad_point.back() ^ 0x01);
    std::string dss_key =
        wire_string("ssh-dss") + wire_string("p") + wire_string("q") + wire_string("g") + wire_string("y");
    std::string body = trimmed(ed_sig);
    struct Case {
      const char* name;
      std::string sig;
      std::optional<Failure> expected;  // nullopt = accepted
      bool keygen_agrees = true;        // false where we are deliberately stricter than ssh-keygen
    };
    const Case cases[] = {
        {"empty", "", Failure::malformed_signature},
        {"blank", " \n\t\n", Failure::malformed_signature},
        {"garbage", "hello world", Failure::malformed_signature},
        {"binary garbage", std::string("\0\xff\x80-----", 8), Failure::malformed_signature},
        {"begin line only", "-----BEGIN SSH SIGNATURE-----\n", Failure::malformed_signature},
        {"no end line", body.substr(0, body.rfind('\n')), Failure::malformed_signature},
        {"text after the end line", body + "\nextra\n", Failure::malformed_signature, false},
        {"not base64", "-----BEGIN SSH SIGNATURE-----\nU1NI!0lH\n-----END SSH SIGNATURE-----\n",
         Failure::malformed_signature},
        {"base64 of garbage", armor("not an sshsig blob at all"), Failure::malformed_signature},
        {"corrupted base64 character",
         [&] {
           std::string s = ed_sig;
           s[40] = s[40] == '*' ? '#' : '*';
           return s;
         }(),
         Failure::malformed_signature},
        {"misplaced padding",
         [&] {
           std::string s = ed_sig;
           s[40] = '=';
           return s;
         }(),
         Failure::malformed_signature},
        {"bad magic", with(ed_fields, [](SigFields& f) { f.magic = "SSHSIH"; }),
         Failure::malformed_signature},
        {"version 0", with(ed_fields, [](SigFields& f) { f.version = 0; }), Failure::malformed_signature,
         false},
        {"version 2", with(ed_fields, [](SigFields& f) { f.version = 2; }), Failure::malformed_signature},
        {"trailing data", with(ed_fields, [](SigFields& f) { f.trailing = "x"; }),
         Failure::malformed_signature},
        // PROTOCOL.sshsig: ignore a non-empty reserved field; it is signed empty, as in OpenSSH.
        {"reserved not empty", with(ed_fields, [](SigFields& f) { f.reserved = "r"; }), std::nullopt},
        {"huge length field", armor(std::string("SSHSIG\0\0\0\1\xff\xff\xff\xff", 14)),
         Failure::malformed_signature},
        {"hash md5", with(ed_fields, [](SigFields& f) { f.hash = "md5"; }), Failure::unsupported_algorithm},
        {"hash sha1", with(ed_fields, [](SigFields& f) { f.hash = "sha1"; }), Failure::unsupported_algorithm},
        {"hash sha256 claimed for a sha512 signature",
         with(ed_fields, [](SigFields& f) { f.hash = "sha256"; }), Failure::bad_signature},
        {"namespace changed after signing", with(ed_fields, [](SigFields& f) { f.ns = "file"; }),
         Failure::wrong_namespace},
        {"ed25519 signature labelled ecdsa",
         with(ed_fields, [](SigFields& f) { f.algorithm = "ecdsa-sha2-nistp256"; }), Failure::wrong_key_type},
        {"ed25519 signature 63 bytes", with(ed_fields, [](SigFields& f) { f.signature.pop_back(); }),
         Failure::malformed_signature},
        {"ed25519 key 31 bytes",
         with(ed_fields,
              [](SigFields& f) {
                f.public_key = wire_string("ssh-ed25519") + wire_string(std::string(31, 'k'));
              }),
         Failure::malformed_signature},
        {"ecdsa curve name mismatch",
         with(ec_fields,
              [](SigFields& f) { f.public_key.replace(f.public_key.find("nistp256"), 8, "nistp384"); }),
         Failure::malformed_signature},
        {"ecdsa point not on the curve", with(ec_fields, [&](SigFields& f) { f.public_key = ec_bad_point; }),
         Failure::malformed_signature},
        {"ecdsa negative r", with(ec_fields, [&](SigFields& f) { f.signature = ec_negative_r; }),
         Failure::malformed_signature},
        {"ecdsa trailing data in r,s", with(ec_fields, [](SigFields& f) { f.signature += "x"; }),
         Failure::malformed_signature},
        {"ecdsa r and s zero",
         with(ec_fields, [](SigFields& f) { f.signature = wire_string("") + wire_string(""); }),
         Failure::bad_signature},
        {"DSA key", with(ed_fields, [&](SigFields& f) { f.public_key = dss_key, f.algorithm = "ssh-dss"; }),
         Failure::unsupported_algorithm},
        {"security key",
         with(ed_fields,
              [](SigFields& f) {
                f.public_key = wire_string("sk-ssh-ed25519@openssh.com") + wire_string(std::string(32, 'k')) +
                               wire_string("ssh:");
              }),
         Failure::unsupported_algorithm},
        {"certificate",
         with(ed_fields,
              [](SigFields& f) {
                f.public_key = wire_string("ssh-ed25519-cert-v01@openssh.com") + wire_string("nonce");
              }),
         Failure::unsupported_algorithm},
        {"unknown key type", with(ed_fields, [](SigFields& f) { f.public_key = wire_string("ssh-foo"); }),
         Failure::unsupported_algorithm},
        {"OpenPGP signature", "-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n",
         Failure::unsupported_algorithm},
    };
    for (const auto& c : cases) {
      INFO(c.name);
      auto result = signing::verify(c.sig, k_message, "git", signers, now);
      INFO((result ? "accepted" : result.error().message));
      CHECK(reason(result) == c.expected);
      if (!result) CHECK_FALSE(result.error().message.empty());
      if (!result) CHECK(result.error().rule == signing::rule_of(*c.expected));
      if (!c.sig.empty() && c.sig[0] == '-' && c.keygen_agrees)
        CHECK(ssh_keygen_accepts(dir, allowed, "p", "git", c.sig, k_message) == !c.expected.has_value());
    }
  }
}

TEST_CASE("allowed signers files parse as ssh-keygen reads them", "[signing]") {
  test::TempDir dir;
  const Key ed = make_key(dir, "ed", {"-t", "ed25519"});
  const Key ec = make_key(dir, "ec", {"-t", "ecdsa", "-b", "384"});
  const std::string text =
      "# comment\n"
      "\n"
      "   \t# indented comment\r\n"
      "alice@example.com,*@ops.example.com,!mallory@ops.example.com " +
      ed.pub() +
      " alice's laptop\r\n"
      "\"bob smith\" namespaces=\"git,file\",valid-after=\"20240101Z\",VALID-BEFORE=\"20250101"
      "120000Z\" " +
      ec.pub() +
      "\n"
      "carol@example.com\tvalid-after=\"202401011230UTC\"\t" +
      ed.pub() +
      "\n"
      "dave@example.com sk-ssh-ed25519@openssh.com " +
      signing::wire::base64_encode(wire_string("sk-ssh-ed25519@openssh.com") +
                                   wire_string(std::string(32, 'k')) + wire_string("ssh:")) +
      "\n";
  auto parsed = signing::parse_allowed_signers(text, "allowed_signers");
  INFO((parsed ? "" : parsed.error().describe()));
  REQUIRE(parsed);
  REQUIRE(parsed->signers.size() == 4);
  const auto& a = parsed->signers[0];
  CHECK(a.line == 4);
  CHECK(a.principals ==
        std::vector<std::string>{"alice@example.com", "*@ops.example.com", "!mallory@ops.example.com"});
  CHECK(a.declared_type == "ssh-ed25519");
  CHECK(a.key_type == "ssh-ed25519");
  CHECK(a.key_blob == ed.blob());
  CHECK(a.comment == "alice's laptop");
  CHECK(a.namespaces.empty());
  CHECK_FALSE(a.valid_after);
  const auto& b = parsed->signers[1];
  CHECK(b.principals == std::vector<std::string>{"bob smith"});
  CHECK(b.namespaces == std::vector<std::string>{"git", "file"});
  CHECK(b.valid_after == utc(2024, 1, 1));
  CHECK(b.valid_before == utc(2025, 1, 1) + std::chrono::hours(12));
  CHECK(b.key_type == "ecdsa-sha2-nistp384");
  CHECK(parsed->signers[2].valid_after == utc(2024, 1, 1) + std::chrono::minutes(12 * 60 + 30));
  CHECK(parsed->signers[3].key_type == "sk-ssh-ed25519@openssh.com");

  const std::string key = ed.pub();
  struct Bad {
    const char* name;
    std::string text;
    std::uint32_t line;
    std::uint32_t column;
    const char* message;
  };
  const Bad bad[] = {
      {"principals only", "alice@example.com\n", 1, 18, "missing key type"},
      {"no key after type", "# c\nalice ssh-ed25519\n", 2, 18, "missing base64 key"},
      {"unknown key type", "alice ssh-foo AAAA\n", 1, 7, "unknown key type or option"},
      {"unknown key type after options", "alice namespaces=\"git\" ssh-foo AAAA\n", 1, 24,
       "unknown key type"},
      {"bad base64", "alice ssh-ed25519 AAAA*AAA\n", 1, 19, "not valid base64"},
      {"truncated key", "alice ssh-ed25519 " + ed.base64.substr(0, 41) + "\n", 1, 19, "base64"},
      {"truncated key blob",
       "alice ssh-ed25519 " + signing::wire::base64_encode(ed.blob().substr(0, 40)) + "\n", 1, 19,
       "malformed key"},
      {"unknown option", "alice no-touch-required " + key + "\n", 1, 7, "unknown key type or option"},
      {"unknown option with value", "alice verify-required=\"x\" " + key + "\n", 1, 7, "unknown option"},
      {"unquoted value", "alice valid-after=20240101 " + key + "\n", 1, 7, "double quotes"},
      {"unterminated quote", "alice namespaces=\"git " + key + "\n", 1, 7, "unterminated"},
      {"unterminated principals quote", "\"alice " + key + "\n", 1, 1, "unterminated"},
      {"bad date", "alice valid-after=\"20241301\" " + key + "\n", 1, 7, "invalid valid-after"},
      {"epoch date", "alice valid-after=\"19700101Z\" " + key + "\n", 1, 7, "invalid valid-after"},
      {"short date", "alice valid-before=\"202401\" " + key + "\n", 1, 7, "invalid valid-before"},
      {"window inverted", "alice valid-after=\"20250101Z\",valid-before=\"20240101Z\" " + key + "\n", 1, 7,
       "valid-before is not after valid-after"},
      {"duplicate option", "alice namespaces=\"git\",namespaces=\"file\" " + key + "\n", 1, 24, "twice"},
      {"trailing comma", "alice namespaces=\"git\", " + key + "\n", 1, 23, "comma"},
      {"empty principal", "alice,,bob " + key + "\n", 1, 1, "empty principal"},
      {"empty namespace", "alice namespaces=\"git,\" " + key + "\n", 1, 7, "empty namespace"},
      {"cert-authority", "alice cert-authority " + key + "\n", 1, 7, "cert-authority is not supported"},
      {"later line", "a " + key + "\nb " + key + "\nc ssh-ed25519\n", 3, 14, "missing base64 key"},
  };
  for (const auto& c : bad) {
    INFO(c.name);
    auto r = signing::parse_allowed_signers(c.text, "signers");
    REQUIRE_FALSE(r);
    INFO(r.error().describe());
    CHECK(r.error().rule == "signing.allowed-signers");
    CHECK(r.error().file == "signers");
    CHECK(r.error().line == c.line);
    CHECK(r.error().column == c.column);
    CHECK(r.error().message.find(c.message) != std::string::npos);
    CHECK_FALSE(signing::failure_of(r.error()));
  }

  // Every prefix of a busy line parses or fails with a located error; nothing crashes.
  const std::string busy =
      "\"a b,c*,!d\" namespaces=\"git,f\\\"ile\",valid-after=\"20240101Z\" " + ec.pub() + " x";
  for (std::size_t n = 0; n <= busy.size(); ++n) {
    auto r = signing::parse_allowed_signers(busy.substr(0, n));
    if (!r) CHECK(r.error().line == 1);
  }
  auto busy_parsed = signing::parse_allowed_signers(busy);
  REQUIRE(busy_parsed);
  CHECK(busy_parsed->signers[0].principals == std::vector<std::string>{"a b", "c*", "!d"});
  CHECK(busy_parsed->signers[0].namespaces == std::vector<std::string>{"git", "f\"ile"});
  CHECK(busy_parsed->signers[0].comment == "x");

  auto loaded = signing::load_allowed_signers(dir.write("allowed", "a " + key + "\n"));
  REQUIRE(loaded);
  CHECK(loaded->signers.size() == 1);
  CHECK_FALSE(signing::load_allowed_signers(dir / "missing"));
}

TEST_CASE("signer times and principal patterns follow OpenSSH", "[signing]") {
  struct TimeCase {
    const char* text;
    std::optional<signing::Seconds> expected;
  };
  using namespace std::chrono;
  const TimeCase times[] = {
      {"20240131Z", utc(2024, 1, 31)},
      {"20240131z", utc(2024, 1, 31)},
      {"202401311230Z", utc(2024, 1, 31) + hours(12) + minutes(30)},
      {"20240131123045UTC", utc(2024, 1, 31) + hours(12) + minutes(30) + seconds(45)},
      {"20240229Z", utc(2024, 2, 29)},
      {"20230229Z", std::nullopt},
      {"20241301Z", std::nullopt},
      {"20240131246000Z", std::nullopt},
      {"2024013Z", std::nullopt},
      {"2024013aZ", std::nullopt},
      {"Z", std::nullopt},
      {"", std::nullopt},
      {"+2024013", std::nullopt},
  };
  for (const auto& c : times) {
    INFO(c.text);
    CHECK(signing::parse_signer_time(c.text) == c.expected);
  }
  // Without Z the time is local, as in ssh-keygen.
  std::tm tm{};
  tm.tm_year = 124, tm.tm_mon = 5, tm.tm_mday = 1, tm.tm_hour = 8, tm.tm_isdst = -1;
  CHECK(signing::parse_signer_time("2024060108") == std::nullopt);
  CHECK(signing::parse_signer_time("202406010800") == signing::Seconds(seconds(std::mktime(&tm))));
  CHECK(signing::parse_signer_time("99991231235959Z") == sys_days(year(9999) / 12 / 31) + seconds(86399));

  struct PatternCase {
    std::vector<std::string> patterns;
    const char* name;
    bool expected;
  };
  const PatternCase patterns[] = {
      {{"alice@example.com"}, "alice@example.com", true},
      {{"alice@example.com"}, "Alice@example.com", false},
      {{"*@example.com"}, "bob@example.com", true},
      {{"*@example.com"}, "bob@example.org", false},
      {{"b?b@example.com"}, "bob@example.com", true},
      {{"b?b@example.com"}, "boob@example.com", false},
      {{"*"}, "", true},
      {{"*@example.com", "!mallory@example.com"}, "mallory@example.com", false},
      {{"!mallory@example.com", "*@example.com"}, "bob@example.com", true},
      {{"!mallory@example.com"}, "bob@example.com", false},
      {{"a*b*c"}, "aXXbYYc", true},
      {{"a*b*c"}, "aXXbYY", false},
      {{"[ab]"}, "a", false},
      {{}, "x", false},
  };
  for (const auto& c : patterns) {
    INFO(c.name);
    CHECK(signing::matches_patterns(c.patterns, c.name) == c.expected);
  }
}

TEST_CASE("commit and tag splitting follows git's rules", "[signing]") {
  const std::string sig = "-----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n";
  struct CommitCase {
    const char* name;
    std::string raw;
    signing::ObjectFormat format;
    std::optional<Failure> failure;
    std::string payload;
    std::string signature;
  };
  const std::string head =
      "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\n"
      "committer C <c@x> 1700000000 +0100\n";
  const std::string mergetag = "mergetag object 1234\n type commit\n -----BEGIN SSH SIGNATURE-----\n xyz\n";
  const CommitCase commits[] = {
      {"signed", head + "gpgsig " + sig + "\nmessage\n", signing::ObjectFormat::sha1, std::nullopt,
       head + "\nmessage\n", "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"},
      {"other headers and their continuations stay",
       head + mergetag + "gpgsig " + sig + "encoding UTF-8\n\nm\n", signing::ObjectFormat::sha1, std::nullopt,
       head + mergetag + "encoding UTF-8\n\nm\n",
       "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"},
      {"gpgsig in the message is message", head + "\ngpgsig " + sig, signing::ObjectFormat::sha1,
       Failure::unsigned_object, "", ""},
      {"sha256 header in a sha1 repository stays", head + "gpgsig-sha256 " + sig + "gpgsig " + sig + "\nm\n",
       signing::ObjectFormat::sha1, std::nullopt, head + "gpgsig-sha256 " + sig + "\nm\n",
       "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"},
      {"sha256 repository", head + "gpgsig " + sig + "gpgsig-sha256 " + sig + "\nm\n",
       signing::ObjectFormat::sha256, std::nullopt, head + "gpgsig " + sig + "\nm\n",
       "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"},
      {"two signatures", head + "gpgsig " + sig + "gpgsig " + sig + "\nm\n", signing::ObjectFormat::sha1,
       Failure::malformed_signature, "", ""},
      {"unsigned", head + "\nm\n", signing::ObjectFormat::sha1, Failure::unsigned_object, "", ""},
      {"gpgsigx is another header", head + "gpgsigx " + sig + "\nm\n", signing::ObjectFormat::sha1,
       Failure::unsigned_object, "", ""},
      {"empty", "", signing::ObjectFormat::sha1, Failure::unsigned_object, "", ""},
  };
  for (const auto& c : commits) {
    INFO(c.name);
    auto r = signing::split_signed_commit(c.raw, c.format);
    if (c.failure) {
      REQUIRE_FALSE(r);
      CHECK(signing::failure_of(r.error()) == c.failure);
      continue;
    }
    REQUIRE(r);
    CHECK(r->payload == c.payload);
    CHECK(r->signature == c.signature);
    CHECK(r->signed_at == TimePoint(std::chrono::seconds(1700000000)));
  }

  const std::string tag_head =
      "object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype commit\ntag v1\n"
      "tagger T <t@x> 1600000000 +0000\n\nrelease\n";
  const std::string ssh = "-----BEGIN SSH SIGNATURE-----\nU1NI\n-----END SSH SIGNATURE-----\n";
  const std::string pgp = "-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n";
  struct TagCase {
    const char* name;
    std::string raw;
    std::optional<Failure> failure;
    std::string payload;
    std::string signature;
  };
  const TagCase tags[] = {
      {"ssh", tag_head + ssh, std::nullopt, tag_head, ssh},
      {"pgp", tag_head + pgp, std::nullopt, tag_head, pgp},
      {"the last block is the signature", tag_head + ssh + ssh, std::nullopt, tag_head + ssh, ssh},
      {"indented marker is message", tag_head + " " + ssh, Failure::unsigned_object, "", ""},
      {"unsigned", tag_head, Failure::unsigned_object, "", ""},
  };
  for (const auto& c : tags) {
    INFO(c.name);
    auto r = signing::split_signed_tag(c.raw);
    if (c.failure) {
      REQUIRE_FALSE(r);
      CHECK(signing::failure_of(r.error()) == c.failure);
      continue;
    }
    REQUIRE(r);
    CHECK(r->payload == c.payload);
    CHECK(r->signature == c.signature);
    CHECK(r->signed_at == TimePoint(std::chrono::seconds(1600000000)));
  }
  auto pgp_tag = signing::split_signed_tag(tag_head + pgp);
  REQUIRE(pgp_tag);
  auto verified =
      signing::verify(pgp_tag->signature, pgp_tag->payload, "git", {}, std::chrono::system_clock::now());
  CHECK(reason(verified) == Failure::unsupported_algorithm);
}

TEST_CASE("real git commit and tag signatures verify as git verify-commit/verify-tag say", "[signing]") {
  test::TempDir dir;
  const Key key = make_key(dir, "git-key", {"-t", "ed25519"});
  const Key stranger = make_key(dir, "stranger", {"-t", "ed25519"});
  const fs::path allowed_path = dir / "allowed_signers";
  auto set_allowed = [&](const std::string& text) { dir.write("allowed_signers", text); };
  set_allowed("test@example.com " + key.pub() + "\n");

  auto git = [&](const fs::path& repo, std::vector<std::string> args, std::string_view input = {}) {
    std::vector<std::string> argv{"git", "-c", "init.defaultBranch=main"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, repo, input);
  };
  auto make_repo = [&](const std::string& name, const std::vector<std::string>& init_args) {
    fs::path repo = dir / name;
    fs::create_directories(repo);
    std::vector<std::string> init{"init", "-q"};
    init.insert(init.end(), init_args.begin(), init_args.end());
    REQUIRE(git(repo, init).status == 0);
    for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"gpg.format", "ssh"},
             {"user.signingkey", key.path.string()},
             {"gpg.ssh.allowedSignersFile", allowed_path.string()},
             {"user.name", "Test"},
             {"user.email", "test@example.com"}})
      REQUIRE(git(repo, {"config", k, v}).status == 0);
    return repo;
  };
  auto ours = [&](const signing::SignedObject& object) {
    auto signers = signing::load_allowed_signers(allowed_path);
    REQUIRE(signers);
    REQUIRE(object.signed_at);
    return signing::verify(object.signature, object.payload, "git", *signers, *object.signed_at);
  };

  fs::path repo = make_repo("repo", {});
  auto committed = git(repo, {"commit", "-q", "-S", "--allow-empty", "-m", "signed commit"});
  INFO(committed.err);
  REQUIRE(committed.status == 0);
  auto tagged = git(repo, {"tag", "-s", "v1", "-m", "signed tag"});
  INFO(tagged.err);
  REQUIRE(tagged.status == 0);
  const std::string raw_commit = git(repo, {"cat-file", "commit", "HEAD"}).out;
  const std::string raw_tag = git(repo, {"cat-file", "tag", "v1"}).out;
  auto commit = signing::split_signed_commit(raw_commit);
  REQUIRE(commit);
  auto tag = signing::split_signed_tag(raw_tag);
  REQUIRE(tag);
  CHECK(commit->signed_at == TimePoint(std::chrono::seconds(1700000000)));
  CHECK(tag->signed_at == TimePoint(std::chrono::seconds(1700000000)));
  CHECK(commit->payload.find("gpgsig") == std::string::npos);
  CHECK(tag->payload.ends_with("signed tag\n"));

  SECTION("genuine objects") {
    auto c = ours(*commit);
    INFO((c ? "" : c.error().message));
    REQUIRE(c);
    CHECK(c->principals == std::vector<std::string>{"test@example.com"});
    CHECK(c->key_type == "ssh-ed25519");
    CHECK(git(repo, {"verify-commit", "HEAD"}).status == 0);
    auto t = ours(*tag);
    REQUIRE(t);
    CHECK(t->fingerprint == c->fingerprint);
    CHECK(git(repo, {"verify-tag", "v1"}).status == 0);
  }

  SECTION("tampered objects") {
    std::string bad_commit = raw_commit;
    bad_commit.replace(bad_commit.find("signed commit"), 13, "forged commit");
    auto commit_id = git(repo, {"hash-object", "-t", "commit", "-w", "--stdin"}, bad_commit);
    REQUIRE(commit_id.status == 0);
    auto split = signing::split_signed_commit(bad_commit);
    REQUIRE(split);
    CHECK(reason(ours(*split)) == Failure::bad_signature);
    CHECK(git(repo, {"verify-commit", trimmed(commit_id.out)}).status != 0);

    std::string bad_tag = raw_tag;
    bad_tag.replace(bad_tag.find("signed tag"), 10, "forged tag");
    auto tag_id = git(repo, {"hash-object", "-t", "tag", "-w", "--stdin"}, bad_tag);
    REQUIRE(tag_id.status == 0);
    auto split_tag = signing::split_signed_tag(bad_tag);
    REQUIRE(split_tag);
    CHECK(reason(ours(*split_tag)) == Failure::bad_signature);
    CHECK(git(repo, {"verify-tag", trimmed(tag_id.out)}).status != 0);
  }

  SECTION("key validity is judged at the committer and tagger dates") {
    struct Case {
      const char* options;
      std::optional<Failure> expected;
    };
    const Case cases[] = {
        {"valid-before=\"20200101Z\" ", Failure::key_expired},
        {"valid-after=\"20300101Z\" ", Failure::key_not_yet_valid},
        {"valid-after=\"20230101Z\",valid-before=\"20231201Z\" ", std::nullopt},  // 2023-11-14 inside
        {"namespaces=\"file\" ", Failure::namespace_not_allowed},
        {"", std::nullopt},
    };
    for (const auto& c : cases) {
      INFO(c.options);
      set_allowed("test@example.com " + std::string(c.options) + key.pub() + "\n");
      CHECK(reason(ours(*commit)) == c.expected);
      CHECK(reason(ours(*tag)) == c.expected);
      CHECK((git(repo, {"verify-commit", "HEAD"}).status == 0) == !c.expected);
      CHECK((git(repo, {"verify-tag", "v1"}).status == 0) == !c.expected);
    }
  }

  SECTION("unknown signer and unsigned commit") {
    REQUIRE(git(repo, {"config", "user.signingkey", stranger.path.string()}).status == 0);
    REQUIRE(git(repo, {"commit", "-q", "-S", "--allow-empty", "-m", "by a stranger"}).status == 0);
    auto split = signing::split_signed_commit(git(repo, {"cat-file", "commit", "HEAD"}).out);
    REQUIRE(split);
    CHECK(reason(ours(*split)) == Failure::unknown_key);
    CHECK(git(repo, {"verify-commit", "HEAD"}).status != 0);

    REQUIRE(git(repo, {"commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", "unsigned"}).status == 0);
    auto unsigned_commit = signing::split_signed_commit(git(repo, {"cat-file", "commit", "HEAD"}).out);
    REQUIRE_FALSE(unsigned_commit);
    CHECK(signing::failure_of(unsigned_commit.error()) == Failure::unsigned_object);
    CHECK(git(repo, {"verify-commit", "HEAD"}).status != 0);
  }

  SECTION("SHA-256 repository") {
    fs::path repo256 = make_repo("repo256", {"--object-format=sha256"});
    REQUIRE(git(repo256, {"commit", "-q", "-S", "--allow-empty", "-m", "signed in sha256"}).status == 0);
    auto raw = git(repo256, {"cat-file", "commit", "HEAD"}).out;
    auto split = signing::split_signed_commit(raw, signing::ObjectFormat::sha256);
    REQUIRE(split);
    auto verified = ours(*split);
    INFO((verified ? "" : verified.error().message));
    CHECK(verified);
    CHECK(git(repo256, {"verify-commit", "HEAD"}).status == 0);
    auto as_sha1 = signing::split_signed_commit(raw);
    REQUIRE_FALSE(as_sha1);
    CHECK(signing::failure_of(as_sha1.error()) == Failure::unsigned_object);
  }
}
