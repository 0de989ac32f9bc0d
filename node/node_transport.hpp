#pragma once
// Tessera's own transport between nodes, in front of CAF's BASP (see SECURITY.md):
//
// - One TLS context per process (OpenSSL), made once from the node's certificate, key and CA.
// - Every connection is mutual TLS; the peer's certificate must verify against the cluster CA,
//   carry the right extended key usage (clientAuth for the side that dials, serverAuth for the
//   side that accepts) and name (CN and DNS SAN) the one node the connection is for: a shard
//   admits only the config's coordinator; the coordinator, dialing member M, admits only a
//   certificate naming M. The coordinator accepts no node connection at all.
// - Only then does a pump thread carry the plaintext between TLS and a loopback TCP
//   connection to the local BASP broker, checking every frame (node/basp_guard.hpp): no
//   relaying, no oversized or malformed frame reaches CAF, and a member's messages reach the
//   coordinator only as responses to its own requests.
// - A shard's BASP doorman listens on 127.0.0.1 and admits only connections the transport
//   made itself (by their local port).
// - Unauthenticated connections are bounded (in all and per source address), time out after
//   the handshake timeout, cost no context of their own, and running out of fds drops new
//   connections instead of the node.
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "node/node_transport_stats.hpp"
#include "node/tls.hpp"

namespace tessera {

struct node_transport_options {
  std::string self;         // this node's name
  tls_files files;          // this node's certificate, key and the cluster CA
  std::string coordinator;  // the one peer a shard admits
  // The members this node may dial: "host:port" -> node name (the name the certificate must
  // carry).
  std::map<std::string, std::string> members;
  size_t max_frame_bytes = 256u << 20;  // BASP payload limit, checked before CAF sees it
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds connect_timeout{5000};
  size_t max_unauthenticated = 64;            // handshakes in progress, in all
  size_t max_unauthenticated_per_source = 8;  // ... per source address
  size_t max_peers = 4;                       // authenticated connections into a shard
  // Addresses of the coordinator's host: their handshakes count against the per-source bound
  // only, so strangers filling the overall bound cannot keep the coordinator out.
  std::set<std::string> coordinator_addresses;
};

class node_transport {
 public:
  // Loads the TLS files (one context) and spawns the middleman actor that dials through the
  // transport. Error: invalid_argument naming what cannot be loaded.
  static caf::expected<std::unique_ptr<node_transport>> start(caf::actor_system& sys,
                                                              node_transport_options opts);
  ~node_transport();  // stops the acceptor and every pump (joins their threads)

  // Publishes `whom` on a loopback BASP doorman and accepts TLS on host:port for it (a shard).
  // Returns the bound TLS port.
  caf::expected<uint16_t> publish(const caf::strong_actor_ptr& whom, std::set<std::string> sigs,
                                  const std::string& host, uint16_t port);

  // The actor handle for dialing members (connect_atom, host, port), as caf::io::middleman's.
  caf::io::middleman_actor dialer() const;

  node_transport_stats stats() const;

  struct impl;

 private:
  explicit node_transport(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
  caf::io::middleman_actor dialer_;
};

}  // namespace tessera
