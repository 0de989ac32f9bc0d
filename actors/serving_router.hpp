#pragma once
// A serving actor's router state (actors/serving.hpp): which replica a sub-request goes to
// (round robin per shard, its own cursors), which sub-requests are in flight on each node (so a
// node that goes down fails them at once), the hedging state the fan-out uses (each shard's
// recent reply times and the hedge decision, cluster/hedging.hpp; the armed hedge timers; the
// hedge counters), and the sub-request metrics for /metrics (cluster/shard_metrics.hpp).
//
// A plain class: no actor; each serving actor owns one and tells it which nodes are down.
// Thread: its serving actor's only.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "actors/inflight_tracker.hpp"
#include "actors/serving_routes.hpp"
#include "cluster/hedging.hpp"
#include "cluster/shard_metrics.hpp"

namespace tessera {

class serving_router {
 public:
  using node_up_fn = std::function<bool(const std::string& node)>;
  using fail_fn = inflight_tracker::fail_fn;

  explicit serving_router(node_up_fn node_up) : node_up_(std::move(node_up)) {}

  // The next replica of `s` on a live node not in `tried`, round robin over the replicas,
  // skipping nodes that are lagging (below) while another one is left; nullptr when none is
  // left. Cursors are kept per shard route; new_snapshot() forgets them.
  const replica_route* pick(const shard_route& s, const std::set<std::string>& tried);
  // A new routing snapshot became current: the cursors of the old one's shards go (bounded
  // by the shards of the snapshots in use since).
  void new_snapshot() { cursors_.clear(); }

  // Sub-requests in flight (actors/inflight_tracker.hpp).
  uint64_t track(const std::string& node, const caf::actor_addr& replica, fail_fn fail) {
    return inflight_.track(node, replica, std::move(fail));
  }
  void settle(const std::string& node, uint64_t id) { inflight_.settle(node, id); }
  void node_down(const std::string& node, const caf::error& reason) {
    inflight_.node_down(node, reason);
  }
  void replica_down(const std::string& node, const caf::actor_addr& replica,
                    const caf::error& reason) {
    inflight_.actor_down(node, replica, reason);
  }
  size_t inflight(const std::string& node) const { return inflight_.inflight(node); }

  // --- hedging -----------------------------------------------------------------------------
  // A sub-request to `node` lost a hedge race and has not answered yet: until it does (or
  // fails, at the latest at its deadline), `node` is lagging and pick() prefers other
  // replicas, so a stalled node does not make every request wait for a hedge.
  void abandoned(const std::string& node) { ++lagging_[node]; }
  void returned(const std::string& node);
  bool lagging(const std::string& node) const { return lagging_.count(node) > 0; }
  void configure_hedging(const hedging_options& o) { hedge_ = hedge_policy{o}; }
  // Reply times per shard and the decision when to hedge (see cluster/hedging.hpp).
  hedge_policy& hedging() { return hedge_; }
  // Hedges sent and won since start.
  hedge_counts& hedges() { return counts_; }
  const hedge_counts& hedges() const { return counts_; }
  // Hedge timers: the fan-out arms one callback per hedgeable sub-request and sends itself a
  // delayed message carrying the id; fire() runs the callback if it is still armed (once),
  // disarm() forgets it when the sub-request was answered first. Returns the id.
  uint64_t arm(std::function<void()> f);
  void disarm(uint64_t id) { timers_.erase(id); }
  void fire(uint64_t id);
  size_t armed() const { return timers_.size(); }

  // Sub-request reply times, retries and timeouts (the serving actor sets whether latency is
  // counted, from [http] metrics).
  shard_metrics& metrics() { return metrics_; }
  const shard_metrics& metrics() const { return metrics_; }

 private:
  node_up_fn node_up_;
  hedge_policy hedge_;
  hedge_counts counts_;
  shard_metrics metrics_;
  std::map<uint64_t, std::function<void()>> timers_;
  std::map<std::string, uint32_t> lagging_;  // node -> abandoned sub-requests not returned
  uint64_t next_timer_ = 0;
  inflight_tracker inflight_;
  std::map<const shard_route*, size_t> cursors_;  // round robin per shard
};

}  // namespace tessera
