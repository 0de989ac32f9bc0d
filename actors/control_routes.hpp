#pragma once
// The control plane's side of routing (actors/serving_routes.hpp): the live handles of ready
// replicas (the registry is data and holds none), building routing snapshots from the registry
// and those handles, and knowing which published snapshots are still in use, so that rows are
// freed only when no snapshot names them: an unloaded version (registry::reap_drained) and a
// released replica (defer/due) wait until every snapshot published before the change is gone.
//
// A plain class: no actor, no messages (actors/control.cpp publishes what it builds). Thread:
// the control actor's only; the snapshots it hands out are immutable and may go anywhere.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/registry.hpp"
#include "actors/serving_routes.hpp"

namespace tessera {

class route_publisher {
 public:
  using node_up_fn = std::function<bool(const std::string& node)>;
  using replica_id = std::pair<std::string, std::string>;  // (node, replica id on the node)

  // --- handles of ready replicas -----------------------------------------------------------
  void set_handle(const std::string& node, const std::string& id, shard_actor h);
  void forget(const std::string& node, const std::string& id);
  void forget_node(const std::string& node);
  // The replica whose shard actor is `addr`, if any.
  std::optional<replica_id> find(const caf::actor_addr& addr) const;
  size_t handles() const { return handles_.size(); }

  // --- snapshots ---------------------------------------------------------------------------
  // Builds the next snapshot of `reg`: every model, label and version; for versions that
  // serve, their tensors with the ready replicas on nodes `up` says are up and whose handle is
  // known. It becomes current, and reg learns its generation (registry::published).
  snapshot_ptr publish(registry& reg, const node_up_fn& up);
  const snapshot_ptr& current() const { return current_; }
  // The oldest generation a snapshot still in use has (the current one counts: the control
  // actor holds it); 0 before the first publish.
  uint64_t oldest_live();
  // Snapshots published and still in use, the current one included.
  size_t live();

  // --- releases that wait for old snapshots -------------------------------------------------
  // Releases of replicas the current snapshot (or an older one) may name: due() hands them
  // out once those snapshots are gone.
  void defer(const std::vector<replica_release>& releases);
  std::vector<replica_release> due();
  size_t deferred() const { return deferred_.size(); }

 private:
  std::map<replica_id, shard_actor> handles_;
  snapshot_ptr current_;
  uint64_t generation_ = 0;
  std::deque<std::pair<uint64_t, std::weak_ptr<const routing_snapshot>>> published_;
  std::vector<std::pair<uint64_t, replica_release>> deferred_;  // (named until, release)
};

}  // namespace tessera
