#pragma once
// How the control actor tells the serving plane about changes, and frees rows only when no
// routing snapshot in use names them (actors/control_routes.hpp). Control actor's thread only.
#include <vector>

#include "actors/control_state.hpp"

namespace tessera {

// Whether member `node` is up (connected).
bool member_up(const control_state& st, const std::string& node);

// Builds a routing snapshot of the registry and sends it to every serving actor; once each
// answered, frees what no snapshot in use names any more (reap_unnamed). Call it after every
// change requests may see and before answering that change: a call sent after the answer is
// queued behind the snapshot at its serving actor, so it sees the change.
void publish_routes(control_self self);

// Releases replicas (already marked unloaded in the registry): their unloads are sent once no
// snapshot that may name them is in use; publishes the snapshot that leaves them out. A
// release on a member that is down when it is due is dropped: the node lost the replica anyway
// (release_orphans frees it if it comes back).
void release_replicas(control_self self, const std::vector<replica_release>& releases);

// Unloads the versions that drained, and sends the unloads that are due.
void reap_unnamed(control_self self);

// Replica `r` answered its load with shard actor `h`: it is ready, its handle is kept (and
// monitored: a crash marks it lost), and a snapshot that routes to it is published.
void replica_ready(control_self self, replica_ref& r, const shard_actor& h);

}  // namespace tessera
