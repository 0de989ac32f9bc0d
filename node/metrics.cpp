#include "node/metrics.hpp"

#include <map>

#include "base/prometheus.hpp"

namespace tessera {
namespace {

using gauge_rows = prom_scrape::rows;

void gauge(prom_scrape& w, const std::string& name, const std::string& help, double v) {
  w.gauge(name, help, v);
}

void family(prom_scrape& w, const std::string& name, prom_type type, const std::string& help,
            const gauge_rows& rows) {
  if (type == prom_type::Counter)
    w.counters(name, help, rows);
  else
    w.gauges(name, help, rows);
}

void write_node(prom_scrape& w, const node_status& n) {
  gauge(w, "tessera_node_replica_bytes", "Bytes this node holds (or reserved) for replicas.",
        static_cast<double>(n.used_bytes));
  gauge(w, "tessera_node_budget_bytes", "This node's memory budget in bytes (0 = unlimited).",
        static_cast<double>(n.budget_bytes));
  std::map<std::string, double> by_state = {{"loading", 0}, {"ready", 0}, {"stopping", 0}};
  double done = 0, total = 0;
  for (const auto& r : n.replicas) {
    ++by_state[to_string(r.state)];
    if (r.state == hosted_state::loading) {
      done += static_cast<double>(r.bytes_done);
      total += static_cast<double>(r.bytes);
    }
  }
  gauge_rows rows;
  for (const auto& [state, count] : by_state) rows.push_back({{{"state", state}}, count});
  family(w, "tessera_node_replicas", prom_type::Gauge, "Replicas on this node by state.", rows);
  gauge(w, "tessera_node_load_done_bytes", "Bytes read so far by the replicas loading here.", done);
  gauge(w, "tessera_node_load_total_bytes", "Bytes the replicas loading here will hold.", total);
  if (n.peer_seen_ms >= 0)
    gauge(w, "tessera_node_peer_seen_seconds",
          "Seconds since the coordinator (an actor of another process) last polled this node.",
          static_cast<double>(n.peer_seen_ms) / 1000.0);
}

void write_members(prom_scrape& w, const cluster_status& s) {
  double up = 0;
  gauge_rows member_up, used, budget, rss, load_done, load_total, draining;
  for (const auto& m : s.members) {
    prom_labels l{{"member", m.name}};
    up += m.up ? 1 : 0;
    member_up.push_back({l, m.up ? 1.0 : 0.0});
    used.push_back({l, static_cast<double>(m.used_bytes)});
    budget.push_back({l, static_cast<double>(m.budget_bytes)});
    rss.push_back({l, static_cast<double>(m.rss_bytes)});
    load_done.push_back({l, static_cast<double>(m.loading_done)});
    load_total.push_back({l, static_cast<double>(m.loading_total)});
    draining.push_back({l, m.draining ? 1.0 : 0.0});
  }
  gauge(w, "tessera_members", "Shard-role members in the config.",
        static_cast<double>(s.members.size()));
  gauge(w, "tessera_members_up", "Shard-role members the coordinator is connected to.", up);
  family(w, "tessera_member_up", prom_type::Gauge,
         "1 when the coordinator is connected to the member, else 0.", member_up);
  family(w, "tessera_member_replica_bytes", prom_type::Gauge,
         "Bytes of replicas on each member (its last health answer).", used);
  family(w, "tessera_member_budget_bytes", prom_type::Gauge,
         "Each member's memory budget in bytes (0 = unlimited).", budget);
  family(w, "tessera_member_resident_memory_bytes", prom_type::Gauge,
         "Each member's process RSS in bytes (its last health answer).", rss);
  family(w, "tessera_member_load_done_bytes", prom_type::Gauge,
         "Bytes read so far by replicas loading on each member.", load_done);
  family(w, "tessera_member_load_total_bytes", prom_type::Gauge,
         "Bytes the replicas loading on each member will hold.", load_total);
  family(w, "tessera_member_draining", prom_type::Gauge,
         "1 while the member drains (tessera drain): its replicas move away, else 0.", draining);
}

void write_models(prom_scrape& w, const cluster_status& s) {
  gauge_rows active, versions;
  std::map<std::string, double> replicas;
  for (const auto& m : s.models) {
    if (m.active_version != 0)
      active.push_back({{{"model", m.name}}, static_cast<double>(m.active_version)});
    std::map<std::string, double> by_state;
    for (const auto& v : m.versions) {
      ++by_state[to_string(v.state)];
      for (const auto& sh : v.shards)
        for (const auto& r : sh.replicas) ++replicas[to_string(r.state)];
    }
    for (const auto& [state, n] : by_state)
      versions.push_back({{{"model", m.name}, {"state", state}}, n});
  }
  family(w, "tessera_model_active_version", prom_type::Gauge,
         "The version each model serves by default.", active);
  family(w, "tessera_model_versions", prom_type::Gauge, "Versions of each model by state.",
         versions);
  gauge_rows by_state;
  for (const auto& [state, n] : replicas) by_state.push_back({{{"state", state}}, n});
  family(w, "tessera_replicas", prom_type::Gauge,
         "Replicas of every version by state, as the coordinator sees them (a replica shared by "
         "versions counts once per version).",
         by_state);
  gauge(w, "tessera_under_replicated_shards",
        "Shards of ready or serving versions with fewer ready replicas on live nodes than asked.",
        static_cast<double>(s.under_replicated.size()));
}

void write_coordinator(prom_scrape& w, const coordinator_metrics& c) {
  gauge(w, "tessera_inflight_requests", "Client calls admitted by the coordinator, not answered.",
        static_cast<double>(c.inflight));
  gauge(w, "tessera_inflight_limit",
        "Calls the coordinator admits at once ([limits] max_inflight).",
        static_cast<double>(c.inflight_limit));
  gauge(w, "tessera_queued_requests",
        "Predict calls admitted and waiting in the coalescing queues for a running batch of "
        "their version to finish (counted in tessera_inflight_requests too).",
        static_cast<double>(c.queued));
  w.counters("tessera_hedges_sent_total",
             "Shard sub-requests sent to a second replica because the first was slow.",
             {{{}, static_cast<double>(c.status.hedges_sent)}});
  w.counters("tessera_hedges_won_total", "Hedged sub-requests whose second replica answered first.",
             {{{}, static_cast<double>(c.status.hedges_won)}});
  gauge(w, "tessera_serving",
        "1 when every active model has a ready replica of every shard on a live node (/readyz).",
        c.serving ? 1 : 0);
  gauge(w, "tessera_cluster_ready", "1 when every member is up and every active model is served.",
        c.status.ready ? 1 : 0);
  gauge(w, "tessera_draining_versions", "Unloaded versions still held by calls in flight.",
        static_cast<double>(c.draining));
  gauge(w, "tessera_registry_persisted",
        "1 when the registry in state_dir matches the coordinator's (0: the last write failed; "
        "admin changes are refused).",
        c.status.persist_error.empty() ? 1 : 0);
  w.counters("tessera_registry_persist_failures_total",
             "Writes of the registry to state_dir that failed.",
             {{{}, static_cast<double>(c.status.persist_failures)}});
  write_members(w, c.status);
  write_models(w, c.status);
}

}  // namespace

std::string metrics_text(const node_scrape& s) {
  prom_scrape w;  // values of this scrape; the serving actors' families are merged after them
  gauge(w, "process_resident_memory_bytes", "Resident set size of this process in bytes.",
        static_cast<double>(s.rss_bytes));
  gauge_rows answered;
  if (s.has_node) answered.push_back({{{"actor", "node"}}, s.node ? 1.0 : 0.0});
  if (s.has_coordinator)
    answered.push_back({{{"actor", "coordinator"}}, s.coordinator ? 1.0 : 0.0});
  family(w, "tessera_scrape_ok", prom_type::Gauge,
         "1 when this process's actor answered the scrape in time, else 0 (its metrics are then "
         "missing).",
         answered);
  if (s.node) write_node(w, *s.node);
  if (s.coordinator) write_coordinator(w, *s.coordinator);
  if (s.gateway) {
    gauge(w, "tessera_gateway_connections", "Client connections open at the gateway.",
          static_cast<double>(s.gateway->connections));
    family(w, "tessera_gateway_refused_total", prom_type::Counter,
           "Client calls the gateway refused as overloaded, by reason: quota (tenant quotas and "
           "priority shedding), memory (coordinator over its memory_budget) or inflight "
           "([limits] max_inflight calls running).",
           {{{{"reason", "quota"}}, static_cast<double>(s.gateway->refused_quota)},
            {{{"reason", "memory"}}, static_cast<double>(s.gateway->refused_memory)},
            {{{"reason", "inflight"}}, static_cast<double>(s.gateway->refused_inflight)}});
    family(w, "tessera_gateway_failed_logins_total", prom_type::Counter,
           "authenticate calls with a token that matched no configured hash.",
           {{{}, static_cast<double>(s.gateway->failed_logins)}});
    family(w, "tessera_gateway_tls_handshake_failures_total", prom_type::Counter,
           "Client connections whose TLS handshake failed (plaintext, untrusted or missing "
           "certificates, garbage) or did not finish within handshake_timeout_ms.",
           {{{}, static_cast<double>(s.gateway->tls_handshake_failures)}});
    const auto& g = *s.gateway;
    family(w, "tessera_gateway_refused_connections_total", prom_type::Counter,
           "Client connections the gateway closed at once, by reason: cap (max_connections or "
           "the fd limit), prelogin (max_prelogin_connections, max_prelogin_per_source) or "
           "tls_source (before the TLS handshake: max_prelogin_per_source handshakes from that "
           "address under way).",
           {{{{"reason", "cap"}}, static_cast<double>(g.refused_connections_cap)},
            {{{"reason", "prelogin"}}, static_cast<double>(g.refused_connections_prelogin)},
            {{{"reason", "tls_source"}}, static_cast<double>(g.refused_connections_tls_source)}});
    family(w, "tessera_gateway_refused_logins_total", prom_type::Counter,
           "authenticate calls refused without hashing, by reason: connection (its tries used) "
           "or source (its address over max_failed_logins_per_source per minute).",
           {{{{"reason", "connection"}}, static_cast<double>(g.refused_logins_connection)},
            {{{"reason", "source"}}, static_cast<double>(g.refused_logins_source)}});
    gauge(w, "tessera_gateway_request_bytes_held",
          "Bytes of client request messages the gateway holds now (read, not yet answered).",
          static_cast<double>(g.request_bytes_held));
    family(w, "tessera_gateway_request_byte_waits_total", prom_type::Counter,
           "Client messages whose reading waited until their bytes fit the request byte bounds.",
           {{{}, static_cast<double>(g.request_byte_waits)}});
    family(w, "tessera_gateway_paced_slices_total", prom_type::Counter,
           "Slices of low-priority calls that waited for their slot while high-priority calls "
           "ran ([limits] low_priority_gap_ms).",
           {{{}, static_cast<double>(g.paced_slices)}});
  }
  if (s.node_tls)
    family(w, "tessera_node_tls_handshake_failures_total", prom_type::Counter,
           "Failed mutual-TLS handshakes between nodes: inbound (a peer connecting to this "
           "node's port) and outbound (this node connecting to a member).",
           {{{{"direction", "inbound"}}, static_cast<double>(s.node_tls->inbound)},
            {{{"direction", "outbound"}}, static_cast<double>(s.node_tls->outbound)}});
  if (s.transport)
    family(w, "tessera_node_transport_refused_connections_total", prom_type::Counter,
           "Node-to-node connections the node transport closed, by reason: handshake (failed, "
           "timed out or naming another node), shed (over the bound on unauthenticated "
           "connections, in all or per source, or out of fds) or guard (a malformed, oversized, "
           "relayed or out-of-place BASP frame from an authenticated peer).",
           {{{{"reason", "handshake"}}, static_cast<double>(s.transport->refused_handshakes)},
            {{{"reason", "shed"}}, static_cast<double>(s.transport->shed_connections)},
            {{{"reason", "guard"}}, static_cast<double>(s.transport->closed_by_guard)}});
  if (s.transport)
    family(w, "tessera_node_transport_dropped_messages_total", prom_type::Counter,
           "Messages from a member that are no response to a request this node sent on that "
           "connection (a member answers, it never commands), dropped before CAF saw them.",
           {{{}, static_cast<double>(s.transport->dropped_commands)}});
  auto families = w.collect();
  if (s.coordinator) prom_merge(families, s.coordinator->served);
  return prom_text(families);
}

}  // namespace tessera
