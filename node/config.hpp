#pragma once
// Cluster configuration (TOML). One file describes every node; each process picks its own
// entry by name. See config/local.toml for the documented default.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "cluster/hedging.hpp"
#include "cluster/tenant_quota.hpp"
#include "node/token_hash.hpp"

namespace tessera {

struct node_config {
  std::string name;                // unique node name, e.g. "shard-1"
  std::string host = "127.0.0.1";  // address other nodes reach this node at
  uint16_t port = 0;               // CAF middleman port where the node actor is published
  std::vector<std::string> roles;  // "shard" and/or "coordinator"
  uint64_t memory_budget = 0;      // bytes this node may hold in replicas (0 = unlimited)
  uint16_t gateway_port = 0;       // coordinator only: Cap'n Proto RPC port
  uint16_t http_port = 0;          // /metrics, /healthz, /readyz (0 = off)
  // A shard node's block store (package/block_store.hpp), as written: relative paths resolve
  // like state_dir; "" = <state_dir>/nodes/<name> (none when state_dir is "" too).
  std::string data_dir;
  uint64_t disk_budget = 0;  // bytes its block store may hold (0 = unlimited)
  bool has_role(const std::string& r) const;
};

// A client token. The config holds only its salted hash (node/token_hash.hpp).
struct token_config {
  token_hash hash;
  std::string name;                 // who it is, for logs (never the token itself)
  bool admin = false;               // may call Admin
  std::vector<std::string> models;  // models of its tenant it may use (also as admin); "*" = all
  std::string tenant = "default";   // whose models it sees (cluster/model_key.hpp)
  // May run the cluster (members, drain, undrain, the cluster-wide status with every tenant's
  // models). Needs admin. Default: true for the default tenant's admins (they are the cluster
  // admins), false for every other token (docs/SECURITY.md).
  bool cluster_admin = false;
};

// A tenant's quotas ([[tenants]]); tenants without an entry are unlimited, normal priority.
struct tenant_config {
  std::string name;
  tenant_limits limits;
  // The directory its admins' load paths must lie under (node/package_root.hpp), as written.
  // Required for a tenant other than the default one that has admin tokens; "" for the
  // default tenant = its admins load from anywhere.
  std::string package_root;
};

// Which serving actor answers a call (node/gateway_session.hpp, gateway_env::serving_for).
enum class serving_affinity_kind {
  model,       // the model's (by tenant and name): a version's calls all coalesce in one place
  connection,  // the connection's (round robin at connect): one hot model uses every core
};

struct limits_config {
  uint32_t max_inputs = 1024;            // inputs per predict/embed call
  uint32_t max_text_bytes = 1 << 20;     // bytes per text input
  uint32_t max_ids_per_input = 1 << 20;  // ids per input (given or featurized)
  // Bytes of rows one call may gather on an exact-pooling version, and of ids plus gathered
  // rows in one coalesced batch (actors/coordinator_options.hpp).
  uint64_t max_gather_bytes = uint64_t{64} << 20;
  std::chrono::milliseconds request_timeout{5000};  // deadline of one client request
  std::chrono::milliseconds load_timeout{600000};   // deadline of one model load
  uint32_t max_inflight = 4096;  // requests in the coordinator at once; more get overloaded
  // The coordinator's serving actors (actors/serving.hpp): threads that answer calls at once.
  // 0 = one per core.
  uint32_t serving_actors = 0;
  serving_affinity_kind serving_affinity = serving_affinity_kind::model;
  // Gateway bounds (node/gateway.hpp). Bytes of one RPC message after login; larger closes
  // the connection.
  uint64_t max_message_bytes = uint64_t{64} << 20;
  uint32_t max_prelogin_bytes = 4096;      // bytes of one message before authenticate succeeds
  uint32_t max_connections = 1024;         // open client connections (also capped by the fd limit)
  uint32_t max_calls_per_connection = 32;  // calls one connection has unanswered at once
  uint64_t slice_bytes = uint64_t{1} << 20;  // text bytes (12 per id) per slice of a call
  uint32_t capacity = 256;  // calls at once before the gateway sheds by tenant priority
  // Inputs of the calls running at once, over all tenants, before the gateway sheds by
  // priority: shedding weighs a call by its inputs, not only by count (cluster/tenant_quota.hpp).
  // At least 2 x max_inputs; omitted in the file = 4 x max_inputs.
  uint32_t capacity_inputs = 4096;
  // While a high-priority tenant's call runs, at most one slice of a low-priority call starts
  // per this gap (cluster/priority_pacer.hpp); 0 = no pacing.
  std::chrono::milliseconds low_priority_gap{20};
  // Bytes of request messages the gateway holds at once (read, not yet answered), over all
  // connections; a connection's next message is not read off its socket while it would not
  // fit (node/byte_budget.hpp). 0 = derived: a coordinator-only node's memory_budget / 4, else
  // 256 MiB; never below max_message_bytes.
  uint64_t max_request_bytes = 0;
  uint64_t max_connection_request_bytes = 0;  // the same per connection; 0 = max_message_bytes
  // Pre-login: a connection that has not authenticated within login_timeout is closed; at most
  // max_prelogin_connections are open at once (below max_connections, so the rest of the cap
  // and of the fds is kept for logged-in clients), at most max_prelogin_per_source from one
  // source address; more are closed at once.
  std::chrono::milliseconds login_timeout{3000};
  uint32_t max_prelogin_connections = 256;
  uint32_t max_prelogin_per_source = 32;
  // Failed logins: a connection is closed at its max_failed_logins_per_connection-th; a source
  // address with max_failed_logins_per_source failures in the last minute has every
  // authenticate refused, unhashed, until the minute has passed.
  uint32_t max_failed_logins_per_connection = 3;
  uint32_t max_failed_logins_per_source = 30;
};

// Mutual TLS between nodes ([tls]). On unless the config says `insecure = true`.
struct tls_config {
  // Directory with ca.pem, <node>.pem and <node>.key (as written; a relative path is resolved
  // against $TESSERA_STATE_DIR, else the current directory: see node/tls.hpp).
  std::string dir = "data/tls";
  bool insecure = false;  // true = plain BASP between nodes; warned about at every start
};

// Client TLS at the gateway ([gateway], kj-tls). Plaintext unless `cert` is set. A gateway
// whose host is not loopback (is_loopback_host) must have TLS or say `insecure = true`.
struct gateway_config {
  // PEM files as written; a relative path is resolved like [tls] dir (node/tls.hpp).
  std::string cert;       // server certificate, optionally followed by its chain; set = TLS on
  std::string key;        // the certificate's private key (unencrypted); required with cert
  std::string client_ca;  // set = clients must present a certificate signed by this CA (mTLS)
  bool insecure = false;  // true = plaintext on a non-loopback host; warned about at every start
  // A TLS handshake still unfinished after this ends its connection (and frees its slot).
  std::chrono::milliseconds handshake_timeout{10000};
  bool tls() const { return !cert.empty(); }
};

// Who may read a node's HTTP endpoints ([http]). /metrics names every tenant's models and
// counts, so it is served on 127.0.0.1 only unless `public = true`, which binds the node's host
// and takes a bearer token, TLS, or an explicit `insecure = true`.
struct http_access_config {
  bool public_bind = false;  // [http] public: bind the node's host instead of 127.0.0.1
  bool has_token = false;    // [http] token_hash set: /metrics needs `Authorization: Bearer`
  token_hash token;          // its salted hash (node/token_hash.hpp)
  // PEM files as written, resolved like [gateway]'s; cert set = HTTPS; client_ca set = the
  // scraper must present a certificate signed by it.
  std::string cert;
  std::string key;
  std::string client_ca;
  bool insecure = false;  // true = public without token or TLS; warned about at every start
  bool tls() const { return !cert.empty(); }
};

// Whether clients reach `host` from this machine only: 127.0.0.0/8, ::1 (also as
// ::ffff:127.x.y.z) or "localhost". Anything else, 0.0.0.0 and :: included, is not.
bool is_loopback_host(const std::string& host);

struct cluster_config {
  std::string name = "tessera";
  std::vector<node_config> nodes;
  std::vector<token_config> tokens;
  std::vector<tenant_config> tenants;
  limits_config limits;
  std::string scheduler = "sharing";         // CAF scheduler policy: "sharing" or "stealing"
  uint32_t worker_threads = 0;               // CAF worker threads per process; 0 = one per core
  std::chrono::milliseconds heartbeat{200};  // CAF middleman heartbeat interval
  // Peer silence before it is down: a hung (e.g. SIGSTOPped) node is detected well within a
  // request's deadline, so its in-flight work is retried on another replica in time.
  std::chrono::milliseconds connection_timeout{1000};
  // A node down this long has its replicas placed again on the survivors, within budgets.
  std::chrono::milliseconds replacement_grace{30000};
  hedging_options hedging;  // [hedging]
  std::string log_level = "info";
  std::string default_model;  // package `tessera up` loads when given no --load
  // Where the coordinator persists its registry (registry.json); a relative path is resolved
  // like [tls] dir ($TESSERA_STATE_DIR, else the current directory); "" = keep it in memory
  // only (a restarted coordinator then knows no models).
  std::string state_dir = "data/state";
  tls_config tls;
  gateway_config gateway;  // [gateway]
  // [http] metrics: the coordinator counts client calls for /metrics (false: the benchmark's
  // baseline without counting; the endpoints still answer).
  bool http_metrics = true;
  http_access_config http;  // [http] public, token_hash, cert, key, client_ca, insecure

