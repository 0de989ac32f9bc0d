// GCC 12 reports -Wmaybe-uninitialized inside kj::_::ExceptionOr<T> (a NullableValue union)
// for every T with a std::string or std::vector member; it is a known false positive there.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "node/gateway_session.hpp"

#include <algorithm>
#include <iterator>

#include <kj/debug.h>

#include "base/process_stats.hpp"
#include "node/call_owner.hpp"
#include "node/gateway_convert.hpp"
#include "node/package_root.hpp"
#include "node/tenant_view.hpp"
#include "node/tls.hpp"

namespace tessera {

std::chrono::steady_clock::time_point gateway_env::deadline(uint32_t timeout_ms) const {
  auto t = cfg.limits.request_timeout;
  if (timeout_ms > 0) t = std::min(t, std::chrono::milliseconds{timeout_ms});
  return std::chrono::steady_clock::now() + t;
}

const serving_actor& gateway_env::serving_for(const model_key& model,
                                              const serving_actor& connection_serving) const {
  if (cfg.limits.serving_affinity == serving_affinity_kind::connection) return connection_serving;
  const auto h =
      std::hash<std::string>{}(model.tenant.name()) * 31 + std::hash<std::string>{}(model.name);
  return serving[h % serving.size()];
}

void gateway_env::publish() const {
  if (!stats) return;
  stats->connections.store(connections, std::memory_order_relaxed);
  stats->refused_quota.store(quotas.refused(), std::memory_order_relaxed);
  stats->refused_memory.store(memory.refused(), std::memory_order_relaxed);
  stats->refused_inflight.store(refused_inflight, std::memory_order_relaxed);
  stats->failed_logins.store(logins.failures(), std::memory_order_relaxed);
  stats->refused_connections_cap.store(refused_connections, std::memory_order_relaxed);
  stats->refused_connections_prelogin.store(sources.refused_connections(),
                                            std::memory_order_relaxed);
  stats->refused_logins_connection.store(refused_logins_connection, std::memory_order_relaxed);
  stats->refused_logins_source.store(sources.refused_logins(), std::memory_order_relaxed);
  stats->request_bytes_held.store(all_bytes ? all_bytes->held : 0, std::memory_order_relaxed);
  stats->request_byte_waits.store(bytes.waits(), std::memory_order_relaxed);
  stats->paced_slices.store(pacer.waits(), std::memory_order_relaxed);
}

namespace {

kj::Exception refuse(errc code, std::string message) {
  return to_kj_exception(make_error(code, std::move(message)));
}

// The call's answer to `e` when it asked for refusals as results (refusalAsResult): an
// overloaded refusal fills `res`'s typed Refusal (retry hint and message) and the call
// succeeds; anything else, or without `typed`, stays the exception.
template <class Results>
kj::Promise<void> refusal_or_exception(bool typed, kj::Exception&& e, Results res) {
  const std::string d = e.getDescription().cStr();
  if (!typed || code_of_description(d) != errc::overloaded) return kj::mv(e);
  auto r = res.initRefusal();
  r.setRetryAfterMs(static_cast<uint32_t>(std::min<uint64_t>(retry_after_ms_of(d), UINT32_MAX)));
  // The reason is the message without its retry hint: the hint is the field.
  const std::string tag = "tessera.overloaded: ";
  const auto at = d.find(tag);
  r.setReason(without_retry_hint(at == std::string::npos ? d : d.substr(at + tag.size())));
  return kj::READY_NOW;
}

void append(predict_reply& total, predict_reply&& part) {
  std::move(part.results.begin(), part.results.end(), std::back_inserter(total.results));
}

// Our own invariants (a serving actor answers every slice on the build the first was served
// by): a broken one is an `internal` error, never a bad-input one.
kj::Exception broken(std::string what) {
  return refuse(errc::internal, std::move(what));
}

void append(embed_reply& total, embed_reply&& part) {
  if (part.dim != total.dim) throw broken("slices of one call came back with different dimensions");
  total.vectors.insert(total.vectors.end(), part.vectors.begin(), part.vectors.end());
}

template <class Reply, class Atom>
kj::Promise<Reply> send_slice(gateway_env& env, std::shared_ptr<call_owner<Reply>> c, size_t i);

// Runs slice i and the ones after it; a paced call's slice first waits for its slot.
template <class Reply, class Atom>
kj::Promise<Reply> run_slices(gateway_env& env, std::shared_ptr<call_owner<Reply>> c, size_t i) {
  if (!c->paced) return send_slice<Reply, Atom>(env, std::move(c), i);
  const auto now = std::chrono::steady_clock::now();
  const auto wait =
      std::chrono::duration_cast<std::chrono::microseconds>(env.pacer.low_slot(now) - now);
  if (wait.count() <= 0) return send_slice<Reply, Atom>(env, std::move(c), i);
  env.publish();  // the pacer counted a wait
  return env.timer.afterDelay(wait.count() * kj::MICROSECONDS).then([&env, c, i]() mutable {
    return send_slice<Reply, Atom>(env, std::move(c), i);
  });
}

template <class Reply, class Atom>
kj::Promise<Reply> send_slice(gateway_env& env, std::shared_ptr<call_owner<Reply>> c, size_t i) {
  predict_request r;
  r.model = c->base.model;
  r.k = c->base.k;
  r.threshold = c->base.threshold;
  r.deadline = c->base.deadline;
  r.build = c->base.build;
  r.inputs.assign(std::make_move_iterator(c->inputs.begin() + c->bounds[i]),
                  std::make_move_iterator(c->inputs.begin() + c->bounds[i + 1]));
  return env.bridge.ask<Reply>(c->to, env.call_timeout(), Atom::value, std::move(r))
      .then([&env, c, i](Reply part) -> kj::Promise<Reply> {
        if (i == 0) {
          c->total = std::move(part);
          // Every later slice runs on the build the first one was served by, in the routing
          // snapshot it took (held here until the call ends, so it cannot be unloaded).
          c->base.model.version = c->total.version;
          c->base.model.epoch = c->total.epoch;
          c->base.model.label.clear();
          c->base.build = c->total.build;
        } else {
          if (part.version != c->total.version || part.epoch != c->total.epoch)
            throw broken("a slice ran on another version than the first");
          append(c->total, std::move(part));
        }
        if (i + 2 >= c->bounds.size()) return std::move(c->total);
        return run_slices<Reply, Atom>(env, c, i + 1);
      });
}

// Whether `token` may use (or administer) its tenant's model `model`: its `models` list.
bool may_use(const token_config& token, const std::string& model) {
  return std::any_of(token.models.begin(), token.models.end(),
                     [&](const std::string& m) { return m == "*" || m == model; });
}

kj::Exception not_yours(const token_config& token, const std::string& model) {
  return refuse(errc::permission_denied,
                "token '" + token.name + "' may not use model '" + model + "'");
}

// An admin token's rights (docs/SECURITY.md): models of its tenant that its `models` list
// names, load paths under its tenant's package_root when the config sets one, and the
// cluster-wide calls (members, drain, undrain, the whole status) with cluster_admin only.
class admin_impl final : public Admin::Server {
 public:
  admin_impl(gateway_env& env, token_config token, tenant_id tenant,
             std::shared_ptr<client_state> client)
      : env_(env),
        token_(std::move(token)),
        tenant_(std::move(tenant)),
        client_(std::move(client)) {}

