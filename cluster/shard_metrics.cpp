#include "cluster/shard_metrics.hpp"

namespace tessera {
namespace {

uint64_t count_of(const std::map<std::string, uint64_t, std::less<>>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

void per_member(prom_writer& w, const char* name, const char* help,
                const std::map<std::string, uint64_t, std::less<>>& m) {
  w.family(name, prom_type::counter, help);
  for (const auto& [member, n] : m) w.sample({{"member", member}}, static_cast<double>(n));
}

}  // namespace

void shard_metrics::retain(const std::set<uint64_t>& live) {
  for (auto m = latency_.begin(); m != latency_.end();) {
    auto& shards = m->second;
    for (auto s = shards.begin(); s != shards.end();)
      s = live.count(s->second.epoch) ? std::next(s) : shards.erase(s);
    m = shards.empty() ? latency_.erase(m) : std::next(m);
  }
}

void shard_metrics::merge(const shard_metrics& other) {
  for (const auto& [member, shards] : other.latency_) {
    auto& mine = latency_[member];
    for (const auto& [key, sr] : shards) {
      auto it = mine.find(key);
      if (it == mine.end())
        mine.emplace(key, sr);
      else
        it->second.latency.merge(sr.latency);
    }
  }
  for (const auto& [member, n] : other.retries_) retries_[member] += n;
  for (const auto& [member, n] : other.timeouts_) timeouts_[member] += n;
}

uint64_t shard_metrics::answers(const std::string& member, const std::string& key) const {
  auto m = latency_.find(member);
  if (m == latency_.end()) return 0;
  auto s = m->second.find(key);
  return s == m->second.end() ? 0 : s->second.latency.count();
}

uint64_t shard_metrics::retries(const std::string& member) const {
  return count_of(retries_, member);
}

uint64_t shard_metrics::timeouts(const std::string& member) const {
  return count_of(timeouts_, member);
}

void shard_metrics::write(prom_writer& w) const {
  w.family("tessera_shard_request_duration_seconds", prom_type::histogram,
           "Seconds from sending a shard sub-request to a replica to its answer, by member "
           "(node) and shard (sub-model/tensor[rows)); every answer, also a hedge race's loser.");
  for (const auto& [member, shards] : latency_)
    for (const auto& [key, s] : shards)
      w.histogram({{"member", member}, {"shard", s.shard}}, s.latency);
  per_member(w, "tessera_shard_retries_total",
             "Shard sub-requests sent again to another replica after a retryable failure "
             "(unavailable) on this member.",
             retries_);
  per_member(w, "tessera_shard_timeouts_total",
             "Shard sub-requests to this member that reached the request's deadline unanswered.",
             timeouts_);
}

}  // namespace tessera
