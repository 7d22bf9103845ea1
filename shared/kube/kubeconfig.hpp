#pragma once
// Where a Kubernetes API server is and how to authenticate to it: kubeconfig files (the
// subset kubectl users rely on) and in-cluster service-account configuration.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "shared/util/error.hpp"

namespace portcullis::kube {

struct Connection {
  std::string server;            // https://host:port
  std::string ca_pem;            // certificate authority (PEM); empty: the system's trust store
  bool insecure_skip_verify = false;
  std::string client_cert_pem;   // client certificate and key (PEM), both or neither
  std::string client_key_pem;
  std::string token;             // bearer token
  std::filesystem::path token_file;  // re-read on every request (service-account tokens rotate)
  std::string username, password;    // basic auth (rare)
  std::string namespace_ = "default";
  std::string context;               // the context used, for messages
};

// Reads `path` and resolves `context` (empty: current-context). File references inside the
// kubeconfig resolve against its directory. Fails naming what is missing.
util::Result<Connection> load_kubeconfig(const std::filesystem::path& path, std::string_view context = {});
util::Result<Connection> parse_kubeconfig(std::string_view text, const std::filesystem::path& base_dir,
                                          std::string_view context = {});

// The service-account configuration of a pod ($KUBERNETES_SERVICE_HOST and
// /var/run/secrets/kubernetes.io/serviceaccount, or `root` in tests).
util::Result<Connection> in_cluster(const std::filesystem::path& root = "/var/run/secrets/kubernetes.io/serviceaccount");

// Decodes standard base64 (the *-data fields). nullopt on invalid input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace portcullis::kube
