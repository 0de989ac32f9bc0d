#pragma once
// Metrics of the coordinator's shard sub-requests (one message to one replica;
// actors/serving_fan_out.hpp drives them): the reply time of every answered attempt by member
// (node) and shard, and per member the attempts retried on another replica after a retryable
// failure and the attempts that reached their deadline unanswered.
//
// A series is keyed by (member, shard key) where the key names the shard and the epoch of its
// sub-model version; its label is asked for only when the series is new, so an answer costs
// one map lookup. Series are bounded by members x shards of the loaded versions: retain()
// forgets the epochs no longer loaded. Disabled, answered() does nothing ([http] metrics =
// false); retries and timeouts are rare and always counted.
//
// Plain value: no actors, no clocks. Thread: one owner (a serving actor); a scrape merges the
// serving actors' copies.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "base/prometheus.hpp"

namespace tessera {

class shard_metrics {
 public:
  // The shard label of a new series ("sub-model/tensor[begin:end)") and its sub-model epoch.
  struct series_name {
    std::string shard;
    uint64_t epoch = 0;
  };

  explicit shard_metrics(bool enabled = true) : enabled_(enabled) {}

  // An attempt to `member` for shard `key` answered `seconds` after it was sent. `name()`
  // returns a series_name; it is called only when (member, key) has no series yet.
  template <class NameFn>
  void answered(const std::string& member, const std::string& key, double seconds, NameFn&& name) {
    if (!enabled_) return;
    auto& shards = latency_[member];
    auto it = shards.find(key);
    if (it == shards.end()) {
      series_name n = name();
      it = shards.emplace(key, series{std::move(n.shard), n.epoch, {}}).first;
    }
    it->second.latency.observe(seconds);
  }

  // An attempt to `member` failed retryably (unavailable) and the sub-request was sent again.
  void retried(const std::string& member) { ++retries_[member]; }
  // An attempt to `member` reached its deadline without an answer.
  void timed_out(const std::string& member) { ++timeouts_[member]; }

  // Forgets the latency series whose sub-model epoch is not in `live` (unloaded versions).
  void retain(const std::set<uint64_t>& live);

  // Adds every series and count of `other` (another serving actor's).
  void merge(const shard_metrics& other);

  bool enabled() const { return enabled_; }
  // Answers observed for (member, key); 0 when none.
  uint64_t answers(const std::string& member, const std::string& key) const;
  uint64_t retries(const std::string& member) const;
  uint64_t timeouts(const std::string& member) const;

  // tessera_shard_request_duration_seconds, tessera_shard_retries_total,
  // tessera_shard_timeouts_total.
  void write(prom_writer& w) const;

 private:
  struct series {
    std::string shard;
    uint64_t epoch = 0;
    prom_histogram latency;
  };
  bool enabled_;
  std::map<std::string, std::map<std::string, series, std::less<>>, std::less<>> latency_;
  std::map<std::string, uint64_t, std::less<>> retries_, timeouts_;
};

}  // namespace tessera
