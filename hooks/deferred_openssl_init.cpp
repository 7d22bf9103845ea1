// Linked into the `portcullis` executable only (never into the library or `portcullisd`).
//
// Debian's compiled cpp-httplib calls OPENSSL_init_ssl() from a static constructor, so every
// process that links it pays for OpenSSL's full initialisation (every cipher and digest name
// added to its tables, openssl.cnf read) before main(): about a third of the start-up of
// `portcullis hook pre-receive`, which never opens a TLS connection (bench/profile.sh,
// docs/performance.md). OpenSSL 1.1 and later initialise themselves on first use
// (SSL_CTX_new() calls OPENSSL_init_ssl() itself), so the executable defines OPENSSL_init_ssl
// and, by ELF symbol interposition, the constructor's call lands here: before main() the
// options are remembered and nothing is done; from main() on, every call goes to libssl's own
// function with the remembered options added, so whoever needs TLS gets exactly the
// initialisation the constructor asked for, only later. Should libssl's function not be
// found, the call fails (returns 0) and so does whatever wanted TLS: fail closed.
#include <dlfcn.h>

#include <atomic>
#include <cstdint>

namespace {

std::atomic<bool> g_main_started{false};
std::atomic<std::uint64_t> g_deferred_options{0};

// Runs after the constructors of the shared libraries (theirs run first), before main().
[[gnu::constructor]] void mark_main_started() { g_main_started.store(true); }

using InitSsl = int (*)(std::uint64_t, const void*);

InitSsl libssl_init() {
  static const InitSsl real = [] {
    void* sym = dlvsym(RTLD_NEXT, "OPENSSL_init_ssl", "OPENSSL_3.0.0");
    if (sym == nullptr) sym = dlsym(RTLD_NEXT, "OPENSSL_init_ssl");
    return reinterpret_cast<InitSsl>(sym);
  }();
  return real;
}

}  // namespace

extern "C" int OPENSSL_init_ssl(std::uint64_t options, const void* settings) {
  if (!g_main_started.load()) {
    g_deferred_options.fetch_or(options);
    return 1;
  }
  InitSsl real = libssl_init();
  if (real == nullptr) return 0;
  return real(options | g_deferred_options.exchange(0), settings);
}