  // Every admin call holds a place among the connection's unanswered calls.
  DispatchCallResult dispatchCall(
      uint64_t iid, uint16_t mid,
      capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> ctx) override {
    return held_dispatch(client_, [&] { return Admin::Server::dispatchCall(iid, mid, ctx); });
  }

  kj::Promise<void> load(LoadContext ctx) override {
    auto o = ctx.getParams().getOptions();
    load_request req;
    req.path = o.getPath();
    req.name = o.getName();
    req.replicas = std::max<uint32_t>(o.getReplicas(), 1);
    req.activate = o.getActivate();
    req.exact_pooling = o.getExactPooling();
    if (req.path.empty()) return refuse(errc::invalid_argument, "package path is empty");
    if (o.hasEmbedder() && o.getEmbedder().getName().size() > 0) {
      auto e = o.getEmbedder();
      req.embedder_model = e.getName();
      if (e.isLabel())
        return refuse(errc::invalid_argument,
                      "an embedder is named by a version number or the active version, not a "
                      "label");
      if (e.isVersion()) {
        if (e.getVersion() == 0)
          return refuse(errc::invalid_argument, "embedder version 0 does not exist");
        req.embedder_version = e.getVersion();
      }
    }
    if (const auto* ten = env_.cfg.find_tenant(tenant_.name());
        ten != nullptr && !ten->package_root.empty()) {
      auto confined =
          confine_to_root(resolve_state_path(ten->package_root), req.path, tenant_.name());
      if (!confined) return to_kj_exception(confined.error());
      req.path = std::move(*confined);
    }
    if (!req.name.empty()) {
      // A name with '/' is how operators see another tenant's model (model_key::display());
      // loading under it answers as any call naming a model that is not the tenant's.
      if (req.name.find('/') != std::string::npos)
        return refuse(errc::unknown_model, "no model '" + req.name + "'");
      if (!may_use(token_, req.name)) return not_yours(token_, req.name);
    } else if (!may_use(token_, "*")) {
      // The manifest's name is known only once loaded: a token limited to some models names it.
      return refuse(errc::permission_denied, "token '" + token_.name +
                                                 "' may load only the models it lists: give "
                                                 "the model's name");
    }
    req.tenant = tenant_;
    return env_.bridge
        .ask<load_reply>(env_.coord, env_.load_timeout(), load_atom::value, std::move(req))
        .then([ctx](load_reply r) mutable {
          ctx.getResults().setName(r.name);
          ctx.getResults().setVersion(r.version);
        });
  }

