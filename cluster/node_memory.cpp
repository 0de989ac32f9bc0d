#include "cluster/node_memory.hpp"

namespace tessera {

uint64_t node_memory::overhead_of(uint64_t rss, uint64_t held) {
  return rss > held ? rss - held : 0;
}

caf::error node_memory::admit(uint64_t bytes, uint64_t scratch_bytes, uint64_t overhead,
                              const std::string& node, const std::string& replica) const {
  if (budget == 0) return caf::none;
  // Summed with overflow checks: the figures come from packages, which may lie.
  uint64_t need = 0;
  if (__builtin_add_overflow(bytes, scratch_bytes, &need) ||
      __builtin_add_overflow(need, reserved, &need) ||
      __builtin_add_overflow(need, scratch, &need) ||
      __builtin_add_overflow(need, overhead, &need) || need > budget) {
    const uint64_t taken = reserved + scratch + overhead;
    const uint64_t free = taken < budget ? budget - taken : 0;
    return make_error(errc::insufficient_memory,
                      "node " + node + " needs " + std::to_string(bytes) + " bytes for " + replica +
                          " (and " + std::to_string(scratch_bytes) + " while it reads) but has " +
                          std::to_string(free) + " of its budget " + std::to_string(budget) +
                          " free: replicas hold " + std::to_string(reserved) +
                          ", loads in progress " + std::to_string(scratch) +
                          ", the process itself " + std::to_string(overhead));
  }
  return caf::none;
}

}  // namespace tessera
