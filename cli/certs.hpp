#pragma once
// `tessera certs init`: the cluster CA and one certificate + key per node, made with OpenSSL's
// C API (no `openssl` binary needed). `tessera up` calls ensure_certs before it starts nodes.
#include <string>
#include <vector>

#include "node/config.hpp"

namespace tessera::cli {

// Makes in `dir` (created, mode 0700) what is missing, never overwriting a file:
//   ca.pem + ca.key          a self-signed CA (CN "tessera <cluster> CA", CA:TRUE, 10 years),
//                            made only when ca.pem does not exist;
//   <node>.pem + <node>.key  per node of `cfg` lacking them: CN and DNS SAN = the node name,
//                            plus its host (IP or DNS SAN), serverAuth + clientAuth, signed by
//                            the CA (needs ca.key), 10 years.
// Keys are ECDSA P-256, PEM, unencrypted, mode 0600. Returns the files it wrote. Throws
// command_error when a half-present pair or a missing ca.key makes it impossible.
std::vector<std::string> ensure_certs(const cluster_config& cfg, const std::string& dir);

struct certs_options {
  std::string config_path;  // empty = the embedded local config
  std::string dir;          // empty = the config's [tls] dir, resolved
};
// Prints each file written (or that nothing was missing).
int run_certs_init(const certs_options& opts);

}  // namespace tessera::cli
