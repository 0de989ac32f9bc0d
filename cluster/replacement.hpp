#pragma once
// Re-placement: where the replicas of a node that stayed down go. A pure function, like
// place_model, but over shards that already exist: their row ranges are kept, only new copies
// ("spares") are given nodes, so the survivors load exactly the rows the lost node held.
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/placement.hpp"

namespace tessera {

// One shard that lacks `missing` replicas.
struct spare_need {
  std::string shard;                 // for messages: "model v1 tensor[0:10)"
  uint64_t bytes = 0;                // bytes of one replica
  uint32_t missing = 0;              // copies to place
  std::vector<std::string> holders;  // nodes that hold (or will get back) a copy: never chosen
};

struct spare_choice {
  size_t need = 0;  // index into the needs
  std::string node;
};

struct spare_plan {
  std::vector<spare_choice> placed;
  // Per need, the copies that found no node with room (same order as the needs; 0 = all
  // placed).
  std::vector<uint32_t> unplaced;
};

// Places each need's missing copies on `members` (the live shard nodes): never on a holder,
// never two copies of a shard on one node, each node within its free bytes (budget - used,
// minus what this plan gave it). Largest shards first (a small one fits in what is left);
// each copy goes to the node with the most free bytes left, ties by member order.
// Deterministic. A copy that fits nowhere is counted in `unplaced`; the others are still
// placed (partial re-placement beats none).
spare_plan place_spares(const std::vector<spare_need>& needs,
                        const std::vector<placement_member>& members);

}  // namespace tessera
