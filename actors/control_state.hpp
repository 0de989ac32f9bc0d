#pragma once
// The control actor's state: its members, the registry, the live handles and routing snapshots
// it publishes to the serving actors, loads in flight, re-placement and persistence. Shared by
// its behaviour (control.cpp), the model lifecycle (control_loading.cpp), recovery, re-placement
// and the commit queue. Touched only on the control actor's thread.
#include <map>
#include <string>

#include "actors/control.hpp"
#include "actors/control_commits.hpp"
#include "actors/control_package_reader.hpp"
#include "actors/control_registry_writer.hpp"
#include "actors/control_routes.hpp"
#include "actors/inflight_tracker.hpp"
#include "actors/registry.hpp"
#include "actors/replacement_planner.hpp"
#include "actors/serving.hpp"
#include "base/logger.hpp"
#include "cluster/admission.hpp"

namespace tessera {

// The control plane's logger, shared by its files; its lines keep the component name
// "coordinator" they had before the split.
inline std::shared_ptr<spdlog::logger> control_log() {
  return component_logger("coordinator");
}

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

// Whether the registry on disk matches the one in memory (actors/control_recovery.hpp).
struct persistence_status {
  uint64_t failures = 0;  // writes of registry.json that failed, since start
  std::string error;      // the last failure while it lasts; empty once a write succeeded
  bool dirty = false;     // memory holds changes not on disk (a background change failed)
};

struct control_state {
  coordinator_options cfg;
  std::string incarnation;  // the cluster's id (persisted); part of every replica id
  std::map<std::string, member_entry> members;  // shard-role nodes by name
  registry reg;
  route_publisher routes;              // handles of ready replicas; the published snapshots
  std::vector<serving_actor> serving;  // where snapshots go (registered after start)
  admission admitted{4096};            // the serving actors' (shared): read for /metrics
  inflight_tracker loads;              // replica loads in flight, failed when a node goes
  replacement_planner planner{std::chrono::milliseconds(30000)};  // reset from cfg at start
  persistence_status persistence;
  commit_queue commits;
  registry_writer_actor writer;  // spawned at start when cfg.state_dir is set
  package_reader_actor reader;   // spawned at start: reads the packages of loads
  static inline const char* name = "tessera.coordinator";
};

using control_self = control_actor::stateful_pointer<control_state>;

}  // namespace tessera
