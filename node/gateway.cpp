// GCC 12 reports -Wmaybe-uninitialized inside kj::_::ExceptionOr<T> (a NullableValue union)
// for every T with a std::string or std::vector member; it is a known false positive there.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "node/gateway.hpp"
#include "base/logger.hpp"

#include <algorithm>

#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>

#include "node/bridge.hpp"
#include "node/gateway_convert.hpp"

namespace tessera {
namespace {

std::shared_ptr<spdlog::logger> log() {
  return component_logger("gateway");
}

// What every capability of one gateway shares. Lives as long as run_gateway.
struct gateway_env {
  kj_bridge& bridge;
  coordinator_actor coord;
  cluster_config cfg;
  // Bridge deadlines: the coordinator enforces the real ones; these only bound a lost reply.
  std::chrono::milliseconds call_timeout() const {
    return cfg.limits.request_timeout + std::chrono::seconds(2);
  }
  // A client's deadline: timeout_ms from now (0 = request_timeout), capped at request_timeout.
  std::chrono::steady_clock::time_point deadline(uint32_t timeout_ms) const {
    auto t = cfg.limits.request_timeout;
    if (timeout_ms > 0) t = std::min(t, std::chrono::milliseconds{timeout_ms});
    return std::chrono::steady_clock::now() + t;
  }
  std::chrono::milliseconds load_timeout() const {
    return cfg.limits.load_timeout + std::chrono::seconds(10);
  }
};

kj::Exception refuse(errc code, std::string message) {
  return to_kj_exception(make_error(code, std::move(message)));
}

class admin_impl final : public Admin::Server {
 public:
  explicit admin_impl(const gateway_env& env) : env_(env) {}

  kj::Promise<void> load(LoadContext ctx) override {
    auto o = ctx.getParams().getOptions();
    load_request req;
    req.path = o.getPath();
    req.name = o.getName();
    req.replicas = std::max<uint32_t>(o.getReplicas(), 1);
    req.activate = o.getActivate();
    req.exact_pooling = o.getExactPooling();
    if (req.path.empty()) return refuse(errc::invalid_argument, "package path is empty");
    return env_.bridge
        .ask<load_reply>(env_.coord, env_.load_timeout(), load_atom::value, std::move(req))
        .then([ctx](load_reply r) mutable {
          ctx.getResults().setName(r.name);
          ctx.getResults().setVersion(r.version);
        });
  }

  kj::Promise<void> activate(ActivateContext ctx) override {
    auto p = ctx.getParams();
    return env_.bridge
        .ask<bool>(env_.coord, env_.call_timeout(), activate_atom::value, std::string{p.getName()},
                   p.getVersion())
        .ignoreResult();
  }

  kj::Promise<void> rollback(RollbackContext ctx) override {
    return env_.bridge
        .ask<uint64_t>(env_.coord, env_.call_timeout(), rollback_atom::value,
                       std::string{ctx.getParams().getName()})
        .then([ctx](uint64_t v) mutable { ctx.getResults().setVersion(v); });
  }

  kj::Promise<void> setLabel(SetLabelContext ctx) override {
    auto p = ctx.getParams();
    return env_.bridge
        .ask<bool>(env_.coord, env_.call_timeout(), label_atom::value, std::string{p.getName()},
                   std::string{p.getLabel()}, p.getVersion())
        .ignoreResult();
  }

  kj::Promise<void> unload(UnloadContext ctx) override {
    auto p = ctx.getParams();
    return env_.bridge
        .ask<bool>(env_.coord, env_.call_timeout(), unload_atom::value, std::string{p.getName()},
                   p.getVersion())
        .ignoreResult();
  }

  kj::Promise<void> status(StatusContext ctx) override {
    return env_.bridge.ask<cluster_status>(env_.coord, env_.call_timeout(), status_atom::value)
        .then([ctx](cluster_status s) mutable { fill(ctx.getResults().initStatus(), s); });
  }

  kj::Promise<void> members(MembersContext ctx) override {
    return env_.bridge.ask<cluster_status>(env_.coord, env_.call_timeout(), status_atom::value)
        .then([ctx](cluster_status s) mutable {
          auto ms = ctx.getResults().initMembers(static_cast<unsigned>(s.members.size()));
          for (size_t i = 0; i < s.members.size(); ++i) fill(ms[i], s.members[i]);
        });
  }

 private:
  const gateway_env& env_;
};

class session_impl final : public Session::Server {
 public:
  session_impl(const gateway_env& env, token_config token) : env_(env), token_(std::move(token)) {}

  kj::Promise<void> predict(PredictContext ctx) override {
    auto p = ctx.getParams();
    auto req = read_request(p.getModel(), p.getInputs(), p.getTimeoutMs());
    if (!req) return to_kj_exception(req.error());
    req->k = p.getTopK();  // checked by the coordinator (check_predict_options)
    req->threshold = p.getThreshold();
    return env_.bridge
        .ask<predict_reply>(env_.coord, env_.call_timeout(), predict_atom::value, std::move(*req))
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
        });
  }

