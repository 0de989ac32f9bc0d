#pragma once
// Version lifecycle: the legal states of one version of a model and the transitions between
// them. The rules that pick transitions (activate, rollback, unload) are the registry's
// (actors/registry.hpp).
//
//   new --> loading --> ready --> serving --> ready      (another version is activated)
//                         |          |
//                         +----------+--> draining --> unloaded
//   as well as: new, loading, ready, serving, draining --> error --> unloaded
//
// unloaded is final. Activation (ready --> serving) flips the model's epoch in one step; the
// previous serving version goes back to ready and stays loaded so that rollback is a flip.
#include <cstdint>
#include <vector>

namespace tessera {

enum class version_state { new_, loading, ready, serving, draining, unloaded, error };

const char* to_string(version_state s);
// "new", "loading", "ready", "serving", "draining", "unloaded", "error".

bool can_transition(version_state from, version_state to);
// True if the diagram above has the edge from -> to. No state goes to itself.

}  // namespace tessera
