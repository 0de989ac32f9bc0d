#pragma once
// What the coordinator needs to know of the cluster, built by node/ from the config. The
// coordinator never sees the config file's types.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/io/middleman_actor.hpp>

#include "actors/registry_store.hpp"
#include "cluster/hedging.hpp"

namespace tessera {

// One shard-role node the coordinator connects to.
struct member_options {
  std::string name;                // unique node name, e.g. "shard-1"
  std::string host;                // where its node actor is published
  uint16_t port = 0;               // CAF port of its node actor
  std::vector<std::string> roles;  // as configured, for status
  uint64_t memory_budget = 0;      // bytes it may hold in replicas (0 = unlimited)
};

struct coordinator_options {
  std::vector<member_options> members;
  std::string local_member;      // name of the member in this process ("" = none)
  uint32_t max_inflight = 4096;  // requests admitted at once; more get overloaded
  // Serving actors (actors/serving.hpp): calls are answered on this many threads at once.
  uint32_t serving_actors = 1;
  uint32_t max_ids_per_input = 1 << 20;  // ids per input after featurizing
  // Bytes of rows one call may gather on an exact-pooling version (more is refused with
  // limit_exceeded), and the bytes a coalesced batch holds (cluster/coalescer.hpp).
  uint64_t max_gather_bytes = uint64_t{64} << 20;
  std::chrono::milliseconds load_timeout{600000};  // deadline of one model load
  // Absolute directory of the persisted registry (actors/registry_store.hpp); "" = none.
  std::string state_dir;
  // What the previous coordinator persisted there (node/ reads and validates it before the
  // coordinator starts, so a corrupt file stops the process instead of losing models).
  std::optional<registry_snapshot> recovered;
  // Deadline of a request whose caller set none (the gateway always sets one).
  std::chrono::milliseconds request_timeout{5000};
  // Without a node_dialer: connect to members with caf::openssl::remote_actor (the actor
  // system must have the OpenSSL module loaded) instead of plain BASP. Node processes set
  // node_dialer whenever TLS is on.
  bool tls = true;
  // When set, members are dialed through this middleman actor (node/node_transport.hpp: TLS
  // with the member's certificate name checked, BASP frames guarded) instead of CAF's own.
  caf::io::middleman_actor node_dialer;
  // Hedged requests (cluster/hedging.hpp, actors/serving_fan_out.hpp).
  hedging_options hedging;
  // A member down this long has its replicas placed again on the survivors
  // (actors/replacement_planner.hpp).
  std::chrono::milliseconds replacement_grace{30000};
  // Count client calls by model and outcome for /metrics ([http] metrics); false skips the
  // counting on the request path (the benchmark's baseline).
  bool count_requests = true;
  // Test only: a predict naming this model throws inside the coordinator, as a bug would, so
  // tests can watch what an actor's unhandled exception does to its process. node/ sets it
  // from TESSERA_TEST_THROW_ON_MODEL, and only when that is set; "" = never.
  std::string test_throw_on_model;
};

}  // namespace tessera
