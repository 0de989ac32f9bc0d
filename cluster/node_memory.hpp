#pragma once
// A shard node's memory account: what its `memory_budget` bounds. The budget bounds the
// process's resident memory, not only its replicas:
//
//   overhead  + reserved rows      + reserved scratch  <= budget
//   (RSS not    (every replica      (one checksum block per load still reading, when its
//   rows held)  loading or ready)   range does not start and end on block edges)
//
// `overhead` is measured, not configured: RSS minus the rows the node holds right now (the
// process, CAF, thread stacks, allocator caches, network buffers). It is measured again at
// each load, so a node whose baseline grew takes on less. Rows a load has not read yet are
// reserved in full before the read starts, so a load never pushes RSS past the budget by
// more than the measurement's noise.
//
// A plain value: the node actor owns one and uses it from its own thread only.
#include <cstdint>
#include <string>

#include "base/errors.hpp"

namespace tessera {

struct node_memory {
  uint64_t budget = 0;    // bytes; 0 = unlimited
  uint64_t reserved = 0;  // rows and bias of every replica here, loading or ready
  uint64_t scratch = 0;   // scratch blocks of the loads still reading

  // RSS minus the rows held now (`held`: ready replicas whole, loading ones as far as read);
  // 0 when RSS is below them (pages not touched yet).
  static uint64_t overhead_of(uint64_t rss, uint64_t held);

  // Whether a replica of `bytes` whose read needs `scratch_bytes` fits next to what is here
  // and `overhead`. Ok, or insufficient_memory naming node, replica and every figure.
  caf::error admit(uint64_t bytes, uint64_t scratch_bytes, uint64_t overhead,
                   const std::string& node, const std::string& replica) const;
};

}  // namespace tessera
