#pragma once
// The node transport's counters (node/node_transport.hpp), apart from the transport itself so
// that /metrics (node/metrics.hpp) can show them without CAF's I/O headers. A snapshot; the
// transport reads its atomics into one from any thread.
#include <cstdint>

namespace tessera {

struct node_transport_stats {
  uint64_t refused_handshakes = 0;  // failed, timed out or naming another node
  uint64_t shed_connections = 0;    // closed at once: over a bound or out of fds
  uint64_t closed_by_guard = 0;     // connections a BASP frame closed
  uint64_t dropped_commands = 0;    // a member's messages that answer no request (dropped)
};

}  // namespace tessera
