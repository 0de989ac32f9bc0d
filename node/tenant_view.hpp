#pragma once
// What a tenant may see of the coordinator's answers (docs/SECURITY.md, "What a tenant sees").
// The cluster-wide view (every tenant's models under their registry names, members with their
// addresses and memory, the coordinator's counters) is for cluster_admin tokens only; every
// other session gets its tenant's view, built here from the cluster-wide one.
//
// Thread: any; pure functions over coordinator_types values.
#include <functional>
#include <string>
#include <vector>

#include "actors/coordinator_types.hpp"
#include "cluster/tenant_scope.hpp"

namespace tessera {

// Whether a token may use (or administer) the model it calls `name` (its `models` list).
using model_filter = std::function<bool(const std::string& name)>;

// Keeps the models of `scope`'s tenant that `allowed` admits, under their bare names, and
// (unless `cluster_view`: a cluster admin's, who may see all) takes out what tells of other
// tenants: a shared sub-model (embedder, classifier) another tenant registered is named
// "shared", and no sub-model shows its user count or epoch.
void keep_tenant_models(std::vector<model_info>& models, const tenant_scope& scope,
                        const model_filter& allowed, bool cluster_view = false);

// `s` reduced to the tenant's view: its models (keep_tenant_models), its under-replicated
// lines under bare names; no members, hedge counters or persist failure count; a persist
// error only as a generic sentence; `ready` when every active version of its models is
// serving with none of its shards under-replicated and the registry is being saved.
void to_tenant_view(cluster_status& s, const tenant_scope& scope, const model_filter& allowed);

}  // namespace tessera
