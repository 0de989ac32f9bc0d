#pragma once
// Version lifecycle: the legal states of one version of a model, the transitions between them,
// and a stateless availability policy over snapshots of a model's versions.
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

// What the coordinator knows of one version when it asks the policy.
struct version_snapshot {
  uint64_t version = 0;
  version_state state = version_state::new_;
  bool wanted = true;  // the operator still wants this version loaded
};

enum class version_action_kind { none, load, unload };
// none is the default-constructed action; next_actions never puts it in its list.

struct version_action {
  version_action_kind kind = version_action_kind::none;
  uint64_t version = 0;
  bool operator==(const version_action& o) const { return kind == o.kind && version == o.version; }
};

std::vector<version_action> next_actions(const std::vector<version_snapshot>& versions);
// The availability-preserving policy (TF Serving's AvailabilityPreservingPolicy), stateless:
// every action that is safe now, unloads first, each group by ascending version; empty (none)
// when there is nothing to do. Rules:
// - load V when V is wanted and new;
// - unload V when V is unwanted and ready, and another version is serving; an unwanted
//   serving version is never unloaded (activate another first), so the only ready/serving
//   version is never unloaded;
// - unload V when V is unwanted and in error: it serves nothing, so nothing is lost;
// - an unwanted version that is new, loading or draining is left alone (it can't be unloaded
//   mid-load; new was never loaded; draining is already on its way).

bool may_unload(const std::vector<version_snapshot>& versions, uint64_t version);
// Whether an explicit unload of `version` keeps the model available: true when `version` is
// not ready/serving (it serves nothing), or when another version is ready/serving, or when no
// other version remains (every other one is draining or unloaded: this unloads the model).
// False when `version` is not among `versions`.

}  // namespace tessera
