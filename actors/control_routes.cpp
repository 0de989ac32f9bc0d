#include "actors/control_routes.hpp"

#include <algorithm>

namespace tessera {
namespace {

using handle_map = std::map<route_publisher::replica_id, shard_actor>;

tensor_route route_of(const submodel_entry& sub, const tensor_shards& t, const handle_map& handles,
                      const route_publisher::node_up_fn& up) {
  tensor_route out;
  out.owner = sub.name;
  out.epoch = sub.epoch;
  out.tensor = t.tensor;
  out.rows = t.rows;
  out.cols = t.cols;
  out.shards.reserve(t.shards.size());
  for (const auto& s : t.shards) {
    shard_route sr;
    sr.rows = s.rows;
    sr.name = shard_name(t, s);
    sr.key = sr.name + "@e" + std::to_string(sub.epoch);
    for (const auto& r : s.replicas) {
      if (r.state != replica_state::ready || !up(r.node)) continue;
      auto h = handles.find({r.node, r.replica_id});
      if (h == handles.end() || !h->second) continue;
      sr.replicas.push_back({r.node, r.replica_id, h->second});
    }
    out.shards.push_back(std::move(sr));
  }
  return out;
}

version_route route_of(const version_entry& v, const handle_map& handles,
                       const route_publisher::node_up_fn& up) {
  version_route out;
  out.model = v.model;
  out.version = v.version;
  out.epoch = v.epoch;
  out.state = v.state;
  if (!v.serves()) return out;  // listed for its error text only
  out.family = v.family;
  out.labels = v.labels;
  out.exact_pooling = v.exact_pooling;
  out.activations = v.activations;
  for (const auto& t : v.embedder->tensors)
    out.tables.push_back(route_of(*v.embedder, t, handles, up));
  if (v.has_classifier())
    for (const auto& t : v.classifier->tensors)
      out.layers.push_back(route_of(*v.classifier, t, handles, up));
  return out;
}

}  // namespace

void route_publisher::set_handle(const std::string& node, const std::string& id, shard_actor h) {
  handles_[{node, id}] = std::move(h);
}

void route_publisher::forget(const std::string& node, const std::string& id) {
  handles_.erase({node, id});
}

void route_publisher::forget_node(const std::string& node) {
  for (auto it = handles_.begin(); it != handles_.end();)
    it = it->first.first == node ? handles_.erase(it) : std::next(it);
}

std::optional<route_publisher::replica_id> route_publisher::find(
    const caf::actor_addr& addr) const {
  for (const auto& [id, h] : handles_)
    if (h && h.address() == addr) return id;
  return std::nullopt;
}

snapshot_ptr route_publisher::publish(registry& reg, const node_up_fn& up) {
  auto snap = std::make_shared<routing_snapshot>();
  snap->generation = ++generation_;
  for (const auto& [key, m] : reg.models()) {
    auto& mr = snap->models[key];
    mr.active = m.active;
    mr.labels = m.labels;
    for (const auto& [n, v] : m.versions) mr.versions.emplace(n, route_of(*v, handles_, up));
  }
  current_ = std::move(snap);
  published_.emplace_back(generation_, current_);
  reg.published(generation_);
  return current_;
}

uint64_t route_publisher::oldest_live() {
  uint64_t oldest = 0;
  for (auto it = published_.begin(); it != published_.end();) {
    if (it->second.expired()) {
      it = published_.erase(it);
      continue;
    }
    if (oldest == 0 || it->first < oldest) oldest = it->first;
    ++it;
  }
  return oldest;
}

size_t route_publisher::live() {
  oldest_live();  // drops the expired ones
  return published_.size();
}

void route_publisher::defer(const std::vector<replica_release>& releases) {
  for (const auto& r : releases) {
    forget(r.node, r.replica_id);
    deferred_.emplace_back(generation_, r);
  }
}

std::vector<replica_release> route_publisher::due() {
  std::vector<replica_release> out;
  if (deferred_.empty()) return out;
  const uint64_t oldest = oldest_live();
  auto keep = std::stable_partition(deferred_.begin(), deferred_.end(), [&](const auto& d) {
    return oldest <= d.first && oldest != 0;
  });
  for (auto it = keep; it != deferred_.end(); ++it) out.push_back(std::move(it->second));
  deferred_.erase(keep, deferred_.end());
  return out;
}

}  // namespace tessera
