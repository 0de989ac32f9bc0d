#include "actors/registry.hpp"

#include <cassert>

namespace tessera {

std::vector<row_range> tensor_shards::ranges() const {
  std::vector<row_range> out;
  out.reserve(shards.size());
  for (const auto& s : shards) out.push_back(s.rows);
  return out;
}

bool submodel_entry::fully_served() const {
  for (const auto& t : tensors)
    for (const auto& s : t.shards) {
      bool any = false;
      for (const auto& r : s.replicas) any = any || r.state == "ready";
      if (!any) return false;
    }
  return true;
}

uint64_t submodel_entry::bytes_on(const std::string& node) const {
  uint64_t total = 0;
  for (const auto& t : tensors)
    for (const auto& s : t.shards)
      for (const auto& r : s.replicas)
        if (r.node == node && (r.state == "ready" || r.state == "loading")) total += s.bytes;
  return total;
}

uint64_t submodel_entry::bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors)
    for (const auto& s : t.shards) total += s.bytes * s.replicas.size();
  return total;
}

void submodel_entry::for_each_replica(const std::function<void(replica_ref&)>& f) {
  for (auto& t : tensors)
    for (auto& s : t.shards)
      for (auto& r : s.replicas) f(r);
}

bool version_entry::fully_served() const {
  return embedder && embedder->fully_served() && (!classifier || classifier->fully_served());
}

void version_entry::move_to(version_state to) {
  assert(can_transition(state, to));
  state = to;
}

version_info version_entry::info() const {
  version_info vi;
  vi.version = version;
  vi.state = to_string(state);
  vi.epoch = epoch;
  vi.path = path;
  if (embedder) {
    vi.embedder = embedder->name + " (epoch " + std::to_string(embedder->epoch) + ", " +
                  std::to_string(embedder->users) + " user" + (embedder->users == 1 ? "" : "s") +
                  ")";
    vi.dim = dim();
    vi.rows = table().rows;
  }
  if (classifier) vi.classifier = classifier->name;
  vi.label_count = labels ? static_cast<uint32_t>(labels->size()) : 0;
  vi.output = has_classifier() ? to_string(output) : "none";
  vi.error = error;
  vi.exact_pooling = exact_pooling;
  for (const auto* sub : {embedder.get(), classifier.get()}) {
    if (!sub) continue;
    for (const auto& t : sub->tensors)
      for (const auto& s : t.shards) {
        shard_info si;
        si.tensor = t.tensor;
        si.row_begin = s.rows.begin;
        si.row_end = s.rows.end;
        si.bytes = s.bytes;
        for (const auto& r : s.replicas) si.replicas.push_back({r.node, r.state});
        vi.shards.push_back(std::move(si));
      }
  }
  return vi;
}

model_info model_entry::info() const {
  model_info mi;
  mi.name = name;
  mi.active_version = active;
  for (const auto& [n, v] : versions) mi.versions.push_back(v->info());
  for (const auto& [l, v] : labels) mi.labels.emplace_back(l, v);
  return mi;
}

caf::expected<std::shared_ptr<version_entry>> registry::resolve(const model_ref& ref) const {
  auto it = models_.find(ref.name);
  if (it == models_.end()) return make_error(errc::unknown_model, "no model '" + ref.name + "'");
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
  if (!vit->second->serves())
    return make_error(errc::unknown_model,
                      "model '" + ref.name + "' " + what + " is " + to_string(vit->second->state));
  return vit->second;
}

model_entry* registry::find(const std::string& name) {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

model_entry& registry::get_or_create(const std::string& name) {
  auto& m = models_[name];
  m.name = name;
  return m;
}

void registry::for_each_submodel(
    const std::function<void(const std::shared_ptr<submodel_entry>&)>& f) {
  for (auto& [fp, e] : embedders) f(e);
  auto classifier_of = [&](version_entry& v) {
    if (v.classifier) f(v.classifier);
  };
  for (auto& [name, m] : models_)
    for (auto& [n, v] : m.versions) classifier_of(*v);
  for (auto& v : draining) classifier_of(*v);
}

void registry::mark_node_lost(const std::string& node) {
  for_each_submodel([&](const std::shared_ptr<submodel_entry>& s) {
    s->for_each_replica([&](replica_ref& r) {
      if (r.node == node && r.state != "unloaded") {
        r.state = "lost";
        r.handle = nullptr;
      }
    });
  });
}

uint64_t registry::bytes_on(const std::string& node) {
  uint64_t total = 0;
  for_each_submodel([&](const std::shared_ptr<submodel_entry>& s) { total += s->bytes_on(node); });
  return total;
}

bool registry::all_active_served() const {
  for (const auto& [name, m] : models_) {
    if (m.active == 0) continue;
    auto it = m.versions.find(m.active);
    if (it == m.versions.end() || !it->second->fully_served()) return false;
  }
  return true;
}

std::vector<model_info> registry::infos() const {
  std::vector<model_info> out;
  for (const auto& [name, m] : models_) out.push_back(m.info());
  return out;
}

}  // namespace tessera
