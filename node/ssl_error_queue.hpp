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
namespace tessera {

// True when CAF's SSL calls reach the wrappers (checked through the dynamic linker). Calling it
// also keeps the wrappers' object file in the link.
bool ssl_error_queue_fix_active();

}  // namespace tessera
