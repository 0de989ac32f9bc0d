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
// No actors, no clocks. Thread: one owner (a serving actor). Series live in its own
// prometheus::Registry (base/prometheus.hpp) with their handles cached here; a scrape collects
// each serving actor's families and merges them (prom_merge).
#include <cstdint>
#include <map>
#include <memory>
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

  explicit shard_metrics(bool enabled = true);

  // An attempt to `member` for shard `key` answered `seconds` after it was sent. `name()`
  // returns a series_name; it is called only when (member, key) has no series yet.
  template <class NameFn>
  void answered(const std::string& member, const std::string& key, double seconds, NameFn&& name) {
    if (!enabled_) return;
    auto& shards = latency_[member];
    auto it = shards.find(key);
    if (it == shards.end()) it = shards.emplace(key, series_for(member, name())).first;
    prom_observe(*it->second.latency, seconds);
  }

  // An attempt to `member` failed retryably (unavailable) and the sub-request was sent again.
  void retried(const std::string& member) { per_member(*retries_, retry_series_, member); }
  // An attempt to `member` reached its deadline without an answer.
  void timed_out(const std::string& member) { per_member(*timeouts_, timeout_series_, member); }

  // Forgets the latency series whose sub-model epoch is not in `live` (unloaded versions).
  void retain(const std::set<uint64_t>& live);

  bool enabled() const { return enabled_; }
  // Answers observed for (member, key); 0 when none.
  uint64_t answers(const std::string& member, const std::string& key) const;
  uint64_t retries(const std::string& member) const;
  uint64_t timeouts(const std::string& member) const;

  // tessera_shard_request_duration_seconds, tessera_shard_retries_total,
  // tessera_shard_timeouts_total: every family, also without a series.
  prom_families collect() const;

 private:
  struct series {
    uint64_t epoch = 0;
    prometheus::Histogram* latency = nullptr;
  };
  using counters = std::map<std::string, prometheus::Counter*, std::less<>>;

  // The histogram of (member, n.shard); keys of several epochs may share one label set (the
  // same sub-model name loaded again): it is removed when the last of them is forgotten.
  series series_for(const std::string& member, series_name n);
  void per_member(prometheus::Family<prometheus::Counter>& f, counters& c,
                  const std::string& member);

  bool enabled_;
  std::unique_ptr<prometheus::Registry> registry_;  // moves keep the handles valid
  prometheus::Family<prometheus::Histogram>* latency_family_;
  prometheus::Family<prometheus::Counter>* retries_;
  prometheus::Family<prometheus::Counter>* timeouts_;
  std::map<std::string, std::map<std::string, series, std::less<>>, std::less<>> latency_;
  std::map<prometheus::Histogram*, size_t> users_;  // keys per histogram
  counters retry_series_, timeout_series_;
};

}  // namespace tessera
