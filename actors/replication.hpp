#pragma once
// A sub-model's replication factor R: how many copies each of its shards must hold, and the
// extra copies that raise it when a load asks a shared embedder for more than it has. A
// shared sub-model holds at least the largest R of the versions using it (submodel_entry::
// replicas, kept by the registry); re-placement and status measure shards against it.
// Plain functions over the registry's structs; control actor thread only.
#include <string>
#include <vector>

#include "actors/registry.hpp"
#include "cluster/placement.hpp"

namespace tessera {

// The shard's copies that count towards R: its replicas that are neither spares nor released
// (in any other state: a lost one comes back with its node).
uint32_t copies_of(const shard_ref& s);

// R for shard `s` of `sub`: sub.replicas, or when that is not known (0) the shard's copies.
uint32_t replication_of(const submodel_entry& sub, const shard_ref& s);

// An id no replica of `s` has had while this coordinator runs: spare_replica_id of `copied`
// (the id of the replica whose rows it copies) at the first index from max(s.next_id, the
// number of replicas) that no replica of `s` has; s.next_id moves past it.
std::string new_replica_id(shard_ref& s, const std::string& copied);

// Raises every shard of `sub` to `replicas` copies (copies_of): the missing ones go to
// `members` (the live shard nodes that take new replicas, with what they hold already in
// used_bytes) that hold no copy of that shard, each within its free bytes, largest shards
// first (cluster/replacement.hpp's place_spares). They are appended to their shards as
// regular replicas (not spares) in state loading, with their shard's spec and a new id; the
// caller loads them and releases them if its load fails. Returns their ids; none when every
// shard has enough. All or nothing: when any copy has no room, nothing is appended.
// Errors: insufficient_memory "<sub> needs N more copies for R=K but ...", naming the shards
// that lack copies and each member's free bytes.
caf::expected<std::vector<std::string>> raise_replication(
    submodel_entry& sub, uint32_t replicas, const std::vector<placement_member>& members);

}  // namespace tessera
