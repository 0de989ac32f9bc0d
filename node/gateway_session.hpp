#pragma once
// What an authenticated client may do: the Session and Admin capabilities of the gateway.
// A session belongs to one token and one tenant. Every model it names is that tenant's (a
// model_key built from the token's tenant, cluster/model_key.hpp), it passes each predict/embed
// call through its tenant's quotas (cluster/tenant_quota.hpp), and sends a call's inputs to the
// coordinator's serving actors in slices of about [limits] slice_bytes, one slice at a time to
// one serving actor, all on the build (routing snapshot) the first slice was served by, so one
// call never holds more than one slice's featurization in the cluster.
//
// Thread: the gateway's kj thread. Every object here lives on it.
#include <chrono>
#include <functional>
#include <map>
#include <memory>

#include <kj/timer.h>

#include "actors/control.hpp"
#include "cluster/priority_pacer.hpp"
#include "cluster/tenant_quota.hpp"
#include "node/bridge.hpp"
#include "node/byte_budget.hpp"
#include "node/config.hpp"
#include "node/gateway_stats.hpp"
#include "node/guarded_stream.hpp"
#include "node/login_guard.hpp"
#include "node/memory_gate.hpp"
#include "node/source_guard.hpp"
#include "schemas/tessera.capnp.h"

namespace tessera {

// What every connection of one gateway shares. Lives as long as run_gateway.
struct gateway_env {
  kj_bridge& bridge;
  control_actor coord;                 // the control actor: admin calls, status, models
  std::vector<serving_actor> serving;  // predict and embed calls (serving_for)
  admission admitted;                  // the coordinator's max_inflight, taken once per call
  cluster_config cfg;
  kj::Timer& timer;
  tenant_quotas quotas;
  login_guard logins;
  memory_gate memory;                         // the coordinator's memory_budget
  source_guard sources;                       // pre-login connections and failed logins per address
  byte_budget bytes{};                        // request bytes held (node/byte_budget.hpp)
  std::shared_ptr<byte_account> all_bytes{};  // the gateway-wide account ([limits])
  // Per-tenant accounts, for tenants with a max_request_bytes.
  std::map<std::string, std::shared_ptr<byte_account>> tenant_bytes{};
  uint64_t connections = 0;                // open client connections
  uint64_t refused_connections = 0;        // closed at once: over the connection cap
  uint64_t refused_logins_connection = 0;  // authenticate after a connection's last try
  uint64_t refused_inflight = 0;           // calls refused over the coordinator's max_inflight
  gateway_stats* stats = nullptr;          // mirrors of the counters for /metrics (may be null)
  // Paces low-priority slices while high-priority calls run ([limits] low_priority_gap_ms).
  priority_pacer pacer{};

  size_t serving_cursor = 0;

  // Copies the counters into `stats`, for the HTTP thread.
  void publish() const;
  // The serving actor of the next connection (round robin).
  const serving_actor& next_serving() { return serving[serving_cursor++ % serving.size()]; }
  // The serving actor a call on `model` from a connection given `connection_serving` goes to:
  // by [limits] serving_affinity, the model's (a hash of tenant and name) or the connection's.
  const serving_actor& serving_for(const model_key& model,
                                   const serving_actor& connection_serving) const;

  // Bridge deadlines: the coordinator enforces the real ones; these only bound a lost reply.
  std::chrono::milliseconds call_timeout() const {
    return cfg.limits.request_timeout + std::chrono::seconds(2);
  }
  // A client's deadline: timeout_ms from now (0 = request_timeout), capped at request_timeout.
  std::chrono::steady_clock::time_point deadline(uint32_t timeout_ms) const;
  std::chrono::milliseconds load_timeout() const {
    return cfg.limits.load_timeout + std::chrono::seconds(10);
  }
};

// One client connection's state, shared by its bootstrap and session capabilities.
struct client_state {
  client_state(uint32_t max_calls, uint64_t max_bytes)
      : gate(max_calls), bytes(std::make_shared<byte_account>(max_bytes)) {}
  read_gate gate;
  bool authenticated = false;
  uint32_t failed_logins = 0;
  std::string source;  // the client's address, without port
  // Its serving actor (gateway_env::next_serving at connect): with [limits] serving_affinity
  // = "connection" its predict and embed calls go there (gateway_env::serving_for).
  serving_actor serving;
  std::shared_ptr<byte_account> bytes;         // this connection's request bytes
  std::shared_ptr<byte_account> tenant_bytes;  // its tenant's, once logged in (may be null)
  // The lease of the last message read, until the call it carries claims it (or the next
  // message is read).
  std::shared_ptr<byte_lease> pending;
  std::function<void()> close;  // ends the connection now (set by the gateway)
};

// What a call holds from dispatch until it is answered or dropped: a place among its
// connection's unanswered calls and the byte lease of the message that carried it. Every
// method of every capability of a connection takes one, authenticate included.
struct call_hold {
  explicit call_hold(std::shared_ptr<client_state> c) : client(std::move(c)) {
    client->gate.call_started();
    lease = std::move(client->pending);
  }
  call_hold(call_hold&& o) noexcept : client(std::move(o.client)), lease(std::move(o.lease)) {}
  call_hold(const call_hold&) = delete;
  ~call_hold() {
    if (client) client->gate.call_finished();
  }
  std::shared_ptr<client_state> client;
  std::shared_ptr<byte_lease> lease;
};

// A capability's dispatchCall with the call counted: `dispatch()` (the generated
// Server::dispatchCall) runs under a call_hold that lives until the call's promise ends.
template <class Dispatch>
capnp::Capability::Server::DispatchCallResult held_dispatch(
    const std::shared_ptr<client_state>& client, Dispatch&& dispatch) {
  call_hold hold{client};
  auto r = dispatch();
  return {r.promise.attach(kj::mv(hold)), r.isStreaming};
}

// The Session capability for `token` on a connection.
kj::Own<Session::Server> make_session(gateway_env& env, const token_config& token,
                                      std::shared_ptr<client_state> client);

}  // namespace tessera
