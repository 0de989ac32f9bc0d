#include "actors/control_loading.hpp"
#include "base/logger.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>

#include <caf/all.hpp>

#include "actors/control_block_copy.hpp"
#include "actors/control_commits.hpp"
#include "actors/control_publish.hpp"
#include "actors/control_recovery.hpp"
#include "actors/replication.hpp"
#include "actors/version_builder.hpp"
#include "cluster/placement.hpp"

namespace tessera {
namespace {

// How long reading a package may take (a vocabulary of millions of words takes seconds).
constexpr auto describe_timeout = std::chrono::minutes(30);

// Tensors up to this size (one copy) are not split: cutting a small classifier layer across
// nodes only adds a round trip per shard to every request.
constexpr uint64_t whole_tensor_max_bytes = uint64_t{16} << 20;

// The sub-models this load must place and load: the classifier, and the embedder unless an
// identical one is already loaded (then the version pins that one).
caf::expected<std::vector<submodel_entry*>> share_or_new(const registry& reg, version_entry& v) {
  std::vector<submodel_entry*> fresh;
  auto loaded = reg.embedder(v.embedder->fingerprint);
  if (!v.embedder_model.empty() && !loaded)  // unloaded while the package was read
    return make_error(errc::unknown_model, "the embedder of '" + v.embedder_model + "' v" +
                                               std::to_string(v.embedder_version) +
                                               " is no longer loaded");
  if (loaded) {
    if (loaded->state != submodel_state::ready)
      return make_error(errc::unavailable, "embedder " + loaded->name + " is still " +
                                               to_string(loaded->state) +
                                               "; retry when it is ready");
    v.embedder = loaded;
    v.embedder_reused = true;
  } else {
    fresh.push_back(v.embedder.get());
  }
  if (v.classifier) fresh.push_back(v.classifier.get());
  return fresh;
}

struct load_run {
  control_self self;
  std::shared_ptr<version_entry> v;
  std::vector<submodel_entry*> fresh;
  std::vector<std::string> extras;  // copies added to the reused embedder (raise_replication)
  load_request req;
  caf::typed_response_promise<load_reply> rp;
  size_t pending = 0;
  bool answered = false;
};

// The copies this load added to a shared embedder go with the load that failed or was
// cancelled; the embedder's own replicas stay. Marks them unloaded and returns their releases
// (erased from the shard at the next tick).
std::vector<replica_release> take_extras(load_run& run) {
  std::vector<replica_release> out;
  for (const auto& id : run.extras) {
    auto* r = run.v->embedder->find_replica(id);
    if (!r || r->state == replica_state::unloaded) continue;
    out.push_back({r->node, r->replica_id});
    r->state = replica_state::unloaded;
  }
  return out;
}

void fail_load(std::shared_ptr<load_run> run, caf::error err) {
  if (run->answered) return;
  run->answered = true;
  auto& v = *run->v;
  if (v.state != version_state::loading)  // unloaded meanwhile: that, not the node, is why
    err = make_error(errc::unknown_model, "model '" + v.model.name + "' v" +
                                              std::to_string(v.version) +
                                              " was unloaded while it loaded");
  control_log()->warn("load of {} v{} failed: {}", v.model.display(), v.version, describe(err));
  auto& st = run->self->state;
  st.routes.defer(take_extras(*run));
  st.routes.defer(st.reg.fail_load(v, describe(err)));
  // One snapshot leaves the releases out and shows the version in error, even when nothing
  // was loaded yet (release_replicas publishes only when it frees something).
  publish_routes(run->self);
  run->rp.deliver(std::move(err));
}

void finish_load(std::shared_ptr<load_run> run) {
  if (run->answered) return;
  // Acknowledged means durable: the version becomes ready only with the registry on disk.
  auto self = run->self;
  auto v = run->v;
  const bool activate = run->req.activate;
  commit_change(
      self, v->model, [self, v, activate] { return self->state.reg.finish_load(*v, activate); },
      [run](caf::error err) {
        if (run->answered) return;  // failed while its commit was written
        auto& v = *run->v;
        if (err && v.state == version_state::loading) {  // not durable: the load fails whole
          fail_load(run, std::move(err));
          return;
        }
        run->answered = true;
        if (err) {  // unloaded while it loaded
          release_replicas(run->self, take_extras(*run));
          run->rp.deliver(std::move(err));
          return;
        }
        control_log()->info("model {} v{} (epoch {}) {}{}", v.model.display(), v.version, v.epoch,
                            to_string(v.state),
                            v.embedder_reused ? ", sharing embedder " + v.embedder->name : "");
        run->rp.deliver(load_reply{v.model.name, v.version});
      });
}

// Places the fresh sub-models over the live shard nodes, against what is already loaded, and
// when the version reuses an embedder with fewer than `replicas` copies per shard, the missing
// copies too (appended to the embedder only once everything fits; returns their ids).
caf::expected<std::vector<std::string>> place(control_self self, version_entry& v,
                                              const std::vector<submodel_entry*>& fresh,
                                              uint32_t replicas) {
  auto& st = self->state;
  const auto& meta = v.meta;
  // A node's budget also holds the process itself (its last reported overhead, at most about a
  // second old) and a scratch block per replica it reads at once; one block per tensor of
  // this model bounds that. The node checks again, with a fresh measure, before it reads.
  uint64_t scratch = 0;
  auto blocks_of = [&](const submodel_entry& s) {
    for (auto& t : s.tensors)
      if (const auto* info = meta.find_tensor(t.tensor)) scratch += info->block_bytes();
  };
  bool raise = false;  // the reused embedder lacks copies for this R
  for (auto* s : fresh) blocks_of(*s);
  if (v.embedder_reused)
    for (const auto& t : v.embedder->tensors)
      for (const auto& s : t.shards) raise = raise || copies_of(s) < replicas;
  if (raise) blocks_of(*v.embedder);
  std::vector<placement_member> members;
  for (auto& [n, m] : st.members)
    if (m.up && !m.draining)  // a draining node gets nothing new
      members.push_back(
          {n, m.cfg.memory_budget, st.reg.bytes_on(n) + m.health.overhead_bytes + scratch});
  std::vector<placement_tensor> tensors;
  std::map<std::string, std::pair<submodel_entry*, tensor_shards*>> targets;  // by tensor name
  for (auto* s : fresh)
    for (auto& t : s->tensors) {
      uint64_t row_bytes = t.cols * sizeof(float) + (t.bias.empty() ? 0 : sizeof(float));
      tensors.push_back({t.tensor, t.rows, row_bytes});
      targets[t.tensor] = {s, &t};
    }
  auto placed = place_model(tensors, members, replicas, whole_tensor_max_bytes);
  if (!placed) return placed.error();
  std::map<std::string, uint64_t> added;  // bytes this placement puts on each node
  for (auto& a : *placed) {
    auto [owner, t] = targets.at(a.tensor);
    shard_ref s;
    s.index = a.shard;
    s.rows = a.rows;
    s.bytes = a.bytes;
    for (size_t r = 0; r < a.nodes.size(); ++r) {
      replica_ref ref;
      ref.node = a.nodes[r];
      auto spec = spec_for(st.incarnation, meta, *owner, *t, a.rows, a.shard, r);
      if (!spec) return spec.error();
      ref.spec = std::move(*spec);
      ref.replica_id = ref.spec.replica_id;
      s.replicas.push_back(std::move(ref));
      added[a.nodes[r]] += a.bytes;
    }
    s.next_id = a.nodes.size();
    t->shards.push_back(std::move(s));
  }
  if (!raise) return std::vector<std::string>{};
  for (auto& m : members) m.used_bytes += added[m.name];
  return raise_replication(*v.embedder, replicas, members);
}

}  // namespace

namespace {

void send_load(control_self self, const std::string& node, const shard_spec& spec,
               std::function<void(shard_actor)> ok, std::function<void(caf::error)> fail) {
  auto& st = self->state;
  auto settled = std::make_shared<bool>(false);
  auto sub = std::make_shared<uint64_t>(0);
  auto on_fail = [self, node, sub, settled, fail](caf::error err) {
    if (*settled) return;
    *settled = true;
    self->state.loads.settle(node, *sub);
    fail(std::move(err));
  };
  *sub = st.loads.track(node, caf::actor_addr{}, on_fail);
  self->request(st.members.at(node).handle, st.cfg.load_timeout, load_atom::value, spec)
      .then(
          [self, node, sub, settled, ok](shard_actor& h) {
            if (*settled) return;
            *settled = true;
            self->state.loads.settle(node, *sub);
            ok(h);
          },
          [on_fail](caf::error& err) { on_fail(std::move(err)); });
}

}  // namespace

void request_load(control_self self, const std::string& node, const shard_spec& spec,
                  std::function<void(shard_actor)> ok, std::function<void(caf::error)> fail) {
  const auto holder = live_holder(self->state, node, spec);
  if (holder.empty()) return send_load(self, node, spec, std::move(ok), std::move(fail));
  // A live replica holds these rows: the node gets them from its store, never from the package.
  copy_blocks(self, node, holder, spec,
              [self, node, spec, ok, fail](caf::error err, uint64_t copied) {
                if (is(err, errc::unsupported))  // a node without a store reads the package
                  return send_load(self, node, spec, ok, fail);
                if (err) return fail(std::move(err));
                if (copied > 0)
                  control_log()->info("copied {} bytes of {} to {}", copied, spec.replica_id, node);
                auto from_store = spec;
                from_store.package_dir.clear();
                send_load(self, node, from_store, ok, fail);
              });
}

namespace {

void load_replicas(std::shared_ptr<load_run> run) {
  // What to load, by sub-model and id: an answer finds its replica again by id, since the
  // shared embedder's released replicas may be erased meanwhile.
  std::vector<std::pair<submodel_entry*, std::string>> todo;
  for (auto* sub : run->fresh)
    sub->for_each_replica([&](replica_ref& r) { todo.emplace_back(sub, r.replica_id); });
  for (const auto& id : run->extras) todo.emplace_back(run->v->embedder.get(), id);
  run->pending = todo.size();
  if (run->pending == 0) return finish_load(run);
  for (const auto& [sub, id] : todo) {
    const auto* r = sub->find_replica(id);
    // `run` holds the version, and so both of its sub-models.
    request_load(
        run->self, r->node, r->spec,
        [run, sub = sub, id = id](shard_actor h) {
          // A load cancelled by unload (or failed elsewhere) keeps its replicas released.
          auto* ref = sub->find_replica(id);
          if (run->answered || !ref || ref->state != replica_state::loading) return;
          replica_ready(run->self, *ref, h);
          if (--run->pending == 0) finish_load(run);
        },
        [run, node = r->node](caf::error err) {
          fail_load(run,
                    make_error(code_of(err), "loading on node " + node + ": " + message_of(err)));
        });
  }
}

// The second half of start_load, on the registry as every earlier change left it: shares or
// places the sub-models, then commits the version (state loading) and loads its replicas.
void place_and_commit(control_self self, std::shared_ptr<version_entry> v, load_request req,
                      caf::typed_response_promise<load_reply> rp) {
  auto& st = self->state;
  auto fresh = share_or_new(st.reg, *v);
  if (!fresh) {
    rp.deliver(fresh.error());
    return;
  }
  // Epochs first: replica ids and specs carry them.
  v->epoch = st.reg.next_epoch();
  if (!v->embedder_reused) v->embedder->epoch = st.reg.next_epoch();
  if (v->classifier) v->classifier->epoch = v->epoch;
  auto extras = place(self, *v, *fresh, v->replicas);
  if (!extras) {
    rp.deliver(extras.error());
    return;
  }
  // Committed: from here the version is visible in status, in state loading. Its number is
  // on disk before any row is read, so no later load (nor a restarted coordinator) issues it.
  // `next`: no other step may run before it is applied.
  const auto name = v->model;
  auto run = std::make_shared<load_run>(
      load_run{self, v, std::move(*fresh), std::move(*extras), std::move(req), std::move(rp)});
  commit_change(
      self, name,
      [self, name, v]() -> caf::error {
        self->state.reg.add_version(name, v);
        return caf::none;
      },
      [run](caf::error err) {
        auto& v = *run->v;
        if (err) {
          // The copies place() added to a shared embedder were never asked for: drop them.
          for (const auto& id : run->extras)
            if (auto* r = v.embedder->find_replica(id)) r->state = replica_state::unloaded;
          run->answered = true;
          run->rp.deliver(std::move(err));
          return;
        }
        control_log()->info("loading model {} v{} (epoch {}) from {}{}", v.model.display(),
                            v.version, v.epoch, v.path,
                            v.embedder_reused ? " reusing embedder " + v.embedder->name : "");
        if (!run->extras.empty())
          control_log()->info("raising embedder {} to {} copies per shard: {} more",
                              v.embedder->name, v.replicas, run->extras.size());
        load_replicas(run);
      },
      v, true);
}

}  // namespace

namespace {

// A composed load's embedder (load_request::embedder_model): the tenant's model version that
// serves it (its active one when no version is given), and its embedder's package.
// Errors: unknown_model, invalid_argument (not ready or serving).
caf::error resolve_embedder(registry& reg, load_request& req) {
  const model_key key{req.tenant, req.embedder_model};
  auto* m = reg.find(key);
  if (!m) return make_error(errc::unknown_model, "no model '" + req.embedder_model + "'");
  const uint64_t n = req.embedder_version != 0 ? req.embedder_version : m->active;
  auto it = m->versions.find(n);
  if (it == m->versions.end())
    return make_error(errc::unknown_model,
                      "model '" + req.embedder_model + "' has no version " + std::to_string(n));
  const auto& v = *it->second;
  if (!v.serves() || !v.embedder)
    return make_error(errc::invalid_argument, "model '" + req.embedder_model + "' v" +
                                                  std::to_string(n) + " is " + to_string(v.state) +
                                                  ", not ready or serving");
  req.embedder_version = n;
  req.embedder_path = v.embedder->path;
  return caf::none;
}

}  // namespace

void start_load(control_self self, load_request req, caf::typed_response_promise<load_reply> rp) {
  if (!req.embedder_model.empty())
    if (auto err = resolve_embedder(self->state.reg, req)) {
      rp.deliver(std::move(err));
      return;
    }
  // The package is read on the reader's thread; placed and committed only once every change
  // queued before it is durable: it must see them (a load of the same package shares the
  // embedder the earlier one registers).
  self->request(self->state.reader, describe_timeout, describe_atom::value, req)
      .then(
          [self, req, rp](described_version& d) mutable {
            after_commits(self, [self, v = std::move(d.v), req, rp]() mutable {
              place_and_commit(self, std::move(v), std::move(req), std::move(rp));
            });
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

void restore_replicas(control_self self, const std::string& node) {
  auto& st = self->state;
  st.reg.for_each_submodel([&](const std::shared_ptr<submodel_entry>& sub) {
    sub->for_each_replica([&](replica_ref& r) {
      if (r.node != node || r.state != replica_state::lost) return;
      r.state = replica_state::loading;
      // `sub` stays alive; the answer finds the replica by id and skips one released (or
      // erased) meanwhile.
      request_load(
          self, node, r.spec,
          [self, sub, id = r.replica_id](shard_actor h) {
            auto* ref = sub->find_replica(id);
            if (!ref || ref->state != replica_state::loading) return;
            replica_ready(self, *ref, h);
          },
          [sub, id = r.replica_id](caf::error err) {
            auto* ref = sub->find_replica(id);
            if (ref && ref->state == replica_state::loading) {
              // Other content than recorded is never served, nor asked for again.
              ref->state =
                  is(err, errc::corrupt_package) ? replica_state::error : replica_state::lost;
              ref->error = describe(err);
            }
            control_log()->warn("restoring {} failed: {}", id, describe(err));
          });
    });
  });
}

}  // namespace tessera
