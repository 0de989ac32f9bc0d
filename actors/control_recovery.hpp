#pragma once
// Coordinator state that survives a restart (actors/registry_store.hpp): what a registry write
// holds and how its outcome is kept (the writes themselves: actors/control_commits.hpp), rebuilding
// the registry at start, and releasing what no version claims.
// Control actor thread only.
#include "actors/control_state.hpp"

namespace tessera {

// Rebuilds the registry from `snap`: continues its epochs and incarnation, reopens each
// version's package and checks it still has the content it was loaded with, and attaches the
// persisted placement with every replica lost. When members connect, restore_replicas asks
// them for those replicas: a node that still holds one answers at once, without reading rows.
// A version whose package is gone or changed is dropped and logged.
void recover_registry(control_self self, const registry_snapshot& snap);

// The registry as registry.json keeps it, with the draining members.
registry_snapshot snapshot_now(const control_state& st);

// Keeps the outcome of a registry write in st.persistence: a failure is logged (once per
// outage), counted and kept (status and /metrics show it; the tick tries again while
// st.persistence.dirty); a success clears it.
void record_write(control_state& st, const caf::error& err);

// Writes the registry to cfg.state_dir on this thread (nothing without one), at start only,
// before any call is answered; later writes go through actors/control_commits.hpp. Errors:
// io_error.
caf::error persist_registry_now(control_self self);

// The answer to a change that was not applied because `persist_err` (a registry write's error)
// kept it from disk: io_error "the change was not applied: cannot persist the registry (...)".
caf::error not_persisted(const caf::error& persist_err);

// Asks `node` for its replicas and unloads those that no version claims (left by a coordinator
// that died, or by a version that was loading then).
void release_orphans(control_self self, const std::string& node);

}  // namespace tessera
