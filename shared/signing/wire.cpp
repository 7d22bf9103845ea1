#include "shared/signing/wire.hpp"

#include <array>

namespace portcullis::signing::wire {

bool Reader::bytes(std::size_t count, std::string_view& out) {
  if (count > m_data.size()) return false;
  out = m_data.substr(0, count);
  m_data.remove_prefix(count);
  return true;
}

bool Reader::u32(std::uint32_t& out) {
  if (m_data.size() < 4) return false;
  out = 0;
  for (int i = 0; i < 4; ++i)
    out = (out << 8) | static_cast<unsigned char>(m_data[static_cast<std::size_t>(i)]);
  m_data.remove_prefix(4);
  return true;
}

bool Reader::string(std::string_view& out) {
  std::string_view saved = m_data;
  std::uint32_t length = 0;
  if (!u32(length) || !bytes(length, out)) {
    m_data = saved;
    return false;
  }
  return true;
}

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

void put_string(std::string& out, std::string_view value) {
  put_u32(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}

namespace {

constexpr std::string_view k_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (char c : text)
    if (!is_space(c)) compact.push_back(c);
  if (compact.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < compact.size() && compact[compact.size() - 1 - padding] == '=') ++padding;
  std::string out;
  out.reserve(compact.size() / 4 * 3);
  std::uint32_t bits = 0;
  int count = 0;
  for (std::size_t i = 0; i < compact.size() - padding; ++i) {
    int v = base64_value(compact[i]);
    if (v < 0) return std::nullopt;  // also catches '=' in the middle
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>((bits >> 16) & 0xff));
      out.push_back(static_cast<char>((bits >> 8) & 0xff));
      out.push_back(static_cast<char>(bits & 0xff));
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) {
    out.push_back(static_cast<char>((bits >> 4) & 0xff));
  } else if (count == 3) {
    out.push_back(static_cast<char>((bits >> 10) & 0xff));
    out.push_back(static_cast<char>((bits >> 2) & 0xff));
  } else if (count != 0) {
    return std::nullopt;
  }
  return out;
}

std::string base64_encode(std::string_view bytes, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(k_alphabet[(v >> shift) & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = byte(i) << 16;
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
    if (pad) out.append("==");
  } else if (rest == 2) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
    out.push_back(k_alphabet[(v >> 6) & 63]);
    if (pad) out.push_back('=');
  }
  return out;
}

bool get_unsigned_mpint(Reader& reader, std::string_view& out) {
  std::string_view raw;
  if (!reader.string(raw)) return false;
  if (!raw.empty() && (static_cast<unsigned char>(raw[0]) & 0x80) != 0) return false;  // negative
  while (!raw.empty() && raw[0] == '\0') raw.remove_prefix(1);
  out = raw;
  return true;
}

namespace {

struct Curve {
  std::string_view type;
  std::string_view id;
  std::size_t field_bytes;
};
constexpr std::array<Curve, 3> k_curves = {{
    {"ecdsa-sha2-nistp256", "nistp256", 32},
    {"ecdsa-sha2-nistp384", "nistp384", 48},
    {"ecdsa-sha2-nistp521", "nistp521", 66},
}};

constexpr std::array<std::string_view, 5> k_supported = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"};

constexpr std::array<std::string_view, 12> k_recognised = {
    "ssh-dss",
    "ssh-ed448",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
};

}  // namespace

bool supported_key_type(std::string_view name) {
  for (auto t : k_supported)
    if (t == name) return true;
  return false;
}

bool known_key_type(std::string_view name) {
  if (supported_key_type(name)) return true;
  for (auto t : k_recognised)
    if (t == name) return true;
  return false;
}

std::string printable(std::string_view text, std::size_t limit) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(k_hex[u >> 4]);
      out.push_back(k_hex[u & 15]);
    }
  }
  return out;
}

std::string_view canonical_key_type(std::string_view name) {
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512") return "ssh-rsa";
  return name;
}

std::unexpected<util::Error> failure(Failure failure, std::string message) {
  return util::fail(std::move(message), std::string(rule_of(failure)));
}

util::Result<PublicKey> parse_public_key(std::string_view blob) {
  Reader r(blob);
  PublicKey key;
  if (!r.string(key.type) || key.type.empty())
    return failure(Failure::malformed_signature, "public key blob does not start with a key type");
  auto truncated = [&] {
    return failure(Failure::malformed_signature,
                   "public key of type '" + printable(key.type) + "' is malformed");
  };
  if (key.type == "ssh-ed25519") {
    if (!r.string(key.a) || key.a.size() != 32) return truncated();
  } else if (key.type.starts_with("ecdsa-sha2-nistp")) {
    const Curve* curve = nullptr;
    for (const auto& c : k_curves)
      if (c.type == key.type) curve = &c;
    if (curve == nullptr)
      return failure(Failure::unsupported_algorithm, "unsupported key type '" + printable(key.type) + "'");
    if (!r.string(key.a) || key.a != curve->id || !r.string(key.b)) return truncated();
    if (key.b.size() != 1 + 2 * curve->field_bytes || key.b[0] != '\x04') return truncated();
  } else if (key.type == "ssh-rsa") {
    if (!get_unsigned_mpint(r, key.a) || !get_unsigned_mpint(r, key.b) || key.a.empty() || key.b.empty())
      return truncated();
  } else if (known_key_type(key.type)) {
    return key;  // recognised, not verified: the rest of the blob is not looked at
  } else {
    return failure(Failure::unsupported_algorithm, "unsupported key type '" + printable(key.type) + "'");
  }
  if (!r.empty()) return truncated();
  key.supported = true;
  return key;
}

}  // namespace portcullis::signing::wire
