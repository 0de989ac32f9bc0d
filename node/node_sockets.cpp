#include "node/node_sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace tessera {

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string ssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string address_of(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
  else if (a.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, buf, sizeof buf);
  return buf;
}

uint16_t local_port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

// The peer's certificate names `name` (CN and a DNS SAN or, without SANs, the CN); the chain
// was verified by OpenSSL during the handshake.
bool peer_is(SSL* ssl, const std::string& name, std::string& why) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    why = "certificate not verified";
    return false;
  }
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) {
    why = "no certificate";
    return false;
  }
  char cn[256] = {0};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  std::string cn_s = n > 0 ? std::string(cn, static_cast<size_t>(n)) : std::string{};
  bool ok = cn_s == name && X509_check_host(cert, name.c_str(), name.size(), 0, nullptr) == 1;
  X509_free(cert);
  ERR_clear_error();
  if (!ok) why = "certificate of '" + cn_s + "', not of '" + name + "'";
  return ok;
}

// Waits until `fd` is ready for `events` or `deadline`; false on timeout or error.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), INT_MAX)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// A connected loopback TCP pair no other process can enter: {pump end, CAF end}.
std::pair<int, int> loopback_pair() {
  int lst = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lst < 0) return {-1, -1};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lst, 8) != 0 ||
      ::getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(lst);
    return {-1, -1};
  }
  int one = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (one < 0 || ::connect(one, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (one >= 0) ::close(one);
    ::close(lst);
    return {-1, -1};
  }
  const uint16_t mine = local_port_of(one);
  int other = -1;
  for (int tries = 0; tries < 16 && other < 0; ++tries) {
    sockaddr_in p{};
    socklen_t plen = sizeof p;
    int fd = ::accept4(lst, reinterpret_cast<sockaddr*>(&p), &plen, SOCK_CLOEXEC);
    if (fd < 0) break;
    if (p.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(p.sin_port) == mine)
      other = fd;
    else
      ::close(fd);  // someone else raced into the listener
  }
  ::close(lst);
  if (other < 0) {
    ::close(one);
    return {-1, -1};
  }
  set_nonblocking(one);
  set_nonblocking(other);
  set_nodelay(one);
  set_nodelay(other);
  return {one, other};
}

}  // namespace tessera
