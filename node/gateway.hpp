#pragma once
// The gateway: Cap'n Proto RPC server that clients talk to. It runs on one kj event-loop
// thread, authenticates tokens (node/token_hash.hpp), checks cheap limits and tenant quotas,
// and hands every call to the coordinator through the bridge (node/bridge.hpp), in slices
// (node/gateway_session.hpp). Errors reach clients as typed exceptions.
//
// Memory one client can make it hold is bounded ([limits], node/guarded_stream.hpp):
//   - before login, a message over max_prelogin_bytes closes the connection, and a connection
//     that has not logged in within 10 s is closed;
//   - after login, a message over max_message_bytes closes the connection;
//   - a connection with max_calls_per_connection calls unanswered, or whose answers are not
//     being read, is not read from until that changes (backpressure to the client);
//   - at most max_connections connections (and 128 fewer than the fd limit) are open; more are
//     accepted and closed at once, and accept failures are retried, never fatal.
#include <memory>
#include <string>

#include <kj/async-io.h>
#include <caf/actor_system.hpp>

#include "actors/control.hpp"
#include "node/actor_watch.hpp"
#include "node/config.hpp"
#include "node/gateway_stats.hpp"
#include "node/gateway_tls.hpp"

namespace tessera {

struct gateway_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Client TLS (node/gateway_tls.hpp); off when tls.cert is empty.
  gateway_tls_options tls;
  // Counters for /metrics, written by the gateway thread (null = none); outlives run_gateway.
  gateway_stats* stats = nullptr;
  // Watches the gateway's bridge actor (null = none): its death ends the process.
  actor_watch* watch = nullptr;
};

// Serves on the calling thread (which must own `io`) until `stop` resolves. Calls `on_listen`
// once the socket is bound, with the actual port.
void run_gateway(caf::actor_system& sys, const coordinator_handles& coord,
                 const cluster_config& cfg, const gateway_options& opts, kj::AsyncIoContext& io,
                 kj::Promise<void> stop, std::function<void(uint16_t)> on_listen = {});

}  // namespace tessera
