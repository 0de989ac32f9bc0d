#pragma once
// Row-range sharding and the per-shard / reduce math of the request path. Pure functions.
//
// Float contract (fastText parity): every sum below is sequential float32 in a fixed order:
// a bag's rows in the order its ids were given, then partials in shard order. With one shard
// the result is bit-identical to fastText's computeHidden.
#include <cstdint>
#include <vector>

#include "package/package.hpp"

namespace tessera {

// Rows [begin, end) of one tensor.
struct row_range {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
  bool contains(uint64_t r) const { return r >= begin && r < end; }
  bool operator==(const row_range& o) const { return begin == o.begin && end == o.end; }
};

// Splits [0, rows) into `n` contiguous ranges whose sizes differ by at most one (the first
// ranges take the extra rows). n is clamped to [1, rows] when rows > 0.
std::vector<row_range> split_rows(uint64_t rows, size_t n);

// Index of the range holding `row`; ranges must be sorted and contiguous. Requires a hit.
size_t shard_of(const std::vector<row_range>& ranges, uint64_t row);

// One shard's part of a batch of bags: rows are local to the shard (row - range.begin).
struct bag_batch {
  std::vector<uint32_t> rows;     // local row ids, bag after bag, in input order
  std::vector<uint32_t> offsets;  // bag b is rows[offsets[b], offsets[b+1]); size bags+1
  std::vector<float> weights;     // empty (all 1) or one per entry of rows
  size_t bags() const { return offsets.empty() ? 0 : offsets.size() - 1; }
};

// Splits bags of global ids over the ranges. `weights` is empty or parallel to `bags`.
// Every shard gets every bag (possibly empty) so replies align by bag index.
std::vector<bag_batch> split_bags(const std::vector<row_range>& ranges,
                                  const std::vector<std::vector<int64_t>>& bags,
                                  const std::vector<std::vector<float>>& weights);

// What a shard computes of each bag: the (weighted) sum of its rows, or their elementwise max
// (PyTorch's EmbeddingBag mode "max"). Sent in pool_request::op as its underlying value.
enum class pool_op : uint8_t { sum = 0, max = 1 };

// The shard operation a pooling needs: max for max, sum for sum and mean.
inline pool_op pool_op_for(pooling_kind p) {
  return p == pooling_kind::max ? pool_op::max : pool_op::sum;
}

// Shard side: per bag, into out (bags x cols, zeroed first) and counts (bags):
// - sum: the (weighted) sum of its rows, and the sum of its weights (the id count when
//   unweighted);
// - max: the elementwise max of its rows (zeros when the bag has no row in this shard), and
//   the number of its rows here, so the reduction can tell "no row" from a real value.
//   Weights are ignored (the serving plane refuses them for max).
void pool_bags(const row_block& table, const bag_batch& batch, std::vector<float>& out,
               std::vector<float>& counts, pool_op op = pool_op::sum);

// Coordinator side: sums shard partials (each bags x cols) in shard order, then for mean
// pooling multiplies each bag by (float)(1.0 / count), as fastText does. A bag whose total
// count is zero stays all zeros. For max pooling it takes, per bag, the elementwise max of the
// partials of the shards whose count is not zero (a shard without rows of the bag does not
// take part); a bag with no row in any shard is all zeros, as PyTorch pools an empty bag.
void reduce_pools(const std::vector<std::vector<float>>& partials,
                  const std::vector<std::vector<float>>& counts, size_t bags, uint64_t cols,
                  pooling_kind pooling, std::vector<float>& out);

// Shard side of a layer sharded by output rows: out (batch x weight.rows) = W x + b, each dot
// a sequential float32 sum over the input (no reassociation). bias may be null.
void layer_partial(const row_block& weight, const row_block* bias, const std::vector<float>& x,
                   size_t batch, std::vector<float>& out);

// Applies an activation in place.
void activate(activation_kind a, std::vector<float>& values);

// Coordinator side: interleaves per-shard outputs (each batch x size_s) into batch x sum(size_s).
void concat_columns(const std::vector<std::vector<float>>& parts,
                    const std::vector<uint64_t>& sizes, size_t batch, std::vector<float>& out);

}  // namespace tessera
