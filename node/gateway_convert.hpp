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

// Splits inputs into slices the coordinator featurizes one at a time: consecutive runs of
// about `slice_bytes` (a text counts its bytes, an id bag 12 bytes per id), each at least one
// input. Returns the boundaries b0 = 0 < b1 < ... < bn = inputs.size(); slice i is
// [b_i, b_{i+1}). Empty inputs give {0}.
std::vector<size_t> slice_bounds(const std::vector<input_item>& inputs, uint64_t slice_bytes);

// How a model is named on the wire: by its tenant's name of it, or (a cluster admin's status,
// which lists every tenant's models) qualified as model_key::display() shows it.
enum class model_naming { tenant, qualified };

void fill(ModelInfo::Builder b, const model_info& m, model_naming naming = model_naming::tenant);
void fill(Member::Builder b, const member_info& m);
void fill(Status::Builder b, const cluster_status& s, model_naming naming = model_naming::tenant);
void fill(ServedBy::Builder b, uint64_t version, uint64_t epoch);

}  // namespace tessera
