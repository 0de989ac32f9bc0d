// Sharded pooling and layers must equal a plain single-process loop: bit for bit on one shard,
// within 1e-6 relative on many.
#include "cluster/sharding.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace tessera {
namespace {

// A full tensor, row-major.
struct matrix {
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::vector<float> data;
};

matrix random_matrix(uint64_t rows, uint64_t cols, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  matrix m{rows, cols, std::vector<float>(rows * cols)};
  for (float& v : m.data) v = dist(rng);
  return m;
}

// Rows [r.begin, r.end) of m as a shard's row_block.
row_block block_of(const matrix& m, row_range r) {
  row_block b;
  b.row_begin = r.begin;
  b.rows = r.size();
  b.cols = m.cols;
  b.data = std::shared_ptr<float>(new float[std::max<uint64_t>(1, b.rows * b.cols)],
                                  std::default_delete<float[]>());
  std::copy(m.data.begin() + r.begin * m.cols, m.data.begin() + r.end * m.cols, b.data.get());
  return b;
}

// The reference: fastText's computeHidden, one bag at a time over the whole table.
std::vector<float> reference_pool(const matrix& table,
                                  const std::vector<std::vector<int64_t>>& bags,
                                  const std::vector<std::vector<float>>& weights,
                                  pooling_kind pooling) {
  std::vector<float> out(bags.size() * table.cols, 0.0f);
  for (size_t b = 0; b < bags.size(); ++b) {
    float* h = out.data() + b * table.cols;
    float count = 0;
    for (size_t i = 0; i < bags[b].size(); ++i) {
      const float* row = table.data.data() + bags[b][i] * table.cols;
      if (weights.empty()) {
        for (uint64_t c = 0; c < table.cols; ++c) h[c] += row[c];
        count += 1;
      } else {
        for (uint64_t c = 0; c < table.cols; ++c) h[c] += weights[b][i] * row[c];
        count += weights[b][i];
      }
    }
    if (pooling == pooling_kind::mean && count != 0) {
      const float scale = static_cast<float>(1.0 / count);
      for (uint64_t c = 0; c < table.cols; ++c) h[c] *= scale;
    }
  }
  return out;
}

// Pools through the sharded path: split, pool per shard, reduce.
std::vector<float> sharded_pool(const matrix& table, size_t shards,
                                const std::vector<std::vector<int64_t>>& bags,
                                const std::vector<std::vector<float>>& weights,
                                pooling_kind pooling) {
  const auto ranges = split_rows(table.rows, shards);
  const auto batches = split_bags(ranges, bags, weights);
  std::vector<std::vector<float>> partials(ranges.size()), counts(ranges.size());
  for (size_t s = 0; s < ranges.size(); ++s)
    pool_bags(block_of(table, ranges[s]), batches[s], partials[s], counts[s], pool_op_for(pooling));
  std::vector<float> out;
  reduce_pools(partials, counts, bags.size(), table.cols, pooling, out);
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("split_rows cuts rows into contiguous ranges whose sizes differ by at most one") {
  CHECK(split_rows(10, 3) == std::vector<row_range>{{0, 4}, {4, 7}, {7, 10}});
  CHECK(split_rows(9, 3) == std::vector<row_range>{{0, 3}, {3, 6}, {6, 9}});
  CHECK(split_rows(5, 1) == std::vector<row_range>{{0, 5}});
  for (uint64_t rows = 1; rows < 40; ++rows) {
    for (size_t n = 1; n < 12; ++n) {
      const auto ranges = split_rows(rows, n);
      REQUIRE(ranges.size() == std::min<uint64_t>(rows, n));
      uint64_t next = 0;
      for (size_t i = 0; i < ranges.size(); ++i) {
        CHECK(ranges[i].begin == next);
        CHECK(ranges[i].size() >= 1);
        CHECK(ranges[i].size() <= ranges[0].size());
        CHECK(ranges[0].size() - ranges[i].size() <= 1);
        next = ranges[i].end;
      }
      CHECK(next == rows);
    }
  }
}

TEST_CASE("split_rows clamps the shard count to the row count and gives nothing for no rows") {
  CHECK(split_rows(3, 5) == std::vector<row_range>{{0, 1}, {1, 2}, {2, 3}});
  CHECK(split_rows(4, 0) == std::vector<row_range>{{0, 4}});
  CHECK(split_rows(0, 3).empty());
  CHECK(split_rows(0, 0).empty());
}

TEST_CASE("shard_of finds the range holding every row") {
  const auto ranges = split_rows(23, 4);
  for (uint64_t r = 0; r < 23; ++r) {
    const size_t s = shard_of(ranges, r);
    REQUIRE(s < ranges.size());
    CHECK(ranges[s].contains(r));
  }
}

TEST_CASE("split_bags gives every shard every bag, keeps id order and moves weights with ids") {
  const auto ranges = split_rows(10, 3);  // [0,4) [4,7) [7,10)
  const std::vector<std::vector<int64_t>> bags = {{9, 0, 5, 1, 9}, {}, {4, 6}};
  const std::vector<std::vector<float>> weights = {{0.5f, 1.f, 2.f, 3.f, 4.f}, {}, {5.f, 6.f}};
  const auto batches = split_bags(ranges, bags, weights);
  REQUIRE(batches.size() == 3);
  for (const auto& b : batches) CHECK(b.bags() == 3);

  CHECK(batches[0].rows == std::vector<uint32_t>{0, 1});
  CHECK(batches[0].offsets == std::vector<uint32_t>{0, 2, 2, 2});
  CHECK(batches[0].weights == std::vector<float>{1.f, 3.f});

  CHECK(batches[1].rows == std::vector<uint32_t>{1, 0, 2});
  CHECK(batches[1].offsets == std::vector<uint32_t>{0, 1, 1, 3});
  CHECK(batches[1].weights == std::vector<float>{2.f, 5.f, 6.f});

  CHECK(batches[2].rows == std::vector<uint32_t>{2, 2});
  CHECK(batches[2].offsets == std::vector<uint32_t>{0, 2, 2, 2});
  CHECK(batches[2].weights == std::vector<float>{0.5f, 4.f});

  const auto unweighted = split_bags(ranges, bags, {});
  for (const auto& b : unweighted) CHECK(b.weights.empty());
  CHECK(unweighted[1].rows == batches[1].rows);
}

TEST_CASE("pool_bags counts ids (or sums weights) per bag and leaves empty bags at zero") {
  std::mt19937 rng(7);
  const matrix table = random_matrix(6, 3, rng, -1.f, 1.f);
  const auto ranges = split_rows(6, 1);
  const auto batches = split_bags(ranges, {{1, 1, 2}, {}}, {});
  std::vector<float> out, counts;
  pool_bags(block_of(table, ranges[0]), batches[0], out, counts);
  CHECK(counts == std::vector<float>{3.f, 0.f});
  CHECK(std::all_of(out.begin() + 3, out.end(), [](float v) { return v == 0.f; }));

  const auto weighted = split_bags(ranges, {{1, 2}}, {{0.25f, 2.f}});
  pool_bags(block_of(table, ranges[0]), weighted[0], out, counts);
  CHECK(counts == std::vector<float>{2.25f});
}

TEST_CASE("pooling over 1, 2, 3 and 7 shards matches a plain loop over the whole table") {
  std::mt19937 rng(42);
  const uint64_t rows = 50, cols = 16;
  // Positive entries keep the relative comparison meaningful.
  const matrix table = random_matrix(rows, cols, rng, 0.5f, 1.5f);
  std::uniform_int_distribution<int64_t> id(0, rows - 1);
  std::uniform_int_distribution<size_t> len(0, 12);
  std::uniform_real_distribution<float> w(0.1f, 2.f);
  std::vector<std::vector<int64_t>> bags(20);
  std::vector<std::vector<float>> weights(20);
  for (size_t b = 0; b < bags.size(); ++b) {
    const size_t n = b % 5 == 0 ? 0 : len(rng);  // every fifth bag is empty
    for (size_t i = 0; i < n; ++i) {
      bags[b].push_back(id(rng));
      weights[b].push_back(w(rng));
    }
  }

  for (auto pooling : {pooling_kind::mean, pooling_kind::sum}) {
    for (bool use_weights : {false, true}) {
      const auto& wts = use_weights ? weights : std::vector<std::vector<float>>{};
      const auto ref = reference_pool(table, bags, wts, pooling);
      for (size_t shards : {1, 2, 3, 7}) {
        const bool mean = pooling == pooling_kind::mean;
        CAPTURE(mean, use_weights, shards);
        const auto got = sharded_pool(table, shards, bags, wts, pooling);
        REQUIRE(got.size() == ref.size());
        if (shards == 1) {
          CHECK(bit_identical(got, ref));
        } else {
          for (size_t i = 0; i < ref.size(); ++i)
            CHECK(std::fabs(got[i] - ref[i]) <= 1e-6f * std::fabs(ref[i]));
        }
      }
    }
  }
}

TEST_CASE("weights of one pool exactly like no weights") {
  std::mt19937 rng(3);
  const matrix table = random_matrix(30, 8, rng, -1.f, 1.f);
  const std::vector<std::vector<int64_t>> bags = {{3, 29, 0, 3}, {17}, {}};
  const std::vector<std::vector<float>> ones = {{1.f, 1.f, 1.f, 1.f}, {1.f}, {}};
  for (size_t shards : {1, 3}) {
    const auto plain = sharded_pool(table, shards, bags, {}, pooling_kind::mean);
    const auto weighted = sharded_pool(table, shards, bags, ones, pooling_kind::mean);
    CHECK(bit_identical(plain, weighted));
  }
}

TEST_CASE("mean pooling leaves a bag whose total count is zero all zeros") {
  std::mt19937 rng(5);
  const matrix table = random_matrix(10, 4, rng, -1.f, 1.f);
  const auto got = sharded_pool(table, 2, {{1, 8}, {}}, {{1.f, -1.f}, {}}, pooling_kind::mean);
  CHECK(std::all_of(got.begin(), got.end(), [](float v) { return v == 0.f; }));
}

TEST_CASE("layer_partial over output-row shards concatenates to the full W x + b") {
  std::mt19937 rng(11);
  const uint64_t out_rows = 13, in = 9;
  const size_t batch = 4;
  const matrix weight = random_matrix(out_rows, in, rng, -1.f, 1.f);
  const matrix bias = random_matrix(out_rows, 1, rng, -1.f, 1.f);
  const matrix x = random_matrix(batch, in, rng, -2.f, 2.f);

  for (bool with_bias : {false, true}) {
    std::vector<float> ref(batch * out_rows);
    for (size_t b = 0; b < batch; ++b) {
      for (uint64_t r = 0; r < out_rows; ++r) {
        float acc = 0.0f;
        for (uint64_t j = 0; j < in; ++j) acc += weight.data[r * in + j] * x.data[b * in + j];
        ref[b * out_rows + r] = with_bias ? acc + bias.data[r] : acc;
      }
    }
    for (size_t shards : {1, 2, 3, 7}) {
      CAPTURE(with_bias, shards);
      const auto ranges = split_rows(out_rows, shards);
      std::vector<std::vector<float>> parts(ranges.size());
      std::vector<uint64_t> sizes;
      for (size_t s = 0; s < ranges.size(); ++s) {
        const row_block w = block_of(weight, ranges[s]);
        const row_block bb = block_of(bias, ranges[s]);
        layer_partial(w, with_bias ? &bb : nullptr, x.data, batch, parts[s]);
        CHECK(parts[s].size() == batch * ranges[s].size());
        sizes.push_back(ranges[s].size());
      }
      std::vector<float> got;
      concat_columns(parts, sizes, batch, got);
      CHECK(bit_identical(got, ref));
    }
  }
}

TEST_CASE("activate applies relu, tanh and sigmoid element-wise and none leaves values alone") {
  const std::vector<float> in = {-2.f, -0.5f, 0.f, 0.5f, 2.f};
  auto v = in;
  activate(activation_kind::none, v);
  CHECK(v == in);
  v = in;
  activate(activation_kind::relu, v);
  CHECK(v == std::vector<float>{0.f, 0.f, 0.f, 0.5f, 2.f});
  v = in;
  activate(activation_kind::tanh, v);
  for (size_t i = 0; i < in.size(); ++i) CHECK(v[i] == Approx(std::tanh(in[i])));
  v = in;
  activate(activation_kind::sigmoid, v);
  for (size_t i = 0; i < in.size(); ++i) CHECK(v[i] == Approx(1.0 / (1.0 + std::exp(-in[i]))));
}

TEST_CASE("max pooling over 1, 2, 3 and 7 shards is each bag's elementwise max, empty bags zeros") {
  std::mt19937 rng(11);
  // Negative values only: a shard without rows of a bag must not offer its zeros as a max.
  const matrix table = random_matrix(40, 6, rng, -2.f, -0.5f);
  std::uniform_int_distribution<int64_t> id(0, 39);
  std::vector<std::vector<int64_t>> bags(16);
  for (size_t b = 0; b < bags.size(); ++b)
    for (size_t i = 0; i < (b % 4 == 0 ? 0 : b % 6 + 1); ++i) bags[b].push_back(id(rng));
  bags[1] = {0};   // a bag with rows in the first shard only
  bags[2] = {39};  // ... and in the last shard only
  std::vector<float> ref(bags.size() * table.cols, 0.0f);
  for (size_t b = 0; b < bags.size(); ++b)
    for (size_t i = 0; i < bags[b].size(); ++i)
      for (uint64_t c = 0; c < table.cols; ++c) {
        const float v = table.data[bags[b][i] * table.cols + c];
        float& dst = ref[b * table.cols + c];
        dst = i == 0 ? v : std::max(dst, v);
      }
  for (size_t shards : {1, 2, 3, 7}) {
    CAPTURE(shards);
    CHECK(bit_identical(sharded_pool(table, shards, bags, {}, pooling_kind::max), ref));
  }
}

TEST_CASE("a max shard reports each bag's row count and zeros for a bag without rows here") {
  std::mt19937 rng(12);
  const matrix table = random_matrix(10, 3, rng, -1.f, -0.5f);
  bag_batch batch;
  batch.rows = {4, 2, 7};
  batch.offsets = {0, 2, 2, 3};
  std::vector<float> out, counts;
  pool_bags(block_of(table, {0, 10}), batch, out, counts, pool_op::max);
  CHECK(counts == std::vector<float>{2.f, 0.f, 1.f});
  for (uint64_t c = 0; c < 3; ++c) {
    CHECK(out[c] == std::max(table.data[4 * 3 + c], table.data[2 * 3 + c]));
    CHECK(out[3 + c] == 0.0f);
    CHECK(out[6 + c] == table.data[7 * 3 + c]);
  }
}

}  // namespace tessera
