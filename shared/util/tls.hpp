#pragma once
// Internal helper for .cpp files that talk TLS through cpp-httplib: include it only from
// implementation files (it exposes OpenSSL types).
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string_view>

namespace portcullis::util {

// An X509_STORE holding every certificate in `pem`, or nullptr when it holds none. The
// caller owns it (httplib's set_ca_cert_store takes ownership).
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

}  // namespace portcullis::util
