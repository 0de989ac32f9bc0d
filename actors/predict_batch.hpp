#pragma once
// Coalescing of concurrent predict calls. Each version runs at most `max_parallel_runs`
// fan-outs at once; calls that arrive meanwhile wait and then go out together as one batch
// (one pool message per shard for all of them). At low load a call runs at once; under load
// the per-call cost of messages and fan-outs is shared. Touched on the coordinator's thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/coordinator_types.hpp"

namespace tessera {

struct version_entry;

// Validated inputs of one call: one bag of row ids (with optional weights) per input.
struct bag_inputs {
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::vector<float>> weights;  // empty, or one (possibly empty) per bag
};

// One predict call, waiting or running.
struct predict_call {
  bag_inputs bags;
  int32_t k = 1;
  float threshold = 0;
  caf::typed_response_promise<predict_reply> rp;
  std::chrono::steady_clock::time_point deadline;
};

struct predict_queue {
  std::shared_ptr<version_entry> v;
  std::vector<predict_call> waiting;  // oldest first
  size_t running = 0;                 // batches in flight
  bool flushing = false;              // guards re-entry from a batch that fails at once
};

// Batches in flight per version; more calls wait and are coalesced.
constexpr size_t max_parallel_runs = 2;
// Inputs in one coalesced batch at most (a single call may be larger, up to max_inputs).
constexpr size_t max_batch_inputs = 4096;

}  // namespace tessera
