#include "cluster/placement.hpp"

#include <limits>
#include <map>

namespace tessera {

uint64_t placement_member::free_bytes() const {
  if (budget_bytes == 0) return std::numeric_limits<uint64_t>::max();
  return budget_bytes > used_bytes ? budget_bytes - used_bytes : 0;
}

caf::expected<std::vector<shard_assignment>> place_model(
    const std::vector<placement_tensor>& tensors, const std::vector<placement_member>& members,
    uint32_t replicas) {
  auto n = members.size();
  if (n == 0) return make_error(errc::unavailable, "no shard node is up");
  if (replicas == 0) return make_error(errc::invalid_argument, "replicas must be at least 1");
  if (replicas > n)
    return make_error(errc::invalid_argument, "replicas " + std::to_string(replicas) +
                                                  " exceed the " + std::to_string(n) +
                                                  " shard nodes up (two replicas of a shard never "
                                                  "share a node)");
  std::vector<shard_assignment> out;
  std::vector<uint64_t> need(n, 0);
  for (size_t t = 0; t < tensors.size(); ++t) {
    const auto& tensor = tensors[t];
    auto ranges = split_rows(tensor.rows, n);
    for (size_t i = 0; i < ranges.size(); ++i) {
      shard_assignment a;
      a.tensor = tensor.name;
      a.shard = i;
      a.rows = ranges[i];
      a.bytes = ranges[i].size() * tensor.row_bytes;
      for (uint32_t r = 0; r < replicas; ++r) {
        auto m = (i + r + t) % n;
        a.nodes.push_back(members[m].name);
        need[m] += a.bytes;
      }
      out.push_back(std::move(a));
    }
  }
  std::string overflow;
  uint64_t total = 0;
  for (size_t m = 0; m < n; ++m) {
    total += need[m];
    if (need[m] > members[m].free_bytes())
      overflow += "; node " + members[m].name + " needs " + std::to_string(need[m]) +
                  " bytes, has " + std::to_string(members[m].free_bytes()) + " free";
  }
  if (!overflow.empty())
    return make_error(errc::insufficient_memory,
                      "model needs " + std::to_string(total) + " bytes" + overflow);
  return out;
}

}  // namespace tessera
