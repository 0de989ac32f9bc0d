#pragma once
// The node actor: one per tessera-node process. It loads and stops replicas on the
// coordinator's command and enforces the node's memory budget, which bounds the process's
// resident memory (cluster/node_memory.hpp): a load is accepted only when its rows and read
// scratch fit next to the replicas here and the process's measured overhead.
//
// Bytes are reserved against the budget when a load is accepted and released when the replica
// is gone: on a failed load, or once an unload has let go of the rows (see hosted_state). A
// load's scratch is released when its read ends.
// Rows are read on a loader thread (pread, with checksum checks) so CAF's workers keep serving
// other replicas meanwhile.
//
// With a block store (node_options::store, the node's data_dir), a replica's rows are read
// from the store by content (shard_spec::rows_blocks); only blocks the store lacks are read from
// the spec's package_dir and written to the store first, so a restarted node, or a new version
// sharing most blocks with a loaded one, reads little or nothing from the package. Each stored
// block counts the replicas here that use it; the last one gone deletes it. Blocks the store
// lacks must fit disk_budget next to the stored ones and those other loads are fetching.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/shard.hpp"
#include "cluster/node_memory.hpp"
#include "package/block_store.hpp"

namespace tessera {

struct node_options {
  std::string name;
  uint64_t budget_bytes = 0;           // 0 = unlimited
  std::shared_ptr<block_store> store;  // null: no store; rows come from package_dir each time
  uint64_t disk_budget = 0;            // bytes the store may hold; 0 = unlimited
};

// A stored block: checksum (high, low) and bytes.
using block_key = std::tuple<uint64_t, uint64_t, uint64_t>;

// Shared between the node actor and one loader thread.
struct load_slot {
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> fetched{0};    // bytes of blocks fetched into the store
  std::atomic<uint64_t> stored{0};     // bytes of blocks found in the store
  std::atomic<bool> cancelled{false};  // set by unload (or the node's exit); the read stops
  std::mutex mtx;                      // guards result
  std::shared_ptr<shard_data> result;  // set on success
  caf::error failure;                  // set on failure
};

struct replica_entry {
  shard_spec spec;
  hosted_state state = hosted_state::loading;
  uint64_t bytes = 0;    // reserved against the budget
  uint64_t scratch = 0;  // read scratch reserved while loading (package::read_scratch_bytes)
  std::shared_ptr<load_slot> slot;                                // while a loader thread runs
  std::chrono::steady_clock::time_point accepted;                 // when the load was accepted
  shard_actor handle;                                             // valid when ready
  std::vector<caf::typed_response_promise<shard_actor>> waiting;  // load callers
  std::vector<caf::typed_response_promise<bool>> unloading;       // answered once gone
  std::vector<block_key> blocks;  // store blocks it holds a count on (rows, then bias)
  uint64_t fetched_bytes = 0;     // once ready: what its load fetched / found stored
  uint64_t stored_bytes = 0;
};

struct node_state {
  node_options opts;
  node_memory mem;  // budget from opts; reservations of the replicas below
  std::map<std::string, replica_entry> replicas;  // by replica id
  // Shard actors told to stop, by address: the id of their replica.
  std::map<caf::actor_addr, std::string> stopping;
  // Per stored block, the replicas here (in any state) that use it, and the copies staged
  // below.
  std::map<block_key, uint32_t> block_refs;
  // Blocks put (copied from a peer) for a replica not loaded yet, by its id: held until it is
  // loaded (it then holds them itself) or unloaded.
  std::map<std::string, std::vector<block_key>> staged;
  // Of those, the bytes put (copied in) rather than found stored by `missing`.
  std::map<std::string, uint64_t> staged_copied;
  // Puts being written on writer threads, by token.
  struct pending_put {
    std::string replica_id;
    block_key key;
    caf::typed_response_promise<bool> rp;
    std::shared_ptr<caf::error> result;  // set by the writer thread before it reports
  };
  std::map<uint64_t, pending_put> puts;
  uint64_t next_put = 0;
  // When an actor of another process last asked for health (epoch: never).
  std::chrono::steady_clock::time_point peer_seen{};
  static inline const char* name = "tessera.node";
};

node_actor::behavior_type node_impl(node_actor::stateful_pointer<node_state> self,
                                    node_options opts);

// Bytes a replica of `spec` will hold (rows and bias), from the opened package's manifest.
caf::expected<uint64_t> replica_bytes(const package& pkg, const shard_spec& spec);

}  // namespace tessera
