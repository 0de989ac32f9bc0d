#pragma once
// What a node's HTTP server answers (node/http_server.hpp), asked of its actors through the
// kj-to-CAF bridge (node/bridge.hpp) from the server's thread:
// - /metrics: Prometheus text (node/metrics.hpp) of this process, its node actor (shard role)
//   and the coordinator (coordinator role). An actor that does not answer within
//   ask_timeout leaves its metrics out and tessera_scrape_ok{actor} at 0; still 200.
// - /healthz: 200 "ok" when every actor of this process answers within ask_timeout, else 503.
// - /readyz: on the coordinator's node, 200 when every active model has a ready replica of
//   every shard on a live node (coordinator_metrics::serving; a version still loading does not
//   count, so the serving version keeps it ready), else 503. On a shard-only node, 200 when
//   its node actor answers and the coordinator has polled it within peer_timeout (it is a
//   connected member: the coordinator can place replicas on it and route to them), else 503.
// - anything else: 404.
#include <chrono>
#include <functional>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/control.hpp"
#include "actors/interfaces.hpp"
#include "node/bridge.hpp"
#include "node/gateway_stats.hpp"
#include "node/http_server.hpp"
#include "node/metrics.hpp"

namespace tessera {

struct http_endpoints_options {
  std::chrono::milliseconds ask_timeout{2000};
  // The coordinator polls members every second; three missed polls and the node is not ready.
  std::chrono::milliseconds peer_timeout{3000};
  // Nodes speak mutual TLS: /metrics shows the failed node-to-node handshakes
  // (node/ssl_error_queue.hpp).
  bool node_tls = false;
  // The node transport's counters (node/node_transport.hpp), asked at each scrape; empty when
  // nodes speak plain BASP. Any thread.
  std::function<node_transport_stats()> transport;
};

class http_endpoints final : public http_handler {
 public:
  // The bridge these endpoints ask through (its actor is watched: node/actor_watch.hpp).
  const kj_bridge& bridge() const { return bridge_; }

  // `node` and `coordinator` are this process's actors; either may be invalid (role absent).
  // `gateway` (may be null) are the counters of this process's gateway.
  http_endpoints(caf::actor_system& sys, node_actor node, control_actor coordinator,
                 const gateway_stats* gateway = nullptr, http_endpoints_options opts = {});

  kj::Promise<http_reply> get(const std::string& path) override;

 private:
  kj::Promise<http_reply> metrics();
  kj::Promise<http_reply> healthz();
  kj::Promise<http_reply> readyz();
  // The actors' answers; kj::none (null Maybe) when absent or not answered in time.
  kj::Promise<kj::Maybe<node_status>> ask_node();
  kj::Promise<kj::Maybe<coordinator_metrics>> ask_coordinator();

  kj_bridge bridge_;
  node_actor node_;
  control_actor coordinator_;
  const gateway_stats* gateway_;
  http_endpoints_options opts_;
};

}  // namespace tessera
