#include "shared/signing/git_object.hpp"

#include <array>
#include <charconv>

#include "shared/signing/wire.hpp"

namespace portcullis::signing {

namespace {

// The armor lines git recognises (gpg-interface.c), whatever the signature format.
constexpr std::array<std::string_view, 4> k_signature_starts = {
    "-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----", "-----BEGIN SIGNED MESSAGE-----",
    "-----BEGIN SSH SIGNATURE-----"};

// The line starting at `pos` including its '\n' (the rest of `raw` when there is none).
std::string_view line_at(std::string_view raw, std::size_t pos) {
  std::size_t nl = raw.find('\n', pos);
  return raw.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos + 1);
}

// The date of an identity header such as "committer A U Thor <a@example.com> 1700000000 +0000".
std::optional<TimePoint> identity_time(std::string_view line) {
  std::size_t close = line.rfind('>');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::int64_t secs = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), secs);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  return TimePoint(std::chrono::seconds(secs));
}

// The time in header `name` ("committer", "tagger") of `raw`, looking only at the headers.
std::optional<TimePoint> header_time(std::string_view raw, std::string_view name) {
  for (std::size_t pos = 0; pos < raw.size();) {
    std::string_view line = line_at(raw, pos);
    if (line == "\n") break;
    if (line.starts_with(name) && line.size() > name.size() && line[name.size()] == ' ')
      return identity_time(line);
    pos += line.size();
  }
  return std::nullopt;
}

}  // namespace

util::Result<SignedObject> split_signed_commit(std::string_view raw, ObjectFormat format) {
  const std::string_view header = format == ObjectFormat::sha1 ? "gpgsig" : "gpgsig-sha256";
  SignedObject out;
  bool in_signature = false;
  bool seen = false;
  for (std::size_t pos = 0; pos < raw.size();) {
    std::string_view line = line_at(raw, pos);
    if (line == "\n") {  // end of the headers: the message is payload, whatever it contains
      out.payload.append(raw.substr(pos));
      break;
    }
    if (in_signature && line.front() == ' ') {
      out.signature.append(line.substr(1));
    } else if (line.starts_with(header) && line.size() > header.size() && line[header.size()] == ' ') {
      if (seen)
        return wire::failure(Failure::malformed_signature,
                             "commit has more than one " + std::string(header) + " header");
      seen = in_signature = true;
      out.signature.append(line.substr(header.size() + 1));
    } else {
      in_signature = false;
      out.payload.append(line);
    }
    pos += line.size();
  }
  if (!seen)
    return wire::failure(Failure::unsigned_object,
                         "commit is not signed (no " + std::string(header) + " header)");
  out.signed_at = header_time(out.payload, "committer");
  return out;
}

util::Result<SignedObject> split_signed_tag(std::string_view raw) {
  std::size_t start = std::string_view::npos;
  for (std::size_t pos = 0; pos < raw.size();) {
    std::string_view line = line_at(raw, pos);
    for (auto marker : k_signature_starts)
      if (line.starts_with(marker)) start = pos;
    pos += line.size();
  }
  if (start == std::string_view::npos)
    return wire::failure(Failure::unsigned_object,
                         "tag is not signed (no signature block at the end of its message)");
  SignedObject out;
  out.payload = std::string(raw.substr(0, start));
  out.signature = std::string(raw.substr(start));
  out.signed_at = header_time(out.payload, "tagger");
  return out;
}

}  // namespace portcullis::signing
