#include "cluster/placement.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace tessera {

namespace {

using u128 = unsigned __int128;
constexpr uint64_t k_unlimited = std::numeric_limits<uint64_t>::max();

uint64_t clamp64(u128 v) {
  return v > k_unlimited ? k_unlimited : static_cast<uint64_t>(v);
}

// Bytes a node can still take for this model: its free bytes minus what this placement gave it.
struct node_load {
  uint64_t free = 0;
  u128 load = 0;
  u128 room() const { return load < free ? free - load : 0; }
};

// Rows of one tensor per node (sum = R * rows, each <= rows). `rest` is the bytes of one copy
// of this tensor and of every tensor placed after it; `turn` rotates ties between tensors.
std::vector<uint64_t> share_rows(const placement_tensor& t, uint32_t replicas, u128 rest,
                                 const std::vector<node_load>& nodes, size_t turn) {
  const size_t n = nodes.size();
  std::vector<u128> weight(n);
  for (size_t i = 0; i < n; ++i) weight[i] = std::min(nodes[i].room(), rest);
  u128 total = std::accumulate(weight.begin(), weight.end(), u128{0});
  if (total == 0) {  // nobody has room (or nothing has bytes): equal shares
    std::fill(weight.begin(), weight.end(), u128{1});
    total = n;
  }
  const u128 target = u128{t.rows} * replicas;
  std::vector<uint64_t> q(n);
  std::vector<u128> frac(n);
  u128 left = target;
  for (size_t i = 0; i < n; ++i) {
    u128 exact = target * weight[i];
    q[i] = clamp64(std::min<u128>(exact / total, t.rows));
    frac[i] = q[i] == t.rows ? 0 : exact % total;
    left -= q[i];
  }
  auto fits_one_more = [&](size_t i) { return u128{q[i] + 1} * t.row_bytes <= nodes[i].room(); };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // Largest remainder first; ties go to the least loaded node, then rotate with the tensor.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (frac[a] != frac[b]) return frac[a] > frac[b];
    if (nodes[a].load != nodes[b].load) return nodes[a].load < nodes[b].load;
    return (a + n - turn % n) % n < (b + n - turn % n) % n;
  });
  for (size_t i : order)
    if (left > 0 && q[i] < t.rows && fits_one_more(i)) ++q[i], --left;
  if (left == 0) return q;
  // Rounding left rows nobody took one by one (a near-tight fit, or no fit at all): give them
  // in bulk to the roomiest nodes, first within their room, then over it (a refusal follows).
  auto room_after = [&](size_t i) {
    u128 used = u128{q[i]} * t.row_bytes, room = nodes[i].room();
    return used < room ? room - used : 0;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return room_after(a) > room_after(b); });
  for (bool over : {false, true})
    for (size_t i : order) {
      u128 can = std::min<u128>(left, t.rows - q[i]);
      if (!over && t.row_bytes > 0) can = std::min<u128>(can, room_after(i) / t.row_bytes);
      q[i] += clamp64(can);
      left -= can;
    }
  return q;
}

// Whole copies of a small tensor on the R roomiest nodes (ties: least loaded, then rotating
// with the tensor); empty when fewer than R nodes have room for a whole copy.
std::vector<uint64_t> whole_copies(const placement_tensor& t, uint32_t replicas,
                                   const std::vector<node_load>& nodes, size_t turn) {
  const size_t n = nodes.size();
  const u128 bytes = u128{t.rows} * t.row_bytes;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (nodes[a].load != nodes[b].load) return nodes[a].load < nodes[b].load;
    return (a + n - turn % n) % n < (b + n - turn % n) % n;
  });
  std::vector<uint64_t> q(n, 0);
  uint32_t placed = 0;
  for (size_t i : order)
    if (placed < replicas && nodes[i].room() >= bytes) {
      q[i] = t.rows;
      ++placed;
    }
  if (placed < replicas) return {};
  return q;
}

