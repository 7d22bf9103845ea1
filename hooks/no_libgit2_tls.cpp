// Linked into the `portcullis` executable only (never into the library or `portcullisd`).
//
// Debian's libgit2 is built with mbedTLS and parses the whole system CA bundle inside
// git_libgit2_init(): two thirds of the hook's time for a one-file push (bench/profile.sh).
// `portcullis` never uses libgit2 for network access (the hook reads local objects; `schemas
// import` talks HTTPS through OpenSSL), so the executable defines the two mbedTLS loaders
// itself and, by ELF symbol interposition, libgit2 calls these. They load nothing: should
// libgit2 ever open a TLS connection in this process, verification fails closed (no trusted
// CA), it never succeeds without one.
extern "C" {

int mbedtls_x509_crt_parse_file(void* /*chain*/, const char* /*path*/) { return 0; }
int mbedtls_x509_crt_parse_path(void* /*chain*/, const char* /*path*/) { return 0; }

}
