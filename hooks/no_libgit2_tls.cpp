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

// libgit2 also initialises libssh2 in git_libgit2_init() for its ssh:// transport, and libssh2
// initialises OpenSSL's crypto library and engines for it (about 5% of a hook run). The
// executable never uses that transport either: libssh2_init succeeds without doing anything.
// Should libssh2 ever be used here, it finds itself not initialised and OpenSSL initialises
// itself on first use.
extern "C" int libssh2_init(int /*flags*/) { return 0; }