  const node_config* find_node(const std::string& name) const;
  const tenant_config* find_tenant(const std::string& name) const;
  const node_config* coordinator() const;  // the first node with role coordinator
  // Where node `n` keeps its block store, as written (resolve it like state_dir:
  // resolve_state_path): its data_dir, else <state_dir>/nodes/<name>; "" = no store.
  std::string data_dir_of(const node_config& n) const;
};

// Parses and validates a config: unique names and ports, exactly one coordinator with a
// gateway port, TLS or an explicit `insecure = true` for a gateway on a non-loopback host, known
// roles, sizes like "2GiB", "1.4GB" or plain bytes. Errors: invalid_argument
// with the offending key.
caf::expected<cluster_config> parse_config(const std::string& toml_text);
caf::expected<cluster_config> load_config_file(const std::string& path);

// Parses a byte count: a decimal number ("512", "1.4", "0.5", "1.5e3"), then optionally
// (after spaces) a unit, case-sensitive: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB,
// TB (powers of 1000). The result is exact and rounded down to whole bytes ("1.1KiB" = 1126);
// a count without a unit or in B must be whole ("1.5" is refused, "1.5e3" is 1500). At most 20
// significant digits. Errors: invalid_argument whose message quotes the text and says what is
// wrong with it (empty, negative, no number, unknown unit, not whole bytes, too large), e.g.
// "'1.4XB' has unknown unit 'XB' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)".
caf::expected<uint64_t> parse_size(const std::string& text);

// The embedded default (config/local.toml compiled in), used when no --config is given.
const char* embedded_local_config();

}  // namespace tessera
