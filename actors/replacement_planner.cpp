#include "actors/replacement_planner.hpp"

#include <algorithm>
#include <cctype>

#include "actors/shard_router.hpp"
#include "cluster/replacement.hpp"

namespace tessera {
namespace {

bool live(const replica_ref& r, const replacement_planner::node_up_fn& up) {
  return (r.state == replica_state::ready || r.state == replica_state::loading) && up(r.node);
}

// Calls f("model vN", sub-model) for the ready sub-models of every ready or serving version;
// with `once`, a shared embedder only for the first version that pins it.
template <class F>
void for_each_served(registry& reg, bool once, F f) {
  std::set<const submodel_entry*> seen;
  for (const auto& [name, m] : reg.models())
    for (const auto& [n, v] : m.versions) {
      if (!v->serves()) continue;
      const auto label = name + " v" + std::to_string(n);
      for (const auto& sub : {v->embedder, v->classifier}) {
        if (!sub || sub->state != submodel_state::ready) continue;
        if (once && !seen.insert(sub.get()).second) continue;
        f(label, sub);
      }
    }
}

uint32_t replication(const shard_ref& s) {
  uint32_t r = 0;
  for (const auto& x : s.replicas) r += x.spare ? 0 : 1;
  return r;
}

}  // namespace

std::string spare_replica_id(const std::string& id, size_t index) {
  auto base = id;
  auto slash = base.rfind("/r");
  if (slash != std::string::npos && slash + 2 < base.size() &&
      std::all_of(base.begin() + slash + 2, base.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    base.resize(slash);
  return base + "/r" + std::to_string(index);
}

void replacement_planner::observe(const std::string& node, bool up, time_point now) {
  if (up)
    down_since_.erase(node);
  else
    down_since_.emplace(node, now);  // keeps the first time it was seen down
}

bool replacement_planner::past_grace(const std::string& node, time_point now) const {
  auto it = down_since_.find(node);
  return it != down_since_.end() && now - it->second >= grace_;
}

replacement_planner::plan replacement_planner::place(registry& reg,
                                                     const std::vector<member_view>& members,
                                                     time_point now) {
  plan out;
  std::map<std::string, bool> up;
  for (const auto& m : members) up[m.name] = m.up;
  auto is_up = [&](const std::string& n) {
    auto it = up.find(n);
    return it != up.end() && it->second;
  };
  struct target {
    std::shared_ptr<submodel_entry> sub;
    shard_ref* shard;
    uint32_t r;
  };
  std::vector<spare_need> needs;
  std::vector<target> targets;
  for_each_served(reg, true,
                  [&](const std::string& label, const std::shared_ptr<submodel_entry>& sub) {
                    for (auto& t : sub->tensors)
                      for (auto& s : t.shards) {
                        const auto r = replication(s);
                        uint32_t alive = 0, gone = 0;
                        std::vector<std::string> holders;
                        for (const auto& x : s.replicas) {
                          if (x.state == replica_state::unloaded) continue;
                          holders.push_back(x.node);
                          if (live(x, is_up))
                            ++alive;
                          else if (!is_up(x.node) && past_grace(x.node, now))
                            ++gone;
                        }
                        if (alive >= r || gone == 0) continue;
                        needs.push_back({label + " " + shard_name(t, s), s.bytes,
                                         std::min(r - alive, gone), std::move(holders)});
                        targets.push_back({sub, &s, r});
                      }
                  });
  if (needs.empty()) return out;
  std::vector<placement_member> survivors;
  for (const auto& m : members)
    if (m.up)
      survivors.push_back({m.name, m.budget_bytes, reg.bytes_on(m.name) + m.overhead_bytes});
  auto chosen = place_spares(needs, survivors);
  for (const auto& c : chosen.placed) {
    auto& tg = targets[c.need];
    auto& s = *tg.shard;
    const replica_ref* model = nullptr;  // the spec to copy: a non-spare replica's
    for (const auto& x : s.replicas)
      if (!x.spare) {
        model = &x;
        break;
      }
    if (!model) continue;
    replica_ref spare;
    spare.node = c.node;
    spare.replica_id = spare_replica_id(model->replica_id, s.replicas.size());
    spare.spec = model->spec;
    spare.spec.replica_id = spare.replica_id;
    spare.state = replica_state::loading;
    spare.spare = true;
    s.replicas.push_back(std::move(spare));
    out.loads.push_back({tg.sub, &s.replicas.back()});
  }
  for (size_t i = 0; i < needs.size(); ++i)
    if (chosen.unplaced[i] > 0)
      out.unplaced.push_back(needs[i].shard + " lacks " + std::to_string(chosen.unplaced[i]) +
                             " of " + std::to_string(targets[i].r) + " replicas");
  return out;
}

void replacement_planner::release_surplus(registry& reg, const node_up_fn& up) {
  for_each_served(reg, true, [&](const std::string&, const std::shared_ptr<submodel_entry>& sub) {
    for (auto& t : sub->tensors)
      for (auto& s : t.shards) {
        const auto r = replication(s);
        uint32_t ready = 0;
        std::vector<replica_ref*> spares;
        for (auto& x : s.replicas) {
          if (!x.spare && x.state == replica_state::ready && up(x.node)) ++ready;
          if (x.spare && x.state != replica_state::unloaded) spares.push_back(&x);
        }
        if (spares.empty()) continue;
        // Spares worth keeping: live ones, ready first, up to what the shard lacks.
        std::stable_sort(spares.begin(), spares.end(), [&](replica_ref* a, replica_ref* b) {
          auto rank = [&](replica_ref* x) {
            return !live(*x, up) ? 2 : x->state == replica_state::ready ? 0 : 1;
          };
          return rank(a) < rank(b);
        });
        uint32_t keep = ready >= r ? 0 : r - ready;
        for (auto* x : spares) {
          bool is_live = live(*x, up);
          if (is_live && keep > 0) {
            --keep;
            continue;
          }
          if (!is_live && ready < r) continue;  // lost: restored if its node comes back
          queued_.push_back({x->node, x->replica_id});
          x->state = replica_state::unloaded;
          x->handle = nullptr;
        }
      }
  });
}

std::vector<replica_release> replacement_planner::due(const node_up_fn& up) {
  std::vector<replica_release> out;
  for (auto it = queued_.begin(); it != queued_.end();) {
    if (up(it->node)) {
      out.push_back(*it);
      it = queued_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool replacement_planner::unplaced_changed(const std::vector<std::string>& unplaced) {
  if (unplaced == last_unplaced_) return false;
  last_unplaced_ = unplaced;
  return true;
}

std::vector<std::string> replacement_planner::under_replicated(registry& reg,
                                                               const node_up_fn& up) {
  std::vector<std::string> out;
  for_each_served(
      reg, false, [&](const std::string& label, const std::shared_ptr<submodel_entry>& sub) {
        for (const auto& t : sub->tensors)
          for (const auto& s : t.shards) {
            const auto r = replication(s);
            uint32_t ready = 0;
            for (const auto& x : s.replicas)
              ready += x.state == replica_state::ready && up(x.node) ? 1 : 0;
            if (ready < r)
              out.push_back(label + " " + shard_name(t, s) + " has " + std::to_string(ready) +
                            " of " + std::to_string(r) + " replicas");
          }
      });
  return out;
}

}  // namespace tessera
