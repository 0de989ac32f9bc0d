#pragma once
// Copying a replica's rows from one shard node's block store to another's, relayed by the
// control actor (a shard node admits the coordinator only, so nodes never talk to each other):
// re-placement after a node loss, drain, raised replication and a rejoining node take rows
// from a live replica's node, never from the package or a client. Control actor thread only.
#include <functional>
#include <string>

#include "actors/control_state.hpp"

namespace tessera {

// Blocks relayed at once per copy: bounds the coordinator's memory (one block each, about
// 1 MiB) while keeping both nodes busy.
inline constexpr size_t copy_window = 4;

// A member other than `node`, up, that holds a ready replica whose content is `spec.content`;
// "" when none does.
std::string live_holder(control_state& st, const std::string& node, const shard_spec& spec);

// Asks `node` which blocks of `spec` its store lacks (it refuses when they do not fit its
// disk_budget), then relays each from `source`'s store to `node`'s, copy_window at a time,
// staged there for replica spec.replica_id. `done` runs once: with caf::none and the bytes
// copied, or with the first error (unsupported: a node without a store). Blocks staged before
// a failure are freed by the replica's unload.
void copy_blocks(control_self self, const std::string& node, const std::string& source,
                 const shard_spec& spec, std::function<void(caf::error, uint64_t)> done);

}  // namespace tessera
