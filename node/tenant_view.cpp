#include "node/tenant_view.hpp"

#include <algorithm>

namespace tessera {
namespace {

// "NAME (epoch E, N users)" or "NAME" -> the tenant's name of NAME, or "shared".
std::string sub_model_name(const std::string& shown, const tenant_scope& scope) {
  if (shown.empty()) return shown;
  auto registry_name = shown.substr(0, shown.find(" ("));
  return scope.local_name(registry_name).value_or("shared");
}

}  // namespace

void keep_tenant_models(std::vector<model_info>& models, const tenant_scope& scope,
                        const model_filter& allowed, bool cluster_view) {
  models.erase(std::remove_if(models.begin(), models.end(),
                              [&](const model_info& m) {
                                auto local = scope.local_name(m.name);
                                return !local || !allowed(*local);
                              }),
               models.end());
  for (auto& m : models) {
    m.name = *scope.local_name(m.name);
    if (cluster_view) continue;
    for (auto& v : m.versions) {
      v.embedder = sub_model_name(v.embedder, scope);
      v.classifier = sub_model_name(v.classifier, scope);
    }
  }
}

void to_tenant_view(cluster_status& s, const tenant_scope& scope, const model_filter& allowed) {
  keep_tenant_models(s.models, scope, allowed);
  auto& lines = s.under_replicated;
  // A line starts with the model's registry name: "acme/m v1 embedder.input[0:10) has ...".
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [&](const std::string& l) {
                               auto local = scope.local_name(l.substr(0, l.find(' ')));
                               return !local || !allowed(*local);
                             }),
              lines.end());
  for (auto& l : lines) {
    auto space = std::min(l.find(' '), l.size());
    l = *scope.local_name(l.substr(0, space)) + l.substr(space);
  }
  s.members.clear();
  s.hedges_sent = 0;
  s.hedges_won = 0;
  s.persist_failures = 0;
  if (!s.persist_error.empty())
    s.persist_error = "the coordinator cannot save its registry: admin changes are refused";
  bool ready = s.persist_error.empty() && lines.empty();
  for (const auto& m : s.models)
    for (const auto& v : m.versions)
      if (v.version == m.active_version && v.state != version_state::serving) ready = false;
  s.ready = ready;
}

}  // namespace tessera
