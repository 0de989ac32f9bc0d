#pragma once
// Re-placement on the coordinator: when a node stays down past a grace period, the replicas it
// held are placed again on the survivors, within budgets (cluster/replacement.hpp), so every
// shard has its replication factor R again. The new copies are "spares": the shard keeps its
// original replicas (R of them), and the lost ones come back when their node rejoins
// (restore_replicas). Rules, each applied per shard of a ready sub-model of a ready or serving
// version:
//   - R = the shard's non-spare replicas. Live = ready or loading on an up node.
//   - Place: when live < R and replicas sit on nodes down past the grace, up to that many
//     spares go to up nodes that hold no copy of the shard (largest shards first, each to the
//     node with the most free budget). What does not fit is logged and left; status names the
//     shard as under-replicated.
//   - Release: once the shard's non-spare replicas are ready again (its node came back and
//     reloaded them), every spare is released; while fewer, live spares beyond what the shard
//     lacks are released (loading ones first). A released spare stops being routed to at once;
//     its unload is sent at the next tick (so the sub-requests in flight to it finish), or when
//     its node is up again.
// So a returning node is given its replicas again while the spares keep serving, and the
// cluster goes back to exactly R copies, on the original nodes, with no failed request.
//
// A plain class: no actor; the coordinator's tick drives it (actors/replacement_run.cpp).
// Thread: the coordinator's only.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/registry.hpp"

namespace tessera {

class replacement_planner {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using node_up_fn = std::function<bool(const std::string& node)>;

  struct member_view {
    std::string name;
    bool up = false;
    uint64_t budget_bytes = 0;    // 0 = unlimited
    uint64_t overhead_bytes = 0;  // the budget the node's process takes itself (node_status)
  };

  // A spare to load: `replica` lives in a shard of `sub` (a deque element: stable).
  struct spare_load {
    std::shared_ptr<submodel_entry> sub;
    replica_ref* replica = nullptr;
  };

  struct plan {
    std::vector<spare_load> loads;
    std::vector<std::string> unplaced;  // "model vN tensor[b:e) lacks K of R replicas: ..."
  };

  explicit replacement_planner(std::chrono::milliseconds grace) : grace_(grace) {}

  // Who is up at `now`. A node is down since the first observation that saw it down after
  // it was last seen up (the coordinator reports both transitions as they happen, and every
  // member at each tick).
  void observe(const std::string& node, bool up, time_point now);
  bool past_grace(const std::string& node, time_point now) const;

  // Places spares (appended to their shards in state loading) for the shards that lack
  // replicas held by nodes down past the grace. The caller loads every spare in `loads`.
  plan place(registry& reg, const std::vector<member_view>& members, time_point now);

  // Marks surplus spares unloaded and queues their release (sent by due()).
  void release_surplus(registry& reg, const node_up_fn& up);
  // Queued releases whose node is up now; they leave the queue.
  std::vector<replica_release> due(const node_up_fn& up);
  size_t queued() const { return queued_.size(); }

  // Every shard of a ready or serving version with fewer than R ready replicas on up nodes:
  // "model vN tensor[b:e) has K of R replicas".
  static std::vector<std::string> under_replicated(registry& reg, const node_up_fn& up);

  // Whether `unplaced` differs from the last list given (so the caller logs changes only).
  bool unplaced_changed(const std::vector<std::string>& unplaced);

 private:
  std::chrono::milliseconds grace_;
  std::map<std::string, time_point> down_since_;
  std::vector<replica_release> queued_;
  std::vector<std::string> last_unplaced_;
};

// The id of a shard's spare number `index`: `id` without a trailing "/r<digits>", then
// "/r<index>" (the index is the replica's position in its shard, unique there).
std::string spare_replica_id(const std::string& id, size_t index);

}  // namespace tessera
