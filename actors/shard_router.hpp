#pragma once
// The fan-out's narrow view of the coordinator: which replica a sub-request goes to, and which
// sub-requests are in flight on each node, so that a node that goes down fails them at once
// instead of at their deadline (CAF fails them only at their own timeout). Hedging and
// health-based choice are changes inside this class and fan_out.hpp alone.
//
// A plain class: no actor; the coordinator owns one and tells it which nodes are up.
// Thread: the coordinator's only.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "actors/registry.hpp"

namespace tessera {

class shard_router {
 public:
  using node_up_fn = std::function<bool(const std::string& node)>;
  using fail_fn = std::function<void(caf::error)>;

  explicit shard_router(node_up_fn node_up) : node_up_(std::move(node_up)) {}

  // The next ready replica of `s` on a live node not in `tried`, round robin over the
  // replicas; nullptr when none is left.
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

 private:
  node_up_fn node_up_;
  struct pending {
    caf::actor_addr replica;
    fail_fn fail;
  };
  std::map<std::string, std::map<uint64_t, pending>> inflight_;
  uint64_t next_id_ = 0;
};

// "tensor[begin:end)", how errors and logs name a shard.
std::string shard_name(const tensor_shards& t, const shard_ref& s);

}  // namespace tessera
