// Exact pooling: one request row per distinct id, pooling bit-identical to fastText's loop over
// the whole table however it is split, and every reply checked for its exact size.
#include "cluster/gather.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <set>

namespace tessera {
namespace {

struct matrix {
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::vector<float> data;
};

matrix random_matrix(uint64_t rows, uint64_t cols, uint32_t seed) {
  std::mt19937 rng{seed};
  std::uniform_real_distribution<float> u(-100, 100);
  matrix m{rows, cols, std::vector<float>(rows * cols)};
  for (float& v : m.data) v = u(rng);
  return m;
}

// The reference: fastText's computeHidden, one bag at a time over the whole table, each
// occurrence of an id added again, in the bag's order; a bag without weights weighs each id 1.
std::vector<float> reference_pool(const matrix& table,
                                  const std::vector<std::vector<int64_t>>& bags,
                                  const std::vector<std::vector<float>>& weights) {
  std::vector<float> out(bags.size() * table.cols, 0.0f);
  for (size_t b = 0; b < bags.size(); ++b) {
    float* h = out.data() + b * table.cols;
    float count = 0;
    for (size_t i = 0; i < bags[b].size(); ++i) {
      const float* row = table.data.data() + bags[b][i] * table.cols;
      const bool w = !weights.empty() && !weights[b].empty();
      if (w) {
        for (uint64_t c = 0; c < table.cols; ++c) h[c] += weights[b][i] * row[c];
        count += weights[b][i];
      } else {
        for (uint64_t c = 0; c < table.cols; ++c) h[c] += row[c];
        count += 1;
      }
    }
    if (count != 0) {
      const float scale = static_cast<float>(1.0 / count);
      for (uint64_t c = 0; c < table.cols; ++c) h[c] *= scale;
    }
  }
  return out;
}

// What a correct replica answers: shard s's rows, as bytes, in the order the plan asks.
std::vector<std::vector<char>> replies_for(const matrix& table,
                                           const std::vector<row_range>& ranges,
                                           const gather_plan& plan) {
  std::vector<std::vector<char>> out(plan.shards());
  for (size_t s = 0; s < plan.shards(); ++s)
    for (auto r : plan.rows[s]) {
      const auto* src =
          reinterpret_cast<const char*>(table.data.data() + (ranges[s].begin + r) * table.cols);
      out[s].insert(out[s].end(), src, src + table.cols * sizeof(float));
    }
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("pooling gathered rows is bit-identical to fastText's loop however the table is split",
          "[gather]") {
  const auto table = random_matrix(97, 5, 11);
  std::mt19937 rng{12};
  std::vector<std::vector<int64_t>> bags(20);
  std::vector<std::vector<float>> weights(20);
  for (size_t b = 0; b < bags.size(); ++b) {
    for (size_t e = 0; e < 3 + b % 9; ++e) bags[b].push_back(rng() % table.rows);
    bags[b].push_back(bags[b].front());  // a repeated id counts once per occurrence
    if (b % 3 == 0) weights[b].assign(bags[b].size(), 0.5f + (b % 4));
  }
  for (bool weighted : {false, true}) {
    auto w = weighted ? weights : std::vector<std::vector<float>>{};
    const auto want = reference_pool(table, bags, w);
    for (size_t n : {1, 2, 3, 7}) {
      INFO("shards " << n << " weighted " << weighted);
      auto ranges = split_rows(table.rows, n);
      auto plan = plan_gather(ranges, bags);
      std::vector<float> got, counts;
      pool_gathered(plan, w, replies_for(table, ranges, plan), table.cols, pooling_kind::mean, got,
                    counts);
      CHECK(bit_identical(got, want));
      for (size_t b = 0; b < bags.size(); ++b) {
        float total = 0;
        for (size_t i = 0; i < bags[b].size(); ++i)
          total += weighted && !w[b].empty() ? w[b][i] : 1.0f;
        CHECK(counts[b] == total);
      }
    }
  }
}

TEST_CASE("a gather asks each distinct row once, local to its shard and in ascending order",
          "[gather]") {
  const auto ranges = split_rows(1000, 3);  // [0, 334) [334, 667) [667, 1000)
  // A long bag of few distinct ids, as a line of one-letter words featurizes.
  std::vector<std::vector<int64_t>> bags{{}, {999, 5}};
  for (int i = 0; i < 100000; ++i) bags[0].push_back(std::vector<int64_t>{5, 400, 999}[i % 3]);
  auto plan = plan_gather(ranges, bags);
  CHECK(plan.distinct() == 3);
  CHECK(distinct_ids(bags) == 3);
  CHECK(plan.rows == std::vector<std::vector<uint32_t>>{{5}, {400 - 334}, {999 - 667}});
  CHECK(plan.first == std::vector<uint64_t>{0, 1, 2, 3});
  CHECK(plan.offsets == std::vector<uint32_t>{0, 100000, 100002});
  REQUIRE(plan.entries.size() == 100002);
  CHECK(plan.entries[0] == 0);
  CHECK(plan.entries[1] == 1);
  CHECK(plan.entries[2] == 2);
  CHECK(plan.entries[100000] == 2);
  CHECK(plan.entries[100001] == 0);
}

TEST_CASE("random bags: the plan's rows are exactly the distinct ids, and entries find them",
          "[gather]") {
  std::mt19937 rng{21};
  for (int round = 0; round < 20; ++round) {
    const uint64_t rows = 1 + rng() % 500;
    const auto ranges = split_rows(rows, 1 + rng() % 6);
    std::vector<std::vector<int64_t>> bags(1 + rng() % 8);
    std::set<int64_t> distinct;
    for (auto& bag : bags)
      for (size_t i = rng() % 40; i > 0; --i) {
        bag.push_back(static_cast<int64_t>(rng() % rows));
        distinct.insert(bag.back());
      }
    auto plan = plan_gather(ranges, bags);
    CHECK(plan.distinct() == distinct.size());
    CHECK(distinct_ids(bags) == distinct.size());
    std::vector<int64_t> asked;  // the replies' rows, concatenated, as global ids
    for (size_t s = 0; s < plan.shards(); ++s) {
      CHECK(plan.rows_of(s) == plan.rows[s].size());
      for (auto r : plan.rows[s]) {
        CHECK(r < ranges[s].size());
        asked.push_back(static_cast<int64_t>(ranges[s].begin + r));
      }
    }
    CHECK(asked == std::vector<int64_t>(distinct.begin(), distinct.end()));
    size_t e = 0;
    for (const auto& bag : bags)
      for (auto id : bag) CHECK(asked.at(plan.entries.at(e++)) == id);
    CHECK(e == plan.entries.size());
  }
}

TEST_CASE("a gather reply of any size but rows x cols floats is an internal error", "[gather]") {
  const auto ranges = split_rows(100, 2);
  auto plan = plan_gather(ranges, {{1, 2, 3, 60}});
  const uint64_t cols = 8;
  CHECK_FALSE(check_gather_reply(plan, 0, cols, 3 * cols * 4));
  CHECK_FALSE(check_gather_reply(plan, 1, cols, 1 * cols * 4));
  for (uint64_t bytes :
       {uint64_t{0}, 3 * cols * 4 - 4, 3 * cols * 4 - 1, 3 * cols * 4 + 4, 2 * cols * 4}) {
    auto err = check_gather_reply(plan, 0, cols, bytes);
    CHECK(is(err, errc::internal));
    CHECK(message_of(err).find(std::to_string(bytes) + " bytes") != std::string::npos);
    CHECK(message_of(err).find("expected 96") != std::string::npos);
  }
  CHECK(is(check_gather_reply(plan, 1, cols, 0), errc::internal));
}

TEST_CASE("a call gathering more than the limit is refused with limit_exceeded naming it",
          "[gather]") {
  const uint64_t limit = 64 << 20;
  CHECK_FALSE(check_gather_bytes(0, 300, limit));
  CHECK_FALSE(check_gather_bytes(limit / 1200, 300, limit));  // 55,924 rows of 300 floats
  auto err = check_gather_bytes(limit / 1200 + 1, 300, limit);
  CHECK(is(err, errc::limit_exceeded));
  CHECK(message_of(err).find("67108864") != std::string::npos);
  CHECK(message_of(err).find("max_gather_bytes") != std::string::npos);
  CHECK(is(check_gather_bytes(uint64_t{1} << 62, 1 << 10, limit), errc::limit_exceeded));
}

}  // namespace tessera
