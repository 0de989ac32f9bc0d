#include "node/http_endpoints.hpp"

#include "base/process_stats.hpp"
#include "node/metrics.hpp"
#include "node/ssl_error_queue.hpp"

namespace tessera {
namespace {

http_reply text(uint32_t status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body)};
}

// `p`'s value, or null when it rejects (timeout, actor gone).
template <class T>
kj::Promise<kj::Maybe<T>> or_none(kj::Promise<T> p) {
  return p.then([](T v) -> kj::Maybe<T> { return kj::mv(v); },
                [](kj::Exception&&) -> kj::Maybe<T> { return nullptr; });
}

// A snapshot of the gateway's counters (each read on its own).
node_scrape::gateway_figures figures_of(const gateway_stats& st) {
  node_scrape::gateway_figures g;
  g.connections = st.connections.load(std::memory_order_relaxed);
  g.refused_quota = st.refused_quota.load(std::memory_order_relaxed);
  g.refused_memory = st.refused_memory.load(std::memory_order_relaxed);
  g.refused_inflight = st.refused_inflight.load(std::memory_order_relaxed);
  g.failed_logins = st.failed_logins.load(std::memory_order_relaxed);
  g.tls_handshake_failures = st.tls_handshake_failures.load(std::memory_order_relaxed);
  g.refused_connections_cap = st.refused_connections_cap.load(std::memory_order_relaxed);
  g.refused_connections_prelogin = st.refused_connections_prelogin.load(std::memory_order_relaxed);
  g.refused_connections_tls_source =
      st.refused_connections_tls_source.load(std::memory_order_relaxed);
  g.refused_logins_connection = st.refused_logins_connection.load(std::memory_order_relaxed);
  g.refused_logins_source = st.refused_logins_source.load(std::memory_order_relaxed);
  g.request_bytes_held = st.request_bytes_held.load(std::memory_order_relaxed);
  g.request_byte_waits = st.request_byte_waits.load(std::memory_order_relaxed);
  g.paced_slices = st.paced_slices.load(std::memory_order_relaxed);
  return g;
}

}  // namespace

http_endpoints::http_endpoints(caf::actor_system& sys, node_actor node, control_actor coordinator,
                               const gateway_stats* gateway, http_endpoints_options opts)
    : bridge_(sys),
      node_(std::move(node)),
      coordinator_(std::move(coordinator)),
      gateway_(gateway),
      opts_(opts) {}

kj::Promise<kj::Maybe<node_status>> http_endpoints::ask_node() {
  if (!node_) return kj::Maybe<node_status>(nullptr);
  return or_none(bridge_.ask<node_status>(node_, opts_.ask_timeout, health_atom::value));
}

kj::Promise<kj::Maybe<coordinator_metrics>> http_endpoints::ask_coordinator() {
  if (!coordinator_) return kj::Maybe<coordinator_metrics>(nullptr);
  return or_none(
      bridge_.ask<coordinator_metrics>(coordinator_, opts_.ask_timeout, metrics_atom::value));
}

kj::Promise<http_reply> http_endpoints::get(const std::string& path) {
  if (path == "/metrics") return metrics();
  if (path == "/healthz") return healthz();
  if (path == "/readyz") return readyz();
  return text(404, "not found; try /metrics, /healthz or /readyz\n");
}

kj::Promise<http_reply> http_endpoints::metrics() {
  return ask_node().then([this](kj::Maybe<node_status> node) {
    return ask_coordinator().then(
        [this, node = kj::mv(node)](kj::Maybe<coordinator_metrics> coord) {
          node_scrape s;
          s.rss_bytes = current_rss_bytes();
          s.has_node = static_cast<bool>(node_);
          s.has_coordinator = static_cast<bool>(coordinator_);
          KJ_IF_MAYBE (n, node) s.node = n;
          KJ_IF_MAYBE (c, coord) s.coordinator = c;
          node_scrape::gateway_figures g;
          if (gateway_) s.gateway = &(g = figures_of(*gateway_));
          node_tls_failures tls;
          if (opts_.node_tls) s.node_tls = &(tls = node_tls_handshake_failures());
          node_transport_stats t;
          if (opts_.transport) s.transport = &(t = opts_.transport());
          return http_reply{200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(s)};
        });
  });
}

kj::Promise<http_reply> http_endpoints::healthz() {
  return ask_node().then([this](kj::Maybe<node_status> node) {
    if (node_ && node == nullptr) return kj::Promise<http_reply>(text(503, "node actor silent\n"));
    return ask_coordinator().then([this](kj::Maybe<coordinator_metrics> coord) {
      if (coordinator_ && coord == nullptr) return text(503, "coordinator silent\n");
      return text(200, "ok\n");
    });
  });
}

kj::Promise<http_reply> http_endpoints::readyz() {
  if (coordinator_)
    return ask_coordinator().then([](kj::Maybe<coordinator_metrics> coord) {
      KJ_IF_MAYBE (c, coord) {
        if (c->serving) return text(200, "ready\n");
        return text(503, "not ready: an active model lacks a ready replica of a shard\n");
      }
      return text(503, "coordinator silent\n");
    });
  return ask_node().then([this](kj::Maybe<node_status> node) {
    KJ_IF_MAYBE (n, node) {
      if (n->peer_seen_ms >= 0 && n->peer_seen_ms <= opts_.peer_timeout.count())
        return text(200, "ready\n");
      return text(503, "not ready: the coordinator has not polled this node lately\n");
    }
    return text(503, "node actor silent\n");
  });
}

}  // namespace tessera
