#pragma once
// The coordinator, one per cluster, in the process whose role is "coordinator", next to the
// gateway. It is two planes:
// - the control actor (this interface): members, the registry, loads, recovery, re-placement,
//   drain and persistence. Its file and disk I/O runs in workers it owns (the registry writer,
//   the package reader), never on a thread that answers calls. It publishes a routing snapshot
//   to the serving actors on every change (actors/control_publish.hpp). Reachable only
//   in-process (the gateway, the HTTP endpoints and the serving actors), never over the network.
// - the serving actors (actors/serving.hpp): predict and embed calls, one per core by default.
#include <vector>

#include <caf/typed_actor.hpp>

#include "actors/coordinator_options.hpp"
#include "actors/coordinator_types.hpp"
#include "actors/interfaces.hpp"
#include "actors/serving.hpp"
#include "cluster/admission.hpp"

namespace tessera {

using control_actor = caf::typed_actor<
    // Lists models, their versions, labels and placement.
    caf::replies_to<models_atom>::with<std::vector<model_info>>,
    // Members, models and readiness.
    caf::replies_to<status_atom>::with<cluster_status>,
    // Request counters (the serving actors', merged) and a status from the last health poll,
    // for /metrics and /readyz.
    caf::replies_to<metrics_atom>::with<coordinator_metrics>,
    // Places and loads a package as a new version of a model (two-phase: load, then flip).
    caf::replies_to<load_atom, load_request>::with<load_reply>,
    // Unloads one version (or, with 0, every version) of a model.
    caf::replies_to<unload_atom, model_key, uint64_t>::with<bool>,
    // Makes a ready version the active one, in one step.
    caf::replies_to<activate_atom, model_key, uint64_t>::with<bool>,
    // Flips back to the previously active version; answers it.
    caf::replies_to<rollback_atom, model_key>::with<uint64_t>,
    // Points a label at a version.
    caf::replies_to<label_atom, model_key, std::string, uint64_t>::with<bool>,
    // Drains a shard node: nothing new is placed on it, and every replica it holds of a ready
    // or serving version moves to another member (actors/replacement_planner.hpp).
    // Idempotent. Errors: invalid_argument (no shard node of that name in the config).
    caf::replies_to<drain_atom, std::string>::with<bool>,
    // Ends a drain: no further moves; replicas already moved stay where they are.
    caf::replies_to<undrain_atom, std::string>::with<bool>,
    // Internal: the connector reached a member's node actor.
    caf::reacts_to<member_atom, std::string, node_actor>,
    // Internal: periodic reconnect and health polling.
    caf::reacts_to<tick_atom>,
    // Internal: the current routing snapshot (the serving actors start from it).
    caf::replies_to<routes_atom>::with<snapshot_ptr>,
    // Internal: the serving actors to publish snapshots to (linked: one's end is the other's).
    caf::reacts_to<serving_atom, std::vector<serving_actor>>>;

struct coordinator_handles {
  control_actor control;
  std::vector<serving_actor> serving;  // opts.serving_actors of them
  // [limits] max_inflight: the gateway takes a ticket per call (node/call_owner.hpp); the
  // control actor reads the count for /metrics.
  admission admitted{4096};  // set from opts.max_inflight
};

// Spawns the coordinator: its control actor, then its serving actors, which start from the
// control actor's first snapshot (blocks until it answers). `local_node` is this process's node
// actor when it also has the shard role (then opts.local_member names it; invalid otherwise).
coordinator_handles spawn_coordinator(caf::actor_system& sys, coordinator_options opts,
                                      node_actor local_node);

}  // namespace tessera
