#pragma once
// The request path on the coordinator: featurize, split by shard, pool, reduce, then the
// classifier layers (fanned out by output rows) and the output rule.
#include "actors/coordinator_state.hpp"

namespace tessera {

// Validated inputs of one call: one bag of row ids (with optional weights) per input.
struct bag_inputs {
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::vector<float>> weights;  // empty, or one (possibly empty) per bag
};

// Featurizes text inputs and checks what the gateway could not: empty texts, weights not
// parallel to ids (invalid_argument), ids per input after featurizing (limit_exceeded), and
// every id's range (id_out_of_range). The gateway checks input counts and text sizes.
caf::expected<bag_inputs> build_bags(const version_entry& v, const limits_config& limits,
                                     const std::vector<input_item>& inputs);

// Runs a predict on the pinned version and delivers the reply or a typed error once.
void run_predict(coordinator_self self, std::shared_ptr<version_entry> v, bag_inputs bags,
                 int32_t k, float threshold, caf::typed_response_promise<predict_reply> rp);

// Runs an embed (pooling only) on the pinned version.
void run_embed(coordinator_self self, std::shared_ptr<version_entry> v, bag_inputs bags,
               caf::typed_response_promise<embed_reply> rp);

}  // namespace tessera
