// GCC 12 reports -Wmaybe-uninitialized inside kj::_::ExceptionOr<T> (a NullableValue union)
// for every T with a std::string or std::vector member; it is a known false positive there.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "node/gateway.hpp"
#include "base/logger.hpp"

#include <algorithm>
#include <map>

#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>

#include <sys/resource.h>

#include "base/process_stats.hpp"
#include "node/bridge.hpp"
#include "node/gateway_session.hpp"

namespace tessera {
namespace {

std::shared_ptr<spdlog::logger> log() {
  return component_logger("gateway");
}

// A connection that has not authenticated within this long is closed.
constexpr auto k_login_window = std::chrono::seconds(10);
// File descriptors kept free of client connections: node links, packages, logs.
constexpr uint64_t k_reserved_fds = 128;

// The bootstrap capability of one connection: authenticates its tokens.
class tessera_impl final : public Tessera::Server {
 public:
  tessera_impl(gateway_env& env, std::shared_ptr<client_state> client)
      : env_(env), client_(std::move(client)) {}

  kj::Promise<void> authenticate(AuthenticateContext ctx) override {
    std::string token = ctx.getParams().getToken();
    // Every entry is hashed and compared (in constant time), so the time taken does not tell
    // which entry, if any, matched.
    const token_config* match = nullptr;
    for (const auto& t : env_.cfg.tokens)
      if (token_matches(t.hash, token) && match == nullptr) match = &t;
    if (match != nullptr && !token.empty()) {
      client_->authenticated = true;
      ctx.getResults().setSession(make_session(env_, *match, client_));
      return kj::READY_NOW;
    }
    // Never log the token; one summary line per interval for all failures.
    auto line = env_.logins.on_failure(std::chrono::steady_clock::now());
    env_.publish();
    if (line) log()->warn("{}", *line);
    auto delay = login_guard::delay_for(++client_->failed_logins);
    auto refusal = to_kj_exception(make_error(errc::unauthenticated, "unknown token"));
    if (delay.count() == 0) return kj::mv(refusal);
    return env_.timer.afterDelay(delay.count() * kj::MILLISECONDS)
        .then(
            [refusal = kj::mv(refusal)]() mutable -> kj::Promise<void> { return kj::mv(refusal); });
  }

 private:
  gateway_env& env_;
  std::shared_ptr<client_state> client_;
};

// One client connection: its guarded stream, network and RPC system live until it
// disconnects. It counts itself in env.connections.
struct connection {
  gateway_env& env;
  std::shared_ptr<client_state> client;
  guarded_stream stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  connection(gateway_env& e, kj::Own<kj::AsyncIoStream> s, capnp::ReaderOptions opts)
      : env(e),
        client(std::make_shared<client_state>(e.cfg.limits.max_calls_per_connection)),
        stream(kj::mv(s), client->gate,
               [c = client.get(), &e]() -> uint64_t {
                 return c->authenticated ? e.cfg.limits.max_message_bytes
                                         : e.cfg.limits.max_prelogin_bytes;
               }),
        network(stream, capnp::rpc::twoparty::Side::SERVER, opts),
        rpc(capnp::makeRpcServer(network, kj::heap<tessera_impl>(e, client))) {
    ++env.connections;
    env.publish();
  }
  ~connection() {
    --env.connections;
    env.publish();
  }

