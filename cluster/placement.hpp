#pragma once
// Placement: which node holds which replica of which row range. A pure function of sizes,
// members and the replication factor; it never places two replicas of one shard on one node
// and refuses, before anything loads, a model that does not fit.
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/errors.hpp"
#include "cluster/sharding.hpp"

namespace tessera {

struct placement_member {
  std::string name;
  uint64_t budget_bytes = 0;  // 0 = unlimited
  uint64_t used_bytes = 0;    // already reserved by loaded replicas
  uint64_t free_bytes() const;
};

struct placement_tensor {
  std::string name;
  uint64_t rows = 0;
  uint64_t row_bytes = 0;  // bytes per row held by a replica (weights plus bias)
};

struct shard_assignment {
  std::string tensor;
  size_t shard = 0;  // index of the range within its tensor
  row_range rows;
  uint64_t bytes = 0;              // bytes of one replica
  std::vector<std::string> nodes;  // one per replica, all distinct
};

// Splits every tensor into one range per member (fewer when it has fewer rows) and puts
// replica r of range i on member (i + r + t) % n, t being the tensor's index, so small
// layers spread over the nodes. Members must be the live shard nodes.
// Errors: invalid_argument (R = 0, R > members, no members); insufficient_memory with the
// bytes needed against the bytes free for every node that would overflow.
caf::expected<std::vector<shard_assignment>> place_model(
    const std::vector<placement_tensor>& tensors, const std::vector<placement_member>& members,
    uint32_t replicas);

}  // namespace tessera
