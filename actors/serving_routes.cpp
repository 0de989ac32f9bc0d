#include "actors/serving_routes.hpp"

namespace tessera {

std::vector<row_range> tensor_route::ranges() const {
  std::vector<row_range> out;
  out.reserve(shards.size());
  for (const auto& s : shards) out.push_back(s.rows);
  return out;
}

caf::expected<route_ptr> resolve(const snapshot_ptr& snap, const model_ref& ref) {
  auto it = snap->models.find(ref.key());
  if (it == snap->models.end())
    return make_error(errc::unknown_model, "no model '" + ref.name + "'");
  const auto& m = it->second;
  uint64_t v = m.active;
  std::string what = "active version";
  if (ref.version != 0) {
    v = ref.version;
    what = "version " + std::to_string(v);
  } else if (!ref.label.empty()) {
    auto l = m.labels.find(ref.label);
    if (l == m.labels.end())
      return make_error(errc::unknown_model,
                        "model '" + ref.name + "' has no label '" + ref.label + "'");
    v = l->second;
    what = "version " + std::to_string(v) + " (label " + ref.label + ")";
  }
  auto vit = m.versions.find(v);
  if (v == 0 || vit == m.versions.end())
    return make_error(errc::unknown_model, "model '" + ref.name + "' has no " + what);
  const auto& route = vit->second;
  if (ref.epoch != 0 && route.epoch != ref.epoch)
    return make_error(errc::epoch_mismatch,
                      "model '" + ref.name + "' " + what + " is no longer the build (epoch " +
                          std::to_string(ref.epoch) + ") that served the first part of this call");
  if (!route.serves())
    return make_error(errc::unknown_model,
                      "model '" + ref.name + "' " + what + " is " + to_string(route.state));
  return route_ptr{snap, &route};
}

}  // namespace tessera
