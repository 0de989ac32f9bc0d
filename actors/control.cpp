#include "actors/control.hpp"
#include "base/logger.hpp"

#include <map>
#include <set>
#include <stdexcept>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/remote_actor.hpp>

#include "actors/control_commits.hpp"
#include "actors/control_loading.hpp"
#include "actors/control_publish.hpp"
#include "actors/control_recovery.hpp"
#include "actors/control_replacement.hpp"
#include "actors/control_state.hpp"
#include "actors/unhandled.hpp"
#include "actors/version_builder.hpp"
#include "cluster/request_metrics.hpp"
#include "cluster/shard_metrics.hpp"

namespace tessera {
namespace {

constexpr auto tick_interval = std::chrono::seconds(1);
constexpr auto health_timeout = std::chrono::milliseconds(1000);

// The node actor published at host:port, asked of `dialer` like caf::io::remote_actor does.
caf::expected<node_actor> remote_node(caf::actor_system& sys,
                                      const caf::io::middleman_actor& dialer,
                                      const std::string& host, uint16_t port) {
  caf::expected<node_actor> out{caf::sec::cannot_connect_to_node};
  caf::scoped_actor self{sys};
  self->request(dialer, std::chrono::seconds(60), caf::connect_atom::value, host, port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
            if (!ptr)
              out = caf::make_error(caf::sec::no_actor_published_at_port);
            else if (!sys.assignable(ifs, sys.message_types<node_actor>()))
              out = caf::make_error(caf::sec::unexpected_actor_messaging_interface);
            else
              out = caf::actor_cast<node_actor>(std::move(ptr));
          },
          [&](caf::error& e) { out = std::move(e); });
  return out;
}

// Connects to a member's published node actor from a detached actor, because
// remote_actor() blocks; the answer comes back as a member message (invalid handle: failed).
// With a node_dialer (node/node_transport.hpp) the connection is mutual TLS in which the
// member's certificate must name it; a peer whose certificate the cluster CA does not verify,
// or that names another node, fails here. Failures are logged on the 1st, 2nd, 4th, 8th...
// attempt.
void connect(control_self self, member_entry& m) {
  m.connecting = true;
  auto me = control_actor{self};
  auto name = m.cfg.name;
  auto host = m.cfg.host;
  auto port = m.cfg.port;
  auto tls = self->state.cfg.tls;
  auto attempt = ++m.connect_attempts;
  auto dialer = self->state.cfg.node_dialer;
  self->system().spawn<caf::detached>(
      [me, name, host, port, tls, attempt, dialer](caf::event_based_actor* worker) {
        auto& sys = worker->system();
        auto h = dialer ? remote_node(sys, dialer, host, port)
                 : tls  ? caf::openssl::remote_actor<node_actor>(sys, host, port)
                        : sys.middleman().remote_actor<node_actor>(host, port);
        // The first attempt often races the member's start: info; later ones warn.
        if (!h && (attempt & (attempt - 1)) == 0)
          control_log()->log(attempt == 1 ? spdlog::level::info : spdlog::level::warn,
                             "cannot connect to member {} at {}:{}{} (attempt {}): {}", name, host,
                             port, tls ? " (TLS)" : "", attempt, sys.render(h.error()));
        worker->send(me, member_atom::value, name, h ? *h : node_actor{});
        worker->quit();
      });
}

void on_member(control_self self, const std::string& name, node_actor h) {
  auto& st = self->state;
  auto it = st.members.find(name);
  if (it == st.members.end()) return;
  auto& m = it->second;
  m.connecting = false;
  if (!h) return;  // the next tick retries
  bool rejoin = !m.up && m.health.name == name;
  m.handle = h;
  m.up = true;
  m.connect_attempts = 0;
  if (!m.local) self->monitor(h);
  for (const auto& s : st.serving) self->send(s, member_atom::value, name, true);
  control_log()->info("member {} is up at {}:{}{}", name, m.cfg.host, m.cfg.port,
                      rejoin ? " (rejoined)" : "");
  st.planner.observe(name, true, std::chrono::steady_clock::now());
  restore_replicas(self, name);
  release_orphans(self, name);
  // After the loads above (the node takes messages in order, and holds what they need): the
  // blocks of versions unloaded while it was away leave its store.
  self->request(h, std::chrono::seconds(60), sweep_atom::value)
      .then([](uint64_t) {},
            [name](caf::error& e) {
              control_log()->warn("sweeping the store of {} failed: {}", name, describe(e));
            });
}

// A monitored shard actor went down while its node may live: that replica is lost at once;
// the serving actors fail its in-flight sub-requests now, and they are retried on another
// replica.
bool on_replica_down(control_self self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto lost = st.routes.find(dm.source);
  if (!lost) return false;
  const std::string node = lost->first;  // named copies: lambdas below capture them
  const std::string id = lost->second;
  control_log()->warn("replica {} on {} is down: {}", id, node, caf::to_string(dm.reason));
  st.reg.for_each_submodel([&](const std::shared_ptr<submodel_entry>& sub) {
    if (auto* r = sub->find_replica(id); r && r->node == node) r->state = replica_state::lost;
  });
  for (const auto& s : st.serving) self->send(s, lost_atom::value, node, id, dm.source);
  st.routes.forget(node, id);
  publish_routes(self);
  // Its node lives: load the lost replica there again (the node dropped the dead one).
  if (member_up(st, node)) restore_replicas(self, node);
  return true;
}

void on_down(control_self self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (on_replica_down(self, dm)) return;
  for (auto& [name, m] : st.members) {
    if (!m.handle || m.handle.address() != dm.source) continue;
    control_log()->warn("member {} is down: {}", name, caf::to_string(dm.reason));
    m.up = false;
    m.handle = nullptr;
    st.reg.mark_node_lost(name);
    st.routes.forget_node(name);
    st.planner.observe(name, false, std::chrono::steady_clock::now());  // re-placement's grace
    // In-flight shard requests to the node fail now; they retry elsewhere or fail typed.
    for (const auto& s : st.serving) self->send(s, member_atom::value, name, false);
    st.loads.node_down(name, make_error(errc::unavailable, "node " + name + " went down"));
    publish_routes(self);
  }
}

void poll_health(control_self self, std::function<void()> done) {
  auto& st = self->state;
  auto pending = std::make_shared<size_t>(1);
  auto finish = [pending, done] {
    if (--*pending == 0 && done) done();
  };
  for (auto& [name, m] : st.members) {
    if (!m.up) continue;
    ++*pending;
    self->request(m.handle, health_timeout, health_atom::value)
        .then(
            [self, name = name, finish](node_status& hs) {
              auto it = self->state.members.find(name);
              if (it != self->state.members.end()) it->second.health = std::move(hs);
              finish();
            },
            [finish](caf::error&) { finish(); });  // keep the last known health
  }
  finish();
}

namespace {

// Each replica's fetched and stored bytes from its node's last health answer, summed per
// version with the replicas' bytes.
void add_store_figures(const control_state& st, std::vector<model_info>& models) {
  std::map<std::pair<std::string, std::string>, const replica_status*> hosted;  // (node, id)
  for (const auto& [name, m] : st.members)
    for (const auto& r : m.health.replicas) hosted[{name, r.replica_id}] = &r;
  for (auto& mi : models)
    for (auto& vi : mi.versions)
      for (auto& si : vi.shards)
        for (auto& ri : si.replicas) {
          if (ri.state == replica_state::unloaded) continue;
          vi.replica_bytes += si.bytes;
          auto it = hosted.find({ri.node, ri.id});
          if (it == hosted.end()) continue;
          ri.fetched_bytes = it->second->fetched_bytes;
          ri.stored_bytes = it->second->stored_bytes;
          vi.fetched_bytes += ri.fetched_bytes;
          vi.stored_bytes += ri.stored_bytes;
        }
}

// Asks the package reader to delete the kept package metadata no version uses any more.
void sweep_kept_packages(control_self self) {
  auto& st = self->state;
  std::set<std::string> live;
  for (const auto& [key, m] : st.reg.models())
    for (const auto& [n, v] : m.versions)
      if (v && v->state != version_state::unloaded) live.insert(kept_package_name(v->content));
  self->send(st.reader, sweep_atom::value, std::move(live));
}

}  // namespace

cluster_status make_status(control_state& st, const hedge_counts& hedges) {
  cluster_status out;
  bool all_up = true;
  for (auto& [name, m] : st.members) {
    member_info mi;
    mi.name = name;
    mi.address = m.cfg.host + ":" + std::to_string(m.cfg.port);
    mi.roles = m.cfg.roles;
    mi.up = m.up;
    mi.budget_bytes = m.cfg.memory_budget;
    mi.used_bytes = m.health.used_bytes;
    mi.rss_bytes = m.health.rss_bytes;
    mi.overhead_bytes = m.health.overhead_bytes;
    mi.draining = m.draining;
    mi.store_bytes = m.health.store_bytes;
    mi.disk_budget = m.health.disk_budget_bytes;
    uint64_t loading_ms = 0;  // the node reads its replicas side by side: the oldest's age
    for (const auto& r : m.health.replicas) {
      ++mi.replicas;
      if (r.state == hosted_state::loading) {
        mi.loading_done += r.bytes_done;
        mi.loading_total += r.bytes;
        loading_ms = std::max(loading_ms, r.load_ms);
      }
    }
    mi.loading = estimate_load(mi.loading_done, mi.loading_total, loading_ms);
    all_up = all_up && m.up;
    out.members.push_back(std::move(mi));
  }
  out.models = st.reg.infos();
  add_store_figures(st, out.models);
  out.persist_error = st.persistence.error;
  out.persist_failures = st.persistence.failures;
  out.ready = all_up && st.reg.all_active_served() && out.persist_error.empty();
  fill_resilience_status(st, hedges, out);
  return out;
}

// Asks every serving actor for its counters and hands `done` their sum (a serving actor that
// does not answer within a second is left out of it).
void gather_serving(control_self self, std::function<void(serving_metrics)> done) {
  auto& st = self->state;
  auto total = std::make_shared<serving_metrics>();
  if (st.serving.empty()) {  // every family is still declared
    total->families = request_metrics{st.cfg.count_requests}.collect();
    prom_merge(total->families, shard_metrics{st.cfg.count_requests}.collect());
    return done(std::move(*total));
  }
  auto pending = std::make_shared<size_t>(st.serving.size());
  auto one = [total, pending, done](const serving_metrics* m) {
    if (m) total->merge(*m);
    if (--*pending == 0) done(std::move(*total));
  };
  for (const auto& s : st.serving)
    self->request(s, std::chrono::seconds(1), metrics_atom::value)
        .then([one](serving_metrics& m) { one(&m); }, [one](caf::error&) { one(nullptr); });
}

coordinator_metrics make_metrics(control_state& st, serving_metrics served) {
  coordinator_metrics out;
  out.status = make_status(st, served.hedges);
  out.serving = st.reg.all_active_served();
  out.inflight = st.admitted.running();
  out.inflight_limit = st.admitted.limit();
  out.draining = st.reg.draining();
  out.queued = served.queued;
  out.served = std::move(served.families);
  return out;
}

// A promise of the admin calls' common answer, and how a commit delivers it: true once the
// change is durable, else its error.
using admin_promise = caf::typed_response_promise<bool>;
commit_done answer(admin_promise rp) {
  return [rp](caf::error err) mutable {
    if (err)
      rp.deliver(std::move(err));
    else
      rp.deliver(true);
  };
}

// Sets member `node`'s draining flag, durably. `node` is a member: members come from the config
// and stay for the coordinator's life.
durable_change draining_change(control_self self, const std::string& node, bool draining) {
  auto was = std::make_shared<bool>(false);
  return {[self, node, draining, was]() -> caf::error {
            auto& m = self->state.members.at(node);
            *was = m.draining;
            m.draining = draining;
            return caf::none;
          },
          [self, node, was] { self->state.members.at(node).draining = *was; }};
}

// Drains or undrains a member once the change is durable. Errors: invalid_argument (no such
// member).
caf::result<bool> set_draining(control_self self, const std::string& node, bool draining) {
  auto& st = self->state;
  auto it = st.members.find(node);
  if (it == st.members.end()) {
    std::string names;
    for (const auto& [name, m] : st.members) names += (names.empty() ? "" : ", ") + name;
    return make_error(errc::invalid_argument, "no shard node named '" + node +
                                                  "' in the config (shard nodes: " + names + ")");
  }
  auto rp = self->make_response_promise<bool>();
  commit(self, draining_change(self, node, draining),
         [rp, node, draining, changed = it->second.draining != draining](caf::error err) mutable {
           if (!err && changed)
             control_log()->info("member {} {}", node,
                                 draining ? "is draining: its replicas move to other members"
                                          : "is no longer draining");
           answer(rp)(std::move(err));
         });
  return rp;
}

control_actor::behavior_type control_impl(control_self self, coordinator_options opts,
                                          node_actor local_node, admission admitted) {
  end_on_exception(self, "coordinator");
  auto& st = self->state;
  st.cfg = std::move(opts);
  st.admitted = std::move(admitted);
  for (const auto& n : st.cfg.members) st.members[n.name].cfg = n;  // before recovery: drains
  if (st.cfg.recovered)
    recover_registry(self, *st.cfg.recovered);
  else
    st.incarnation = new_incarnation();
  st.cfg.recovered.reset();
  persist_registry_now(self);  // before any call: later writes go to the writer's thread
  if (!st.cfg.state_dir.empty())
    st.writer = self->spawn<caf::linked + caf::detached>(registry_writer_impl);
  st.reader = self->spawn<caf::linked + caf::detached>(
      package_reader_impl,
      st.cfg.state_dir.empty() ? std::string{} : st.cfg.state_dir + "/packages",
      std::chrono::duration_cast<std::chrono::seconds>(st.cfg.load_timeout));
  sweep_kept_packages(self);  // those of versions unloaded before a restart
  configure_resilience(st);
  publish_routes(self);  // no serving actor yet: they start from it (routes_atom)
  if (local_node && st.members.count(st.cfg.local_member)) {
    st.members[st.cfg.local_member].local = true;
    self->send(self, member_atom::value, st.cfg.local_member, local_node);
  }
  for (auto& [name, m] : st.members)
    if (!m.local) connect(self, m);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  self->delayed_send(self, tick_interval, tick_atom::value);
  return {
      [self](models_atom) -> std::vector<model_info> { return self->state.reg.infos(); },
      [self](status_atom) -> caf::result<cluster_status> {
        auto rp = self->make_response_promise<cluster_status>();
        poll_health(self, [self, rp]() mutable {
          gather_serving(self, [self, rp](serving_metrics served) mutable {
            rp.deliver(make_status(self->state, served.hedges));
          });
        });
        return rp;
      },
      [self](metrics_atom) -> caf::result<coordinator_metrics> {
        auto rp = self->make_response_promise<coordinator_metrics>();
        gather_serving(self, [self, rp](serving_metrics served) mutable {
          rp.deliver(make_metrics(self->state, std::move(served)));
        });
        return rp;
      },
      [self](routes_atom) -> snapshot_ptr { return self->state.routes.current(); },
      [self](serving_atom, std::vector<serving_actor>& serving) {
        auto& st = self->state;
        for (const auto& s : serving) self->link_to(s);
        st.serving = std::move(serving);
        // They started from the snapshot routes_atom answered; one may have been published
        // since, and members may have gone down meanwhile.
        for (const auto& [name, m] : st.members)
          if (!m.up)
            for (const auto& s : st.serving) self->send(s, member_atom::value, name, false);
        publish_routes(self);
      },
      [self](load_atom, load_request& req) -> caf::result<load_reply> {
        auto rp = self->make_response_promise<load_reply>();
        start_load(self, std::move(req), rp);
        return rp;
      },
      [self](unload_atom, const model_key& name, uint64_t version) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        commit_change(
            self, name, [self, name, version] { return self->state.reg.unload(name, version); },
            [self, done = answer(rp)](caf::error err) mutable {
              if (!err) sweep_kept_packages(self);
              done(std::move(err));  // the commit published the snapshot that leaves it out
            });
        return rp;
      },
      [self](activate_atom, const model_key& name, uint64_t version) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        commit_change(
            self, name, [self, name, version] { return self->state.reg.activate(name, version); },
            [rp, name, version](caf::error err) mutable {
              if (!err) control_log()->info("model {} now serves v{}", name.display(), version);
              answer(rp)(std::move(err));
            });
        return rp;
      },
      [self](rollback_atom, const model_key& name) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        auto target = std::make_shared<uint64_t>(0);
        commit_change(
            self, name,
            [self, name, target]() -> caf::error {
              auto r = self->state.reg.rollback(name);
              if (!r) return r.error();
              *target = *r;
              return caf::none;
            },
            [rp, name, target](caf::error err) mutable {
              if (err) {
                rp.deliver(std::move(err));
                return;
              }
              control_log()->info("model {} rolled back to v{}", name.display(), *target);
              rp.deliver(*target);
            });
        return rp;
      },
      [self](label_atom, const model_key& name, const std::string& label,
             uint64_t version) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        commit_change(
            self, name,
            [self, name, label, version] {
              return self->state.reg.set_label(name, label, version);
            },
            answer(rp));
        return rp;
      },
      [self](drain_atom, const std::string& node) -> caf::result<bool> {
        return set_draining(self, node, true);
      },
      [self](undrain_atom, const std::string& node) -> caf::result<bool> {
        return set_draining(self, node, false);
      },
      [self](member_atom, const std::string& name, node_actor h) { on_member(self, name, h); },
      [self](tick_atom) {
        for (auto& [name, m] : self->state.members)
          if (!m.up && !m.connecting && !m.local) connect(self, m);
        poll_health(self, nullptr);
        if (self->state.persistence.dirty) persist_in_background(self);  // a write failed
        // Its releases publish the snapshot that leaves them out (release_replicas).
        replacement_tick(self);
        // Calls that held old snapshots may have ended: free what no snapshot names any more.
        reap_unnamed(self);
        self->delayed_send(self, tick_interval, tick_atom::value);
      },
  };
}

}  // namespace

coordinator_handles spawn_coordinator(caf::actor_system& sys, coordinator_options opts,
                                      node_actor local_node) {
  coordinator_handles out;
  out.admitted = admission{opts.max_inflight};
  const auto serving = std::max<uint32_t>(1, opts.serving_actors);
  auto serving_opts = opts;  // without the control plane's parts
  serving_opts.members.clear();
  serving_opts.recovered.reset();
  out.control = sys.spawn(control_impl, std::move(opts), local_node, out.admitted);
  snapshot_ptr first;
  caf::scoped_actor asker{sys};
  asker->request(out.control, caf::infinite, routes_atom::value)
      .receive([&](snapshot_ptr& snap) { first = std::move(snap); },
               [&](caf::error& err) {
                 throw std::runtime_error("the coordinator's control actor did not start: " +
                                          sys.render(err));
               });
  for (uint32_t i = 0; i < serving; ++i)
    out.serving.push_back(spawn_serving(sys, serving_opts, first));
  caf::anon_send(out.control, serving_atom::value, out.serving);
  return out;
}

}  // namespace tessera
