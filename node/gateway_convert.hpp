#pragma once
// Conversions between the Cap'n Proto wire structs and the coordinator's C++ structs.
// Called on the gateway's kj thread.
#include "actors/coordinator_types.hpp"
#include "base/errors.hpp"
#include "node/config.hpp"
#include "schemas/tessera.capnp.h"

namespace tessera {

// Reads a ModelRef. Errors: invalid_argument for an empty name.
caf::expected<model_ref> read_model_ref(ModelRef::Reader r);

// Copies inputs after checking the cheap limits (count, text bytes, ids and weights per input)
// so an oversized call is refused before any copy. Errors: limit_exceeded, invalid_argument.
caf::expected<std::vector<input_item>> read_inputs(capnp::List<Input>::Reader in,
                                                   const limits_config& limits);

void fill(ModelInfo::Builder b, const model_info& m);
void fill(Member::Builder b, const member_info& m);
void fill(Status::Builder b, const cluster_status& s);
void fill(ServedBy::Builder b, uint64_t version, uint64_t epoch);

}  // namespace tessera
