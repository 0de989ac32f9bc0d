#pragma once
// The coordinator's state, shared by its behaviour (coordinator.cpp), its membership and load
// logic (membership.cpp, loading.cpp) and the request path (request_run.cpp). Touched only on
// the coordinator actor's thread.
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "actors/coordinator.hpp"
#include "actors/predict_batch.hpp"
#include "actors/registry.hpp"

namespace tessera {

struct member_entry {
  member_options cfg;
  node_actor handle;
  bool up = false;
  bool connecting = false;
  bool local = false;  // the node actor lives in this process
  node_status health;  // last answer to health_atom
};

struct coordinator_state {
  coordinator_options cfg;
  std::map<std::string, member_entry> members;  // shard-role nodes by name
  registry reg;
  // Fail callbacks of shard requests in flight, by node: a down node fails them at once
  // instead of at their timeout.
  std::map<std::string, std::map<uint64_t, std::function<void(caf::error)>>> inflight;
  uint64_t next_sub = 0;
  uint64_t requests_running = 0;  // calls admitted and not yet answered (queued or running)
  std::map<const version_entry*, predict_queue> predict_queues;
  static inline const char* name = "tessera.coordinator";
};

using coordinator_self = coordinator_actor::stateful_pointer<coordinator_state>;

// Time left until `deadline`, at least zero.
inline std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds{0};
}

}  // namespace tessera
