#pragma once
// States of a replica and of a sub-model version as the coordinator tracks them. Compared as
// enums everywhere; to_string only at the edges (status, logs).
#include <cstdint>

namespace tessera {

// A replica:
//   loading --> ready --> lost (its node went down) --> loading (node rejoined) --> ...
//   loading --> lost (the node died mid-load)
//   loading --> error (its node found other content than recorded: never served, not retried)
//   any --> unloaded (released; final)
enum class replica_state : uint8_t { loading, ready, lost, unloaded, error };
const char* to_string(replica_state s);
// "loading", "ready", "lost", "unloaded", "error".

// A sub-model version (an embedder's tables or a classifier's layers):
//   loading --> ready | error;  ready | error --> unloaded (final)
enum class submodel_state : uint8_t { loading, ready, error, unloaded };
const char* to_string(submodel_state s);
// "loading", "ready", "error", "unloaded".

}  // namespace tessera
