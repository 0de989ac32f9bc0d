#include "actors/inflight_tracker.hpp"

#include <vector>

namespace tessera {

uint64_t inflight_tracker::track(const std::string& node, const caf::actor_addr& to, fail_fn fail) {
  auto id = ++next_id_;
  inflight_[node][id] = pending{to, std::move(fail)};
  return id;
}

void inflight_tracker::settle(const std::string& node, uint64_t id) {
  auto it = inflight_.find(node);
  if (it == inflight_.end()) return;
  it->second.erase(id);
  if (it->second.empty()) inflight_.erase(it);
}

void inflight_tracker::node_down(const std::string& node, const caf::error& reason) {
  auto it = inflight_.find(node);
  if (it == inflight_.end()) return;
  // Taken out first: a fail callback may retry on another node and track() again.
  auto failed = std::move(it->second);
  inflight_.erase(it);
  for (auto& [id, p] : failed) p.fail(reason);
}

void inflight_tracker::actor_down(const std::string& node, const caf::actor_addr& to,
                                  const caf::error& reason) {
  auto it = inflight_.find(node);
  if (it == inflight_.end()) return;
  // Taken out first: a fail callback may retry and track() again.
  std::vector<fail_fn> failed;
  for (auto p = it->second.begin(); p != it->second.end();) {
    if (p->second.to == to) {
      failed.push_back(std::move(p->second.fail));
      p = it->second.erase(p);
    } else {
      ++p;
    }
  }
  if (it->second.empty()) inflight_.erase(it);
  for (auto& fail : failed) fail(reason);
}

size_t inflight_tracker::inflight(const std::string& node) const {
  auto it = inflight_.find(node);
  return it == inflight_.end() ? 0 : it->second.size();
}

}  // namespace tessera