  kj::Promise<void> activate(ActivateContext ctx) override {
    auto p = ctx.getParams();
    return ask_model<bool>(activate_atom::value, p.getName(), p.getVersion()).ignoreResult();
  }

  kj::Promise<void> rollback(RollbackContext ctx) override {
    return ask_model<uint64_t>(rollback_atom::value, ctx.getParams().getName())
        .then([ctx](uint64_t v) mutable { ctx.getResults().setVersion(v); });
  }

  kj::Promise<void> setLabel(SetLabelContext ctx) override {
    auto p = ctx.getParams();
    return ask_model<bool>(label_atom::value, p.getName(), std::string{p.getLabel()},
                           p.getVersion())
        .ignoreResult();
  }

  kj::Promise<void> unload(UnloadContext ctx) override {
    auto p = ctx.getParams();
    return ask_model<bool>(unload_atom::value, p.getName(), p.getVersion()).ignoreResult();
  }

  kj::Promise<void> drain(DrainContext ctx) override {
    return ask_member(drain_atom::value, ctx.getParams().getNode());
  }

  kj::Promise<void> undrain(UndrainContext ctx) override {
    return ask_member(undrain_atom::value, ctx.getParams().getNode());
  }

  // cluster_admin: every tenant's models (qualified: model_key::display()), the members and
  // the coordinator's counters. Anyone else: the tenant's view (node/tenant_view.hpp).
  kj::Promise<void> status(StatusContext ctx) override {
    return env_.bridge.ask<cluster_status>(env_.coord, env_.call_timeout(), status_atom::value)
        .then([this, ctx](cluster_status s) mutable {
          auto out = ctx.getResults().initStatus();
          if (!token_.cluster_admin) {
            to_tenant_view(s, tenant_, [this](const std::string& m) { return may_use(token_, m); });
            fill(out, s);
            return;
          }
          fill(out, s, model_naming::qualified);
          auto co = out.initCoordinator();
          if (const auto* me = env_.cfg.coordinator()) co.setName(me->name);
          co.setRssBytes(current_rss_bytes());
          co.setBudgetBytes(env_.memory.budget());
          co.setConnections(env_.connections);
          co.setRefusedQuota(env_.quotas.refused());
          co.setRefusedMemory(env_.memory.refused());
          co.setFailedLogins(env_.logins.failures());
        });
  }

  kj::Promise<void> members(MembersContext ctx) override {
    if (!token_.cluster_admin) return not_cluster_admin();
    return env_.bridge.ask<cluster_status>(env_.coord, env_.call_timeout(), status_atom::value)
        .then([ctx](cluster_status s) mutable {
          auto ms = ctx.getResults().initMembers(static_cast<unsigned>(s.members.size()));
          for (size_t i = 0; i < s.members.size(); ++i) fill(ms[i], s.members[i]);
        });
  }

 private:
  kj::Exception not_cluster_admin() const {
    return refuse(errc::permission_denied, "token '" + token_.name +
                                               "' has no cluster_admin role (nodes are the cluster "
                                               "admins' to run)");
  }

  // Asks the coordinator (atom, node) about a member: cluster_admin only.
  template <class Atom>
  kj::Promise<void> ask_member(Atom atom, capnp::Text::Reader node) {
    if (!token_.cluster_admin) return not_cluster_admin();
    return env_.bridge.ask<bool>(env_.coord, env_.call_timeout(), atom, std::string{node})
        .ignoreResult();
  }

