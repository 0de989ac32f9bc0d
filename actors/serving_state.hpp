#pragma once
// A serving actor's state (actors/serving.hpp): its routing snapshot, router, coalescer and
// metrics. Shared by its behaviour (serving.cpp) and the request path (request_run.cpp).
// Touched only on its own thread.
#include <set>
#include <string>

#include "actors/request.hpp"
#include "actors/serving.hpp"
#include "actors/shard_router.hpp"
#include "cluster/admission.hpp"
#include "cluster/coalescer.hpp"

namespace tessera {

struct serving_state {
  coordinator_options cfg;     // the request path's limits, timeouts and hedging (no members)
  snapshot_ptr routes;         // current; each request keeps the one it took
  std::set<std::string> down;  // members the control actor said are down
  shard_router router{[this](const std::string& node) { return down.count(node) == 0; }};
  admission admitted{4096};          // shared with the other serving actors
  coalescer<predict_call> predicts;  // keyed by version epoch
  request_metrics metrics;
  static inline const char* name = "tessera.serving";
};

using serving_self = serving_actor::stateful_pointer<serving_state>;

}  // namespace tessera
