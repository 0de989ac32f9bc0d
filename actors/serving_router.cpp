#include "actors/serving_router.hpp"

namespace tessera {

const replica_route* serving_router::pick(const shard_route& s,
                                          const std::set<std::string>& tried) {
  auto n = s.replicas.size();
  auto& next = cursors_[&s];
  size_t fallback = n;  // the first eligible replica on a lagging node
  for (size_t i = 0; i < n; ++i) {
    auto& r = s.replicas[(next + i) % n];
    if (tried.count(r.node) || !node_up_(r.node)) continue;
    if (lagging(r.node)) {
      if (fallback == n) fallback = i;
      continue;
    }
    next = (next + i + 1) % n;
    return &r;
  }
  if (fallback == n) return nullptr;
  auto at = (next + fallback) % n;
  next = (at + 1) % n;
  return &s.replicas[at];
}

void serving_router::returned(const std::string& node) {
  auto it = lagging_.find(node);
  if (it == lagging_.end()) return;
  if (--it->second == 0) lagging_.erase(it);
}

uint64_t serving_router::arm(std::function<void()> f) {
  auto id = ++next_timer_;
  timers_.emplace(id, std::move(f));
  return id;
}

void serving_router::fire(uint64_t id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto f = std::move(it->second);
  timers_.erase(it);
  f();
}

}  // namespace tessera
