#include "actors/serving.hpp"

#include <stdexcept>

#include <caf/all.hpp>

#include "actors/serving_run.hpp"
#include "actors/serving_state.hpp"
#include "actors/unhandled.hpp"
#include "cluster/predict_options.hpp"

namespace tessera {
namespace {

// A predict or embed call refused before it ran: counted under its model when the snapshot
// knows it, else under its tenant with an empty model name, so client-chosen names cannot grow
// the series. `version`: the one it was resolved to, 0 when it was refused before that.
caf::error refused(serving_state& st, const char* kind, const predict_request& req, caf::error err,
                   uint64_t version = 0) {
  if (st.metrics.enabled()) {
    auto key = req.model.key();
    if (st.routes->models.count(key) == 0) key.name.clear();
    st.metrics.answered(key, version, kind, to_string(code_of(err)), req.inputs.size(), -1);
  }
  return err;
}

// The test-only fault (coordinator_options::test_throw_on_model): throws as a bug would.
void test_fault(const coordinator_options& cfg, const std::string& model) {
  if (!cfg.test_throw_on_model.empty() && model == cfg.test_throw_on_model)
    throw std::runtime_error("test fault: a predict on '" + model +
                             "' (TESSERA_TEST_THROW_ON_MODEL)");
}

serving_metrics make_metrics(serving_state& st) {
  serving_metrics out;
  out.families = st.metrics.collect();
  prom_merge(out.families, st.router.metrics().collect());
  out.hedges = st.router.hedges();
  out.queued = st.predicts.waiting();
  return out;
}

serving_actor::behavior_type serving_impl(serving_self self, coordinator_options opts,
                                          snapshot_ptr routes) {
  // Reported as the coordinator's: it is the coordinator's data plane, and its end ends the
  // process like the control actor's (node/actor_watch.hpp).
  end_on_exception(self, "coordinator");
  auto& st = self->state;
  st.cfg = std::move(opts);  // without the control plane's parts (spawn_coordinator)
  st.routes = std::move(routes);
  coalescer<predict_call>::options batching;
  batching.max_batch_bytes = st.cfg.max_gather_bytes;
  st.predicts = coalescer<predict_call>{batching};
  st.metrics = request_metrics{st.cfg.count_requests};
  st.router.metrics() = shard_metrics{st.cfg.count_requests};
  st.router.configure_hedging(st.cfg.hedging);
  return {
      [self](predict_atom, predict_request& req) -> caf::result<predict_reply> {
        auto& st = self->state;
        test_fault(st.cfg, req.model.name);
        if (auto err = check_predict_options(req.k, req.threshold))
          return refused(st, "predict", req, std::move(err));
        auto ctx = open_request(st.routes, req, st.cfg.request_timeout);
        if (!ctx) return refused(st, "predict", req, ctx.error());
        if (!ctx->version->has_classifier())
          return refused(st, "predict", req,
                         make_error(errc::unsupported,
                                    "model '" + req.model.name + "' has no classifier; use embed"),
                         ctx->version->version);
        auto bags = build_bags(*ctx->version, st.cfg.max_ids_per_input, req.inputs);
        if (!bags) return refused(st, "predict", req, bags.error(), ctx->version->version);
        auto held = held_bytes(*ctx->version, *bags, st.cfg.max_gather_bytes);
        if (!held) return refused(st, "predict", req, held.error(), ctx->version->version);
        auto rp = self->make_response_promise<predict_reply>();
        submit_predict(
            self, predict_call{std::move(*ctx), std::move(*bags), req.k, req.threshold, rp, *held});
        return rp;
      },
      [self](embed_atom, predict_request& req) -> caf::result<embed_reply> {
        auto& st = self->state;
        auto ctx = open_request(st.routes, req, st.cfg.request_timeout);
        if (!ctx) return refused(st, "embed", req, ctx.error());
        auto bags = build_bags(*ctx->version, st.cfg.max_ids_per_input, req.inputs);
        if (!bags) return refused(st, "embed", req, bags.error(), ctx->version->version);
        if (auto held = held_bytes(*ctx->version, *bags, st.cfg.max_gather_bytes); !held)
          return refused(st, "embed", req, held.error(), ctx->version->version);
        auto rp = self->make_response_promise<embed_reply>();
        run_embed(self, std::move(*ctx), std::move(*bags), rp);
        return rp;
      },
      [self](metrics_atom) -> serving_metrics { return make_metrics(self->state); },
      [self](routes_atom, snapshot_ptr& snap) -> bool {
        auto& st = self->state;
        if (!snap || (st.routes && snap->generation <= st.routes->generation)) return true;
        st.routes = std::move(snap);
        st.router.new_snapshot();
        // Series of sub-model versions no snapshot in use names any more are forgotten.
        std::set<uint64_t> live;
        for (const auto& [key, m] : st.routes->models)
          for (const auto& [n, v] : m.versions) {
            for (const auto& t : v.tables) live.insert(t.epoch);
            for (const auto& t : v.layers) live.insert(t.epoch);
          }
        st.router.metrics().retain(live);
        return true;
      },
      [self](member_atom, const std::string& node, bool up) {
        auto& st = self->state;
        if (up) {
          st.down.erase(node);
          return;
        }
        st.down.insert(node);
        st.router.node_down(node, make_error(errc::unavailable, "node " + node + " went down"));
      },
      [self](lost_atom, const std::string& node, const std::string& id,
             const caf::actor_addr& replica) {
        self->state.router.replica_down(
            node, replica,
            make_error(errc::unavailable, "replica " + id + " on " + node + " went down"));
      },
      [self](expire_atom, uint64_t key) { expire_predicts(self, key); },
      [self](hedge_atom, uint64_t id) { self->state.router.fire(id); },
  };
}

}  // namespace

serving_actor spawn_serving(caf::actor_system& sys, const coordinator_options& opts,
                            snapshot_ptr routes) {
  return sys.spawn(serving_impl, opts, std::move(routes));
}

}  // namespace tessera
