#pragma once
// Coordinator state that survives a restart (actors/registry_store.hpp): persisting the
// registry after every change, rebuilding it at start, and releasing what no version claims.
// Coordinator thread only.
#include <functional>

#include "actors/coordinator_state.hpp"

namespace tessera {

// Rebuilds the registry from `snap`: continues its epochs and incarnation, reopens each
// version's package and checks it still has the content it was loaded with, and attaches the
// persisted placement with every replica lost. When members connect, restore_replicas asks
// them for those replicas: a node that still holds one answers at once, without reading rows.
// A version whose package is gone or changed is dropped and logged.
void recover_registry(coordinator_self self, const registry_snapshot& snap);

// Writes the registry to cfg.state_dir (nothing without one). A failure is logged, counted and
// kept in st.persistence (status and /metrics show it) and returned; serving goes on, and the
// tick tries again while st.persistence.dirty. Errors: io_error.
caf::error persist_registry(coordinator_self self);

// The answer to a change that was taken back because `persist_err` (persist_registry's error)
// kept it from disk: io_error "the change was not applied: cannot persist the registry (...)".
caf::error not_persisted(const caf::error& persist_err);

// Acknowledged means durable: runs `change` on the registry (it touches model `model` only)
// and persists the result. When `change` fails, its error is returned; when the result cannot
// be persisted, the registry is put back as it was (registry::undo_point) and the answer is
// io_error ("the change was not applied: ..."). Nothing may release replicas inside `change`.
// `adding`: a version `change` adds to the model (a load), saved with it.
caf::error commit_change(coordinator_self self, const model_key& model,
                         const std::function<caf::error()>& change,
                         std::shared_ptr<version_entry> adding = nullptr);

// Asks `node` for its replicas and unloads those that no version claims (left by a coordinator
// that died, or by a version that was loading then).
void release_orphans(coordinator_self self, const std::string& node);

}  // namespace tessera
