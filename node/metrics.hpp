#pragma once
// The text of a node's /metrics (Prometheus text format 0.0.4), from what its actors answered.
// Pure formatting: node/http_endpoints.cpp does the asking. docs/DEPLOY.md lists every metric.
#include <cstdint>
#include <string>

#include "actors/coordinator_types.hpp"
#include "actors/messages.hpp"

namespace tessera {

struct node_scrape {
  uint64_t rss_bytes = 0;  // this process
  bool has_node = false;   // the process runs a node actor (shard role)
  // Its health answer; null when it did not answer in time (tessera_scrape_ok says so).
  const node_status* node = nullptr;
  bool has_coordinator = false;                      // the process runs the coordinator
  const coordinator_metrics* coordinator = nullptr;  // null: it did not answer in time
};

std::string metrics_text(const node_scrape& s);

}  // namespace tessera
