#include "shared/kube/kubeconfig.hpp"

#include <cstdlib>

#include "shared/util/fs.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::kube {

namespace fs = std::filesystem;

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  // Standard, padded base64; line breaks are allowed (PEM-style wrapping).
  std::string clean;
  for (char c : text)
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean += c;
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < clean.size(); i += 4) {
    bool last = i + 4 == clean.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = clean[i + static_cast<std::size_t>(k)];
      if (c == '=') {
        if (!last || k < 2) return std::nullopt;
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      v[k] = value(c);
      if (v[k] < 0) return std::nullopt;
    }
    std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
                      (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

namespace {

const yaml::Node* named(const yaml::Node* list, std::string_view name, std::string_view field) {
  if (!list || !list->is_sequence()) return nullptr;
  for (const yaml::Node* item : list->items)
    if (item->is_mapping() && item->get_string("name") == name) return item->get(field);
  return nullptr;
}

// A "-data" field (base64) or a file reference, resolved against `base`.
util::Result<std::string> data_or_file(const yaml::Node& m, std::string_view data_key, std::string_view file_key,
                                       const fs::path& base) {
  if (auto data = m.get_string(data_key); !data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) return util::fail(std::string(data_key) + " is not valid base64");
    return *decoded;
  }
  if (auto file = m.get_string(file_key); !file.empty()) {
    fs::path p(file);
    if (p.is_relative()) p = base / p;
    return util::read_file(p, 1 << 20);
  }
  return std::string{};
}

}  // namespace

util::Result<Connection> parse_kubeconfig(std::string_view text, const fs::path& base, std::string_view context) {
  auto stream = yaml::parse_yaml(text);
  if (!stream) return util::fail("kubeconfig is not valid YAML: " + stream.error().describe());
  if (stream->documents.empty() || !stream->documents[0].root || !stream->documents[0].root->is_mapping())
    return util::fail("kubeconfig is empty");
  const yaml::Node& root = *stream->documents[0].root;
  Connection c;
  c.context = context.empty() ? std::string(root.get_string("current-context")) : std::string(context);
  if (c.context.empty()) return util::fail("kubeconfig has no current-context; pass --context");
  const yaml::Node* ctx = named(root.get("contexts"), c.context, "context");
  if (!ctx || !ctx->is_mapping()) return util::fail("kubeconfig has no context named \"" + c.context + "\"");
  std::string cluster_name(ctx->get_string("cluster"));
  std::string user_name(ctx->get_string("user"));
  if (auto ns = ctx->get_string("namespace"); !ns.empty()) c.namespace_ = std::string(ns);
  const yaml::Node* cluster = named(root.get("clusters"), cluster_name, "cluster");
  if (!cluster || !cluster->is_mapping())
    return util::fail("kubeconfig context \"" + c.context + "\" names cluster \"" + cluster_name + "\", which is not defined");
  c.server = std::string(cluster->get_string("server"));
  if (c.server.empty()) return util::fail("cluster \"" + cluster_name + "\" has no server");
  if (const yaml::Node* insecure = cluster->get("insecure-skip-tls-verify"))
    c.insecure_skip_verify = insecure->type == yaml::Type::boolean && insecure->value.boolean;
  auto ca = data_or_file(*cluster, "certificate-authority-data", "certificate-authority", base);
  if (!ca) return util::fail("cluster \"" + cluster_name + "\": " + ca.error().message);
  c.ca_pem = std::move(*ca);
  if (!user_name.empty()) {
    const yaml::Node* user = named(root.get("users"), user_name, "user");
    if (!user) return util::fail("kubeconfig context \"" + c.context + "\" names user \"" + user_name + "\", which is not defined");
    if (user->is_mapping()) {
      auto cert = data_or_file(*user, "client-certificate-data", "client-certificate", base);
      if (!cert) return util::fail("user \"" + user_name + "\": " + cert.error().message);
      auto key = data_or_file(*user, "client-key-data", "client-key", base);
      if (!key) return util::fail("user \"" + user_name + "\": " + key.error().message);
      c.client_cert_pem = std::move(*cert);
      c.client_key_pem = std::move(*key);
      if (c.client_cert_pem.empty() != c.client_key_pem.empty())
        return util::fail("user \"" + user_name + "\" has a client certificate without a key, or a key without a certificate");
      c.token = std::string(user->get_string("token"));
      if (auto tf = user->get_string("tokenFile"); !tf.empty()) {
        c.token_file = fs::path(tf);
        if (c.token_file.is_relative()) c.token_file = base / c.token_file;
      }
      c.username = std::string(user->get_string("username"));
      c.password = std::string(user->get_string("password"));
      if (user->get("exec") || user->get("auth-provider"))
        if (c.token.empty() && c.token_file.empty() && c.client_cert_pem.empty())
          return util::fail("user \"" + user_name + "\" uses an exec or auth-provider plugin, which Portcullis does not run; use a token or client certificate");
    }
  }
  return c;
}

util::Result<Connection> load_kubeconfig(const fs::path& path, std::string_view context) {
  auto text = util::read_file(path, 4 << 20);
  if (!text) return util::fail(text.error());
  auto c = parse_kubeconfig(*text, fs::absolute(path).parent_path(), context);
  if (!c) {
    auto e = c.error();
    e.message = path.string() + ": " + e.message;
    return util::fail(std::move(e));
  }
  return c;
}

util::Result<Connection> in_cluster(const fs::path& root) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) return util::fail("not running in a cluster (KUBERNETES_SERVICE_HOST is not set)");
  Connection c;
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  c.server = "https://" + h + ":" + (port && *port ? port : "443");
  auto ca = util::read_file(root / "ca.crt", 1 << 20);
  if (!ca) return util::fail(ca.error());
  c.ca_pem = std::move(*ca);
  c.token_file = root / "token";
  if (auto ns = util::read_file(root / "namespace", 4096); ns && !ns->empty()) c.namespace_ = *ns;
  c.context = "in-cluster";
  return c;
}

}  // namespace portcullis::kube
