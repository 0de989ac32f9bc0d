#include "actors/control_replacement.hpp"

#include <caf/all.hpp>

#include "actors/control_commits.hpp"
#include "actors/control_loading.hpp"
#include "actors/control_publish.hpp"
#include "actors/control_recovery.hpp"
#include "base/logger.hpp"

namespace tessera {
namespace {

replacement_planner::node_up_fn up_fn(control_state& st) {
  return [&st](const std::string& node) { return member_up(st, node); };
}

}  // namespace

void configure_resilience(control_state& st) {
  st.planner = replacement_planner{st.cfg.replacement_grace};
}

void replacement_tick(control_self self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  auto up = up_fn(st);
  std::vector<replacement_planner::member_view> members;
  for (auto& [name, m] : st.members) {
    st.planner.observe(name, m.up, now);
    members.push_back({name, m.up, m.cfg.memory_budget, m.health.overhead_bytes, m.draining});
  }
  auto released = st.planner.due(members);
  for (const auto& r : released) control_log()->info("releasing {} on {}", r.replica_id, r.node);
  release_replicas(self, released);
  auto moved = st.planner.finish_moves(st.reg, members);
  for (const auto& mv : moved)
    control_log()->info("moved {} off {}: {} on {} serves instead", mv.old_id, mv.from,
                        mv.replica_id, mv.node);
  if (!moved.empty()) persist_in_background(self);  // the placement changed
  st.planner.release_surplus(st.reg, up);
  st.reg.drop_released();  // their unloads are queued (or their node is gone)
  auto plan = st.planner.place(st.reg, members, now);
  if (st.planner.unplaced_changed(plan.unplaced))
    for (const auto& u : plan.unplaced) control_log()->warn("cannot re-place: {}", u);
  for (auto& load : plan.loads) {
    const auto* ref = load.replica;
    if (ref->replaces.empty())
      control_log()->info("re-placing {} on {}", ref->replica_id, ref->node);
    else
      control_log()->info("moving {} to {} as {}", ref->replaces, ref->node, ref->replica_id);
    // The answer finds the copy by id: it may have been released and dropped meanwhile.
    request_load(
        self, ref->node, ref->spec,
        [self, sub = load.sub, id = ref->replica_id](shard_actor h) {
          auto* r = sub->find_replica(id);
          if (!r || r->state != replica_state::loading) return;  // released meanwhile
          replica_ready(self, *r, h);
          control_log()->info("spare {} on {} is ready", id, r->node);
        },
        [sub = load.sub, id = ref->replica_id, node = ref->node](caf::error err) {
          auto* r = sub->find_replica(id);
          if (r && r->state == replica_state::loading) r->state = replica_state::lost;
          control_log()->warn("re-placing {} on {} failed: {}", id, node, describe(err));
        });
  }
}

void fill_resilience_status(control_state& st, const hedge_counts& hedges, cluster_status& out) {
  out.hedges_sent = hedges.sent;
  out.hedges_won = hedges.won;
  out.under_replicated = replacement_planner::under_replicated(st.reg, up_fn(st));
  const auto& stuck = st.planner.stuck();
  out.under_replicated.insert(out.under_replicated.end(), stuck.begin(), stuck.end());
}

}  // namespace tessera
