#pragma once
// Model lifecycle on the coordinator: load (place, load every replica, then flip), unload
// (drain, then free), activate, rollback and labels. Coordinator thread only.
#include "actors/coordinator_state.hpp"

namespace tessera {

// Phase 1 loads every replica while the current version keeps serving; phase 2 flips the
// active version in one step (always for a model's first version, else only with
// req.activate). A failed load unloads what it loaded and leaves serving versions untouched.
void start_load(coordinator_self self, load_request req,
                caf::typed_response_promise<load_reply> rp);

// Unloads `version` of `name` (0: the whole model). The active version of a model that has
// other versions is refused: activate another one first. Replicas are freed once the
// version's in-flight requests finish.
caf::expected<bool> unload(coordinator_self self, const std::string& name, uint64_t version);

caf::expected<bool> activate(coordinator_self self, const std::string& name, uint64_t version);
caf::expected<uint64_t> rollback(coordinator_self self, const std::string& name);
caf::expected<bool> set_label(coordinator_self self, const std::string& name,
                              const std::string& label, uint64_t version);

// Frees the replicas of versions that were unloaded while requests ran and have drained.
void reap_drained(coordinator_self self);

// Sends load commands again for the replicas a rejoining node lost.
void restore_replicas(coordinator_self self, const std::string& node);

}  // namespace tessera
