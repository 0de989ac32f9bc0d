#pragma once
// Client TLS at the gateway (kj-tls): the [gateway] files, checked before the node starts, and
// a listener that completes each connection's TLS handshake before the gateway sees it.
//
// Handshakes run concurrently on the gateway's event-loop thread. One that fails (a plaintext
// client, a client that does not trust our certificate, a missing or foreign client
// certificate under mTLS, garbage) or that is unfinished after handshake_timeout ends its own
// connection only; the gateway goes on accepting. Failures are logged at debug level, and at
// info level as one line per minute at most with the count since the last one, and counted
// for /metrics.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <kj/async-io.h>
#include <kj/compat/tls.h>
#include <kj/timer.h>

#include "base/errors.hpp"
#include "node/config.hpp"

namespace tessera {

struct gateway_tls_options {
  // Absolute paths of PEM files; cert empty = plaintext (no other field is used then).
  std::string cert;       // server certificate, optionally followed by its chain
  std::string key;        // its private key, unencrypted
  std::string client_ca;  // one or more CA certificates; set = client certificates required
  std::chrono::milliseconds handshake_timeout{10000};
  // Handshakes under way, plus finished ones the gateway has not taken yet, at once. At this
  // many the listener stops accepting until one ends; the kernel's backlog holds the rest.
  size_t max_pending = 256;
  // ... of them from one source address; a connection past it is closed at once, before any
  // TLS byte, so one address holding silent connections cannot take every handshake slot
  // (the gateway sets [limits] max_prelogin_per_source). 0 = no bound per source.
  size_t max_pending_per_source = 0;
  bool enabled() const { return !cert.empty(); }
};

// [gateway] as options: relative paths resolved like [tls] dir (resolve_state_path).
gateway_tls_options gateway_tls_options_of(const gateway_config& cfg);

// Checks, before the node starts, what kj-tls would otherwise find out at the first client:
// every file is readable PEM, the key belongs to the certificate, the client CA file holds a
// certificate. caf::none when TLS is off. Error: io_error or invalid_argument naming the file.
caf::error check_gateway_tls(const gateway_tls_options& opts);

// `plain` itself when TLS is off. Otherwise a listener whose accept() yields only connections
// whose TLS handshake (and, with client_ca, client certificate check) has completed; only one
// accept() may be pending at a time. Logs the TLS settings once. Must be called, used and
// destroyed on the thread that owns `timer`'s event loop; `timer` must outlive the listener,
// and so must `failures` (may be null), which counts every failed or timed-out handshake, and
// `refused` (may be null), which counts connections closed over max_pending_per_source.
// Throws kj::Exception when the files cannot be loaded (check_gateway_tls first).
kj::Own<kj::ConnectionReceiver> secure_listener(kj::Own<kj::ConnectionReceiver> plain,
                                                const gateway_tls_options& opts, kj::Timer& timer,
                                                std::atomic<uint64_t>* failures = nullptr,
                                                std::atomic<uint64_t>* refused = nullptr);

// Every certificate of a PEM file, each its own kj::TlsCertificate (kj trusts only the first
// certificate of one, so a CA bundle must be split). Throws kj::Exception when the file cannot
// be read or holds none.
std::vector<kj::TlsCertificate> read_pem_certificates(const std::string& path);

// The whole text of a PEM file; throws kj::Exception when it cannot be read.
kj::String read_pem_file(const std::string& path);

}  // namespace tessera
