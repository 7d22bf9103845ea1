#pragma once
// Internal helper for .cpp files that talk TLS through cpp-httplib: include it only from
// implementation files (it exposes OpenSSL types).
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <string_view>

namespace portcullis::util {

// An X509_STORE holding every certificate in `pem`, or nullptr when it holds none. The
// caller owns it (trust_only takes ownership).
inline X509_STORE* make_ca_store(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return nullptr;
  X509_STORE* store = X509_STORE_new();
  int added = 0;
  while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    ++added;
  }
  BIO_free(bio);
  if (!added) {
    X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

// Makes the connections of `ctx` trust the certificates of `store` alone (it takes ownership)
// and require a server certificate that names `host` (a DNS name or an IP address): the
// handshake fails otherwise. For cpp-httplib clients, call it with httplib's own verification
// off: with it on, httplib's first handshake loads the system's CA bundle into the context's
// store (SSLClient::load_certs calls SSL_CTX_set_default_verify_paths), which trusts every
// public CA besides `store` and costs ~30 ms of CPU and ~1 MB of memory per client.
inline void trust_only(SSL_CTX* ctx, X509_STORE* store, const std::string& host) {
  SSL_CTX_set_cert_store(ctx, store);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  std::string bare = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  if (X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str()) != 1) X509_VERIFY_PARAM_set1_host(param, bare.c_str(), bare.size());
}

}  // namespace portcullis::util
