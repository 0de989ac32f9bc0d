#pragma once
// Model lifecycle on the control actor that needs messages to nodes: load (place, load every
// replica, then flip), freeing released replicas, and restoring a rejoined node's replicas.
// The rules themselves (activate, rollback, labels, unload, drain) are the registry's.
// Control actor thread only.
#include "actors/control_state.hpp"

namespace tessera {

// Phase 1 loads every replica while the current version keeps serving; phase 2 flips the
// active version in one step (always for a model's first version, else only with
// req.activate). A failed load frees what it loaded and leaves serving versions untouched.
// An unload of the version meanwhile cancels the load (answered unknown_model). A version
// that reuses a loaded embedder with fewer copies per shard than its R places and loads the
// missing copies in phase 1 too (actors/replication.hpp), or is refused (insufficient_memory)
// when they do not fit; a failed or cancelled load releases them.
void start_load(control_self self, load_request req, caf::typed_response_promise<load_reply> rp);

// Sends `spec` to `node` with the load deadline, registered with st.loads so a node that
// dies mid-load fails it at once. When another member up holds a ready replica of the same
// content, the blocks `node` lacks are first copied from that member's store
// (actors/control_block_copy.hpp) and the node loads from its store alone (no package_dir).
// Exactly one of ok or fail runs.
void request_load(control_self self, const std::string& node, const shard_spec& spec,
                  std::function<void(shard_actor)> ok, std::function<void(caf::error)> fail);

// Sends load commands again for the replicas a rejoining node lost.
void restore_replicas(control_self self, const std::string& node);

}  // namespace tessera
