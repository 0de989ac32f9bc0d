#include "cluster/replacement.hpp"

#include <algorithm>
#include <numeric>

namespace tessera {

spare_plan place_spares(const std::vector<spare_need>& needs,
                        const std::vector<placement_member>& members) {
  spare_plan out;
  out.unplaced.assign(needs.size(), 0);
  std::vector<uint64_t> free(members.size());
  for (size_t i = 0; i < members.size(); ++i) free[i] = members[i].free_bytes();
  std::vector<size_t> order(needs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return needs[a].bytes > needs[b].bytes; });
  for (size_t n : order) {
    const auto& need = needs[n];
    std::vector<std::string> taken = need.holders;
    for (uint32_t copy = 0; copy < need.missing; ++copy) {
      size_t best = members.size();
      for (size_t i = 0; i < members.size(); ++i) {
        if (free[i] < need.bytes) continue;
        if (std::find(taken.begin(), taken.end(), members[i].name) != taken.end()) continue;
        if (best == members.size() || free[i] > free[best]) best = i;
      }
      if (best == members.size()) {
        out.unplaced[n] = need.missing - copy;
        break;
      }
      free[best] -= need.bytes;  // an unlimited node stays "unlimited" in practice
      taken.push_back(members[best].name);
      out.placed.push_back({n, members[best].name});
    }
  }
  return out;
}

}  // namespace tessera
