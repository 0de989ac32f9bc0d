#include "actors/control_publish.hpp"

#include <caf/all.hpp>

#include "base/logger.hpp"

namespace tessera {
namespace {

constexpr auto publish_timeout = std::chrono::seconds(10);
constexpr auto unload_timeout = std::chrono::seconds(10);

// Asks the nodes to drop released replicas (fire and forget, with a deadline).
void send_unloads(control_self self, const std::vector<replica_release>& releases) {
  for (const auto& r : releases) {
    auto m = self->state.members.find(r.node);
    if (m == self->state.members.end() || !m->second.up) continue;
    control_log()->debug("releasing {} on {}", r.replica_id, r.node);
    self->request(m->second.handle, unload_timeout, unload_atom::value, r.replica_id)
        .then([](bool) {},
              [id = r.replica_id](caf::error& e) {
                control_log()->warn("unload of {} failed: {}", id, describe(e));
              });
  }
}

}  // namespace

bool member_up(const control_state& st, const std::string& node) {
  auto it = st.members.find(node);
  return it != st.members.end() && it->second.up;
}

void publish_routes(control_self self) {
  auto& st = self->state;
  auto snap = st.routes.publish(st.reg, [&st](const std::string& n) { return member_up(st, n); });
  if (st.serving.empty()) return reap_unnamed(self);
  auto pending = std::make_shared<size_t>(st.serving.size());
  for (const auto& s : st.serving)
    self->request(s, publish_timeout, routes_atom::value, snap)
        .then(
            [self, pending](bool) {
              if (--*pending == 0) reap_unnamed(self);
            },
            [self, pending](caf::error&) {
              if (--*pending == 0) reap_unnamed(self);
            });
}

void release_replicas(control_self self, const std::vector<replica_release>& releases) {
  if (releases.empty()) return;
  self->state.routes.defer(releases);
  publish_routes(self);
}

void reap_unnamed(control_self self) {
  auto& st = self->state;
  auto drained = st.reg.reap_drained(st.routes.oldest_live());
  send_unloads(self, st.routes.due());
  // The replicas the drained versions freed go the same way: one more snapshot, then due.
  release_replicas(self, drained);
}

void replica_ready(control_self self, replica_ref& r, const shard_actor& h) {
  r.state = replica_state::ready;
  self->state.routes.set_handle(r.node, r.replica_id, h);
  if (h) self->monitor(h);
  publish_routes(self);
}

}  // namespace tessera