  // Asks the coordinator (atom, this tenant's model `name`, rest...); another tenant's model is
  // unknown_model (the key holds this session's tenant), one outside the token's models
  // permission_denied.
  template <class R, class Atom, class... Ts>
  kj::Promise<R> ask_model(Atom atom, capnp::Text::Reader name, Ts&&... rest) {
    if (!may_use(token_, name.cStr())) return not_yours(token_, name.cStr());
    return env_.bridge.ask<R>(env_.coord, env_.call_timeout(), atom,
                              model_key{tenant_, name.cStr()}, std::forward<Ts>(rest)...);
  }

  gateway_env& env_;
  token_config token_;
  tenant_id tenant_;
  std::shared_ptr<client_state> client_;
};

class session_impl final : public Session::Server {
 public:
  session_impl(gateway_env& env, token_config token, std::shared_ptr<client_state> client)
      : env_(env),
        token_(std::move(token)),
        tenant_(token_.tenant),
        priority_(env_.quotas.priority(token_.tenant)),
        client_(std::move(client)) {}

  // Every call, whatever its method, holds a place among the connection's unanswered calls
  // and its message's byte lease until it is answered.
  DispatchCallResult dispatchCall(
      uint64_t iid, uint16_t mid,
      capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> ctx) override {
    return held_dispatch(client_, [&] { return Session::Server::dispatchCall(iid, mid, ctx); });
  }

  kj::Promise<void> predict(PredictContext ctx) override {
    auto p = ctx.getParams();
    auto call = start<predict_reply>(p.getModel(), p.getInputs(), p.getTimeoutMs());
    if (!call) return to_kj_exception(call.error());
    (*call)->base.k = p.getTopK();  // checked by the coordinator (check_predict_options)
    (*call)->base.threshold = p.getThreshold();
    const bool typed = p.getRefusalAsResult();
    return run<predict_reply, predict_atom>(std::move(*call))
        .then([ctx](predict_reply r) mutable {
          auto res = ctx.getResults();
          auto list = res.initResults(static_cast<unsigned>(r.results.size()));
          for (size_t i = 0; i < r.results.size(); ++i) {
            const auto& labels = r.results[i];
            auto lb = list[i].initLabels(static_cast<unsigned>(labels.size()));
            for (size_t j = 0; j < labels.size(); ++j) {
              const auto& sl = labels[j];
              lb[j].setIndex(sl.label);
              lb[j].setProb(sl.prob);
              if (r.labels && sl.label < r.labels->size()) lb[j].setLabel((*r.labels)[sl.label]);
            }
          }
          fill(res.initServedBy(), r.version, r.epoch);
        })
        .catch_([ctx, typed](kj::Exception&& e) mutable -> kj::Promise<void> {
          return refusal_or_exception(typed, kj::mv(e), ctx.getResults());
        });
  }

  kj::Promise<void> embed(EmbedContext ctx) override {
    auto p = ctx.getParams();
    auto call = start<embed_reply>(p.getModel(), p.getInputs(), p.getTimeoutMs());
    if (!call) return to_kj_exception(call.error());
    const bool typed = p.getRefusalAsResult();
    return run<embed_reply, embed_atom>(std::move(*call))
        .then([ctx](embed_reply r) mutable {
          auto res = ctx.getResults();
          size_t n = r.dim == 0 ? 0 : r.vectors.size() / r.dim;
          auto vs = res.initVectors(static_cast<unsigned>(n));
          for (size_t i = 0; i < n; ++i) {
            auto v = vs.init(static_cast<unsigned>(i), r.dim);
            for (uint32_t j = 0; j < r.dim; ++j) v.set(j, r.vectors[i * r.dim + j]);
          }
          fill(res.initServedBy(), r.version, r.epoch);
        })
        .catch_([ctx, typed](kj::Exception&& e) mutable -> kj::Promise<void> {
          return refusal_or_exception(typed, kj::mv(e), ctx.getResults());
        });
  }

  kj::Promise<void> listModels(ListModelsContext ctx) override {
    return env_.bridge
        .ask<std::vector<model_info>>(env_.coord, env_.call_timeout(), models_atom::value)
        .then([this, ctx](std::vector<model_info> ms) mutable {
          keep_tenant_models(
              ms, tenant_, [this](const std::string& m) { return may_use(token_, m); },
              token_.cluster_admin);
          // Where packages sit on the servers is for admins only.
          if (!token_.admin)
            for (auto& m : ms)
              for (auto& v : m.versions) v.path.clear();
          auto list = ctx.getResults().initModels(static_cast<unsigned>(ms.size()));
          for (size_t i = 0; i < ms.size(); ++i) fill(list[i], ms[i]);
        });
  }

