#include "cluster/gather.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "base/check.hpp"

namespace tessera {
namespace {

std::vector<int64_t> sorted_distinct(const std::vector<std::vector<int64_t>>& bags) {
  size_t total = 0;
  for (const auto& bag : bags) total += bag.size();
  std::vector<int64_t> ids;
  ids.reserve(total);
  for (const auto& bag : bags) ids.insert(ids.end(), bag.begin(), bag.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

float float_at(const char* bytes, uint64_t i) {
  float x;
  std::memcpy(&x, bytes + i * sizeof(float), sizeof x);
  return x;
}

}  // namespace

gather_plan plan_gather(const std::vector<row_range>& ranges,
                        const std::vector<std::vector<int64_t>>& bags) {
  size_t total = 0;
  for (const auto& bag : bags) total += bag.size();
  TESSERA_CHECK(total <= std::numeric_limits<uint32_t>::max(), "gather of 2^32 ids or more");
  const auto ids = sorted_distinct(bags);
  gather_plan p;
  p.rows.resize(ranges.size());
  p.first.assign(ranges.size() + 1, 0);
  // Both ascending: one sweep puts each distinct id in its range, in id order.
  size_t s = 0;
  for (int64_t id : ids) {
    const auto row = static_cast<uint64_t>(id);
    while (s < ranges.size() && !ranges[s].contains(row)) ++s;
    TESSERA_CHECK(s < ranges.size(), "gather of an id outside every range");
    p.rows[s].push_back(static_cast<uint32_t>(row - ranges[s].begin));
  }
  for (size_t r = 0; r < ranges.size(); ++r) p.first[r + 1] = p.first[r] + p.rows[r].size();
  // The concatenation of the replies is `ids` itself: an occurrence's row is its id's index.
  p.entries.reserve(total);
  p.offsets.reserve(bags.size() + 1);
  p.offsets.push_back(0);
  for (const auto& bag : bags) {
    for (int64_t id : bag)
      p.entries.push_back(
          static_cast<uint32_t>(std::lower_bound(ids.begin(), ids.end(), id) - ids.begin()));
    p.offsets.push_back(static_cast<uint32_t>(p.entries.size()));
  }
  return p;
}

uint64_t distinct_ids(const std::vector<std::vector<int64_t>>& bags) {
  return sorted_distinct(bags).size();
}

caf::error check_gather_bytes(uint64_t rows, uint64_t cols, uint64_t limit) {
  uint64_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(rows, cols * sizeof(float), &bytes);
  if (!overflow && bytes <= limit) return caf::none;
  return make_error(errc::limit_exceeded,
                    "exact pooling would gather " + std::to_string(rows) + " distinct rows of " +
                        std::to_string(cols) + " floats (" +
                        (overflow ? std::string{"over 2^64"} : std::to_string(bytes)) +
                        " bytes), over the limit of " + std::to_string(limit) +
                        " bytes per call ([limits] max_gather_bytes); send fewer or shorter "
                        "inputs per call");
}

caf::error check_gather_reply(const gather_plan& plan, size_t s, uint64_t cols,
                              uint64_t reply_bytes) {
  const uint64_t want = gather_bytes(plan.rows_of(s), cols);
  if (reply_bytes == want) return caf::none;
  return make_error(errc::internal, "gather reply of " + std::to_string(reply_bytes) +
                                        " bytes; expected " + std::to_string(want) + " (" +
                                        std::to_string(plan.rows_of(s)) + " rows of " +
                                        std::to_string(cols) + " floats)");
}

void pool_gathered(const gather_plan& plan, const std::vector<std::vector<float>>& weights,
                   const std::vector<std::vector<char>>& replies, uint64_t cols,
                   pooling_kind pooling, std::vector<float>& out, std::vector<float>& counts) {
  TESSERA_CHECK(replies.size() == plan.shards(), "gather replies do not match the plan");
  for (size_t s = 0; s < replies.size(); ++s)
    TESSERA_CHECK(!check_gather_reply(plan, s, cols, replies[s].size()),
                  "gather reply of the wrong size reached pooling");
  const size_t bags = plan.offsets.empty() ? 0 : plan.offsets.size() - 1;
  const bool weighted = !weights.empty();
  const uint64_t row_bytes = cols * sizeof(float);
  std::vector<float> sums(bags * cols, 0.0f);
  counts.assign(bags, 0.0f);
  // The same additions, in the same order, as pool_bags over the whole table.
  for (size_t b = 0; b < bags; ++b) {
    float* dst = sums.data() + b * cols;
    const bool bag_weighted = weighted && !weights[b].empty();
    float count = 0.0f;
    for (uint32_t e = plan.offsets[b]; e < plan.offsets[b + 1]; ++e) {
      const uint64_t g = plan.entries[e];
      const auto s = static_cast<size_t>(
          std::upper_bound(plan.first.begin() + 1, plan.first.end(), g) - plan.first.begin() - 1);
      const char* src = replies[s].data() + (g - plan.first[s]) * row_bytes;
      if (weighted) {
        const float w = bag_weighted ? weights[b][e - plan.offsets[b]] : 1.0f;
        for (uint64_t c = 0; c < cols; ++c) dst[c] += w * float_at(src, c);
        count += w;
      } else {
        for (uint64_t c = 0; c < cols; ++c) dst[c] += float_at(src, c);
        count += 1.0f;
      }
    }
    counts[b] = count;
  }
  reduce_pools({sums}, {counts}, bags, cols, pooling, out);
}

}  // namespace tessera