  // Resolves when the client disconnects, or fails when it has not logged in in time.
  kj::Promise<void> run() {
    auto login = env.timer.afterDelay(k_login_window.count() * kj::SECONDS)
                     .then([c = client]() -> kj::Promise<void> {
                       if (c->authenticated) return kj::NEVER_DONE;
                       return KJ_EXCEPTION(DISCONNECTED, "no login within the login window");
                     });
    return network.onDisconnect().exclusiveJoin(kj::mv(login));
  }
};

// The connection cap: [limits] max_connections, and never closer than k_reserved_fds to the
// process's file descriptor limit, so accept() never fails for lack of descriptors.
uint64_t connection_cap(const limits_config& limits) {
  uint64_t cap = limits.max_connections;
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    cap = std::min<uint64_t>(
        cap, rl.rlim_cur > 2 * k_reserved_fds ? rl.rlim_cur - k_reserved_fds : rl.rlim_cur / 2);
  return std::max<uint64_t>(cap, 1);
}

struct accept_state {
  gateway_env& env;
  kj::ConnectionReceiver& listener;
  capnp::ReaderOptions opts;
  kj::TaskSet& tasks;
  uint64_t cap;
  uint64_t refused = 0;
  uint64_t accept_failures = 0;
};

kj::Promise<void> accept_loop(accept_state& st) {
  // evalNow: accept() may throw at once (EMFILE) rather than reject its promise.
  return kj::evalNow([&st] { return st.listener.accept(); })
      .then(
          [&st](kj::Own<kj::AsyncIoStream> stream) -> kj::Promise<void> {
            if (st.env.connections >= st.cap) {
              // A clean close: the client sees EOF, the gateway keeps serving the others.
              if (st.refused++ % 1000 == 0)
                log()->warn("connection refused: {} open connections is the cap ({} refused)",
                            st.env.connections, st.refused);
              return kj::READY_NOW;
            }
            auto conn = kj::heap<connection>(st.env, kj::mv(stream), st.opts);
            auto done = conn->run();
            st.tasks.add(done.attach(kj::mv(conn)));
            return kj::READY_NOW;
          },
          [&st](kj::Exception&& e) -> kj::Promise<void> {
            // E.g. EMFILE from other descriptors of the process: wait, then accept again.
            if (st.accept_failures++ % 100 == 0)
              log()->warn("accept failed ({} times): {}", st.accept_failures,
                          e.getDescription().cStr());
            return st.env.timer.afterDelay(100 * kj::MILLISECONDS);
          })
      .then([&st]() { return accept_loop(st); });
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
  // Released before `bridge` stops its actor on return.
  auto watched =
      opts.watch ? opts.watch->watch(bridge.actor(), "gateway bridge") : actor_watch::ticket{};
  std::map<std::string, tenant_limits> quotas;
  for (const auto& t : cfg.tenants) quotas[t.name] = t.limits;
  // A coordinator-only node's memory_budget bounds the process (node/memory_gate.hpp); on a
  // node that is also a shard it bounds that node's replicas instead.
  const auto* me = cfg.coordinator();
  const uint64_t budget = me && !me->has_role("shard") ? me->memory_budget : 0;
  gateway_env env{bridge,
                  std::move(coord),
                  cfg,
                  io.provider->getTimer(),
                  tenant_quotas{std::move(quotas), cfg.limits.capacity},
                  login_guard{},
                  memory_gate{budget, current_rss_bytes}};
  env.stats = opts.stats;
  auto addr = io.provider->getNetwork().parseAddress(opts.host, opts.port).wait(io.waitScope);
  auto listener = secure_listener(addr->listen(), opts.tls, io.provider->getTimer(),
                                  opts.stats ? &opts.stats->tls_handshake_failures : nullptr);
  auto port = static_cast<uint16_t>(listener->getPort());
  // The frame meter bounds messages before they are read; this bounds what one may point at.
  capnp::ReaderOptions ropts;
  ropts.traversalLimitInWords = cfg.limits.max_message_bytes / 8;
  log_errors handler;
  kj::TaskSet tasks(handler);
  accept_state st{env, *listener, ropts, tasks, connection_cap(cfg.limits)};
  log()->info("gateway listening on {}:{}{} (at most {} connections)", opts.host, port,
              opts.tls.enabled() ? " (TLS)" : "", st.cap);
  if (on_listen) on_listen(port);
  auto serving = accept_loop(st);
  stop.exclusiveJoin(kj::mv(serving)).wait(io.waitScope);
  log()->info("gateway stopped");
}

}  // namespace tessera
