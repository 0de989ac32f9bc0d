#pragma once
// What a tenant may see of the coordinator's answers (docs/SECURITY.md, "What a tenant sees").
// The cluster-wide view (every tenant's models, members with their
// addresses and memory, the coordinator's counters) is for cluster_admin tokens only; every
// other session gets its tenant's view, built here from the cluster-wide one.
//
// Thread: any; pure functions over coordinator_types values.
#include <functional>
#include <string>
#include <vector>

#include "actors/coordinator_types.hpp"
#include "cluster/model_key.hpp"

namespace tessera {

// Whether a token may use (or administer) the model it calls `name` (its `models` list).
using model_filter = std::function<bool(const std::string& name)>;

// Keeps the models of `tenant` that `allowed` admits, and (unless `cluster_view`: a cluster
// admin's, who may see all) takes out what tells of other tenants: an embedder another tenant
// registered (and shares with this one) is named "shared", and no embedder shows its user count
// or epoch.
void keep_tenant_models(std::vector<model_info>& models, const tenant_id& tenant,
                        const model_filter& allowed, bool cluster_view = false);

// `s` reduced to the tenant's view: its models (keep_tenant_models), its under-replicated
// shards; no members, hedge counters or persist failure count; a persist error only as a
// generic sentence; `ready` when every active version of its models is serving with none of
// its shards under-replicated and the registry is being saved.
void to_tenant_view(cluster_status& s, const tenant_id& tenant, const model_filter& allowed);

}  // namespace tessera