  kj::Promise<void> admin(AdminContext ctx) override {
    if (!token_.admin)
      return refuse(errc::permission_denied, "token '" + token_.name + "' has no admin role");
    ctx.getResults().setAdmin(kj::heap<admin_impl>(env_, token_, tenant_, client_));
    return kj::READY_NOW;
  }

 private:
  // Reads and checks a call: the model (of this session's tenant), the token's models, the
  // limits.
  template <class Reply>
  caf::expected<std::shared_ptr<call_owner<Reply>>> start(ModelRef::Reader model,
                                                          capnp::List<Input>::Reader inputs,
                                                          uint32_t timeout_ms) const {
    auto c = std::make_shared<call_owner<Reply>>();
    c->base.deadline = env_.deadline(timeout_ms);
    auto ref = read_model_ref(model);
    if (!ref) return ref.error();
    if (!may_use(token_, ref->name))
      return make_error(errc::permission_denied,
                        "token '" + token_.name + "' may not use model '" + ref->name + "'");
    ref->tenant = tenant_;
    auto in = read_inputs(inputs, env_.cfg.limits);
    if (!in) return in.error();
    c->base.model = std::move(*ref);
    c->to = env_.serving_for(c->base.model.key(), client_->serving);
    c->inputs = std::move(*in);
    // A low-priority call goes in small slices, each paced while high-priority calls run
    // (cluster/priority_pacer.hpp).
    c->paced = priority_ == tenant_priority::low;
    const uint64_t slice = env_.cfg.limits.slice_bytes;
    c->bounds =
        slice_bounds(c->inputs, c->paced ? std::max<uint64_t>(slice / 16, 64 << 10) : slice);
    return c;
  }

  // Admits the call (the memory gate, its tenant's quotas, the coordinator's max_inflight)
  // and runs it; its owner holds the tickets until it is answered or dropped (dispatchCall
  // holds the connection's call place).
  template <class Reply, class Atom>
  kj::Promise<Reply> run(std::shared_ptr<call_owner<Reply>> c) {
    if (auto err = env_.memory.check()) return held_refusal<Reply>(err);
    auto ticket = env_.quotas.admit(tenant_.name(), static_cast<uint32_t>(c->inputs.size()));
    if (!ticket) return held_refusal<Reply>(ticket.error());
    auto admitted = env_.admitted.admit();
    if (!admitted) {
      ++env_.refused_inflight;
      env_.publish();
      return to_kj_exception(admitted.error());
    }
    c->quota = std::move(*ticket);
    c->admitted = std::move(*admitted);
    auto call = run_slices<Reply, Atom>(env_, std::move(c), 0);
    if (priority_ != tenant_priority::high) return call;
    // While it runs, low-priority slices are paced; ended once, however the call ends.
    env_.pacer.high_started();
    return call.attach(kj::defer([&env = env_] { env.pacer.high_finished(); }));
  }

  // An overloaded refusal is answered after its retry-after hint (at most 250 ms), holding the
  // connection's call place (dispatchCall) meanwhile: a client that retries at once can cost the
  // gateway at most max_calls_per_connection refusals per 250 ms, not a busy loop. Other errors at
  // once.
  template <class Reply>
  kj::Promise<Reply> held_refusal(const caf::error& err) {
    env_.publish();
    auto ex = to_kj_exception(err);
    if (!is(err, errc::overloaded)) return kj::mv(ex);
    auto wait = std::min<uint64_t>(retry_after_ms_of(message_of(err)), 250);
    return env_.timer.afterDelay(wait * kj::MILLISECONDS)
        .then([ex = kj::mv(ex)]() mutable -> kj::Promise<Reply> { return kj::mv(ex); });
  }

  gateway_env& env_;
  token_config token_;
  tenant_id tenant_;
  tenant_priority priority_;  // its tenant's, looked up once per session
  std::shared_ptr<client_state> client_;
};

}  // namespace

kj::Own<Session::Server> make_session(gateway_env& env, const token_config& token,
                                      std::shared_ptr<client_state> client) {
  return kj::heap<session_impl>(env, token, std::move(client));
}

}  // namespace tessera
