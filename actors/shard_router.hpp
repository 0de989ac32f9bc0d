#pragma once
// The fan-out's narrow view of the coordinator: which replica a sub-request goes to, and which
// sub-requests are in flight on each node, so that a node that goes down fails them at once
// instead of at their deadline (CAF fails them only at their own timeout). It also holds the
// hedging state the fan-out uses: each shard's recent reply times and the hedge decision
// (cluster/hedging.hpp), the armed hedge timers, and the hedge counters shown in status; and
// the sub-request metrics for /metrics (cluster/shard_metrics.hpp).
//
// A plain class: no actor; the coordinator owns one and tells it which nodes are up.
// Thread: the coordinator's only.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "actors/registry.hpp"
#include "cluster/hedging.hpp"
#include "cluster/shard_metrics.hpp"

namespace tessera {

class shard_router {
 public:
  using node_up_fn = std::function<bool(const std::string& node)>;
  using fail_fn = std::function<void(caf::error)>;

  explicit shard_router(node_up_fn node_up) : node_up_(std::move(node_up)) {}

  // The next ready replica of `s` on a live node not in `tried`, round robin over the
  // replicas, skipping nodes that are lagging (below) while another one is left; nullptr
  // when none is left.
  replica_ref* pick(shard_ref& s, const std::set<std::string>& tried);

  // Registers one sub-request in flight on `node` to the shard actor `replica`; `fail` runs
  // (once) if the node or that actor goes down before settle(node, id). Returns the id.
  uint64_t track(const std::string& node, const caf::actor_addr& replica, fail_fn fail);
  // Forgets sub-request `id` on `node` (it was answered or failed on its own).
  void settle(const std::string& node, uint64_t id);
  // `node` went down: fails every sub-request in flight on it with `reason`, once each.
  void node_down(const std::string& node, const caf::error& reason);
  // The shard actor `replica` on `node` went down (its node lives on): fails the sub-requests
  // in flight to it with `reason`, once each.
  void replica_down(const std::string& node, const caf::actor_addr& replica,
                    const caf::error& reason);
  // Sub-requests in flight on `node`.
  size_t inflight(const std::string& node) const;

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

  // Sub-request reply times, retries and timeouts (the coordinator sets whether latency is
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
  struct pending {
    caf::actor_addr replica;
    fail_fn fail;
  };
  std::map<std::string, std::map<uint64_t, pending>> inflight_;
  uint64_t next_id_ = 0;
};

// "tensor[begin:end)", how errors and logs name a shard.
std::string shard_name(const tensor_shards& t, const shard_ref& s);
// The latency tracker's key of a shard: its name and the epoch of its sub-model version, so
// two versions with the same tensor names are tracked apart.
std::string shard_key(const tensor_shards& t, const shard_ref& s);

}  // namespace tessera
