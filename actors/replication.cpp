#include "actors/replication.hpp"

#include <algorithm>
#include <cstdint>

#include "actors/replacement_planner.hpp"
#include "cluster/replacement.hpp"

namespace tessera {

uint32_t copies_of(const shard_ref& s) {
  uint32_t n = 0;
  for (const auto& x : s.replicas) n += x.spare || x.state == replica_state::unloaded ? 0 : 1;
  return n;
}

uint32_t replication_of(const submodel_entry& sub, const shard_ref& s) {
  return sub.replicas > 0 ? sub.replicas : copies_of(s);
}

std::string new_replica_id(shard_ref& s, const std::string& copied) {
  for (size_t i = std::max(s.next_id, s.replicas.size());; ++i) {
    auto id = spare_replica_id(copied, i);
    if (std::none_of(s.replicas.begin(), s.replicas.end(),
                     [&](const replica_ref& x) { return x.replica_id == id; })) {
      s.next_id = i + 1;
      return id;
    }
  }
}

caf::expected<std::vector<std::string>> raise_replication(
    submodel_entry& sub, uint32_t replicas, const std::vector<placement_member>& members) {
  std::vector<spare_need> needs;
  std::vector<std::pair<shard_ref*, const replica_ref*>> shards;  // per need: whose spec to copy
  for (auto& t : sub.tensors)
    for (auto& s : t.shards) {
      const auto have = copies_of(s);
      if (have >= replicas) continue;
      std::vector<std::string> holders;
      const replica_ref* model = nullptr;  // a regular replica, else a spare: same rows
      for (const auto& x : s.replicas) {
        if (x.state == replica_state::unloaded) continue;
        holders.push_back(x.node);
        if (!model || (model->spare && !x.spare)) model = &x;
      }
      if (!model)
        return make_error(errc::unavailable,
                          sub.name + " " + shard_name(t, s) + " has no replica left to copy");
      needs.push_back({shard_name(t, s), s.bytes, replicas - have, std::move(holders)});
      shards.emplace_back(&s, model);
    }
  std::vector<std::string> out;
  if (needs.empty()) return out;
  auto plan = place_spares(needs, members);
  uint64_t lacking = 0;
  std::string which;
  for (size_t i = 0; i < needs.size(); ++i) {
    if (plan.unplaced[i] == 0) continue;
    lacking += plan.unplaced[i];
    which += (which.empty() ? "" : ", ") + needs[i].shard + " lacks " +
             std::to_string(plan.unplaced[i]) + " (" + std::to_string(needs[i].bytes) +
             " bytes each)";
  }
  if (lacking > 0) {
    std::string free;
    for (const auto& m : members) {
      auto f = m.free_bytes();
      free += (free.empty() ? "" : ", ") + m.name + " has " +
              (f == UINT64_MAX ? std::string{"unlimited"} : std::to_string(f)) + " free";
    }
    return make_error(errc::insufficient_memory,
                      sub.name + " needs " + std::to_string(lacking) +
                          " more copies for R=" + std::to_string(replicas) +
                          " but no member without a copy has room: " + which + "; " +
                          (free.empty() ? "no member" : free));
  }
  for (const auto& c : plan.placed) {
    auto& [s, model] = shards[c.need];
    replica_ref copy;  // appended below: `model` stays valid (a deque grows at its end)
    copy.node = c.node;
    copy.replica_id = new_replica_id(*s, model->replica_id);
    copy.spec = model->spec;
    copy.spec.replica_id = copy.replica_id;
    copy.state = replica_state::loading;
    s->replicas.push_back(std::move(copy));
    out.push_back(s->replicas.back().replica_id);
  }
  return out;
}

}  // namespace tessera
