#pragma once
// The node actor: one per tessera-node process. It loads and stops replicas on the
// coordinator's command and enforces the node's memory budget.
//
// Replica lifecycle on a node: loading -> ready, loading -> error (then dropped), and
// ready/loading -> (unload) gone. Bytes are reserved against the budget when a load is
// accepted and released on unload or failure. Rows are read on a loader thread (pread, with
// checksum checks) so CAF's workers keep serving other replicas meanwhile.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "actors/interfaces.hpp"
#include "actors/shard.hpp"

namespace tessera {

struct node_options {
  std::string name;
  uint64_t budget_bytes = 0;  // 0 = unlimited
};

// Shared between the node actor and one loader thread.
struct load_slot {
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<bool> cancelled{false};
  std::mutex mtx;                      // guards result
  std::shared_ptr<shard_data> result;  // set on success
  caf::error failure;                  // set on failure
};

struct replica_entry {
  shard_spec spec;
  std::string state;  // "loading", "ready" or "stopping"
  uint64_t bytes = 0;
  std::shared_ptr<load_slot> slot;
  shard_actor handle;                                             // valid when ready
  std::vector<caf::typed_response_promise<shard_actor>> waiting;  // load callers
};

struct node_state {
  node_options opts;
  uint64_t used_bytes = 0;
  std::map<std::string, replica_entry> replicas;  // by replica id
  // Replicas told to stop, by shard actor address: their id and the unload caller.
  std::map<caf::actor_addr, std::pair<std::string, caf::typed_response_promise<bool>>> stopping;
  static inline const char* name = "tessera.node";
};

node_actor::behavior_type node_impl(node_actor::stateful_pointer<node_state> self,
                                    node_options opts);

// Bytes a replica of `spec` will hold (rows and bias), from the opened package's manifest.
caf::expected<uint64_t> replica_bytes(const package& pkg, const shard_spec& spec);

}  // namespace tessera
