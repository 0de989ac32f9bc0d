#include "cluster/sharding.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

// Every loop below that accumulates floats is written as a plain sequential loop on purpose:
// the order of additions is part of the contract (fastText parity), so no Eigen, no
// reassociation, no -ffast-math. Default g++ flags on x86-64 emit no FMA for `a += b * c`.

namespace tessera {

std::vector<row_range> split_rows(uint64_t rows, size_t n) {
  if (rows == 0) return {};
  if (n == 0) n = 1;
  if (n > rows) n = static_cast<size_t>(rows);
  const uint64_t base = rows / n;
  const uint64_t extra = rows % n;  // the first `extra` ranges take one more row
  std::vector<row_range> out;
  out.reserve(n);
  uint64_t begin = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t size = base + (i < extra ? 1 : 0);
    out.push_back(row_range{begin, begin + size});
    begin += size;
  }
  return out;
}

size_t shard_of(const std::vector<row_range>& ranges, uint64_t row) {
  // First range whose end is past `row`; ranges are sorted and contiguous.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), row,
                             [](uint64_t r, const row_range& range) { return r < range.end; });
  return static_cast<size_t>(it - ranges.begin());
}

std::vector<bag_batch> split_bags(const std::vector<row_range>& ranges,
                                  const std::vector<std::vector<int64_t>>& bags,
                                  const std::vector<std::vector<float>>& weights) {
  const bool weighted = !weights.empty();
  std::vector<bag_batch> out(ranges.size());
  for (auto& batch : out) {
    batch.offsets.reserve(bags.size() + 1);
    batch.offsets.push_back(0);
  }
  for (size_t b = 0; b < bags.size(); ++b) {
    const auto& ids = bags[b];
    // A bag may carry no weights even in a weighted batch: its weights are then all 1.
    const bool bag_weighted = weighted && !weights[b].empty();
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint64_t id = static_cast<uint64_t>(ids[i]);
      const size_t s = shard_of(ranges, id);
      auto& batch = out[s];
      batch.rows.push_back(static_cast<uint32_t>(id - ranges[s].begin));
      if (weighted) batch.weights.push_back(bag_weighted ? weights[b][i] : 1.0f);
    }
    for (auto& batch : out) batch.offsets.push_back(static_cast<uint32_t>(batch.rows.size()));
  }
  return out;
}

namespace {

void max_bags(const row_block& table, const bag_batch& batch, std::vector<float>& out,
              std::vector<float>& counts) {
  const uint64_t cols = table.cols;
  for (size_t b = 0; b < batch.bags(); ++b) {
    float* dst = out.data() + b * cols;
    const uint32_t first = batch.offsets[b];
    const uint32_t end = batch.offsets[b + 1];
    if (first == end) continue;
    std::copy(table.row(batch.rows[first]), table.row(batch.rows[first]) + cols, dst);
    for (uint32_t e = first + 1; e < end; ++e) {
      const float* src = table.row(batch.rows[e]);
      for (uint64_t c = 0; c < cols; ++c) dst[c] = std::max(dst[c], src[c]);
    }
    counts[b] = static_cast<float>(end - first);
  }
}

// Per bag, the elementwise max of the partials whose count is not zero; zeros when none is.
void reduce_max(const std::vector<std::vector<float>>& partials,
                const std::vector<std::vector<float>>& counts, size_t bags, uint64_t cols,
                std::vector<float>& out) {
  out.assign(bags * cols, 0.0f);
  for (size_t b = 0; b < bags; ++b) {
    float* dst = out.data() + b * cols;
    bool any = false;
    for (size_t s = 0; s < partials.size(); ++s) {
      if (counts[s][b] == 0.0f) continue;
      const float* src = partials[s].data() + b * cols;
      for (uint64_t c = 0; c < cols; ++c) dst[c] = any ? std::max(dst[c], src[c]) : src[c];
      any = true;
    }
  }
}

}  // namespace

