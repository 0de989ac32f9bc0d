#include "actors/registry.hpp"

namespace tessera {

std::vector<row_range> tensor_shards::ranges() const {
  std::vector<row_range> out;
  out.reserve(shards.size());
  for (const auto& s : shards) out.push_back(s.rows);
  return out;
}

namespace {

template <class F>
void each_tensor(const version_entry& v, F f) {
  f(v.table);
  for (const auto& l : v.layers) f(l);
}

}  // namespace

bool version_entry::fully_served() const {
  bool ok = true;
  each_tensor(*this, [&](const tensor_shards& t) {
    for (const auto& s : t.shards) {
      bool any = false;
      for (const auto& r : s.replicas) any = any || r.state == "ready";
      ok = ok && any;
    }
  });
  return ok;
}

uint64_t version_entry::bytes_on(const std::string& node) const {
  uint64_t total = 0;
  each_tensor(*this, [&](const tensor_shards& t) {
    for (const auto& s : t.shards)
      for (const auto& r : s.replicas)
        if (r.node == node && r.state != "lost") total += s.bytes;
  });
  return total;
}

version_info version_entry::info() const {
  version_info vi;
  vi.version = version;
  vi.state = state;
  vi.epoch = epoch;
  vi.path = path;
  if (meta.embedder)
    vi.embedder = meta.embedder->name + "@" + std::to_string(meta.embedder->version);
  if (meta.classifier)
    vi.classifier = meta.classifier->name + "@" + std::to_string(meta.classifier->version);
  vi.dim = dim();
  vi.rows = table.rows;
  vi.label_count = labels ? static_cast<uint32_t>(labels->size()) : 0;
  vi.output = has_classifier() ? to_string(output) : "none";
  vi.error = error;
  each_tensor(*this, [&](const tensor_shards& t) {
    for (const auto& s : t.shards) {
      shard_info si;
      si.tensor = t.tensor;
      si.row_begin = s.rows.begin;
      si.row_end = s.rows.end;
      si.bytes = s.bytes;
      for (const auto& r : s.replicas) si.replicas.push_back({r.node, r.state});
      vi.shards.push_back(std::move(si));
    }
  });
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
  if (vit->second->state != "ready" && vit->second->state != "serving")
    return make_error(errc::unknown_model,
                      "model '" + ref.name + "' " + what + " is " + vit->second->state);
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

void registry::mark_node_lost(const std::string& node) {
  for (auto& [name, m] : models_)
    for (auto& [n, v] : m.versions) {
      auto mark = [&](tensor_shards& t) {
        for (auto& s : t.shards)
          for (auto& r : s.replicas)
            if (r.node == node) {
              r.state = "lost";
              r.handle = nullptr;
            }
      };
      mark(v->table);
      for (auto& l : v->layers) mark(l);
    }
}

uint64_t registry::bytes_on(const std::string& node) const {
  uint64_t total = 0;
  for (const auto& [name, m] : models_)
    for (const auto& [n, v] : m.versions) total += v->bytes_on(node);
  for (const auto& v : draining) total += v->bytes_on(node);
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
