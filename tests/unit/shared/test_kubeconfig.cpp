#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/kube/kubeconfig.hpp"
#include "tests/unit/support/env.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
using test::env_value;
using test::ScopedEnv;
namespace fs = std::filesystem;

namespace {

// base64 of "CA-DATA", "CERT-DATA", "KEY-DATA".
const char* k_ca_b64 = "Q0EtREFUQQ==";
const char* k_cert_b64 = "Q0VSVC1EQVRB";
const char* k_key_b64 = "S0VZLURBVEE=";

std::string kubeconfig(const fs::path& abs_ca) {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: data
clusters:
- name: c-data
  cluster:
    server: https://data.example:6443
    certificate-authority-data: )") + k_ca_b64 + R"(
- name: c-file
  cluster:
    server: https://file.example
    certificate-authority: certs/ca.pem
- name: c-abs
  cluster:
    server: https://abs.example
    certificate-authority: )" + abs_ca.string() + R"(
- name: c-insecure
  cluster:
    server: https://insecure.example
    insecure-skip-tls-verify: true
- name: c-not-insecure
  cluster:
    server: https://secure.example
    insecure-skip-tls-verify: "true"
- name: c-no-server
  cluster:
    certificate-authority-data: )" + k_ca_b64 + R"(
- name: c-bad-base64
  cluster:
    server: https://bad.example
    certificate-authority-data: "not*base64"
- name: c-missing-ca
  cluster:
    server: https://missing.example
    certificate-authority: certs/nope.pem
users:
- name: u-cert-data
  user:
    client-certificate-data: )" + k_cert_b64 + R"(
    client-key-data: )" + k_key_b64 + R"(
- name: u-cert-file
  user:
    client-certificate: certs/client.crt
    client-key: certs/client.key
- name: u-token
  user:
    token: abc123
- name: u-token-file
  user:
    tokenFile: secrets/token
- name: u-token-file-abs
  user:
    tokenFile: /run/secrets/token
- name: u-basic
  user:
    username: admin
    password: hunter2
- name: u-cert-only
  user:
    client-certificate-data: )" + k_cert_b64 + R"(
- name: u-key-only
  user:
    client-key: certs/client.key
- name: u-bad-key
  user:
    client-certificate-data: )" + k_cert_b64 + R"(
    client-key-data: "%%%"
- name: u-exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
- name: u-exec-with-token
  user:
    token: t0k
    exec: {command: aws}
- name: u-auth-provider
  user:
    auth-provider: {name: oidc}
contexts:
- name: data
  context: {cluster: c-data, user: u-cert-data, namespace: shop}
- name: file
  context: {cluster: c-file, user: u-cert-file}
- name: abs
  context: {cluster: c-abs, user: u-token}
- name: insecure
  context: {cluster: c-insecure, user: u-token-file}
- name: not-insecure
  context: {cluster: c-not-insecure, user: u-token-file-abs}
- name: basic
  context: {cluster: c-data, user: u-basic, namespace: ops}
- name: anonymous
  context: {cluster: c-data}
- name: exec-with-token
  context: {cluster: c-data, user: u-exec-with-token}
- name: no-cluster
  context: {cluster: c-gone, user: u-token}
- name: no-user
  context: {cluster: c-data, user: u-gone}
- name: no-server
  context: {cluster: c-no-server, user: u-token}
- name: bad-base64
  context: {cluster: c-bad-base64, user: u-token}
- name: missing-ca
  context: {cluster: c-missing-ca, user: u-token}
- name: cert-only
  context: {cluster: c-data, user: u-cert-only}
- name: key-only
  context: {cluster: c-data, user: u-key-only}
- name: bad-key
  context: {cluster: c-data, user: u-bad-key}
- name: exec
  context: {cluster: c-data, user: u-exec}
- name: auth-provider
  context: {cluster: c-data, user: u-auth-provider}
)";
}

}  // namespace

TEST_CASE("base64_decode decodes standard base64", "[kubeconfig]") {
  struct Case {
    const char* text;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"", ""},
      {"QQ==", "A"},
      {"QUI=", "AB"},
      {"QUJD", "ABC"},
      {"QUJDRA==", "ABCD"},
      {"aGVsbG8gd29ybGQ=", "hello world"},
      {"aGVs\nbG8=\n", "hello"},
      {"aGVs\r\nbG8=", "hello"},
      {"aG Vs bG8=", "hello"},
      {"/+/+", std::string("\xff\xef\xfe", 3)},
      {"AAAA", std::string(3, '\0')},
      {"QU*D", std::nullopt},
      {"QQ==QQ==", std::nullopt},
      {"QQ===", std::nullopt},
      {"-_-_", std::nullopt},  // URL-safe alphabet is not standard base64
      // A lone character carries 6 bits: no whole byte, never valid.
      {"Q", std::nullopt},
      {"QUJDR", std::nullopt},
      // Padding after a complete group of four.
      {"QUJD=", std::nullopt},
      {"=", std::nullopt},
      // Standard base64 is padded to groups of four.
      {"QQ", std::nullopt},
      {"QUI", std::nullopt},
      {"QQ=", std::nullopt},
      {"Q===", std::nullopt},
      {"QQ==\nQQ==", std::nullopt},  // padding in the middle
      {"QUJD\tRA==", "ABCD"},
  };
  for (const auto& c : cases) {
    INFO("'" << c.text << "'");
    CHECK(kube::base64_decode(c.text) == c.expected);
  }
}

