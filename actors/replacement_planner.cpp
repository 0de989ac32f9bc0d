#include "actors/replacement_planner.hpp"

#include <algorithm>
#include <cctype>

#include "actors/replication.hpp"
#include "cluster/replacement.hpp"

namespace tessera {
namespace {

bool live(const replica_ref& r, const replacement_planner::node_up_fn& up) {
  return (r.state == replica_state::ready || r.state == replica_state::loading) && up(r.node);
}

// Calls f(model, "vN", sub-model) for the ready sub-models of every ready or serving version;
// with `once`, a shared embedder only for the first version that pins it.
template <class F>
void for_each_served(registry& reg, bool once, F f) {
  std::set<const submodel_entry*> seen;
  for (const auto& [key, m] : reg.models())
    for (const auto& [n, v] : m.versions) {
      if (!v->serves()) continue;
      const auto version = "v" + std::to_string(n);
      for (const auto& sub : {v->embedder, v->classifier}) {
        if (!sub || sub->state != submodel_state::ready) continue;
        if (once && !seen.insert(sub.get()).second) continue;
        f(key, version, sub);
      }
    }
}

// The members by name: who is up, and who retires (draining, or not in the config at all).
struct roster {
  std::map<std::string, const replacement_planner::member_view*> by_name;
  explicit roster(const std::vector<replacement_planner::member_view>& members) {
    for (const auto& m : members) by_name[m.name] = &m;
  }
  bool member(const std::string& n) const { return by_name.count(n) > 0; }
  bool up(const std::string& n) const {
    auto it = by_name.find(n);
    return it != by_name.end() && it->second->up;
  }
  bool retiring(const std::string& n) const {
    auto it = by_name.find(n);
    return it == by_name.end() || it->second->draining;
  }
  std::string why(const std::string& n) const {
    return member(n) ? "draining " + n : n + " (not in the config)";
  }
};

}  // namespace

std::string base_replica_id(const std::string& id) {
  auto slash = id.rfind("/r");
  if (slash != std::string::npos && slash + 2 < id.size() &&
      std::all_of(id.begin() + slash + 2, id.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return id.substr(0, slash);
  return id;
}

std::string spare_replica_id(const std::string& id, size_t index) {
  return base_replica_id(id) + "/r" + std::to_string(index);
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

void replacement_planner::release(replica_ref& x, bool member) {
  if (member) queued_.push_back({x.node, x.replica_id});
  x.state = replica_state::unloaded;
}

replacement_planner::plan replacement_planner::place(registry& reg,
                                                     const std::vector<member_view>& members,
                                                     time_point now) {
  plan out;
  stuck_.clear();
  const roster who{members};
  auto is_up = [&](const std::string& n) { return who.up(n); };
  struct target {
    shard_shortfall named;  // model, "vN tensor[b:e)"
    std::shared_ptr<submodel_entry> sub;
    shard_ref* shard;
    uint32_t r;
    std::vector<replica_ref*> moves;  // replicas on retiring nodes without a successor
    uint32_t spares;                  // plain spares wanted besides the moves
  };
  std::vector<spare_need> needs;
  std::vector<target> targets;
  for_each_served(
      reg, true,
      [&](const model_key& key, const std::string& version,
          const std::shared_ptr<submodel_entry>& sub) {
        for (auto& t : sub->tensors)
          for (auto& s : t.shards) {
            const auto r = replication_of(*sub, s);
            std::set<std::string> moving;  // ids with a live successor
            for (const auto& x : s.replicas)
              if (!x.replaces.empty() && x.state != replica_state::unloaded && live(x, is_up))
                moving.insert(x.replaces);
            uint32_t alive = 0, gone = 0;
            std::vector<std::string> holders;
            std::vector<replica_ref*> moves;
            for (auto& x : s.replicas) {
              if (x.state == replica_state::unloaded) continue;
              holders.push_back(x.node);
              const bool leaving =
                  who.retiring(x.node) && x.replaces.empty() && (!x.spare || live(x, is_up));
              if (leaving && !moving.count(x.replica_id)) moves.push_back(&x);
              if (live(x, is_up))
                ++alive;
              else if (!leaving && !is_up(x.node) && past_grace(x.node, now))
                ++gone;
            }
            const auto covered = alive + static_cast<uint32_t>(moves.size());
            const uint32_t spares = covered >= r ? 0 : std::min(r - covered, gone);
            if (moves.empty() && spares == 0) continue;
            shard_shortfall named{key, version + " " + shard_name(t, s)};
            needs.push_back({named.line(), s.bytes, static_cast<uint32_t>(moves.size()) + spares,
                             std::move(holders)});
            targets.push_back({std::move(named), sub, &s, r, std::move(moves), spares});
          }
      });
  if (needs.empty()) return out;
  std::vector<placement_member> survivors;
  for (const auto& m : members)
    if (m.up && !m.draining)
      survivors.push_back({m.name, m.budget_bytes, reg.bytes_on(m.name) + m.overhead_bytes});
  auto chosen = place_spares(needs, survivors);
  std::vector<size_t> placed(needs.size(), 0);  // copies per need; moves come first
  for (const auto& c : chosen.placed) {
    auto& tg = targets[c.need];
    auto& s = *tg.shard;
    const size_t k = placed[c.need]++;
    // The copy's spec: the replica it moves, else a non-spare replica's.
    const replica_ref* model = k < tg.moves.size() ? tg.moves[k] : nullptr;
    for (const auto& x : s.replicas)
      if (!model && !x.spare && x.state != replica_state::unloaded) model = &x;
    if (!model) continue;
    replica_ref copy;
    copy.node = c.node;
    copy.replica_id = new_replica_id(s, model->replica_id);
    copy.spec = model->spec;
    copy.spec.replica_id = copy.replica_id;
    copy.state = replica_state::loading;
    copy.spare = true;
    if (k < tg.moves.size()) copy.replaces = model->replica_id;
    s.replicas.push_back(std::move(copy));
    out.loads.push_back({tg.sub, &s.replicas.back()});
  }
  for (size_t i = 0; i < needs.size(); ++i) {
    const auto& tg = targets[i];
    for (size_t k = placed[i]; k < tg.moves.size(); ++k)
      stuck_.push_back({tg.named.model, tg.named.detail + " cannot move off " +
                                            who.why(tg.moves[k]->node) +
                                            ": no other member has room"});
    const size_t spares_placed = placed[i] > tg.moves.size() ? placed[i] - tg.moves.size() : 0;
    if (spares_placed < tg.spares)
      out.unplaced.push_back(needs[i].shard + " lacks " +
                             std::to_string(tg.spares - spares_placed) + " of " +
                             std::to_string(tg.r) + " replicas");
  }
  for (const auto& st : stuck_) out.unplaced.push_back(st.line());
  return out;
}

std::vector<replacement_planner::move_done> replacement_planner::finish_moves(
    registry& reg, const std::vector<member_view>& members) {
  std::vector<move_done> out;
  const roster who{members};
  auto is_up = [&](const std::string& n) { return who.up(n); };
  for_each_served(
      reg, true,
      [&](const model_key&, const std::string&, const std::shared_ptr<submodel_entry>& sub) {
        for (auto& t : sub->tensors)
          for (auto& s : t.shards)
            for (auto& x : s.replicas) {
              if (x.state == replica_state::unloaded) continue;
              if (x.replaces.empty()) {
                if (x.spare && who.retiring(x.node) && !live(x, is_up))
                  release(x, who.member(x.node));
                continue;
              }
              auto old = std::find_if(s.replicas.begin(), s.replicas.end(), [&](replica_ref& o) {
                return o.replica_id == x.replaces && o.state != replica_state::unloaded;
              });
              if (old == s.replicas.end()) {
                x.replaces.clear();  // nothing left to replace: a plain spare now
              } else if (who.retiring(x.node) || !who.up(x.node)) {
                release(x, who.member(x.node));  // placed anew; a failed load stays, as a holder
              } else if (x.state == replica_state::ready) {
                x.spare = old->spare;
                x.replaces.clear();
                out.push_back({x.replica_id, x.node, old->replica_id, old->node});
                for (auto& y : s.replicas)  // other successors of it, e.g. a failed load
                  if (&y != &x && y.replaces == old->replica_id &&
                      y.state != replica_state::unloaded)
                    release(y, who.member(y.node));
                release(*old, who.member(old->node));
              }
            }
      });
  return out;
}

size_t replacement_planner::held_on(registry& reg, const std::string& node) {
  size_t n = 0;
  reg.for_each_submodel([&](const std::shared_ptr<submodel_entry>& sub) {
    sub->for_each_replica(
        [&](replica_ref& r) { n += r.node == node && r.state != replica_state::unloaded; });
  });
  return n;
}

void replacement_planner::release_surplus(registry& reg, const node_up_fn& up) {
  for_each_served(
      reg, true,
      [&](const model_key&, const std::string&, const std::shared_ptr<submodel_entry>& sub) {
        for (auto& t : sub->tensors)
          for (auto& s : t.shards) {
            const auto r = replication_of(*sub, s);
            uint32_t ready = 0;
            std::vector<replica_ref*> spares;
            for (auto& x : s.replicas) {
              if (!x.spare && x.state == replica_state::ready && up(x.node)) ++ready;
              if (x.spare && x.replaces.empty() && x.state != replica_state::unloaded)
                spares.push_back(&x);
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
              release(*x, true);
            }
          }
      });
}

std::vector<replica_release> replacement_planner::due(const std::vector<member_view>& members) {
  const roster who{members};
  std::vector<replica_release> out;
  std::vector<replica_release> wait;
  for (auto& q : queued_) {
    if (who.up(q.node))
      out.push_back(std::move(q));
    else if (who.member(q.node))  // a node that left the config can never be sent to
      wait.push_back(std::move(q));
  }
  queued_ = std::move(wait);
  return out;
}

bool replacement_planner::unplaced_changed(const std::vector<std::string>& unplaced) {
  if (unplaced == last_unplaced_) return false;
  last_unplaced_ = unplaced;
  return true;
}

std::vector<shard_shortfall> replacement_planner::under_replicated(registry& reg,
                                                                   const node_up_fn& up) {
  std::vector<shard_shortfall> out;
  for_each_served(reg, false,
                  [&](const model_key& key, const std::string& version,
                      const std::shared_ptr<submodel_entry>& sub) {
                    for (const auto& t : sub->tensors)
                      for (const auto& s : t.shards) {
                        const auto r = replication_of(*sub, s);
                        uint32_t ready = 0;
                        for (const auto& x : s.replicas)
                          ready += x.state == replica_state::ready && up(x.node) ? 1 : 0;
                        if (ready < r)
                          out.push_back({key, version + " " + shard_name(t, s) + " has " +
                                                  std::to_string(ready) + " of " +
                                                  std::to_string(r) + " replicas"});
                      }
                  });
  return out;
}

}  // namespace tessera