void pool_bags(const row_block& table, const bag_batch& batch, std::vector<float>& out,
               std::vector<float>& counts, pool_op op) {
  const size_t bags = batch.bags();
  const uint64_t cols = table.cols;
  const bool weighted = !batch.weights.empty();
  out.assign(bags * cols, 0.0f);
  counts.assign(bags, 0.0f);
  if (op == pool_op::max) return max_bags(table, batch, out, counts);
  for (size_t b = 0; b < bags; ++b) {
    float* dst = out.data() + b * cols;
    float count = 0.0f;
    for (uint32_t e = batch.offsets[b]; e < batch.offsets[b + 1]; ++e) {
      const float* src = table.row(batch.rows[e]);
      if (weighted) {
        const float w = batch.weights[e];
        for (uint64_t c = 0; c < cols; ++c) dst[c] += w * src[c];
        count += w;
      } else {
        for (uint64_t c = 0; c < cols; ++c) dst[c] += src[c];
        count += 1.0f;
      }
    }
    counts[b] = count;
  }
}

void reduce_pools(const std::vector<std::vector<float>>& partials,
                  const std::vector<std::vector<float>>& counts, size_t bags, uint64_t cols,
                  pooling_kind pooling, std::vector<float>& out) {
  // Requires: each partial holds bags * cols floats and each counts entry holds bags floats.
  if (pooling == pooling_kind::max) return reduce_max(partials, counts, bags, cols, out);
  const size_t n = bags * cols;
  out.assign(n, 0.0f);
  // The first partial is copied, not added to zero, so one shard reproduces its sum exactly.
  for (size_t s = 0; s < partials.size(); ++s) {
    const auto& part = partials[s];
    if (s == 0) {
      std::copy(part.begin(), part.begin() + static_cast<std::ptrdiff_t>(n), out.begin());
    } else {
      for (size_t i = 0; i < n; ++i) out[i] += part[i];
    }
  }
  if (pooling != pooling_kind::mean) return;
  for (size_t b = 0; b < bags; ++b) {
    float total = 0.0f;
    for (size_t s = 0; s < counts.size(); ++s) total += counts[s][b];
    float* dst = out.data() + b * cols;
    if (total == 0.0f) {
      std::fill(dst, dst + cols, 0.0f);
      continue;
    }
    const float scale = static_cast<float>(1.0 / static_cast<double>(total));
    for (uint64_t c = 0; c < cols; ++c) dst[c] *= scale;
  }
}

void layer_partial(const row_block& weight, const row_block* bias, const std::vector<float>& x,
                   size_t batch, std::vector<float>& out) {
  const uint64_t rows = weight.rows;
  const uint64_t in = weight.cols;
  out.assign(batch * rows, 0.0f);
  for (size_t b = 0; b < batch; ++b) {
    const float* xb = x.data() + b * in;
    float* ob = out.data() + b * rows;
    for (uint64_t r = 0; r < rows; ++r) {
      const float* w = weight.row(r);
      float acc = 0.0f;
      for (uint64_t j = 0; j < in; ++j) acc += w[j] * xb[j];
      ob[r] = bias ? acc + bias->row(r)[0] : acc;
    }
  }
}

void activate(activation_kind a, std::vector<float>& values) {
  switch (a) {
    case activation_kind::none:
      return;
    case activation_kind::relu:
      for (float& v : values) v = v > 0.0f ? v : 0.0f;
      return;
    case activation_kind::tanh:
      for (float& v : values) v = std::tanh(v);
      return;
    case activation_kind::sigmoid:
      for (float& v : values) v = 1.0f / (1.0f + std::exp(-v));
      return;
  }
}

void concat_columns(const std::vector<std::vector<float>>& parts,
                    const std::vector<uint64_t>& sizes, size_t batch, std::vector<float>& out) {
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  out.assign(batch * total, 0.0f);
  for (size_t b = 0; b < batch; ++b) {
    float* dst = out.data() + b * total;
    for (size_t s = 0; s < parts.size(); ++s) {
      const float* src = parts[s].data() + b * sizes[s];
      if (sizes[s] != 0) std::memcpy(dst, src, sizes[s] * sizeof(float));
      dst += sizes[s];
    }
  }
}

}  // namespace tessera