  kj::Promise<void> embed(EmbedContext ctx) override {
    auto p = ctx.getParams();
    auto req = read_request(p.getModel(), p.getInputs(), p.getTimeoutMs());
    if (!req) return to_kj_exception(req.error());
    return env_.bridge
        .ask<embed_reply>(env_.coord, env_.call_timeout(), embed_atom::value, std::move(*req))
        .then([ctx](embed_reply r) mutable {
          auto res = ctx.getResults();
          size_t n = r.dim == 0 ? 0 : r.vectors.size() / r.dim;
          auto vs = res.initVectors(static_cast<unsigned>(n));
          for (size_t i = 0; i < n; ++i) {
            auto v = vs.init(static_cast<unsigned>(i), r.dim);
            for (uint32_t j = 0; j < r.dim; ++j) v.set(j, r.vectors[i * r.dim + j]);
          }
          fill(res.initServedBy(), r.version, r.epoch);
        });
  }

  kj::Promise<void> listModels(ListModelsContext ctx) override {
    return env_.bridge
        .ask<std::vector<model_info>>(env_.coord, env_.call_timeout(), models_atom::value)
        .then([this, ctx](std::vector<model_info> ms) mutable {
          ms.erase(std::remove_if(ms.begin(), ms.end(),
                                  [&](const model_info& m) { return !may_use(m.name); }),
                   ms.end());
          auto list = ctx.getResults().initModels(static_cast<unsigned>(ms.size()));
          for (size_t i = 0; i < ms.size(); ++i) fill(list[i], ms[i]);
        });
  }

  kj::Promise<void> admin(AdminContext ctx) override {
    if (!token_.admin)
      return refuse(errc::permission_denied, "token '" + token_.name + "' has no admin role");
    ctx.getResults().setAdmin(kj::heap<admin_impl>(env_));
    return kj::READY_NOW;
  }

 private:
  bool may_use(const std::string& model) const {
    return std::any_of(token_.models.begin(), token_.models.end(),
                       [&](const std::string& m) { return m == "*" || m == model; });
  }

  caf::expected<predict_request> read_request(ModelRef::Reader model,
                                              capnp::List<Input>::Reader inputs,
                                              uint32_t timeout_ms) const {
    predict_request req;
    req.deadline = env_.deadline(timeout_ms);
    auto ref = read_model_ref(model);
    if (!ref) return ref.error();
    if (!may_use(ref->name))
      return make_error(errc::permission_denied,
                        "token '" + token_.name + "' may not use model '" + ref->name + "'");
    auto in = read_inputs(inputs, env_.cfg.limits);
    if (!in) return in.error();
    req.model = std::move(*ref);
    req.inputs = std::move(*in);
    return req;
  }

  const gateway_env& env_;
  token_config token_;
};

class tessera_impl final : public Tessera::Server {
 public:
  explicit tessera_impl(const gateway_env& env) : env_(env) {}

  kj::Promise<void> authenticate(AuthenticateContext ctx) override {
    std::string token = ctx.getParams().getToken();
    for (const auto& t : env_.cfg.tokens)
      if (!token.empty() && t.token == token) {
        ctx.getResults().setSession(kj::heap<session_impl>(env_, t));
        return kj::READY_NOW;
      }
    log()->warn("authentication refused");  // never log the token
    return refuse(errc::unauthenticated, "unknown token");
  }

 private:
  const gateway_env& env_;
};

// One client connection: its network and RPC system live until it disconnects.
struct connection {
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  connection(kj::Own<kj::AsyncIoStream> s, capnp::Capability::Client bootstrap,
             capnp::ReaderOptions opts)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, opts),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
};

kj::Promise<void> accept_loop(kj::ConnectionReceiver& listener, capnp::Capability::Client bootstrap,
                              capnp::ReaderOptions opts, kj::TaskSet& tasks) {
  return listener.accept().then(
      [&listener, bootstrap, opts, &tasks](kj::Own<kj::AsyncIoStream> stream) mutable {
        auto conn = kj::heap<connection>(kj::mv(stream), bootstrap, opts);
        auto done = conn->network.onDisconnect();
        tasks.add(done.attach(kj::mv(conn)));
        return accept_loop(listener, kj::mv(bootstrap), opts, tasks);
      });
}

struct log_errors final : kj::TaskSet::ErrorHandler {
  void taskFailed(kj::Exception&& e) override {
    log()->debug("connection ended: {}", e.getDescription().cStr());
  }
};

}  // namespace

void run_gateway(caf::actor_system& sys, coordinator_actor coord, const cluster_config& cfg,
                 const gateway_options& opts, kj::AsyncIoContext& io, kj::Promise<void> stop,
                 std::function<void(uint16_t)> on_listen) {
  kj_bridge bridge{sys};
  gateway_env env{bridge, std::move(coord), cfg};
  auto addr = io.provider->getNetwork().parseAddress(opts.host, opts.port).wait(io.waitScope);
  auto listener = secure_listener(addr->listen(), opts.tls, io.provider->getTimer());
  auto port = static_cast<uint16_t>(listener->getPort());
  log()->info("gateway listening on {}:{}{}", opts.host, port, opts.tls.enabled() ? " (TLS)" : "");
  if (on_listen) on_listen(port);
  capnp::ReaderOptions ropts;
  ropts.traversalLimitInWords = opts.max_message_bytes / 8;
  capnp::Capability::Client bootstrap = kj::heap<tessera_impl>(env);
  log_errors handler;
  kj::TaskSet tasks(handler);
  auto serving = accept_loop(*listener, bootstrap, ropts, tasks);
  stop.exclusiveJoin(kj::mv(serving)).wait(io.waitScope);
  log()->info("gateway stopped");
}

}  // namespace tessera
