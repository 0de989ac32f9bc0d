#pragma once
// A shard actor owns one replica: an immutable row range of one tensor, already in memory.
// It is spawned by the node actor once the rows are read and verified, and stopped by it.
// Thread: CAF's; the data is immutable and shared read-only with nobody else.
#include <memory>
#include <optional>

#include "actors/interfaces.hpp"
#include "package/package.hpp"

namespace tessera {

struct shard_data {
  shard_spec spec;
  row_block rows;                 // rows [spec.row_begin, spec.row_end) of spec.tensor
  std::optional<row_block> bias;  // layer replicas with a bias: the same rows of the bias
};

struct shard_state {
  std::shared_ptr<const shard_data> data;
  static inline const char* name = "tessera.shard";
};

// Behaviour of a shard actor. Bad payloads (ragged bytes, ids outside the replica's rows,
// wrong input width) are answered with errc::invalid_argument / id_out_of_range, never a crash.
shard_actor::behavior_type shard_impl(shard_actor::stateful_pointer<shard_state> self,
                                      std::shared_ptr<const shard_data> data);

// The message handlers as plain functions, testable without an actor system.
caf::expected<pool_reply> handle_pool(const shard_data& d, const pool_request& req);
caf::expected<std::vector<char>> handle_gather(const shard_data& d, const pool_request& req);
caf::expected<layer_reply> handle_layer(const shard_data& d, const layer_request& req);
caf::expected<layer_reply> handle_topk(const shard_data& d, const layer_request& req);

}  // namespace tessera
