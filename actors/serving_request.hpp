#pragma once
// One slice of a client call on a serving actor. A request_context is made when the serving
// actor accepts it (open_request) and holds, until it is answered:
// - its deadline (set by the gateway from the client's timeout; every fan-out uses it),
// - its version's route in the routing snapshot it took (actors/serving_routes.hpp): the
//   version cannot be freed while it is held, and the request never mixes versions.
// Whoever answers destroys the context right after, so the snapshot is given back exactly once
// on every path. The call's admission is the gateway's (node/call_owner.hpp).
// Thread: its serving actor's only.
#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/coordinator_types.hpp"
#include "actors/serving_routes.hpp"
#include "cluster/request_metrics.hpp"

namespace tessera {

struct request_context {
  std::chrono::steady_clock::time_point opened;  // when open_request took it
  std::chrono::steady_clock::time_point deadline;
  route_ptr version;
};

// Takes the build a call runs on: the one the gateway hands back for a later slice of a sliced
// call (req.build), else the version `req` names in `snap` (unknown_model, epoch_mismatch),
// and fixes its deadline: req.deadline, or now + default_timeout when the caller set none.
caf::expected<request_context> open_request(const snapshot_ptr& snap, const predict_request& req,
                                            std::chrono::milliseconds default_timeout);

// Counts the answer to a call in `m`: under its version's model and number, as "ok" (with its
// time since open_request) when `err` is empty, else as err's code.
void count_answer(request_metrics& m, const request_context& ctx, const char* kind, uint64_t inputs,
                  const caf::error& err);

// The call's bags, made by its version's model family (model_family::bags_of): it checks what
// the gateway could not (inputs the family does not take, weights, ids per input after
// featurizing, every id's range).
caf::expected<bag_inputs> build_bags(const version_route& v, uint32_t max_ids_per_input,
                                     const std::vector<input_item>& inputs);

// What a call's inputs hold on its serving actor while it runs: its ids and weights and, on an
// exact-pooling version, the distinct rows gathered for them (cluster/gather.hpp), in bytes.
// Errors: limit_exceeded when those rows are over `max_gather_bytes` (check_gather_bytes).
caf::expected<uint64_t> held_bytes(const version_route& v, const bag_inputs& bags,
                                   uint64_t max_gather_bytes);

// One predict call, waiting to be coalesced or running (the coalescer's Call).
struct predict_call {
  request_context ctx;
  bag_inputs bags;
  int32_t k = 1;
  float threshold = 0;
  caf::typed_response_promise<predict_reply> rp;
  uint64_t held = 0;  // held_bytes of its inputs: the coalescer bounds a batch by their sum

  size_t inputs() const { return bags.inputs(); }
  uint64_t bytes() const { return held; }
  std::chrono::steady_clock::time_point deadline() const { return ctx.deadline; }
};

}  // namespace tessera
