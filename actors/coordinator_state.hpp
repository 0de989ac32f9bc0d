#pragma once
// The coordinator's state: its members, the registry, the request path's router, admission
// and coalescer. Shared by its behaviour (coordinator.cpp), the model lifecycle
// (loading.cpp) and the request path (request_run.cpp). Touched only on the coordinator
// actor's thread.
#include <map>
#include <string>

#include "actors/commit_queue.hpp"
#include "actors/coordinator.hpp"
#include "actors/package_reader.hpp"
#include "actors/registry.hpp"
#include "actors/registry_writer.hpp"
#include "actors/replacement_planner.hpp"
#include "actors/request.hpp"
#include "actors/shard_router.hpp"
#include "cluster/admission.hpp"
#include "cluster/coalescer.hpp"

namespace tessera {

struct member_entry {
  member_options cfg;
  node_actor handle;
  bool up = false;
  bool connecting = false;
  uint64_t connect_attempts = 0;  // failed or running attempts since it was last up
  bool local = false;             // the node actor lives in this process
  node_status health;             // last answer to health_atom
  // `tessera drain`: no new replicas go here, and the replicas it holds move to other members
  // (actors/replacement_planner.hpp). Persisted with the registry; cleared by `undrain`.
  bool draining = false;
};

// Whether the registry on disk matches the one in memory (actors/recovery.hpp).
struct persistence_status {
  uint64_t failures = 0;  // writes of registry.json that failed, since start
  std::string error;      // the last failure while it lasts; empty once a write succeeded
  bool dirty = false;     // memory holds changes not on disk (a background change failed)
};

struct coordinator_state {
  coordinator_options cfg;
  std::string incarnation;  // the cluster's id (persisted); part of every replica id
  std::map<std::string, member_entry> members;  // shard-role nodes by name
  registry reg;
  shard_router router{[this](const std::string& node) {
    auto it = members.find(node);
    return it != members.end() && it->second.up;
  }};
  admission admitted{4096};          // reset from cfg.max_inflight at start
  coalescer<predict_call> predicts;  // keyed by version epoch
  replacement_planner planner{std::chrono::milliseconds(30000)};  // reset from cfg at start
  request_metrics metrics;  // reset from cfg.count_requests at start
  persistence_status persistence;
  commit_queue commits;
  registry_writer_actor writer;  // spawned at start when cfg.state_dir is set
  package_reader_actor reader;   // spawned at start: reads the packages of loads
  static inline const char* name = "tessera.coordinator";
};

using coordinator_self = coordinator_actor::stateful_pointer<coordinator_state>;

}  // namespace tessera
