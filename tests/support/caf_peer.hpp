#pragma once
// A CAF actor system in the test process that speaks BASP to the cluster's nodes over CAF's
// OpenSSL module, holding the certificate and key `tessera certs init` made for node `as` in
// `tls_dir`: the stand-in for an insider with that node's key (or for a crash the test causes
// through the coordinator's key, the only peer a shard node admits: node/node_transport.hpp).
#include <string>

#include <caf/actor_system_config.hpp>

namespace tessera::test {

struct caf_peer_config : caf::actor_system_config {
  caf_peer_config(const std::string& tls_dir, const std::string& as);
};

}  // namespace tessera::test
