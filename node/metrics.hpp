#pragma once
// The text of a node's /metrics (Prometheus text format 0.0.4), from what its actors answered.
// Pure formatting: node/http_endpoints.cpp does the asking. docs/DEPLOY.md lists every metric.
#include <cstdint>
#include <string>

#include "actors/coordinator_types.hpp"
#include "actors/messages.hpp"
#include "node/node_transport_stats.hpp"
#include "node/ssl_error_queue.hpp"

namespace tessera {

struct node_scrape {
  uint64_t rss_bytes = 0;  // this process
  bool has_node = false;   // the process runs a node actor (shard role)
  // Its health answer; null when it did not answer in time (tessera_scrape_ok says so).
  const node_status* node = nullptr;
  bool has_coordinator = false;                      // the process runs the coordinator
  const coordinator_metrics* coordinator = nullptr;  // null: it did not answer in time
  // The gateway's counters (coordinator only; node/gateway_stats.hpp); null = no gateway.
  struct gateway_figures {
    uint64_t connections = 0, refused_quota = 0, refused_memory = 0, failed_logins = 0;
    uint64_t refused_inflight = 0;
    uint64_t tls_handshake_failures = 0;
    uint64_t refused_connections_cap = 0, refused_connections_prelogin = 0;
    uint64_t refused_connections_tls_source = 0;
    uint64_t refused_logins_connection = 0, refused_logins_source = 0;
    uint64_t request_bytes_held = 0, request_byte_waits = 0;
    uint64_t paced_slices = 0;
  };
  const gateway_figures* gateway = nullptr;
  // Failed node-to-node TLS handshakes of this process; null when nodes speak plain BASP.
  const node_tls_failures* node_tls = nullptr;
  // The node transport's counters; null when nodes speak plain BASP.
  const node_transport_stats* transport = nullptr;
};

std::string metrics_text(const node_scrape& s);

}  // namespace tessera
