#pragma once
// The gateway: Cap'n Proto RPC server that clients talk to. It runs on one kj event-loop
// thread, authenticates tokens, checks cheap limits, and hands every call to the coordinator
// through the bridge (node/bridge.hpp). Errors reach clients as typed exceptions; no bad input
// closes a connection, except a message larger than the transport limit below.
#include <memory>
#include <string>

#include <kj/async-io.h>
#include <caf/actor_system.hpp>

#include "actors/coordinator.hpp"
#include "node/config.hpp"
#include "node/gateway_tls.hpp"

namespace tessera {

struct gateway_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Largest RPC message accepted, in bytes; larger ones close that connection.
  uint64_t max_message_bytes = uint64_t{512} << 20;
  // Client TLS (node/gateway_tls.hpp); off when tls.cert is empty.
  gateway_tls_options tls;
};

// Serves on the calling thread (which must own `io`) until `stop` resolves. Calls `on_listen`
// once the socket is bound, with the actual port.
void run_gateway(caf::actor_system& sys, coordinator_actor coord, const cluster_config& cfg,
                 const gateway_options& opts, kj::AsyncIoContext& io, kj::Promise<void> stop,
                 std::function<void(uint16_t)> on_listen = {});

}  // namespace tessera
