#pragma once
// Placement: which node holds which replica of which row range. A pure function of sizes,
// members and the replication factor; it never places two replicas of one shard on one node
// and refuses, before anything loads, a model that does not fit.
#include <cstdint>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "cluster/sharding.hpp"

namespace tessera {

struct placement_member {
  std::string name;
  uint64_t budget_bytes = 0;  // 0 = unlimited
  uint64_t used_bytes = 0;    // already reserved by loaded replicas (a shared embedder included)
  uint64_t free_bytes() const;
  // budget - used, 0 when full; UINT64_MAX when the budget is unlimited.
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
  std::vector<std::string> nodes;  // one per replica, all distinct; nodes[r] holds replica r
};

caf::expected<std::vector<shard_assignment>> place_model(
    const std::vector<placement_tensor>& tensors, const std::vector<placement_member>& members,
    uint32_t replicas, uint64_t whole_max_bytes = 0);
// Places R = `replicas` copies of every row of every tensor on `members` (the live shard
// nodes), so that each node's new bytes stay within its free bytes. The caller passes only
// tensors still to load: a shared embedder that is already loaded is in used_bytes, not in
// `tensors`, so it is counted once.
//
// Rule. A node's capacity is min(free, bytes of one copy of the tensors not yet placed), since
// it may hold at most one replica of a row. Tensors are placed one after another (largest row
// size first, so the finest-grained tensors absorb rounding last); each tensor's R * rows are
// shared out in proportion to the nodes' remaining capacity (equal shares when every budget is
// unlimited), rounded to whole rows by largest remainder, then laid out wrap-around
// (McNaughton): node shares fill R back-to-back copies of [0, rows) in member order. A share is
// at most rows, so one node never holds two replicas of a row; a tensor's ranges are the cuts
// of all shares, at most one per node. Every tensor is spread over every node with room, small
// ones too (a tensor with fewer rows than nodes gets one-row ranges on the least loaded nodes);
// unless whole_max_bytes says otherwise (below). Deterministic: same input, same output.
// Whole rows cost a little: a model that fits only to within about one row per tensor per
// node may be refused.
//
// Exception: a tensor whose one copy is at most `whole_max_bytes` is not split; its R copies
// go whole to the R nodes with the least load from this placement that have room (rotating
// with the tensor), because splitting a tiny layer only adds round trips to every request.
// When fewer than R nodes have room for a whole copy it is shared out as above.
//
// Output: tensors in input order (tensors with no rows get no entry), ranges sorted and
// contiguous from row 0, shard = index of the range within its tensor.
// Errors: unavailable (no members); invalid_argument (R = 0, or R > members, naming both);
// insufficient_memory "model needs N bytes (R replicas) but " then, for every node, its free
// bytes and what the rule would put on it, when any node would go over.

}  // namespace tessera
