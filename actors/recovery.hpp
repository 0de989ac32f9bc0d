#pragma once
// Coordinator state that survives a restart (actors/registry_store.hpp): persisting the
// registry after every change, rebuilding it at start, and releasing what no version claims.
// Coordinator thread only.
#include "actors/coordinator_state.hpp"

namespace tessera {

// Rebuilds the registry from `snap`: continues its epochs and incarnation, reopens each
// version's package and checks it still has the content it was loaded with, and attaches the
// persisted placement with every replica lost. When members connect, restore_replicas asks
// them for those replicas: a node that still holds one answers at once, without reading rows.
// A version whose package is gone or changed is dropped and logged.
void recover_registry(coordinator_self self, const registry_snapshot& snap);

// Writes the registry to cfg.state_dir (nothing without one). A failure is logged; serving
// goes on.
void persist_registry(coordinator_self self);

// Asks `node` for its replicas and unloads those that no version claims (left by a coordinator
// that died, or by a version that was loading then).
void release_orphans(coordinator_self self, const std::string& node);

}  // namespace tessera
