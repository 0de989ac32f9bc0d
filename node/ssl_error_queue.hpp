#pragma once
// A fix for CAF 0.17.6's OpenSSL module, linked into every node process.
//
// OpenSSL's SSL_get_error() reads the calling thread's error queue, which must be empty before
// each SSL I/O call (SSL_read(3)). CAF's session code never clears it, and all of a node's TLS
// connections run on the one multiplexer thread. So one failed handshake (a stranger without a
// certificate, a peer of another CA, even a TCP connect that closes at once) leaves an error
// queued, and the next ordinary "want read" on a healthy member connection is taken for a
// fatal error: the node drops its peers, which drop theirs (measured: one `openssl s_client`
// without a certificate against one shard made the coordinator lose every member).
//
// This file defines SSL_read, SSL_write, SSL_connect and SSL_accept in the executable; the
// dynamic linker binds libcaf_openssl's calls to them (a definition in the executable interposes
// on the shared library's). Each clears the thread's error queue and calls OpenSSL's own.
//
// The handshake wrappers also count failed node-to-node handshakes for /metrics: a call that
// ends in anything but success or "want read/write" (what CAF then treats as a failed
// connection), once per connection. The gateway's kj-tls calls SSL_accept too, so an accepted
// connection counts only when its local port is the node's CAF port. The counters are the
// process's own (atomics), as the interposed functions are; reading them is thread-safe.
#include <cstdint>

namespace tessera {

// True when CAF's SSL calls reach the wrappers (checked through the dynamic linker). Calling it
// also keeps the wrappers' object file in the link.
bool ssl_error_queue_fix_active();

// Failed TLS handshakes between nodes since the process started: inbound (a peer connecting to
// this node's CAF port) and outbound (this node connecting to a member).
struct node_tls_failures {
  uint64_t inbound = 0;
  uint64_t outbound = 0;
};
node_tls_failures node_tls_handshake_failures();

// Counts inbound failures on local port `caf_port` from now on (outbound ones always count).
void count_inbound_handshakes_on(uint16_t caf_port);

}  // namespace tessera
