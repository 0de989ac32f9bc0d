#include "cluster/shard_metrics.hpp"

namespace tessera {
namespace {

uint64_t count_of(const std::map<std::string, prometheus::Counter*, std::less<>>& m,
                  const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : static_cast<uint64_t>(it->second->Value());
}

const char* const latency_help =
    "Seconds from sending a shard sub-request to a replica to its answer, by member (node) and "
    "shard (sub-model/tensor[rows)); every answer, also a hedge race's loser.";
const char* const retries_help =
    "Shard sub-requests sent again to another replica after a retryable failure (unavailable) "
    "on this member.";
const char* const timeouts_help =
    "Shard sub-requests to this member that reached the request's deadline unanswered.";

}  // namespace

shard_metrics::shard_metrics(bool enabled)
    : enabled_(enabled),
      registry_(std::make_unique<prometheus::Registry>()),
      latency_family_(&prom_histogram_family(*registry_, "tessera_shard_request_duration_seconds",
                                             latency_help)),
      retries_(&prom_counter_family(*registry_, "tessera_shard_retries_total", retries_help)),
      timeouts_(&prom_counter_family(*registry_, "tessera_shard_timeouts_total", timeouts_help)) {}

shard_metrics::series shard_metrics::series_for(const std::string& member, series_name n) {
  auto& h = latency_family_->Add({{"member", member}, {"shard", n.shard}}, prom_latency_bounds());
  ++users_[&h];
  return series{n.epoch, &h};
}

void shard_metrics::per_member(prometheus::Family<prometheus::Counter>& f, counters& c,
                               const std::string& member) {
  auto it = c.find(member);
  if (it == c.end()) it = c.emplace(member, &f.Add({{"member", member}})).first;
  it->second->Increment();
}

void shard_metrics::retain(const std::set<uint64_t>& live) {
  for (auto m = latency_.begin(); m != latency_.end();) {
    auto& shards = m->second;
    for (auto s = shards.begin(); s != shards.end();) {
      if (live.count(s->second.epoch)) {
        ++s;
        continue;
      }
      auto* h = s->second.latency;
      if (--users_[h] == 0) {
        users_.erase(h);
        latency_family_->Remove(h);
      }
      s = shards.erase(s);
    }
    m = shards.empty() ? latency_.erase(m) : std::next(m);
  }
}

uint64_t shard_metrics::answers(const std::string& member, const std::string& key) const {
  auto m = latency_.find(member);
  if (m == latency_.end()) return 0;
  auto s = m->second.find(key);
  if (s == m->second.end()) return 0;
  // Histogram has no count accessor; its collected form does.
  return s->second.latency->Collect().histogram.sample_count;
}

uint64_t shard_metrics::retries(const std::string& member) const {
  return count_of(retry_series_, member);
}

uint64_t shard_metrics::timeouts(const std::string& member) const {
  return count_of(timeout_series_, member);
}

prom_families shard_metrics::collect() const {
  static const std::vector<prometheus::MetricFamily> declared = {
      {"tessera_shard_request_duration_seconds", latency_help, prom_type::Histogram, {}},
      {"tessera_shard_retries_total", retries_help, prom_type::Counter, {}},
      {"tessera_shard_timeouts_total", timeouts_help, prom_type::Counter, {}}};
  return prom_collect(*registry_, declared);
}

}  // namespace tessera
