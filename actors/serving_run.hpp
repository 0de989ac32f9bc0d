#pragma once
// The request path on a serving actor: split by shard, pool, reduce, then the classifier
// layers (fanned out by output rows) and the output rule. Its serving actor's thread only.
#include "actors/serving_state.hpp"

namespace tessera {

// Runs a predict call on its version's route, alone or coalesced with concurrent calls on the
// same version (cluster/coalescer.hpp), and answers it, or a typed error, once. Its
// request_context (deadline, route) is released right after the answer.
void submit_predict(serving_self self, predict_call call);

// Answers deadline_exceeded to the queued calls of version epoch `key` whose deadline passed
// (a timer set by submit_predict when a call has to wait).
void expire_predicts(serving_self self, uint64_t key);

// Runs an embed (pooling only) on its version's route, and answers it once.
void run_embed(serving_self self, request_context ctx, bag_inputs bags,
               caf::typed_response_promise<embed_reply> rp);

}  // namespace tessera
