#pragma once
// A serving actor's state (actors/serving.hpp): its routing snapshot, router, coalescer and
// metrics. Shared by its behaviour (serving.cpp) and the request path (serving_run.cpp).
// Touched only on its own thread.
#include <set>
#include <string>

#include "actors/serving.hpp"
#include "actors/serving_request.hpp"
#include "actors/serving_router.hpp"
#include "cluster/coalescer.hpp"

namespace tessera {

struct serving_state {
  coordinator_options cfg;     // the request path's limits, timeouts and hedging (no members)
  snapshot_ptr routes;         // current; each request keeps the one it took
  std::set<std::string> down;  // members the control actor said are down
  serving_router router{[this](const std::string& node) { return down.count(node) == 0; }};
  coalescer<predict_call> predicts;  // keyed by version epoch
  request_metrics metrics;
  static inline const char* name = "tessera.serving";
};

using serving_self = serving_actor::stateful_pointer<serving_state>;

}  // namespace tessera
