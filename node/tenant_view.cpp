#include "node/tenant_view.hpp"

#include <algorithm>

namespace tessera {

void keep_tenant_models(std::vector<model_info>& models, const tenant_id& tenant,
                        const model_filter& allowed, bool cluster_view) {
  models.erase(
      std::remove_if(models.begin(), models.end(),
                     [&](const model_info& m) { return m.tenant != tenant || !allowed(m.name); }),
      models.end());
  if (cluster_view) return;
  for (auto& m : models)
    for (auto& v : m.versions) {
      if (v.embedder.empty()) continue;
      // "NAME (epoch E, N users)": the users may be other tenants' models.
      v.embedder =
          v.embedder_owner == tenant ? v.embedder.substr(0, v.embedder.find(" (")) : "shared";
    }
}

void to_tenant_view(cluster_status& s, const tenant_id& tenant, const model_filter& allowed) {
  keep_tenant_models(s.models, tenant, allowed);
  auto& under = s.under_replicated;
  under.erase(std::remove_if(under.begin(), under.end(),
                             [&](const shard_shortfall& u) {
                               return u.model.tenant != tenant || !allowed(u.model.name);
                             }),
              under.end());
  s.members.clear();
  s.hedges_sent = 0;
  s.hedges_won = 0;
  s.persist_failures = 0;
  if (!s.persist_error.empty())
    s.persist_error = "the coordinator cannot save its registry: admin changes are refused";
  bool ready = s.persist_error.empty() && under.empty();
  for (const auto& m : s.models)
    for (const auto& v : m.versions)
      if (v.version == m.active_version && v.state != version_state::serving) ready = false;
  s.ready = ready;
}

}  // namespace tessera
