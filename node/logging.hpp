#pragma once
// spdlog setup: one logger per component ("node", "coordinator", "gateway", "shard"), all to
// stderr, tagged with the node name. Tokens and request text are never logged.
#include <string>

namespace tessera {

void setup_logging(const std::string& node_name, const std::string& level);

}  // namespace tessera
