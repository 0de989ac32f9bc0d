#pragma once
// Sub-requests in flight on each node, so that a node (or one shard actor) that goes down fails
// them at once instead of at their deadline (CAF fails them only at their own timeout). Used by
// the serving actors' routers (shard sub-requests) and by the control actor (replica loads).
//
// A plain class: no actor. Thread: its owner's only.
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <caf/actor_addr.hpp>
#include <caf/error.hpp>

namespace tessera {

class inflight_tracker {
 public:
  using fail_fn = std::function<void(caf::error)>;

  // Registers one sub-request in flight on `node` to the actor `to` (may be empty); `fail`
  // runs (once) if the node or that actor goes down before settle(node, id). Returns the id.
  uint64_t track(const std::string& node, const caf::actor_addr& to, fail_fn fail);
  // Forgets sub-request `id` on `node` (it was answered or failed on its own).
  void settle(const std::string& node, uint64_t id);
  // `node` went down: fails every sub-request in flight on it with `reason`, once each.
  void node_down(const std::string& node, const caf::error& reason);
  // The actor `to` on `node` went down (its node lives on): fails the sub-requests in flight
  // to it with `reason`, once each.
  void actor_down(const std::string& node, const caf::actor_addr& to, const caf::error& reason);
  // Sub-requests in flight on `node`.
  size_t inflight(const std::string& node) const;

 private:
  struct pending {
    caf::actor_addr to;
    fail_fn fail;
  };
  std::map<std::string, std::map<uint64_t, pending>> inflight_;
  uint64_t next_id_ = 0;
};

}  // namespace tessera
