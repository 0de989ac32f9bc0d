#pragma once
// The serving plane: serving actors (one per core by default, [limits] serving_actors) answer
// predict and embed calls. Each featurizes, coalesces, fans out to the shards, hedges, reduces
// and answers on its own thread, with its own router state (round-robin cursors, in-flight
// sub-requests, reply times for hedging) and its own metrics. What it knows of the cluster is
// the routing snapshot the control actor last published to it (actors/serving_routes.hpp);
// nothing on its path waits for the control actor or takes a lock that it holds.
//
// Admission ([limits] max_inflight) is the gateway's, once per call (node/call_owner.hpp).
#include <caf/typed_actor.hpp>

#include "actors/coordinator_options.hpp"
#include "actors/coordinator_types.hpp"
#include "actors/interfaces.hpp"
#include "actors/serving_routes.hpp"

namespace tessera {

using serving_actor = caf::typed_actor<
    // Runs one predict call (a batch of inputs) on one build of the model.
    caf::replies_to<predict_atom, predict_request>::with<predict_reply>,
    // Pools a batch of inputs (the embedder only).
    caf::replies_to<embed_atom, predict_request>::with<embed_reply>,
    // Its request and sub-request counters, merged by the control actor per scrape.
    caf::replies_to<metrics_atom>::with<serving_metrics>,
    // From the control actor: the routing snapshot to use from now on; answered once current.
    caf::replies_to<routes_atom, snapshot_ptr>::with<bool>,
    // From the control actor: member `node` is up (true) or went down (false); going down
    // fails its sub-requests in flight at once.
    caf::reacts_to<member_atom, std::string, bool>,
    // From the control actor: replica `id` on `node`, whose shard actor had this address, went
    // down.
    caf::reacts_to<lost_atom, std::string, std::string, caf::actor_addr>,
    // Internal: a queued predict call of this version epoch reached its deadline.
    caf::reacts_to<expire_atom, uint64_t>,
    // Internal: a hedge timer of the fan-out (actors/serving_fan_out.hpp) is due.
    caf::reacts_to<hedge_atom, uint64_t>>;

// Spawns one serving actor that answers on `routes` until the control actor publishes another.
serving_actor spawn_serving(caf::actor_system& sys, const coordinator_options& opts,
                            snapshot_ptr routes);

}  // namespace tessera

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<tessera::serving_actor>)
