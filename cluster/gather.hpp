#pragma once
// Exact pooling (a version loaded with exact_pooling): the coordinator gathers the rows a batch
// of bags names from the embedding shards and sums each bag in its own id order, so the result
// is bit-identical to pooling the whole table in one shard (fastText's order) however the
// table is split. Pure functions.
//
// Memory: a batch asks each distinct row once, however often its ids repeat, and the rows are
// read in place from the replies (never copied into one table). The rows a gather brings back
// are gather_bytes(distinct rows, cols); the coordinator refuses a call above its limit before
// anything is sent (check_gather_bytes).
#include <cstdint>
#include <vector>

#include "base/errors.hpp"
#include "cluster/sharding.hpp"

namespace tessera {

// What one batch asks each shard, and where each id occurrence finds its row.
// The replies, concatenated in shard order, hold the batch's distinct rows in ascending id
// order: reply s holds rows [first[s], first[s + 1]) of that concatenation.
struct gather_plan {
  std::vector<std::vector<uint32_t>> rows;  // per shard: its distinct rows, local, ascending
  std::vector<uint64_t> first;              // per shard, and one past the last: size shards + 1
  std::vector<uint32_t> entries;            // per id occurrence, bag after bag in id order: its row
  std::vector<uint32_t> offsets;  // bag b is entries[offsets[b], offsets[b + 1]); size bags + 1

  size_t shards() const { return first.empty() ? 0 : first.size() - 1; }
  uint64_t rows_of(size_t s) const { return first[s + 1] - first[s]; }
  uint64_t distinct() const { return first.empty() ? 0 : first.back(); }
};

// Plans the gather of `bags` (global ids, each inside `ranges`, sorted contiguous ranges).
// Requires fewer than 2^32 ids in all.
gather_plan plan_gather(const std::vector<row_range>& ranges,
                        const std::vector<std::vector<int64_t>>& bags);

// The number of distinct ids over all bags: the rows a gather of them asks for.
uint64_t distinct_ids(const std::vector<std::vector<int64_t>>& bags);

// Bytes of `rows` gathered rows of `cols` float32 each.
inline uint64_t gather_bytes(uint64_t rows, uint64_t cols) {
  return rows * cols * sizeof(float);
}

// A call whose gather would bring back more than `limit` bytes is refused.
// Errors: limit_exceeded naming the distinct rows, their bytes and the limit.
caf::error check_gather_bytes(uint64_t rows, uint64_t cols, uint64_t limit);

// The reply of shard s must hold exactly its rows: rows_of(s) * cols floats, as bytes.
// Errors: internal naming the bytes received and expected (a replica's bug; the caller asks
// another replica).
caf::error check_gather_reply(const gather_plan& plan, size_t s, uint64_t cols,
                              uint64_t reply_bytes);

// Sums each bag's rows in its own id order (weights[b][i] times the row when the bag has
// weights) and scales like reduce_pools: bit-identical to pool_bags then reduce_pools over the
// whole table. `weights` is empty or one (possibly empty) per bag; `replies[s]` is shard s's
// reply, checked with check_gather_reply (a wrong size is a TESSERA_CHECK failure, never a read
// past it). `out` gets bags x cols floats, `counts` each bag's total weight.
void pool_gathered(const gather_plan& plan, const std::vector<std::vector<float>>& weights,
                   const std::vector<std::vector<char>>& replies, uint64_t cols,
                   pooling_kind pooling, std::vector<float>& out, std::vector<float>& counts);

}  // namespace tessera
