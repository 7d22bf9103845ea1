// Linked into `portcullis-hook` when it is linked statically (PORTCULLIS_STATIC_HOOK) instead of
// no_libgit2_tls.cpp, whose ELF interposition cannot replace a function of a static archive: the
// same three replacements through the linker's --wrap (every call to `f` lands on `__wrap_f`).
//
// libgit2 parses the system CA bundle in git_libgit2_init() and initialises libssh2 (and with
// it OpenSSL's crypto library); the hook never opens a network connection, so these do nothing.
// Should libgit2 ever open a TLS connection here, no CA is trusted and verification fails
// closed; should libssh2 be used, OpenSSL initialises itself on first use.
extern "C" {

int __wrap_mbedtls_x509_crt_parse_file(void* /*chain*/, const char* /*path*/) { return 0; }
int __wrap_mbedtls_x509_crt_parse_path(void* /*chain*/, const char* /*path*/) { return 0; }
int __wrap_libssh2_init(int /*flags*/) { return 0; }

// libgit2's HTTP transport can authenticate with Kerberos (SPNEGO) through GSSAPI, whose library
// comes only as a shared object, with six more behind it. The hook never uses that transport:
// every GSSAPI call fails (GSS_S_FAILURE), so such an authentication could only fail.
using OM_uint32 = unsigned int;
constexpr OM_uint32 k_gss_failure = 13u << 16;

struct gss_OID_desc_stub {
  OM_uint32 length;
  void* elements;
};
gss_OID_desc_stub* GSS_C_NT_HOSTBASED_SERVICE = nullptr;

OM_uint32 gss_display_status(OM_uint32*, OM_uint32, int, void*, OM_uint32*, void*) { return k_gss_failure; }
OM_uint32 gss_release_buffer(OM_uint32*, void*) { return k_gss_failure; }
OM_uint32 gss_delete_sec_context(OM_uint32*, void*, void*) { return k_gss_failure; }
OM_uint32 gss_import_name(OM_uint32*, void*, void*, void*) { return k_gss_failure; }
OM_uint32 gss_release_name(OM_uint32*, void*) { return k_gss_failure; }
OM_uint32 gss_indicate_mechs(OM_uint32*, void**) { return k_gss_failure; }
OM_uint32 gss_release_oid_set(OM_uint32*, void**) { return k_gss_failure; }
OM_uint32 gss_init_sec_context(OM_uint32*, void*, void*, void*, void*, OM_uint32, OM_uint32, void*, void*,
                               void*, void*, OM_uint32*, OM_uint32*) {
  return k_gss_failure;
}

}
