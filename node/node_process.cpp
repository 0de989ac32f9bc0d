#include "node/node_process.hpp"

#include <pthread.h>
#include <signal.h>

#include <thread>

#include <kj/async-io.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/coordinator.hpp"
#include "actors/node.hpp"
#include "node/gateway.hpp"
#include "node/logging.hpp"

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
  return out;
}

struct node_system_config : caf::actor_system_config {
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
  auto signals = block_stop_signals();
  node_system_config caf_cfg{cfg};
  caf::actor_system sys{caf_cfg};
  node_actor local;
  if (me->has_role("shard")) {
    local = sys.spawn(node_impl, node_options{name, me->memory_budget});
    auto port = sys.middleman().publish(local, me->port, me->host.c_str(), true);
    if (!port) {
      log->error("cannot publish the node actor on {}:{}: {}", me->host, me->port,
                 sys.render(port.error()));
      caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
      return 1;
    }
    log->info("node actor published on {}:{}", me->host, *port);
  }
  int code = 0;
  if (me->has_role("coordinator")) {
    auto coord = spawn_coordinator(sys, coordinator_options_of(cfg), local);
    auto io = kj::setupAsyncIo();
    auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(stop.fulfiller));
    std::thread watcher{[&signals, fulfiller] {
      wait_signal(signals);
      (*fulfiller)->fulfill();
    }};
    try {
      gateway_options gopts;
      gopts.host = me->host;
      gopts.port = me->gateway_port;
      run_gateway(sys, coord, cfg, gopts, io, kj::mv(stop.promise));
    } catch (const kj::Exception& e) {
      log->error("gateway failed: {}", e.getDescription().cStr());
      code = 1;
      pthread_kill(watcher.native_handle(), SIGTERM);
    }
    watcher.join();
    caf::anon_send_exit(coord, caf::exit_reason::user_shutdown);
  } else {
    wait_signal(signals);
  }
  log->info("stopping");
  if (local) caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  return code;
}

}  // namespace tessera
