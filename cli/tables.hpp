#pragma once
// Rendering of `tessera status` and `tessera models` (text tables and JSON).
//
// models (text), per model:
//   MODEL <name>  active v<N>  labels: stable=v2 canary=v3
//     v<N>  <state>  epoch <E>  dim <D>  rows <R>  labels <L>  output <O>  [error: ...]
//       shard <tensor> rows [<begin>, <end>)  <bytes>  replicas: node(state) node(state)
//     bytes per node: node=<bytes> node=<bytes>
// status (text): a "cluster: ready|NOT READY" line, a member table (NAME ADDRESS ROLES STATE
// USED/BUDGET RSS REPLICAS LOADING, the last
// with rate and time left: cli/progress.hpp), then the models as above.
// JSON keys are the schema's field names in snake_case.
#include <string>

#include <nlohmann/json.hpp>

#include "schemas/tessera.capnp.h"

namespace tessera::cli {

std::string render_models_text(capnp::List<::ModelInfo>::Reader models);
nlohmann::json models_json(capnp::List<::ModelInfo>::Reader models);

std::string render_status_text(::Status::Reader status);
// A member's STATE in status: "up", "DOWN", "DRAINING", or "DRAINED" (draining, up and holding
// no replica: it can be stopped and its entry removed from the config).
std::string member_state(::Member::Reader m);
nlohmann::json status_json(::Status::Reader status);

}  // namespace tessera::cli
