#pragma once
// Certificates for tests of HTTPS peers, made by the openssl tool.
#include <catch2/catch.hpp>

#include <string>

#include "tests/unit/support/process.hpp"
#include "tests/unit/support/receiver.hpp"
#include "tests/unit/support/tempdir.hpp"

namespace portcullis::test {

// A self-signed certificate for IP 127.0.0.1 (no DNS name) and its key, in `tmp`.
inline TlsFiles self_signed(const TempDir& tmp, const std::string& name) {
  TlsFiles files{tmp / (name + ".crt"), tmp / (name + ".key")};
  auto r = run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-days", "2", "-subj", "/CN=portcullis-test", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", files.key.string(), "-out", files.cert.string()},
                       tmp.path());
  INFO(r.err);
  REQUIRE(r.status == 0);
  return files;
}

}  // namespace portcullis::test
