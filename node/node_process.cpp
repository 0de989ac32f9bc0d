#include "node/node_process.hpp"

#include <pthread.h>
#include <signal.h>

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
#include "node/ssl_error_queue.hpp"
#include "node/tls.hpp"

namespace tessera {
namespace {

// scheduler.max-throughput: see node_system_config.
constexpr size_t max_throughput = 2;

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
  // `tls`: this node's checked files, or nullptr for plain BASP ([tls] insecure = true).
  node_system_config(const cluster_config& cfg, const tls_files* tls) {
    load<caf::io::middleman>();
    if (tls != nullptr) {
      // With a certificate, key and CA file, CAF's OpenSSL module requires a valid peer
      // certificate on both sides (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
      load<caf::openssl::manager>();
      openssl_certificate = tls->cert;
      openssl_key = tls->key;
      openssl_cafile = tls->ca;
    }
    register_message_types(*this);
    set("scheduler.policy",
        cfg.scheduler == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
    if (cfg.worker_threads > 0) set("scheduler.max-threads", size_t{cfg.worker_threads});
    // Messages an actor handles per run before it yields its thread. CAF 0.17's middleman
    // runs its broker with this too, and serializes every outgoing message it has queued
    // without reading or writing a socket meanwhile; the default (no limit) let a shard's
    // middleman serialize many gather replies in one go while peers heard nothing from it
    // (issue 16). With gathers in parts of at most 1 MiB (cluster/message_parts.hpp), this
    // bounds that run to a few MiB.
    set("scheduler.max-throughput", max_throughput);
    set("middleman.heartbeat-interval", caf::timespan{cfg.heartbeat});
    set("middleman.connection-timeout", caf::timespan{cfg.connection_timeout});
    set("logger.console", caf::atom("none"));
  }
};

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
  node_system_config caf_cfg{cfg, tls ? &files : nullptr};
  caf::actor_system sys{caf_cfg};
  node_actor local;
  if (me->has_role("shard")) {
    local = sys.spawn(node_impl, node_options{name, me->memory_budget});
    auto port = tls ? caf::openssl::publish(local, me->port, me->host.c_str(), true)
                    : sys.middleman().publish(local, me->port, me->host.c_str(), true);
    if (!port) {
      log->error("cannot publish the node actor on {}:{}: {}", me->host, me->port,
                 sys.render(port.error()));
      caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
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