TEST_CASE("parse_kubeconfig resolves a context to a connection", "[kubeconfig]") {
  test::TempDir tmp;
  const fs::path base = tmp / "home/.kube";
  tmp.write("home/.kube/certs/ca.pem", "CA-FILE");
  tmp.write("home/.kube/certs/client.crt", "CERT-FILE");
  tmp.write("home/.kube/certs/client.key", "KEY-FILE");
  const fs::path abs_ca = tmp.write("elsewhere/ca.pem", "CA-ABS");
  const std::string text = kubeconfig(abs_ca);

  struct Expected {
    std::string server;
    std::string ca;
    bool insecure;
    std::string cert, key, token;
    fs::path token_file;
    std::string username, password;
    std::string namespace_;
  };
  struct Case {
    const char* context;  // "" = current-context
    const char* used;
    Expected e;
  };
  const Case cases[] = {
      {"", "data", {"https://data.example:6443", "CA-DATA", false, "CERT-DATA", "KEY-DATA", "", {}, "", "", "shop"}},
      {"data", "data", {"https://data.example:6443", "CA-DATA", false, "CERT-DATA", "KEY-DATA", "", {}, "", "", "shop"}},
      {"file", "file", {"https://file.example", "CA-FILE", false, "CERT-FILE", "KEY-FILE", "", {}, "", "", "default"}},
      {"abs", "abs", {"https://abs.example", "CA-ABS", false, "", "", "abc123", {}, "", "", "default"}},
      {"insecure", "insecure",
       {"https://insecure.example", "", true, "", "", "", base / "secrets/token", "", "", "default"}},
      {"not-insecure", "not-insecure",
       {"https://secure.example", "", false, "", "", "", "/run/secrets/token", "", "", "default"}},
      {"basic", "basic", {"https://data.example:6443", "CA-DATA", false, "", "", "", {}, "admin", "hunter2", "ops"}},
      {"anonymous", "anonymous", {"https://data.example:6443", "CA-DATA", false, "", "", "", {}, "", "", "default"}},
      {"exec-with-token", "exec-with-token",
       {"https://data.example:6443", "CA-DATA", false, "", "", "t0k", {}, "", "", "default"}},
  };
  for (const auto& c : cases) {
    INFO("context '" << c.context << "'");
    auto r = kube::parse_kubeconfig(text, base, c.context);
    INFO((r ? std::string() : r.error().message));
    CHECK(r);
    if (!r) continue;
    CHECK(r->context == c.used);
    CHECK(r->server == c.e.server);
    CHECK(r->ca_pem == c.e.ca);
    CHECK(r->insecure_skip_verify == c.e.insecure);
    CHECK(r->client_cert_pem == c.e.cert);
    CHECK(r->client_key_pem == c.e.key);
    CHECK(r->token == c.e.token);
    CHECK(r->token_file == c.e.token_file);
    CHECK(r->username == c.e.username);
    CHECK(r->password == c.e.password);
    CHECK(r->namespace_ == c.e.namespace_);
  }
}

TEST_CASE("parse_kubeconfig says what is missing or wrong", "[kubeconfig]") {
  test::TempDir tmp;
  const fs::path base = tmp / "kube";
  tmp.write("kube/certs/client.key", "KEY-FILE");
  const std::string text = kubeconfig(tmp / "elsewhere/ca.pem");

  struct Case {
    std::string text;
    const char* context;
    std::vector<const char*> message_parts;
  };
  const Case cases[] = {
      {text, "nowhere", {"no context named \"nowhere\""}},
      {text, "no-cluster", {"cluster \"c-gone\"", "not defined"}},
      {text, "no-user", {"user \"u-gone\"", "not defined"}},
      {text, "no-server", {"c-no-server", "no server"}},
      {text, "bad-base64", {"c-bad-base64", "certificate-authority-data", "base64"}},
      {text, "missing-ca", {"c-missing-ca", "nope.pem"}},
      {text, "cert-only", {"u-cert-only", "without a key"}},
      {text, "key-only", {"u-key-only", "without a certificate"}},
      {text, "bad-key", {"u-bad-key", "client-key-data", "base64"}},
      {text, "exec", {"u-exec", "exec"}},
      {text, "auth-provider", {"u-auth-provider", "auth-provider"}},
      {"apiVersion: v1\nclusters: []\n", "", {"current-context"}},
      {"", "", {"empty"}},
      {"- a\n", "", {"empty"}},
      {"clusters: [\n", "", {"not valid YAML"}},
  };
  for (const auto& c : cases) {
    INFO("context '" << c.context << "'");
    auto r = kube::parse_kubeconfig(c.text, base, c.context);
    CHECK_FALSE(r);
    if (r) continue;
    for (const char* part : c.message_parts) CHECK_THAT(r.error().message, Catch::Contains(part));
  }
}

