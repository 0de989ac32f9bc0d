#pragma once
// One tessera-node process: its CAF system, its node actor (shard role), and the coordinator
// with the gateway (coordinator role). Runs until SIGINT or SIGTERM, then stops its actors.
#include <string>

#include "node/config.hpp"

namespace tessera {

// Returns the process exit code.
int run_node(const cluster_config& cfg, const std::string& name);

}  // namespace tessera
