#pragma once
// Mutual TLS between nodes: where a node's certificate files are and whether they are usable.
// The node transport (node/node_transport.hpp) makes one TLS context of these files and
// demands a valid peer certificate naming the expected node on both sides, so a peer without a
// certificate of the cluster CA never gets past the TLS handshake to the BASP parser.
#include <string>

#include "base/errors.hpp"
#include "node/config.hpp"

namespace tessera {

// The files of one node, absolute paths.
struct tls_files {
  std::string dir;
  std::string ca;    // <dir>/ca.pem: the cluster CA certificate
  std::string cert;  // <dir>/<node>.pem
  std::string key;   // <dir>/<node>.key
};

// The base of a relative [tls] dir: $TESSERA_STATE_DIR when set and non-empty, else the
// current directory.
std::string tls_base_dir();

// The [tls] dir as an absolute path (resolved against tls_base_dir() when relative).
std::string resolve_tls_dir(const tls_config& tls);

// Any configured directory (e.g. state_dir) as an absolute path, resolved like [tls] dir; ""
// stays "".
std::string resolve_state_path(const std::string& dir);

tls_files tls_files_for(const tls_config& tls, const std::string& node);

// Checks, before a node starts, everything the node transport would otherwise find out late
// or never: each file exists and is readable, the certificate and the key are PEM and match,
// and the CA verifies the certificate, which must name `node` (CN or DNS SAN). Error:
// invalid_argument naming the file and what is wrong.
caf::error check_tls_files(const tls_files& files, const std::string& node);

// Checks that `cert` and `key` are readable PEM files (the key unencrypted) and that the key
// belongs to the certificate. Error: io_error or invalid_argument naming the file; `hint` (how
// to make or turn off the files) ends an error about a missing or empty file.
caf::error check_key_pair(const std::string& cert, const std::string& key, const char* hint);

// Checks that `path` is a readable file starting with a PEM certificate; errors as above.
caf::error check_certificate_file(const std::string& path, const char* hint);

// The common name (CN) of the first certificate in a PEM file; empty when unreadable.
std::string certificate_common_name(const std::string& pem_path);

}  // namespace tessera
