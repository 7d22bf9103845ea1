#include "shared/notify/event.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>

#include "shared/util/json.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::notify {

namespace {

std::string hex(const unsigned char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[data[i] >> 4];
    s += digits[data[i] & 15];
  }
  return s;
}

}  // namespace

std::string to_json(const Event& e) {
  util::Json refs = util::Json::array();
  for (const auto& r : e.refs)
    refs.push_back({{"ref", std::string(r.ref)}, {"old", std::string(r.old_id)}, {"new", std::string(r.new_id)}});
  return util::dump(util::Json{{"id", std::string(e.id)},
                               {"repository", std::string(e.repository)},
                               {"refs", refs},
                               {"pusher", e.pusher.empty() ? util::Json(nullptr) : util::Json(std::string(e.pusher))},
                               {"breakGlass", e.break_glass},
                               {"reason", std::string(e.reason)},
                               {"time", e.time}});
}

util::Result<Event> parse_event(std::string_view json) {
  yaml::Limits limits;
  limits.max_depth = 8;
  limits.max_nodes = 200'000;
  auto stream = yaml::parse_json(json, limits);
  if (!stream) return util::fail("event is not valid JSON: " + stream.error().describe());
  const yaml::Node* root = stream->documents.empty() ? nullptr : stream->documents[0].root;
  if (!root || !root->is_mapping()) return util::fail("event is not a JSON object");
  Event e;
  e.id = std::string(root->get_string("id"));
  e.repository = std::string(root->get_string("repository"));
  e.pusher = std::string(root->get_string("pusher"));
  e.reason = std::string(root->get_string("reason"));
  if (const yaml::Node* bg = root->get("breakGlass")) e.break_glass = bg->type == yaml::Type::boolean && bg->value.boolean;
  if (const yaml::Node* t = root->get("time"); t && t->type == yaml::Type::integer) e.time = t->value.integer;
  if (e.id.empty() || e.id.size() > 128) return util::fail("event has no valid id");
  const yaml::Node* refs = root->get("refs");
  if (!refs || !refs->is_sequence()) return util::fail("event has no refs");
  for (const yaml::Node* r : refs->items) {
    if (!r->is_mapping()) return util::fail("event refs must be objects");
    e.refs.push_back(RefChange{std::string(r->get_string("ref")), std::string(r->get_string("old")),
                               std::string(r->get_string("new"))});
  }
  return e;
}

std::string sign(std::string_view secret, std::int64_t timestamp, const SignedRequest& request) {
  std::string message = std::to_string(timestamp);
  for (std::string_view part : {request.method, request.path, request.id, request.body}) {
    message += '\n';
    message += part;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return "sha256=" + hex(mac, len);
}

Rejection verify(std::string_view secret, std::string_view signature_header, std::string_view timestamp_header,
                 const SignedRequest& request, std::int64_t now, std::int64_t window_seconds) {
  std::int64_t ts = 0;
  auto [ptr, ec] = std::from_chars(timestamp_header.data(), timestamp_header.data() + timestamp_header.size(), ts);
  if (ec != std::errc{} || ptr != timestamp_header.data() + timestamp_header.size() || !signature_header.starts_with("sha256="))
    return Rejection::malformed;
  if (request.id.empty()) return Rejection::malformed;
  for (std::string_view part : {request.method, request.path, request.id})
    if (part.find('\n') != std::string_view::npos) return Rejection::malformed;
  std::string expected = sign(secret, ts, request);
  if (expected.size() != signature_header.size() ||
      CRYPTO_memcmp(expected.data(), signature_header.data(), expected.size()) != 0)
    return Rejection::bad_signature;
  if (ts < now - window_seconds || ts > now + window_seconds) return Rejection::stale;
  return Rejection::none;
}

std::string new_event_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for an event id");
  return hex(bytes, sizeof bytes);
}

}  // namespace portcullis::notify
