#pragma once
// The coordinator: owns the cluster's view (members, placement, model registry) and runs
// requests as fan-out then reduce. One per cluster, in the process whose role is
// "coordinator", next to the gateway.
#include <caf/typed_actor.hpp>

#include "actors/coordinator_options.hpp"
#include "actors/coordinator_types.hpp"
#include "actors/interfaces.hpp"

namespace tessera {

using coordinator_actor = caf::typed_actor<
    // Runs one predict call (a batch of inputs) on one epoch of the model.
    caf::replies_to<predict_atom, predict_request>::with<predict_reply>,
    // Pools a batch of inputs (the embedder only).
    caf::replies_to<embed_atom, predict_request>::with<embed_reply>,
    // Lists models, their versions, labels and placement.
    caf::replies_to<models_atom>::with<std::vector<model_info>>,
    // Members, models and readiness.
    caf::replies_to<status_atom>::with<cluster_status>,
    // Request counters and a status from the last health poll, for /metrics and /readyz.
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
    // Internal: a queued predict call of this version epoch reached its deadline.
    caf::reacts_to<expire_atom, uint64_t>,
    // Internal: a hedge timer of the fan-out (actors/fan_out.hpp) is due.
    caf::reacts_to<hedge_atom, uint64_t>>;

// Spawns the coordinator. `local_node` is this process's node actor when it also has the
// shard role (then opts.local_member names it; invalid otherwise).
coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_options opts,
                                    node_actor local_node);

}  // namespace tessera
