#pragma once
// Rendering of `tessera status` and `tessera models` (text tables and JSON).
//
// models (text), per model:
//   MODEL <name>  active v<N>  labels: stable=v2 canary=v3
//     v<N>  <state>  epoch <E>  dim <D>  rows <R>  labels <L>  output <O>  [error: ...]
//       shard <tensor> rows [<begin>, <end>)  <bytes>  replicas: node(state) node(state)
//     bytes per node: node=<bytes> node=<bytes>
// status (text): a "cluster: ready|NOT READY" line, a member table (NAME ADDRESS ROLES STATE
// USED/BUDGET RSS REPLICAS LOADING), then the models as above.
// JSON keys are the schema's field names in snake_case.
#include <string>

#include <nlohmann/json.hpp>

#include "schemas/tessera.capnp.h"

namespace tessera::cli {

std::string render_models_text(capnp::List<::ModelInfo>::Reader models);
nlohmann::json models_json(capnp::List<::ModelInfo>::Reader models);

std::string render_status_text(::Status::Reader status);
nlohmann::json status_json(::Status::Reader status);

// "40% (1.00 GiB / 2.50 GiB)" or "-" when nothing is loading.
std::string load_progress(uint64_t done, uint64_t total);

}  // namespace tessera::cli
