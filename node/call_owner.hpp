#pragma once
// One predict or embed call from the gateway to its answer, and its single owner. It holds,
// from admission until the call is answered or dropped:
// - its deadline, set once from the client's timeout (capped by [limits] request_timeout);
// - its admissions: the tenant quota ticket (cluster/tenant_quota.hpp) and the coordinator's
//   admission ticket ([limits] max_inflight, cluster/admission.hpp), each taken once for the
//   whole call, so a call once admitted is never refused between its slices;
// - the build its first slice ran on (base.build: the version's route, which keeps that
//   routing snapshot, and so the version's rows, alive), which every later slice runs on;
// - its inputs, their slices and the answer so far.
// Everything is given back once, when the last reference goes (the call's promise chain ends).
// The connection's call place is held beside it, by dispatchCall (node/gateway_session.hpp).
//
// Thread: the gateway's kj thread.
#include <cstddef>
#include <vector>

#include "actors/serving.hpp"
#include "cluster/admission.hpp"
#include "cluster/tenant_quota.hpp"

namespace tessera {

template <class Reply>
struct call_owner {
  predict_request base;  // model, k, threshold, deadline; no inputs; later: the build
  serving_actor to;      // every slice goes to this one (gateway_env::serving_for)
  std::vector<input_item> inputs;
  std::vector<size_t> bounds;  // slice i is inputs [bounds[i], bounds[i+1])
  bool paced = false;          // a low-priority call: each slice waits for env.pacer's slot
  Reply total;
  quota_ticket quota;         // its tenant's quotas
  admission_ticket admitted;  // the coordinator's max_inflight
};

}  // namespace tessera