// Lays the shares out wrap-around over R copies of [0, rows) and cuts the ranges.
void lay_out(const placement_tensor& t, uint32_t replicas, const std::vector<uint64_t>& q,
             const std::vector<placement_member>& members, std::vector<shard_assignment>& out) {
  std::vector<u128> start(q.size());
  std::vector<uint64_t> cuts;
  u128 pos = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    start[i] = pos;
    if (q[i] > 0) cuts.push_back(clamp64(pos % t.rows));
    pos += q[i];
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (size_t s = 0; s < cuts.size(); ++s) {
    shard_assignment a;
    a.tensor = t.name;
    a.shard = s;
    a.rows = row_range{cuts[s], s + 1 < cuts.size() ? cuts[s + 1] : t.rows};
    a.bytes = a.rows.size() * t.row_bytes;
    for (uint32_t r = 0; r < replicas; ++r) {
      u128 p = u128{r} * t.rows + a.rows.begin;
      for (size_t i = 0; i < q.size(); ++i)
        if (q[i] > 0 && start[i] <= p && p < start[i] + q[i]) {
          a.nodes.push_back(members[i].name);
          break;
        }
    }
    out.push_back(std::move(a));
  }
}

std::string refusal(const std::vector<placement_member>& members,
                    const std::vector<node_load>& nodes, u128 needed, uint32_t replicas) {
  std::string msg = "model needs " + std::to_string(clamp64(needed)) + " bytes (" +
                    std::to_string(replicas) + (replicas == 1 ? " replica" : " replicas") + ") but";
  for (size_t i = 0; i < members.size(); ++i) {
    auto f = nodes[i].free;
    msg += std::string(i == 0 ? " " : "; ") + members[i].name + " has " +
           (f == k_unlimited ? std::string("unlimited") : std::to_string(f)) +
           " free, would need " + std::to_string(clamp64(nodes[i].load));
  }
  return msg;
}

}  // namespace

uint64_t placement_member::free_bytes() const {
  if (budget_bytes == 0) return k_unlimited;
  return budget_bytes > used_bytes ? budget_bytes - used_bytes : 0;
}

caf::expected<std::vector<shard_assignment>> place_model(
    const std::vector<placement_tensor>& tensors, const std::vector<placement_member>& members,
    uint32_t replicas, uint64_t whole_max_bytes) {
  const size_t n = members.size();
  if (n == 0) return make_error(errc::unavailable, "no shard node is up");
  if (replicas == 0) return make_error(errc::invalid_argument, "replicas must be at least 1");
  if (replicas > n)
    return make_error(errc::invalid_argument,
                      "replicas " + std::to_string(replicas) + " exceed the " + std::to_string(n) +
                          " shard nodes up (two replicas of a shard never share a node)");
  std::vector<node_load> nodes(n);
  for (size_t i = 0; i < n; ++i) nodes[i].free = members[i].free_bytes();
  // Largest rows first, so the finest-grained tensors come last and absorb rounding.
  std::vector<size_t> order;
  u128 rest = 0;
  for (size_t t = 0; t < tensors.size(); ++t)
    if (tensors[t].rows > 0) {
      order.push_back(t);
      rest += u128{tensors[t].rows} * tensors[t].row_bytes;
    }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return tensors[a].row_bytes > tensors[b].row_bytes; });
  const u128 needed = rest * replicas;
  std::vector<std::vector<uint64_t>> shares(tensors.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& t = tensors[order[k]];
    if (u128{t.rows} * t.row_bytes <= whole_max_bytes)
      shares[order[k]] = whole_copies(t, replicas, nodes, order[k]);
    if (shares[order[k]].empty()) shares[order[k]] = share_rows(t, replicas, rest, nodes, order[k]);
    for (size_t i = 0; i < n; ++i) nodes[i].load += u128{shares[order[k]][i]} * t.row_bytes;
    rest -= u128{t.rows} * t.row_bytes;
  }
  for (size_t i = 0; i < n; ++i)
    if (nodes[i].load > nodes[i].free)
      return make_error(errc::insufficient_memory, refusal(members, nodes, needed, replicas));
  std::vector<shard_assignment> out;
  for (size_t t = 0; t < tensors.size(); ++t)
    if (tensors[t].rows > 0) lay_out(tensors[t], replicas, shares[t], members, out);
  return out;
}

}  // namespace tessera
