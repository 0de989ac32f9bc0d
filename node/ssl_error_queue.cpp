#include "node/ssl_error_queue.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>

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

std::atomic<uint64_t> failed_inbound{0}, failed_outbound{0};
std::atomic<uint32_t> inbound_port{0};  // 0: not counting inbound handshakes

uint16_t local_port(SSL* s) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int fd = SSL_get_fd(s);
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

// Counts `s`'s handshake when `ret` ended it in failure; once per connection (CAF may
// call again on a failed one). Only failures pay for more than the comparison.
void count_failure(SSL* s, int ret, bool inbound) {
  if (ret == 1) return;
  int e = SSL_get_error(s, ret);  // reads the queue without clearing it: CAF reads it next
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  static const int counted = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  if (counted < 0 || SSL_get_ex_data(s, counted) != nullptr) return;
  if (inbound) {
    auto port = inbound_port.load(std::memory_order_relaxed);
    if (port == 0 || local_port(s) != port) return;  // not a node connection: the gateway's
  }
  SSL_set_ex_data(s, counted, s);
  (inbound ? failed_inbound : failed_outbound).fetch_add(1, std::memory_order_relaxed);
}

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
  int ret = real(s);
  count_failure(s, ret, false);
  return ret;
}

int SSL_accept(SSL* s) {
  static const auto real = next_definition<hs_fn>("SSL_accept");
  ERR_clear_error();
  int ret = real(s);
  count_failure(s, ret, true);
  return ret;
}

}  // extern "C"

namespace tessera {

node_tls_failures node_tls_handshake_failures() {
  return {failed_inbound.load(std::memory_order_relaxed),
          failed_outbound.load(std::memory_order_relaxed)};
}

void count_inbound_handshakes_on(uint16_t caf_port) {
  inbound_port.store(caf_port, std::memory_order_relaxed);
}

bool ssl_error_queue_fix_active() {
  void* bound = ::dlsym(RTLD_DEFAULT, "SSL_read");
  return bound == reinterpret_cast<void*>(&SSL_read) &&
         next_definition<io_fn>("SSL_read") != nullptr;
}

}  // namespace tessera
