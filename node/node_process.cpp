#include "node/node_process.hpp"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <exception>
#include <set>
#include <thread>
#include <vector>

#include <kj/async-io.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/control.hpp"
#include "actors/node.hpp"
#include "actors/unhandled.hpp"
#include "base/logger.hpp"
#include "node/actor_watch.hpp"
#include "node/gateway.hpp"
#include "node/gateway_tls.hpp"
#include "node/http_endpoints.hpp"
#include "node/logging.hpp"
#include "node/node_transport.hpp"
#include "node/ssl_error_queue.hpp"
#include "node/tls.hpp"

namespace tessera {
namespace {

// [http] as server options: 127.0.0.1 unless public; the bearer token and TLS files.
http_server_options http_options_of(const cluster_config& cfg, const node_config& me) {
  http_server_options o;
  o.host = cfg.http.public_bind ? me.host : "127.0.0.1";
  o.port = me.http_port;
  o.has_bearer = cfg.http.has_token;
  o.bearer = cfg.http.token;
  if (cfg.http.tls()) {
    o.tls.cert = resolve_state_path(cfg.http.cert);
    o.tls.key = resolve_state_path(cfg.http.key);
    o.tls.client_ca = resolve_state_path(cfg.http.client_ca);
  }
  return o;
}

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
  out.serving_actors = cfg.limits.serving_actors > 0
                           ? cfg.limits.serving_actors
                           : std::max(1u, std::thread::hardware_concurrency());
  out.max_ids_per_input = cfg.limits.max_ids_per_input;
  out.load_timeout = cfg.limits.load_timeout;
  out.request_timeout = cfg.limits.request_timeout;
  out.tls = !cfg.tls.insecure;
  out.state_dir = resolve_state_path(cfg.state_dir);
  out.hedging = cfg.hedging;
  out.replacement_grace = cfg.replacement_grace;
  out.count_requests = cfg.http_metrics;
  out.max_gather_bytes = cfg.limits.max_gather_bytes;
  if (const char* model = std::getenv("TESSERA_TEST_THROW_ON_MODEL"); model && *model)
    out.test_throw_on_model = model;
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

// An exception that escapes a thread of ours (not an actor: those end as in
// actors/unhandled.hpp) ends the process through std::terminate; say why first.
void log_terminate() {
  auto why = std::current_exception() ? describe_exception(std::current_exception())
                                      : std::string{"std::terminate without an exception"};
  component_logger("node")->critical("fatal: {}; exiting so that supervision restarts the process",
                                     why);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  std::abort();
}

}  // namespace

int run_node(const cluster_config& cfg, const std::string& name) {
  const auto* me = cfg.find_node(name);
  if (!me) {
    std::fprintf(stderr, "tessera-node: no node named '%s' in the config\n", name.c_str());
    return 2;
  }
  setup_logging(name, cfg.log_level);
  std::set_terminate(log_terminate);
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
  // A write to a socket its peer closed (the node transport's pumps, http, the gateway) is an
  // error for that connection (EPIPE), never the end of the process: SIGPIPE killed shard
  // nodes under the sanitizers.
  ::signal(SIGPIPE, SIG_IGN);
  auto signals = block_stop_signals();
  node_system_config caf_cfg{cfg};
  caf::actor_system sys{caf_cfg};
  // From here on, the death of an actor this process serves with ends the process; every
  // path that stops them on purpose calls watch.stopping() first.
  actor_watch watch;
  std::vector<actor_watch::ticket> watched;
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
    node_options nopts{name, me->memory_budget};
    if (const auto dir = resolve_state_path(cfg.data_dir_of(*me)); !dir.empty()) {
      auto store = block_store::open(dir);
      if (!store) {
        log->error("refusing to start: {}", message_of(store.error()));
        return 2;
      }
      nopts.store = std::move(*store);
      nopts.disk_budget = me->disk_budget;
      log->info("block store {}: {} blocks, {} bytes{}", dir, nopts.store->block_count(),
                nopts.store->used_bytes(),
                me->disk_budget ? ", disk_budget " + std::to_string(me->disk_budget) : "");
    }
    local = sys.spawn(node_impl, std::move(nopts));
    watched.push_back(watch.watch(local, "node"));
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
      watch.stopping();
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
  auto start_http = [&](control_actor coord) {
    if (me->http_port == 0) return true;
    http_endpoints_options hopts;
    hopts.node_tls = tls;
    if (transport) hopts.transport = [t = transport.get()] { return t->stats(); };
    endpoints =
        std::make_unique<http_endpoints>(sys, local, coord, coord ? &gstats : nullptr, hopts);
    watched.push_back(watch.watch(endpoints->bridge().actor(), "http bridge"));
    auto hs = http_options_of(cfg, *me);
    if (auto err = check_gateway_tls(hs.tls)) {
      log->error("[http] TLS: {}", message_of(err));
      return false;
    }
    auto s = http_server::start(hs, *endpoints);
    if (!s) {
      log->error("{}", message_of(s.error()));
      return false;
    }
    http = std::move(*s);
    log->info("http endpoints on {}:{}{}{}", cfg.http.public_bind ? me->host : "127.0.0.1",
              http->port(), cfg.http.tls() ? " (HTTPS)" : "",
              cfg.http.has_token ? ", /metrics with a bearer token" : "");
    if (cfg.http.public_bind && cfg.http.insecure)
      log->warn(
          "/metrics is public without a token or TLS ([http] insecure = true): anyone "
          "who reaches {}:{} reads every tenant's model names and counts",
          me->host, http->port());
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
        watch.stopping();
        if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
        return 1;
      }
      copts.recovered = std::move(*snap);
    }
    if (!copts.test_throw_on_model.empty())
      log->warn(
          "test fault armed (TESSERA_TEST_THROW_ON_MODEL): a predict on model '{}' throws "
          "inside the coordinator",
          copts.test_throw_on_model);
    auto coord = spawn_coordinator(sys, std::move(copts), local);
    watched.push_back(watch.watch(coord.control, "coordinator"));
    // The serving actors are the coordinator's too (linked to its control actor).
    for (const auto& s : coord.serving) watched.push_back(watch.watch(s, "coordinator"));
    gopts.watch = &watch;
    if (!start_http(coord.control)) {
      watch.stopping();
      caf::anon_send_exit(coord.control, caf::exit_reason::user_shutdown);
      if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
    auto io = kj::setupAsyncIo();
    auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(stop.fulfiller));
    std::thread watcher{[&signals, &watch, fulfiller] {
      wait_signal(signals);
      watch.stopping();
      (*fulfiller)->fulfill();
    }};
    try {
      run_gateway(sys, coord, cfg, gopts, io, kj::mv(stop.promise));
    } catch (const kj::Exception& e) {
      watch.stopping();
      log->error("gateway failed: {}", e.getDescription().cStr());
      code = 1;
      pthread_kill(watcher.native_handle(), SIGTERM);
    }
    watcher.join();
    http.reset();
    caf::anon_send_exit(coord.control, caf::exit_reason::user_shutdown);
  } else {
    if (!start_http(control_actor{})) {
      watch.stopping();
      if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
    wait_signal(signals);
  }
  watch.stopping();
  http.reset();
  endpoints.reset();
  log->info("stopping");
  if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  return code;
}

}  // namespace tessera
