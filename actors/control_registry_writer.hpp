#pragma once
// The worker that writes registry.json for the coordinator, so that no fsync runs on the
// coordinator's thread (which answers calls). A detached actor (a thread of its own) spawned
// and linked by the coordinator; it handles one write at a time, in the order asked, so a
// later snapshot always lands after an earlier one.
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/typed_actor.hpp>

#include "actors/registry_store.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::registry_snapshot)

namespace tessera {

using persist_atom = caf::atom_constant<caf::atom("persist")>;

using registry_writer_actor = caf::typed_actor<
    // Writes the snapshot to <dir>/registry.json (write_snapshot: atomic, fsynced); answers
    // true once it is on disk. Errors: io_error.
    caf::replies_to<persist_atom, std::string, registry_snapshot>::with<bool>>;

registry_writer_actor::behavior_type registry_writer_impl();

}  // namespace tessera
