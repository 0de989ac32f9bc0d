#pragma once
// The worker that reads packages for the coordinator's loads: opens the package and reads
// what a version needs (manifest, vocabulary, labels: describe_version), so that no package
// file is read on the coordinator's thread, which answers calls. A detached actor (a thread of
// its own) spawned and linked by the coordinator; one package at a time, in the order asked.
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/typed_actor.hpp>

#include "actors/coordinator_types.hpp"
#include "actors/messages.hpp"

namespace tessera {

struct version_entry;

// A version described from its package (state loading, not placed, no epoch, no number).
// Built on the reader's thread and handed over whole: from then on only the coordinator
// touches it.
struct described_version {
  std::shared_ptr<version_entry> v;
};

}  // namespace tessera

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::described_version)

namespace tessera {

using describe_atom = caf::atom_constant<caf::atom("describe")>;

using package_reader_actor = caf::typed_actor<
    // Opens req.path and describes the version req asks for: its model (req.tenant, req.name
    // or the manifest's name), R and pooling. Errors: io_error, corrupt_package,
    // invalid_argument (a model name that is not [A-Za-z0-9_.-]).
    caf::replies_to<describe_atom, load_request>::with<described_version>,
    // Deletes the kept packages (keep_root) none of these names, kept more than
    // load_timeout ago: those of versions unloaded since, or of loads that failed.
    caf::reacts_to<sweep_atom, std::set<std::string>>>;

// `keep_root`: where each described package's metadata is kept (<state_dir>/packages, see
// package/kept_package.hpp), so a restarted coordinator recovers the version after the
// package directory is gone; "" = nowhere (no state_dir). A package that cannot be kept fails
// the load (io_error): acknowledged means recoverable.
package_reader_actor::behavior_type package_reader_impl(std::string keep_root,
                                                        std::chrono::seconds sweep_age);

}  // namespace tessera
