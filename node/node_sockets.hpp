#pragma once
// Socket and TLS helpers of the node transport (node/node_transport.hpp). Thread-safe (no
// shared state); each clears OpenSSL's error queue where it calls OpenSSL.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <openssl/ssl.h>

namespace tessera {

void set_nonblocking(int fd);

// TCP_NODELAY: BASP messages are written as they are ready; with Nagle's algorithm a small
// message behind an unacknowledged one waited for the peer's delayed ACK (40 ms on Linux).
void set_nodelay(int fd);

// OpenSSL's queued errors as one string (the queue cleared).
std::string ssl_errors();

// The numeric address of an IPv4 or IPv6 socket address ("" otherwise).
std::string address_of(const sockaddr_storage& a);

// The local port of an IPv4 socket; 0 on error.
uint16_t local_port_of(int fd);

// Whether the peer of a finished handshake presented a certificate that verified and names
// `name` as CN and (DNS SAN or, without SANs, CN); else `why` says what it names.
bool peer_is(SSL* ssl, const std::string& name, std::string& why);

// Waits until `fd` is ready for `events` or `deadline`; false on timeout or error.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline);

// A connected, non-blocking loopback TCP pair no other process can enter (the listener lives
// only while it accepts, and only the pair's own peer port is taken): {first, second}, or
// {-1, -1}. Both fds belong to the caller.
std::pair<int, int> loopback_pair();

}  // namespace tessera
