#pragma once
// Messages between processes (node actor <-> coordinator, shard actors <-> coordinator).
// Tensor payloads travel as byte buffers (std::vector<char>), which CAF 0.17 serializes with
// one memcpy instead of one virtual call per float. Every type here is registered on every
// node by register_message_types().
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "package/package.hpp"
#include "package/row_source.hpp"

namespace tessera {

// Atoms (at most 10 characters).
using load_atom = caf::atom_constant<caf::atom("load")>;
using unload_atom = caf::atom_constant<caf::atom("unload")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using pool_atom = caf::atom_constant<caf::atom("pool")>;
using layer_atom = caf::atom_constant<caf::atom("layer")>;
using topk_atom = caf::atom_constant<caf::atom("topk")>;
using gather_atom = caf::atom_constant<caf::atom("gather")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using predict_atom = caf::atom_constant<caf::atom("predict")>;
using embed_atom = caf::atom_constant<caf::atom("embed")>;
using models_atom = caf::atom_constant<caf::atom("models")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using activate_atom = caf::atom_constant<caf::atom("activate")>;
using rollback_atom = caf::atom_constant<caf::atom("rollback")>;
using label_atom = caf::atom_constant<caf::atom("label")>;
using member_atom = caf::atom_constant<caf::atom("member")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using hedge_atom = caf::atom_constant<caf::atom("hedge")>;
using metrics_atom = caf::atom_constant<caf::atom("metrics")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using undrain_atom = caf::atom_constant<caf::atom("undrain")>;
using routes_atom = caf::atom_constant<caf::atom("routes")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;
using serving_atom = caf::atom_constant<caf::atom("serving")>;
using missing_atom = caf::atom_constant<caf::atom("missing")>;
using read_block_atom = caf::atom_constant<caf::atom("readblock")>;
using put_block_atom = caf::atom_constant<caf::atom("putblock")>;
using put_done_atom = caf::atom_constant<caf::atom("putdone")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

// What a replica holds.
enum class shard_kind : uint8_t {
  embedding = 0,  // rows of an embedding table: answers pool and gather
  layer = 1,      // output rows of a dense layer (+ bias): answers layer and topk
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checksum128& x) {
  return f(caf::meta::type_name("checksum128"), x.high, x.low);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tensor_blocks& x) {
  return f(caf::meta::type_name("tensor_blocks"), x.rows, x.cols, x.block_rows, x.first_block,
           x.checksums);
}

// Command to load one replica.
struct shard_spec {
  // Unique in the cluster and naming the content, e.g.
  // "3f2a9c1e/sections.embedder@1/e2/embedder.input/0/r0/5d41402a" (incarnation, sub-model,
  // epoch, tensor, shard, replica, content): a node hands out an existing replica only for the
  // same id, so never one holding other rows.
  std::string replica_id;
  // Where the node may read blocks its store lacks: a package directory readable at this path
  // on the node (--server-path loads, and versions loaded before node stores); empty = none
  // (the rows must be in the node's store: shipped there, or kept from before a restart).
  std::string package_dir;
  std::string tensor;  // tensor name in the package
  std::string bias;    // layer only: bias tensor name, or empty
  uint64_t row_begin = 0;
  uint64_t row_end = 0;
  uint64_t epoch = 0;  // epoch of the sub-model version; every request must carry it
  uint8_t kind = 0;    // shard_kind
  // rows_digest of the rows (and "+" that of the bias rows) as recorded when the version was
  // first loaded. A node refuses to load the replica when its package now says otherwise
  // (corrupt_package), so changed files are never served.
  std::string content;
  // The rows by content (package/row_source.hpp): the blocks of `tensor` (and of `bias`) that
  // cover [row_begin, row_end). A node with a store reads them from it and fetches only the
  // blocks it lacks; `content` must be their blocks_digest.
  tensor_blocks rows_blocks;
  tensor_blocks bias_blocks;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_spec& x) {
  return f(caf::meta::type_name("shard_spec"), x.replica_id, x.package_dir, x.tensor, x.bias,
           x.row_begin, x.row_end, x.epoch, x.kind, x.content, x.rows_blocks, x.bias_blocks);
}

// The blocks of a spec, rows' then bias', each with its bytes: the list whose indices the
// node's `missing` answers (actors/interfaces.hpp) and the coordinator's copies relay.
std::vector<std::pair<checksum128, uint64_t>> spec_blocks(const shard_spec& spec);

// The content digest a shard_spec carries for rows [begin, end) of `tensor` (and of `bias`
// when not empty), from `meta`. Errors: invalid_argument for an unknown tensor or range.
caf::expected<std::string> replica_content(const manifest& meta, const std::string& tensor,
                                           const std::string& bias, uint64_t begin, uint64_t end);

// Pool a batch of bags: rows are uint32 local row ids, offsets uint32 (bags + 1 of them),
// weights float32 (empty when unweighted); all little-endian bytes.
struct pool_request {
  uint64_t epoch = 0;
  uint32_t bags = 0;
  std::vector<char> rows;
  std::vector<char> offsets;
  std::vector<char> weights;
  uint8_t op = 0;  // pool_op (cluster/sharding.hpp): 0 sum, 1 max; others are refused
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_request& x) {
  return f(caf::meta::type_name("pool_request"), x.epoch, x.bags, x.rows, x.offsets, x.weights,
           x.op);
}

// Per bag, as pool_bags computes it for the request's op: the sum of its rows or their max
// (bags x dim float32), and the sum of its weights or its row count (bags float32).
struct pool_reply {
  std::vector<char> sums;
  std::vector<char> counts;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_reply& x) {
  return f(caf::meta::type_name("pool_reply"), x.sums, x.counts);
}

// A batch of input vectors (batch x in float32) for a layer shard.
struct layer_request {
  uint64_t epoch = 0;
  uint32_t batch = 0;
  int32_t k = 0;  // topk only: candidates per input (< 0: all)
  std::vector<char> inputs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, layer_request& x) {
  return f(caf::meta::type_name("layer_request"), x.epoch, x.batch, x.k, x.inputs);
}

// layer: batch x rows float32 (this shard's slice of W x + b).
// topk: encode_topk() of one topk_partial per input.
struct layer_reply {
  std::vector<char> payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, layer_reply& x) {
  return f(caf::meta::type_name("layer_reply"), x.payload);
}

// A replica's state on the node that hosts it (the coordinator's view of a replica is another
// thing: cluster/replica_state.hpp). Legal transitions:
//   loading -> ready             rows read and verified; a shard actor serves them
//   loading -> (gone)            the read failed: bytes released, load callers get the error
//   loading -> stopping -> gone  unload: the read is cancelled at its next block; the bytes
//                                are released and the unload answered once the loader thread
//                                has dropped its buffer
//   ready -> stopping -> gone    unload: the same, once the shard actor is down
enum class hosted_state : uint8_t { loading, ready, stopping };

// "loading", "ready", "stopping".
const char* to_string(hosted_state s);

// One replica as its node sees it.
struct replica_status {
  std::string replica_id;
  hosted_state state = hosted_state::loading;
  uint64_t bytes = 0;       // bytes of rows held (or to be held, while loading)
  uint64_t bytes_done = 0;  // load progress
  uint64_t load_ms = 0;     // while loading: milliseconds since the node accepted the load
  std::string error;
  // Bytes of blocks this load fetched (from a package, a peer or a stream) and wrote to the
  // node's store, and bytes it found there already: a new version that shares most blocks
  // with one loaded before fetches only the rest. Both 0 on a node without a store.
  uint64_t fetched_bytes = 0;
  uint64_t stored_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_status& x) {
  return f(caf::meta::type_name("replica_status"), x.replica_id, x.state, x.bytes, x.bytes_done,
           x.load_ms, x.error, x.fetched_bytes, x.stored_bytes);
}

struct node_status {
  std::string name;
  uint64_t budget_bytes = 0;  // memory budget from the config
  uint64_t used_bytes = 0;    // bytes reserved by replicas (loading or ready)
  uint64_t rss_bytes = 0;     // resident set size of the process
  // RSS minus the replica rows held now: what the process needs besides its replicas, which
  // the budget must also hold (cluster/node_memory.hpp). The coordinator plans with it.
  uint64_t overhead_bytes = 0;
  std::vector<replica_status> replicas;
  // Milliseconds since an actor in another process (the coordinator polls every second) last
  // asked for health; -1 when none has yet. A shard-only node's /readyz reads it.
  int64_t peer_seen_ms = -1;
  // The node's block store (its data_dir): bytes of the blocks on disk and the disk_budget
  // they must fit (0 = unlimited); both 0 without a store.
  uint64_t store_bytes = 0;
  uint64_t disk_budget_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("node_status"), x.name, x.budget_bytes, x.used_bytes, x.rss_bytes,
           x.overhead_bytes, x.replicas, x.peer_seen_ms, x.store_bytes, x.disk_budget_bytes);
}

// Registers every message type above (and the vectors CAF needs) with a config. Call on every
// process before the actor system starts.
void register_message_types(caf::actor_system_config& cfg);

}  // namespace tessera
