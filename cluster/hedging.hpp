#pragma once
// Hedged requests: when a shard's reply is slower than that shard's recent p95 (configurable),
// the same sub-request goes to a second replica and the first answer wins. This file holds
// the pure part: a per-shard latency tracker with bounded memory, and the decision of whether
// and when to hedge. The timer and the second send are actors/serving_fan_out.hpp's.
//
// Tracker. Per shard key, a fixed ring of the last `window` reply times (microseconds) of
// answers that were used (a losing answer is never recorded, so one slow replica cannot
// drag the estimate up and switch hedging off while it is slow). The percentile is the
// nearest-rank value over the ring, recomputed lazily at most every window/8 new samples.
// At most `max_keys` shards are tracked; a new one evicts the shard least recently recorded.
//
// Decision. No hedge when disabled, before `min_samples` replies of that shard were seen, or
// when the deadline leaves no time after the delay. Otherwise hedge after
// max(percentile estimate, min_delay).
//
// Plain class: no actors, no clocks (the caller passes durations). Thread: one owner.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

struct hedging_options {
  bool enabled = true;
  double percentile = 95;                  // of a shard's recent reply times, in (0, 100]
  std::chrono::milliseconds min_delay{5};  // floor of the hedge delay
  uint32_t min_samples = 20;               // replies of a shard seen before it is hedged
  uint32_t window = 256;                   // reply times kept per shard
  uint32_t max_keys = 4096;                // shards tracked at once
};

class latency_tracker {
 public:
  using micros = std::chrono::microseconds;

  latency_tracker(double percentile, uint32_t window, uint32_t max_keys);

  void record(const std::string& key, micros took);
  // The percentile of `key`'s kept samples; nullopt below `min_samples` samples.
  std::optional<micros> estimate(const std::string& key, uint32_t min_samples);
  // Samples kept for `key` (at most window).
  size_t samples(const std::string& key) const;
  size_t keys() const { return shards_.size(); }

 private:
  struct ring {
    std::vector<uint32_t> us;  // capacity window_, filled round robin
    size_t next = 0;
    uint64_t seen = 0;
    uint64_t stamp = 0;        // last record, for eviction
    uint64_t computed_at = 0;  // `seen` when `cached` was computed
    uint32_t cached = 0;
  };
  void evict_one();

  double percentile_;
  uint32_t window_;
  uint32_t max_keys_;
  uint64_t clock_ = 0;
  std::map<std::string, ring> shards_;
};

class hedge_policy {
 public:
  using micros = std::chrono::microseconds;

  explicit hedge_policy(hedging_options opts = {});

  // A used reply of shard `key` took `took`.
  void record(const std::string& key, micros took) {
    if (opts_.enabled) tracker_.record(key, took);
  }
  // How long to wait for a sub-request to `key` before hedging it, or nullopt for no hedge.
  // `left`: time until the request's deadline.
  std::optional<micros> delay(const std::string& key, micros left);

  const hedging_options& options() const { return opts_; }
  const latency_tracker& tracker() const { return tracker_; }

 private:
  hedging_options opts_;
  latency_tracker tracker_;
};

// Hedges sent (a second replica asked) and won (the hedge's answer came first), per cluster.
struct hedge_counts {
  uint64_t sent = 0;
  uint64_t won = 0;
};

}  // namespace tessera
