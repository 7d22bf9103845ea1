#pragma once
// A small native Kubernetes API client over HTTPS (cpp-httplib + OpenSSL). TLS is verified
// unless the kubeconfig says insecure-skip-tls-verify.
#include <memory>
#include <string>
#include <string_view>

#include "shared/kube/kubeconfig.hpp"
#include "shared/util/error.hpp"

namespace portcullis::kube {

struct Response {
  int status = 0;
  std::string body;
  std::string content_type;
};

class Client {
 public:
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Fails when the certificates or the server URL cannot be used.
  static util::Result<Client> connect(const Connection& connection);

  // GET `path` ("/openapi/v2"). Transport failures are errors; HTTP errors are responses.
  util::Result<Response> get(std::string_view path, std::string_view accept = "application/json");

  const Connection& connection() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::kube
