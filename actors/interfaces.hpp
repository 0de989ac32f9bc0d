#pragma once
// Typed interfaces of every actor that is reached across processes. All processes include
// this one header, so both ends of a remote connection agree exactly.
#include <caf/all.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace tessera {

// One loaded replica of one shard. Every message carries the epoch of the sub-model version
// the caller expects; a replica answers errc::epoch_mismatch for any other epoch.
using shard_actor = caf::typed_actor<
    // Pools a batch of bags over this replica's rows (embedding replicas).
    caf::replies_to<pool_atom, pool_request>::with<pool_reply>,
    // Returns the rows named by the request's local row ids, in order, as float32 bytes
    // (embedding replicas; used for exact pooling). Offsets and weights are ignored.
    caf::replies_to<gather_atom, pool_request>::with<std::vector<char>>,
    // Returns this replica's slice of W x + b for a batch of inputs (layer replicas).
    caf::replies_to<layer_atom, layer_request>::with<layer_reply>,
    // Returns per input this replica's top-k logits, max and sum of exp (layer replicas).
    caf::replies_to<topk_atom, layer_request>::with<layer_reply>>;

// One per tessera-node process; published on the node's port.
using node_actor = caf::typed_actor<
    // Loads a replica (reads its rows, verifies checksums) within the node's memory budget,
    // then answers its handle. Errors: insufficient_memory, corrupt_package, io_error.
    caf::replies_to<load_atom, shard_spec>::with<shard_actor>,
    // Stops a replica and frees its memory; false if the node did not hold it.
    caf::replies_to<unload_atom, std::string>::with<bool>,
    // Reports memory and replicas.
    caf::replies_to<health_atom>::with<node_status>,
    // Internal: a loader thread finished reading the named replica's rows.
    caf::reacts_to<loaded_atom, std::string>,
    // Copying rows between nodes (the coordinator relays; actors/control_block_copy.hpp).
    // The blocks of a spec (rows, then bias) its store lacks, as indices into that list, once
    // the spec checks out and the blocks fit disk_budget. The blocks it has are held for the
    // replica of the spec's id from then (as put_block_atom's are), so no sweep or unload
    // deletes them before that replica loads. Errors: unsupported (no store),
    // corrupt_package, insufficient_storage.
    caf::replies_to<missing_atom, shard_spec>::with<std::vector<uint32_t>>,
    // A stored block's bytes, verified. Errors: unavailable (not stored), corrupt_package.
    caf::replies_to<read_block_atom, checksum128, uint64_t>::with<std::vector<char>>,
    // Stores a block for the replica of that id, which is loaded next: the block is kept
    // until that replica is loaded and gone, or unloaded before. Errors: corrupt_package (the
    // bytes do not match), io_error, unsupported (no store).
    caf::replies_to<put_block_atom, std::string, checksum128, std::vector<char>>::with<bool>,
    // Internal: a writer thread stored (or failed to store) the put with this token.
    caf::reacts_to<put_done_atom, uint64_t>,
    // Deletes the stored blocks no replica here uses, held or staged (blocks of versions
    // unloaded while the node was down); answers the bytes deleted (0 without a store).
    caf::replies_to<sweep_atom>::with<uint64_t>>;

}  // namespace tessera
