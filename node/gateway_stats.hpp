#pragma once
// Counters of the gateway that /metrics shows. The gateway's kj thread writes them (mirroring
// its own single-threaded counters), the HTTP thread reads them: atomics, relaxed order, since
// each is read on its own. Owned by the node process; outlives both threads.
#include <atomic>
#include <cstdint>

namespace tessera {

struct gateway_stats {
  std::atomic<uint64_t> connections{0};       // client connections open now
  std::atomic<uint64_t> refused_quota{0};     // calls refused by tenant quotas or shedding
  std::atomic<uint64_t> refused_memory{0};    // calls refused while over the memory budget
  std::atomic<uint64_t> refused_inflight{0};  // calls refused over [limits] max_inflight
  std::atomic<uint64_t> failed_logins{0};     // authenticate calls with a wrong token
  // Connections closed at once: over the connection cap, or over the pre-login bounds (per
  // source or in all).
  std::atomic<uint64_t> refused_connections_cap{0};
  std::atomic<uint64_t> refused_connections_prelogin{0};
  // Closed before their TLS handshake: max_prelogin_per_source handshakes from that address
  // were under way (node/gateway_tls.hpp).
  std::atomic<uint64_t> refused_connections_tls_source{0};
  // authenticate calls refused unhashed: the connection had used its tries, or its source
  // address is over its failed logins per minute.
  std::atomic<uint64_t> refused_logins_connection{0};
  std::atomic<uint64_t> refused_logins_source{0};
  std::atomic<uint64_t> request_bytes_held{0};  // request message bytes held now, all clients
  std::atomic<uint64_t> request_byte_waits{0};  // reads held back until their bytes fit
  // Low-priority slices that waited for their slot (cluster/priority_pacer.hpp).
  std::atomic<uint64_t> paced_slices{0};
  // Client connections whose TLS handshake failed or timed out (node/gateway_tls.hpp); written
  // by the TLS listener on the gateway's thread.
  std::atomic<uint64_t> tls_handshake_failures{0};
};

}  // namespace tessera
