#pragma once
// A small native Kubernetes API client over HTTPS (cpp-httplib + OpenSSL). TLS is verified
// unless the kubeconfig says insecure-skip-tls-verify.
#include <chrono>
#include <functional>
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

  // Accept header asking for an object's metadata only (PartialObjectMetadata): what a client
  // that needs the uid or resourceVersion of what it wrote should ask for, instead of the whole
  // object back. A server that cannot answer so says 406 before doing anything.
  static constexpr std::string_view k_accept_metadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

  // GET `path` ("/openapi/v2"). Transport failures are errors; HTTP errors are responses.
  util::Result<Response> get(std::string_view path, std::string_view accept = "application/json");

  enum class Method { get, post, put, patch, del };
  // Any request; `content_type` applies to `body`. One Client carries one keep-alive
  // connection and is not for concurrent use: make one per worker.
  util::Result<Response> request(Method method, std::string_view path, std::string_view body = {},
                                 std::string_view content_type = "application/json",
                                 std::string_view accept = "application/json");

  // Streams a long GET (a watch): `on_chunk` gets the body as it arrives and returns false to
  // stop. Returns the final status.
  util::Result<int> stream(std::string_view path, const std::function<bool(std::string_view)>& on_chunk);

  // Aborts a request in progress on another thread (a stream blocked waiting for data).
  void cancel();

  // Per-request read timeout (default 60 s).
  void set_timeout(std::chrono::milliseconds timeout);

  const Connection& connection() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::kube
