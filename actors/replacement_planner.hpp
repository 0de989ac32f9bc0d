#pragma once
// Re-placement on the coordinator: when a node stays down past a grace period, the replicas it
// held are placed again on the survivors, within budgets (cluster/replacement.hpp), so every
// shard has its replication factor R again. The new copies are "spares": the shard keeps its
// original replicas (R of them), and the lost ones come back when their node rejoins
// (restore_replicas). Rules, each applied per shard of a ready sub-model of a ready or serving
// version:
//   - R = the sub-model's replication factor (actors/replication.hpp: the largest R of the
//     versions using it). Live = ready or loading on an up node.
//   - Place: when live < R and replicas sit on nodes down past the grace, up to that many
//     spares go to up nodes that hold no copy of the shard (largest shards first, each to the
//     node with the most free budget). What does not fit is logged and left; status names the
//     shard as under-replicated.
//   - Release: once the shard's non-spare replicas are ready again (its node came back and
//     reloaded them), every spare is released; while fewer, live spares beyond what the shard
//     lacks are released (loading ones first). A released spare stops being routed to at once;
//     its unload is sent at the next tick (so the sub-requests in flight to it finish), or when
//     its node is up again; dropped if its node leaves the config.
//   - A released replica (spare, moved copy) is erased from its shard's list at the tick
//     (registry::drop_released): the queue keeps what its unload needs, so a node that comes
//     and goes leaves neither list growing.
// So a returning node is given its replicas again while the spares keep serving, and the
// cluster goes back to exactly R copies, on the original nodes, with no failed request.
//
// Moves: a node that is draining (`tessera drain`), or that the config no longer names, is
// *retiring*: its replicas are moved, not copied back later.
//   - Place: every non-spare replica on a retiring node (in any state), and every live spare
//     there, gets a successor: a spare with `replaces` set, placed like a spare (never on a
//     retiring node) and placed before plain spares. The old copy keeps serving meanwhile.
//     What does not fit stays where it is, and stuck() names it.
//   - Finish (finish_moves): once a successor is ready on an up node it takes the old
//     replica's place (spare or not, as the old one was) and the old one is released like a
//     surplus spare (routing stops at once, its unload goes at the next tick). A successor
//     whose node goes down or retires before it is ready is released and placed anew; one
//     whose load failed on an up node stays, so that node is not chosen again, until the
//     move is done: then the old replica's other successors are released too.
//   - A retiring node's lost spares are released (their shard gets a new spare if needed).
// Only ready or serving versions move: a version still loading moves once it is ready, and
// an unloaded version that still drains requests is freed where it is.
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
    bool draining = false;        // retiring: gets nothing new, its replicas move away
  };

  // A finished move: `replica_id` replaced `old_id` on `from`.
  struct move_done {
    std::string replica_id, node, old_id, from;
  };

  // A spare to load: `replica` lives in a shard of `sub` (a deque element: stable until
  // registry::drop_released; the caller keeps its id, not the pointer, across messages).
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

  // Places successors of the replicas on retiring nodes (every node not in `members` retires
  // too), then spares for the shards that lack replicas held by nodes down past the grace;
  // both are appended to their shards in state loading. The caller loads every one in `loads`.
  plan place(registry& reg, const std::vector<member_view>& members, time_point now);

  // Successors that are ready take their old replica's place (the old one is queued for
  // release); lost or retiring successors, and a retiring node's lost spares, are released.
  std::vector<move_done> finish_moves(registry& reg, const std::vector<member_view>& members);
  // The replicas the last place() could not move off a retiring node, e.g.
  // (m, "v1 embedder.input[0:100) cannot move off draining shard-2: no other member has room").
  const std::vector<shard_shortfall>& stuck() const { return stuck_; }
  // Replicas the registry places on `node` that are not released (any version, any state).
  static size_t held_on(registry& reg, const std::string& node);

  // Marks surplus spares unloaded and queues their release (sent by due()).
  void release_surplus(registry& reg, const node_up_fn& up);
  // Queued releases whose node is up now; they leave the queue, and so do those whose node
  // is no longer a member (nothing can be sent there; if it comes back under its name, the
  // coordinator's release_orphans frees what no version claims). Only releases for members
  // that are down stay: at most one per replica released on them, since nothing new is
  // placed on a down node.
  std::vector<replica_release> due(const std::vector<member_view>& members);
  size_t queued() const { return queued_.size(); }

  // Every shard of a ready or serving version with fewer than R ready replicas on up nodes:
  // (model, "vN tensor[b:e) has K of R replicas").
  static std::vector<shard_shortfall> under_replicated(registry& reg, const node_up_fn& up);

  // Whether `unplaced` differs from the last list given (so the caller logs changes only).
  bool unplaced_changed(const std::vector<std::string>& unplaced);

 private:
  // Marks `x` unloaded (routing stops at once) and, on a member, queues its unload for due().
  void release(replica_ref& x, bool member);

  std::chrono::milliseconds grace_;
  std::map<std::string, time_point> down_since_;
  std::vector<replica_release> queued_;
  std::vector<std::string> last_unplaced_;
  std::vector<shard_shortfall> stuck_;
};

// The id of a shard's spare number `index`: `id` without a trailing "/r<digits>", then
// "/r<index>" (new_replica_id, actors/replication.hpp, picks an index unique in the shard).
std::string spare_replica_id(const std::string& id, size_t index);
// `id` without the "/r<digits>" a spare's id ends with: the id of the replica it copies, as
// spec_for made it ("<...>/r<K>/<digest>").
std::string base_replica_id(const std::string& id);

}  // namespace tessera
