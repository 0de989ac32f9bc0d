#include "node/node_process.hpp"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>

#include <set>
#include <thread>

#include <kj/async-io.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/coordinator.hpp"
#include "actors/node.hpp"
#include "node/gateway.hpp"
#include "node/http_endpoints.hpp"
#include "node/logging.hpp"
#include "node/node_transport.hpp"
#include "node/ssl_error_queue.hpp"
#include "node/tls.hpp"

namespace tessera {
namespace {

// The coordinator's view of the config: its shard-role members and its limits.
coordinator_options coordinator_options_of(const cluster_config& cfg) {
  coordinator_options out;
  for (const auto& n : cfg.nodes)
    if (n.has_role("shard"))
      out.members.push_back({n.name, n.host, n.port, n.roles, n.memory_budget});
  if (const auto* me = cfg.coordinator(); me && me->has_role("shard")) out.local_member = me->name;
  out.max_inflight = cfg.limits.max_inflight;
  out.max_ids_per_input = cfg.limits.max_ids_per_input;
  out.load_timeout = cfg.limits.load_timeout;
  out.request_timeout = cfg.limits.request_timeout;
  out.tls = !cfg.tls.insecure;
  out.state_dir = resolve_state_path(cfg.state_dir);
  out.hedging = cfg.hedging;
  out.replacement_grace = cfg.replacement_grace;
  out.count_requests = cfg.http_metrics;
  return out;
}

struct node_system_config : caf::actor_system_config {
  // With TLS the node transport (node/node_transport.hpp) carries BASP; CAF's OpenSSL module
  // is not loaded.
  explicit node_system_config(const cluster_config& cfg) {
    load<caf::io::middleman>();
    register_message_types(*this);
    set("scheduler.policy",
        cfg.scheduler == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
    if (cfg.worker_threads > 0) set("scheduler.max-threads", size_t{cfg.worker_threads});
    set("middleman.heartbeat-interval", caf::timespan{cfg.heartbeat});
    set("middleman.connection-timeout", caf::timespan{cfg.connection_timeout});
    set("logger.console", caf::atom("none"));
  }
};

// The numeric addresses `host` resolves to (empty when it does not).
std::set<std::string> addresses_of(const std::string& host) {
  std::set<std::string> out;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (auto* r = res; r != nullptr; r = r->ai_next) {
    char buf[NI_MAXHOST];
    if (::getnameinfo(r->ai_addr, r->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0)
      out.insert(buf);
  }
  ::freeaddrinfo(res);
  return out;
}

// Blocks SIGINT/SIGTERM in this thread (and every thread started after) so one thread can
// sigwait for them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int wait_signal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

int run_node(const cluster_config& cfg, const std::string& name) {
  const auto* me = cfg.find_node(name);
  if (!me) {
    std::fprintf(stderr, "tessera-node: no node named '%s' in the config\n", name.c_str());
    return 2;
  }
  setup_logging(name, cfg.log_level);
  auto log = spdlog::get("node");
  const bool tls = !cfg.tls.insecure;
  const tls_files files = tls_files_for(cfg.tls, name);
  if (tls) {
    if (auto err = check_tls_files(files, name)) {
      log->error("refusing to start: {}", message_of(err));
      std::fprintf(stderr, "tessera-node: refusing to start: %s\n", message_of(err).c_str());
      return 2;
    }
    if (!ssl_error_queue_fix_active()) {
      log->error(
          "refusing to start: the OpenSSL error-queue fix is not bound (see "
          "node/ssl_error_queue.hpp); one failed handshake would drop healthy peers");
      return 1;
    }
    log->info("mutual TLS between nodes: certificate {}, CA {}", files.cert, files.ca);
  } else {
    log->warn(
        "TLS between nodes is OFF ([tls] insecure = true): anyone who reaches a node port can "
        "read and control the cluster, and crash nodes with malformed BASP messages");
  }
  gateway_options gopts;
  gateway_stats gstats;  // the gateway writes, /metrics reads; outlives both threads
  if (me->has_role("coordinator")) {
    gopts.stats = &gstats;
    gopts.host = me->host;
    gopts.port = me->gateway_port;
    gopts.tls = gateway_tls_options_of(cfg.gateway);
    if (auto err = check_gateway_tls(gopts.tls)) {
      log->error("refusing to start the gateway: {}", message_of(err));
      std::fprintf(stderr, "tessera-node: refusing to start: %s\n", message_of(err).c_str());
      return 2;
    }
    if (cfg.gateway.insecure)
      log->warn(
          "client TLS at the gateway is OFF on {} ([gateway] insecure = true): tokens and data "
          "cross the network in plain text",
          me->host);
  }
  auto signals = block_stop_signals();
  node_system_config caf_cfg{cfg};
  caf::actor_system sys{caf_cfg};
  // With TLS: the node transport; a shard admits the coordinator only, the coordinator dials.
  std::unique_ptr<node_transport> transport;
  if (tls) {
    node_transport_options topts;
    topts.self = name;
    topts.files = files;
    if (const auto* c = cfg.coordinator()) {
      topts.coordinator = c->name;
      topts.coordinator_addresses = addresses_of(c->host);
    }
    for (const auto& n : cfg.nodes)
      if (n.has_role("shard") && n.name != name)
        topts.members[n.host + ":" + std::to_string(n.port)] = n.name;
    auto t = node_transport::start(sys, std::move(topts));
    if (!t) {
      log->error("refusing to start: {}", message_of(t.error()));
      return 2;
    }
    transport = std::move(*t);
  }
  node_actor local;
  const bool is_coordinator = me->has_role("coordinator");
  if (me->has_role("shard")) {
    local = sys.spawn(node_impl, node_options{name, me->memory_budget});
    // The coordinator accepts no node connection: its own shard actor is local.
    caf::expected<uint16_t> port{me->port};
    if (!tls)
      port = sys.middleman().publish(local, me->port, me->host.c_str(), true);
    else if (!is_coordinator)
      port = transport->publish(caf::actor_cast<caf::strong_actor_ptr>(local),
                                sys.message_types<node_actor>(), me->host, me->port);
    if (!port) {
      log->error("cannot publish the node actor on {}:{}: {}", me->host, me->port,
                 sys.render(port.error()));
      caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
    if (!tls || !is_coordinator)
      log->info("node actor published on {}:{}{}", me->host, *port, tls ? " (TLS)" : " (plain)");
    if (tls) count_inbound_handshakes_on(*port);
  }
  // /metrics, /healthz, /readyz on the node's http_port (node/http_endpoints.hpp), on its own
  // thread; stopped (joined) before the actors exit.
  std::unique_ptr<http_endpoints> endpoints;
  std::unique_ptr<http_server> http;
  auto start_http = [&](coordinator_actor coord) {
    if (me->http_port == 0) return true;
    http_endpoints_options hopts;
    hopts.node_tls = tls;
    endpoints =
        std::make_unique<http_endpoints>(sys, local, coord, coord ? &gstats : nullptr, hopts);
    auto s = http_server::start({me->host, me->http_port}, *endpoints);
    if (!s) {
      log->error("{}", message_of(s.error()));
      return false;
    }
    http = std::move(*s);
    log->info("http endpoints on {}:{}", me->host, http->port());
    return true;
  };
  int code = 0;
  if (me->has_role("coordinator")) {
    auto copts = coordinator_options_of(cfg);
    if (transport) copts.node_dialer = transport->dialer();
    if (!copts.state_dir.empty()) {
      // A state file that cannot be read stops the coordinator: starting empty would drop
      // every model the nodes hold.
      auto snap = read_snapshot(copts.state_dir);
      if (!snap) {
        log->error("cannot recover the registry: {}; move the file away to start with no models",
                   describe(snap.error()));
        if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
        return 1;
      }
      copts.recovered = std::move(*snap);
    }
    auto coord = spawn_coordinator(sys, std::move(copts), local);
    if (!start_http(coord)) {
      caf::anon_send_exit(coord, caf::exit_reason::user_shutdown);
      if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
    auto io = kj::setupAsyncIo();
    auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(stop.fulfiller));
    std::thread watcher{[&signals, fulfiller] {
      wait_signal(signals);
      (*fulfiller)->fulfill();
    }};
    try {
      run_gateway(sys, coord, cfg, gopts, io, kj::mv(stop.promise));
    } catch (const kj::Exception& e) {
      log->error("gateway failed: {}", e.getDescription().cStr());
      code = 1;
      pthread_kill(watcher.native_handle(), SIGTERM);
    }
    watcher.join();
    http.reset();
    caf::anon_send_exit(coord, caf::exit_reason::user_shutdown);
  } else {
    if (!start_http(coordinator_actor{})) {
      if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
    wait_signal(signals);
  }
  http.reset();
  endpoints.reset();
  log->info("stopping");
  if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  return code;
}

}  // namespace tessera
