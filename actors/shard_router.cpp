#include "actors/shard_router.hpp"

namespace tessera {

replica_ref* shard_router::pick(shard_ref& s, const std::set<std::string>& tried) {
  auto n = s.replicas.size();
  size_t fallback = n;  // the first eligible replica on a lagging node
  for (size_t i = 0; i < n; ++i) {
    auto& r = s.replicas[(s.next + i) % n];
    if (r.state != replica_state::ready || tried.count(r.node) || !node_up_(r.node)) continue;
    if (lagging(r.node)) {
      if (fallback == n) fallback = i;
      continue;
    }
    s.next = (s.next + i + 1) % n;
    return &r;
  }
  if (fallback == n) return nullptr;
  auto at = (s.next + fallback) % n;
  s.next = (at + 1) % n;
  return &s.replicas[at];
}

void shard_router::returned(const std::string& node) {
  auto it = lagging_.find(node);
  if (it == lagging_.end()) return;
  if (--it->second == 0) lagging_.erase(it);
}

uint64_t shard_router::track(const std::string& node, const caf::actor_addr& replica,
                             fail_fn fail) {
  auto id = ++next_id_;
  inflight_[node][id] = pending{replica, std::move(fail)};
  return id;
}

void shard_router::settle(const std::string& node, uint64_t id) {
  auto it = inflight_.find(node);
  if (it == inflight_.end()) return;
  it->second.erase(id);
  if (it->second.empty()) inflight_.erase(it);
}

void shard_router::node_down(const std::string& node, const caf::error& reason) {
  auto it = inflight_.find(node);
  if (it == inflight_.end()) return;
  // Taken out first: a fail callback may retry on another node and track() again.
  auto failed = std::move(it->second);
  inflight_.erase(it);
  for (auto& [id, p] : failed) p.fail(reason);
}

void shard_router::replica_down(const std::string& node, const caf::actor_addr& replica,
                                const caf::error& reason) {
  auto it = inflight_.find(node);
  if (it == inflight_.end()) return;
  // Taken out first: a fail callback may retry and track() again.
  std::vector<fail_fn> failed;
  for (auto p = it->second.begin(); p != it->second.end();) {
    if (p->second.replica == replica) {
      failed.push_back(std::move(p->second.fail));
      p = it->second.erase(p);
    } else {
      ++p;
    }
  }
  if (it->second.empty()) inflight_.erase(it);
  for (auto& fail : failed) fail(reason);
}

size_t shard_router::inflight(const std::string& node) const {
  auto it = inflight_.find(node);
  return it == inflight_.end() ? 0 : it->second.size();
}

uint64_t shard_router::arm(std::function<void()> f) {
  auto id = ++next_timer_;
  timers_.emplace(id, std::move(f));
  return id;
}

void shard_router::fire(uint64_t id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto f = std::move(it->second);
  timers_.erase(it);
  f();
}

std::string shard_name(const tensor_shards& t, const shard_ref& s) {
  return t.tensor + "[" + std::to_string(s.rows.begin) + ":" + std::to_string(s.rows.end) + ")";
}

std::string shard_key(const tensor_shards& t, const shard_ref& s) {
  auto key = shard_name(t, s);
  if (!s.replicas.empty()) key += "@e" + std::to_string(s.replicas.front().spec.epoch);
  return key;
}

}  // namespace tessera
