#include "cluster/hedging.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tessera {

latency_tracker::latency_tracker(double percentile, uint32_t window, uint32_t max_keys)
    : percentile_(std::clamp(percentile, 0.0, 100.0)),
      window_(std::max<uint32_t>(window, 1)),
      max_keys_(std::max<uint32_t>(max_keys, 1)) {}

void latency_tracker::record(const std::string& key, micros took) {
  auto it = shards_.find(key);
  if (it == shards_.end()) {
    if (shards_.size() >= max_keys_) evict_one();
    it = shards_.emplace(key, ring{}).first;
    it->second.us.reserve(window_);
  }
  auto& r = it->second;
  auto v = static_cast<uint32_t>(
      std::clamp<int64_t>(took.count(), 0, std::numeric_limits<uint32_t>::max()));
  if (r.us.size() < window_) {
    r.us.push_back(v);
  } else {
    r.us[r.next] = v;
  }
  r.next = (r.next + 1) % window_;
  ++r.seen;
  r.stamp = ++clock_;
}

std::optional<latency_tracker::micros> latency_tracker::estimate(const std::string& key,
                                                                 uint32_t min_samples) {
  auto it = shards_.find(key);
  if (it == shards_.end()) return std::nullopt;
  auto& r = it->second;
  if (r.us.empty() || r.us.size() < min_samples) return std::nullopt;
  // Recomputed when an eighth of the window is new, so a hot shard sorts rarely.
  const uint64_t every = std::max<uint64_t>(window_ / 8, 1);
  if (r.computed_at == 0 || r.seen - r.computed_at >= every) {
    std::vector<uint32_t> copy = r.us;
    // Nearest rank: the smallest value with at least p% of the samples at or below it.
    auto rank = static_cast<size_t>(std::ceil(percentile_ / 100.0 * copy.size()));
    rank = std::clamp<size_t>(rank, 1, copy.size());
    std::nth_element(copy.begin(), copy.begin() + (rank - 1), copy.end());
    r.cached = copy[rank - 1];
    r.computed_at = r.seen;
  }
  return micros{r.cached};
}

size_t latency_tracker::samples(const std::string& key) const {
  auto it = shards_.find(key);
  return it == shards_.end() ? 0 : it->second.us.size();
}

void latency_tracker::evict_one() {
  auto oldest = shards_.begin();
  for (auto it = shards_.begin(); it != shards_.end(); ++it)
    if (it->second.stamp < oldest->second.stamp) oldest = it;
  if (oldest != shards_.end()) shards_.erase(oldest);
}

hedge_policy::hedge_policy(hedging_options opts)
    : opts_(opts), tracker_(opts.percentile, opts.window, opts.max_keys) {}

std::optional<hedge_policy::micros> hedge_policy::delay(const std::string& key, micros left) {
  if (!opts_.enabled) return std::nullopt;
  auto p = tracker_.estimate(key, std::max<uint32_t>(opts_.min_samples, 1));
  if (!p) return std::nullopt;
  auto d = std::max<micros>(*p, opts_.min_delay);
  if (d >= left) return std::nullopt;  // no time left to use a hedge's answer
  return d;
}

}  // namespace tessera