TEST_CASE("load_kubeconfig resolves files against the kubeconfig's directory", "[kubeconfig]") {
  test::TempDir tmp;
  tmp.write("kube/certs/ca.pem", "CA-FILE");
  tmp.write("kube/certs/client.crt", "CERT-FILE");
  tmp.write("kube/certs/client.key", "KEY-FILE");
  auto path = tmp.write("kube/config", kubeconfig(tmp / "elsewhere/ca.pem"));
  auto r = kube::load_kubeconfig(path, "file");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  CHECK(r->ca_pem == "CA-FILE");
  CHECK(r->client_cert_pem == "CERT-FILE");
  CHECK(r->client_key_pem == "KEY-FILE");

  auto insecure = kube::load_kubeconfig(path, "insecure");
  REQUIRE(insecure);
  CHECK(insecure->token_file == tmp / "kube/secrets/token");

  auto missing_context = kube::load_kubeconfig(path, "nowhere");
  REQUIRE_FALSE(missing_context);
  CHECK_THAT(missing_context.error().message, Catch::Contains(path.string()) && Catch::Contains("nowhere"));
  auto missing_file = kube::load_kubeconfig(tmp / "kube/absent");
  REQUIRE_FALSE(missing_file);
  CHECK_THAT(missing_file.error().message, Catch::Contains("absent"));
}

TEST_CASE("in_cluster reads the service account of a pod", "[kubeconfig]") {
  test::TempDir tmp;
  const fs::path sa = tmp / "serviceaccount";
  tmp.write("serviceaccount/ca.crt", "CLUSTER-CA");
  tmp.write("serviceaccount/token", "sa-token");
  tmp.write("serviceaccount/namespace", "portcullis-system");
  tmp.write("bare/ca.crt", "CLUSTER-CA");
  const auto old_host = env_value("KUBERNETES_SERVICE_HOST");
  const auto old_port = env_value("KUBERNETES_SERVICE_PORT");

  struct Case {
    const char* name;
    std::optional<std::string> host, port;
    fs::path root;
    std::string server;  // "" = must fail
    std::string namespace_;
    const char* error_part;
  };
  const Case cases[] = {
      {"host and port", "10.96.0.1", "6443", sa, "https://10.96.0.1:6443", "portcullis-system", ""},
      {"default port", "10.96.0.1", std::nullopt, sa, "https://10.96.0.1:443", "portcullis-system", ""},
      {"empty port", "10.96.0.1", "", sa, "https://10.96.0.1:443", "portcullis-system", ""},
      {"IPv6 host", "fd00::1", "443", sa, "https://[fd00::1]:443", "portcullis-system", ""},
      {"no namespace file", "kubernetes.default.svc", "443", tmp / "bare", "https://kubernetes.default.svc:443", "default",
       ""},
      {"not in a cluster", std::nullopt, "443", sa, "", "", "KUBERNETES_SERVICE_HOST"},
      {"empty host", "", "443", sa, "", "", "KUBERNETES_SERVICE_HOST"},
      {"no CA file", "10.96.0.1", "443", tmp / "missing", "", "", "ca.crt"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    ScopedEnv env({{"KUBERNETES_SERVICE_HOST", c.host}, {"KUBERNETES_SERVICE_PORT", c.port}});
    auto r = kube::in_cluster(c.root);
    if (c.server.empty()) {
      CHECK_FALSE(r);
      if (r) continue;
      CHECK_THAT(r.error().message, Catch::Contains(c.error_part));
      continue;
    }
    INFO((r ? std::string() : r.error().message));
    CHECK(r);
    if (!r) continue;
    CHECK(r->server == c.server);
    CHECK(r->ca_pem == "CLUSTER-CA");
    CHECK(r->token_file == c.root / "token");
    CHECK(r->token.empty());
    CHECK(r->namespace_ == c.namespace_);
    CHECK(r->context == "in-cluster");
    CHECK_FALSE(r->insecure_skip_verify);
  }
  CHECK(env_value("KUBERNETES_SERVICE_HOST") == old_host);
  CHECK(env_value("KUBERNETES_SERVICE_PORT") == old_port);
}
