// GCC 12 reports -Wmaybe-uninitialized inside kj::_::ExceptionOr<T> (a NullableValue union)
// for every T with a std::string or std::vector member; it is a known false positive there.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "node/gateway.hpp"
#include "base/logger.hpp"

#include <algorithm>
#include <map>

#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "base/process_stats.hpp"
#include "node/bridge.hpp"
#include "node/gateway_session.hpp"

namespace tessera {
namespace {

std::shared_ptr<spdlog::logger> log() {
  return component_logger("gateway");
}

// File descriptors kept free of client connections: node links, packages, logs.
constexpr uint64_t k_reserved_fds = 128;

// The bootstrap capability of one connection: authenticates its tokens.
class tessera_impl final : public Tessera::Server {
 public:
  tessera_impl(gateway_env& env, std::shared_ptr<client_state> client)
      : env_(env), client_(std::move(client)) {}

  // authenticate holds a place among the connection's unanswered calls like any call, so a
  // client pipelining guesses has at most max_calls_per_connection of them in the gateway.
  DispatchCallResult dispatchCall(
      uint64_t iid, uint16_t mid,
      capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> ctx) override {
    return held_dispatch(client_, [&] { return Tessera::Server::dispatchCall(iid, mid, ctx); });
  }

  // Limits, checked before any hashing: a connection has max_failed_logins_per_connection
  // tries (then it is closed), a source address max_failed_logins_per_source per minute.
  kj::Promise<void> authenticate(AuthenticateContext ctx) override {
    const auto& lim = env_.cfg.limits;
    if (client_->authenticated)
      return to_kj_exception(make_error(errc::invalid_argument, "already logged in"));
    if (client_->failed_logins >= lim.max_failed_logins_per_connection ||
        !env_.sources.may_try_login(client_->source)) {
      if (client_->failed_logins >= lim.max_failed_logins_per_connection)
        ++env_.refused_logins_connection;
      env_.publish();
      // The answer may be lost with the connection: that is the point.
      if (client_->close) client_->close();
      return to_kj_exception(
          make_error(errc::unauthenticated, "too many failed logins; connection closed"));
    }
    std::string token = ctx.getParams().getToken();
    // Every entry is hashed and compared (in constant time), so the time taken does not tell
    // which entry, if any, matched.
    const token_config* match = nullptr;
    for (const auto& t : env_.cfg.tokens)
      if (token_matches(t.hash, token) && match == nullptr) match = &t;
    if (match != nullptr && !token.empty()) {
      client_->authenticated = true;
      env_.sources.close_prelogin(client_->source);
      auto acc = env_.tenant_bytes.find(match->tenant);
      if (acc != env_.tenant_bytes.end()) client_->tenant_bytes = acc->second;
      ctx.getResults().setSession(make_session(env_, *match, client_));
      return kj::READY_NOW;
    }
    // Never log the token; one summary line per interval for all failures.
    ++client_->failed_logins;
    env_.sources.login_failed(client_->source);
    auto line = env_.logins.on_failure(std::chrono::steady_clock::now());
    env_.publish();
    if (line) log()->warn("{}", *line);
    auto delay = login_guard::delay_for(client_->failed_logins);
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
// It holds a pre-login place of its source (env.sources) until it logs in or closes.
struct connection {
  gateway_env& env;
  std::shared_ptr<client_state> client;
  guarded_stream stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  kj::ForkedPromise<void> closed;
  connection(gateway_env& e, kj::Own<kj::AsyncIoStream> s, capnp::ReaderOptions opts,
             std::string source, uint64_t max_bytes)
      : env(e),
        client(std::make_shared<client_state>(e.cfg.limits.max_calls_per_connection, max_bytes)),
        stream(
            kj::mv(s), client->gate,
            [c = client.get(), &e]() -> uint64_t {
              return c->authenticated ? e.cfg.limits.max_message_bytes
                                      : e.cfg.limits.max_prelogin_bytes;
            },
            [this](uint64_t bytes) { return admit(bytes); }),
        network(stream, capnp::rpc::twoparty::Side::SERVER, opts),
        rpc(capnp::makeRpcServer(network, kj::heap<tessera_impl>(e, client))),
        closed(nullptr) {
    client->source = std::move(source);
    client->serving = e.next_serving();
    auto paf = kj::newPromiseAndFulfiller<void>();
    closed = paf.promise.fork();
    auto f = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    client->close = [f] { (*f)->reject(KJ_EXCEPTION(DISCONNECTED, "closed by the gateway")); };
    ++env.connections;
    env.publish();
  }
  ~connection() {
    if (!client->authenticated) env.sources.close_prelogin(client->source);
    client->close = nullptr;
    client->pending.reset();
    --env.connections;
    env.publish();
  }

  // Holds the read of a message's body until its bytes fit the connection's, its tenant's
  // and the gateway's accounts; the previous message's lease, if no call claimed it, ends.
  kj::Promise<void> admit(uint64_t bytes) {
    client->pending.reset();
    std::vector<std::shared_ptr<byte_account>> accounts{client->bytes, env.all_bytes};
    if (client->tenant_bytes) accounts.push_back(client->tenant_bytes);
    return env.bytes.acquire(std::move(accounts), bytes)
        .then([this](std::shared_ptr<byte_lease> l) {
          client->pending = std::move(l);
          env.publish();
        });
  }

  // Resolves when the client disconnects, or fails when it has not logged in in time or the
  // gateway closes it.
  kj::Promise<void> run() {
    auto login = env.timer.afterDelay(env.cfg.limits.login_timeout.count() * kj::MILLISECONDS)
                     .then([c = client]() -> kj::Promise<void> {
                       if (c->authenticated) return kj::NEVER_DONE;
                       return KJ_EXCEPTION(DISCONNECTED, "no login within login_timeout_ms");
                     });
    return network.onDisconnect().exclusiveJoin(kj::mv(login)).exclusiveJoin(closed.addBranch());
  }
};

// The client's address without its port ("127.0.0.2", "::1"); "" when unknown.
std::string source_of(kj::AsyncIoStream& s) {
  struct sockaddr_storage ss {};
  kj::uint len = sizeof(ss);
  try {
    s.getpeername(reinterpret_cast<struct sockaddr*>(&ss), &len);
  } catch (...) {
    return "";
  }
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  return buf;
}

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
  uint64_t connection_bytes;  // each connection's byte account
  uint64_t accept_failures = 0;
};

kj::Promise<void> accept_loop(accept_state& st) {
  // evalNow: accept() may throw at once (EMFILE) rather than reject its promise.
  return kj::evalNow([&st] { return st.listener.accept(); })
      .then(
          [&st](kj::Own<kj::AsyncIoStream> stream) -> kj::Promise<void> {
            if (st.env.connections >= st.cap) {
              // A clean close: the client sees EOF, the gateway keeps serving the others.
              if (st.env.refused_connections++ % 1000 == 0)
                log()->warn("connection refused: {} open connections is the cap ({} refused)",
                            st.env.connections, st.env.refused_connections);
              st.env.publish();
              return kj::READY_NOW;
            }
            // Pre-login places are bounded per source and in all, below the cap, so holding
            // connections open leaves room (and fds) for other sources and logged-in clients.
            auto source = source_of(*stream);
            if (!st.env.sources.open_prelogin(source)) {
              if (st.env.sources.refused_connections() % 1000 == 1)
                log()->warn("connection from {} refused: pre-login bound ({} refused)", source,
                            st.env.sources.refused_connections());
              st.env.publish();
              return kj::READY_NOW;
            }
            auto conn = kj::heap<connection>(st.env, kj::mv(stream), st.opts, std::move(source),
                                             st.connection_bytes);
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

void run_gateway(caf::actor_system& sys, const coordinator_handles& coord,
                 const cluster_config& cfg, const gateway_options& opts, kj::AsyncIoContext& io,
                 kj::Promise<void> stop, std::function<void(uint16_t)> on_listen) {
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
  const auto& lim = cfg.limits;
  const uint64_t cap = connection_cap(lim);
  gateway_env env{
      bridge,
      coord.control,
      coord.serving,
      coord.admitted,
      cfg,
      io.provider->getTimer(),
      tenant_quotas{std::move(quotas), lim.capacity, std::chrono::steady_clock::now(),
                    lim.capacity_inputs},
      login_guard{},
      memory_gate{budget, current_rss_bytes},
      source_guard{static_cast<uint32_t>(std::min<uint64_t>(lim.max_prelogin_connections, cap)),
                   lim.max_prelogin_per_source, lim.max_failed_logins_per_source}};
  env.stats = opts.stats;
  env.pacer = priority_pacer{lim.low_priority_gap};
  // Request bytes held: [limits] max_request_bytes, else a quarter of a coordinator-only
  // node's memory_budget, else 256 MiB; never below one largest message.
  uint64_t all_bytes = lim.max_request_bytes;
  if (all_bytes == 0) all_bytes = budget > 0 ? budget / 4 : uint64_t{256} << 20;
  all_bytes = std::max(all_bytes, lim.max_message_bytes);
  env.all_bytes = std::make_shared<byte_account>(all_bytes);
  for (const auto& t : cfg.tenants)
    if (t.limits.max_request_bytes > 0)
      env.tenant_bytes[t.name] = std::make_shared<byte_account>(t.limits.max_request_bytes);
  const uint64_t conn_bytes = lim.max_connection_request_bytes > 0
                                  ? lim.max_connection_request_bytes
                                  : lim.max_message_bytes;
  auto addr = io.provider->getNetwork().parseAddress(opts.host, opts.port).wait(io.waitScope);
  auto tls_opts = opts.tls;
  tls_opts.max_pending_per_source = lim.max_prelogin_per_source;
  auto listener =
      secure_listener(addr->listen(), tls_opts, io.provider->getTimer(),
                      opts.stats ? &opts.stats->tls_handshake_failures : nullptr,
                      opts.stats ? &opts.stats->refused_connections_tls_source : nullptr);
  auto port = static_cast<uint16_t>(listener->getPort());
  // The frame meter bounds messages before they are read; this bounds what one may point at.
  capnp::ReaderOptions ropts;
  ropts.traversalLimitInWords = cfg.limits.max_message_bytes / 8;
  log_errors handler;
  kj::TaskSet tasks(handler);
  accept_state st{env, *listener, ropts, tasks, cap, conn_bytes};
  log()->info(
      "gateway listening on {}:{}{} (at most {} connections, {} before login, {} per source; "
      "{} request bytes held)",
      opts.host, port, opts.tls.enabled() ? " (TLS)" : "", st.cap,
      std::min<uint64_t>(lim.max_prelogin_connections, cap), lim.max_prelogin_per_source,
      all_bytes);
  if (on_listen) on_listen(port);
  auto serving = accept_loop(st);
  stop.exclusiveJoin(kj::mv(serving)).wait(io.waitScope);
  log()->info("gateway stopped");
}

}  // namespace tessera
