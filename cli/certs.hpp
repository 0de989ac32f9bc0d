#pragma once
// `tessera certs init`: the cluster CA, one certificate + key per node, and the gateway's and a
// client's for client TLS, made with OpenSSL's C API (no `openssl` binary needed). `tessera up`
// calls ensure_certs before it starts nodes.
#include <string>
#include <vector>

#include "node/config.hpp"

namespace tessera::cli {

// Makes in `dir` (created, mode 0700) what is missing, never overwriting a file:
//   ca.pem + ca.key          the cluster CA, self-signed (CN "tessera <cluster> CA", CA:TRUE,
//                            10 years), made only when ca.pem does not exist;
//   <node>.pem + <node>.key  per node of `cfg` lacking them: CN and DNS SAN = the node name,
//                            plus its host (IP or DNS SAN), signed by the cluster CA; by role
//                            (OU): the coordinator clientAuth only (it dials), a shard
//                            serverAuth only (it accepts the coordinator); other nodes both;
//   gateway.pem + .key       the gateway's server certificate ([gateway] cert and key): SAN
//                            localhost, 127.0.0.1, ::1 and the coordinator's host, serverAuth
//                            only, signed by the cluster CA (clients trust ca.pem);
//   client-ca.pem + .key     a second CA, for client certificates only ([gateway] client_ca),
//                            so that no client certificate is ever accepted at a node port;
//   client.pem + .key        a client certificate (clientAuth only) signed by client-ca.
// A certificate is signed only when it is made (the CA's key is needed then, not otherwise);
// the last three pairs are made only where ca.key is, and left out elsewhere.
// Certificates last 10 years. Keys are ECDSA P-256, PEM, unencrypted, mode 0600. Returns the
// files it wrote. Throws command_error when a half-present pair, a missing CA key or a node
// named like one of these files (ca, gateway, client-ca, client) makes it impossible.
std::vector<std::string> ensure_certs(const cluster_config& cfg, const std::string& dir);

struct certs_options {
  std::string config_path;  // empty = the embedded local config
  std::string dir;          // empty = the config's [tls] dir, resolved
};
// Prints each file written (or that nothing was missing), then checks every node's files and the
// gateway's pair; notes how to turn on client TLS when the config has it off.
int run_certs_init(const certs_options& opts);

}  // namespace tessera::cli
