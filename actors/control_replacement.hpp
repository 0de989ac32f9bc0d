#pragma once
// The coordinator's side of re-placement and of the resilience figures in status: what its
// tick and make_status call. The rules are replacement_planner's (actors/replacement_planner.hpp).
// Control actor thread only.
#include "actors/control_state.hpp"

namespace tessera {

// Sets the planner's grace from the coordinator's options.
void configure_resilience(control_state& st);

// One tick: notes which members are down (and since when), sends the unloads of replicas
// released at an earlier tick, finishes moves whose new copy is ready (and persists the
// registry then), releases spares no longer needed, and places and loads the copies that move
// replicas off retiring nodes and the spares for shards whose replicas sit on nodes down past
// the grace.
void replacement_tick(control_self self);

// Status: hedges sent and won (the serving actors' `hedges`), the shards with fewer than R ready
// replicas, and the replicas that cannot move off a retiring node (replacement_planner::stuck).
void fill_resilience_status(control_state& st, const hedge_counts& hedges, cluster_status& out);

}  // namespace tessera
