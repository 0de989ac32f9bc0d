#include "node/ssl_error_queue.hpp"

#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

// OpenSSL's own function `name`, the next definition after this executable's.
template <class F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

using io_fn = int (*)(SSL*, void*, int);
using cio_fn = int (*)(SSL*, const void*, int);
using hs_fn = int (*)(SSL*);

}  // namespace

extern "C" {

int SSL_read(SSL* s, void* buf, int num) {
  static const auto real = next_definition<io_fn>("SSL_read");
  ERR_clear_error();
  return real(s, buf, num);
}

int SSL_write(SSL* s, const void* buf, int num) {
  static const auto real = next_definition<cio_fn>("SSL_write");
  ERR_clear_error();
  return real(s, buf, num);
}

int SSL_connect(SSL* s) {
  static const auto real = next_definition<hs_fn>("SSL_connect");
  ERR_clear_error();
  return real(s);
}

int SSL_accept(SSL* s) {
  static const auto real = next_definition<hs_fn>("SSL_accept");
  ERR_clear_error();
  return real(s);
}

}  // extern "C"

namespace tessera {

bool ssl_error_queue_fix_active() {
  void* bound = ::dlsym(RTLD_DEFAULT, "SSL_read");
  return bound == reinterpret_cast<void*>(&SSL_read) &&
         next_definition<io_fn>("SSL_read") != nullptr;
}

}  // namespace tessera
