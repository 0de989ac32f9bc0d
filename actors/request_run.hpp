#pragma once
// The request path on the coordinator: featurize, split by shard, pool, reduce, then the
// classifier layers (fanned out by output rows) and the output rule.
#include "actors/coordinator_state.hpp"

namespace tessera {

// Featurizes text inputs and checks what the gateway could not: empty texts, weights not
// parallel to ids (invalid_argument), ids per input after featurizing (limit_exceeded), and
// every id's range (id_out_of_range). The gateway checks input counts and text sizes.
caf::expected<bag_inputs> build_bags(const version_entry& v, uint32_t max_ids_per_input,
                                     const std::vector<input_item>& inputs);

// Runs a predict call on the pinned version, alone or coalesced with concurrent calls on the
// same version (actors/predict_batch.hpp), and delivers its reply or a typed error once.
void submit_predict(coordinator_self self, std::shared_ptr<version_entry> v, predict_call call);

// Runs an embed (pooling only) on the pinned version.
void run_embed(coordinator_self self, std::shared_ptr<version_entry> v, bag_inputs bags,
               caf::typed_response_promise<embed_reply> rp);

}  // namespace tessera
