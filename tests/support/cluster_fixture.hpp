#pragma once
// Integration-test support: a real local cluster started with `tessera up` on free loopback
// ports, and a Cap'n Proto client for it. Every process the fixture starts is stopped by pid
// in its destructor, also when the test fails.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kj/async-io.h>
#include <kj/timer.h>

#include "cli/client.hpp"
#include "schemas/tessera.capnp.h"

namespace tessera::test {

// A fresh directory under /tmp, removed (recursively) on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct cluster_options {
  size_t shard_nodes = 3;
  std::string memory_budget = "4GiB";
  uint32_t max_inputs = 1024;
  uint32_t request_timeout_ms = 5000;
  uint32_t max_inflight = 4096;
  std::string extra_toml;  // appended verbatim
  std::string shard_toml;  // appended to every shard node's [[nodes]] table (e.g. disk_budget)
  // Set: each shard node's data_dir (block store) is <stores_dir>/<name>, not under state_dir.
  std::string stores_dir;
  std::string top_toml;  // top-level keys, written before any table (e.g. connection_timeout_ms)
  std::string coordinator_budget;  // the coordinator node's memory_budget; empty = none
  std::string limits_toml;         // more [limits] keys (e.g. "capacity = 8\n")
  // `tessera up` restarts nodes that exit (its default). Off for tests that kill a node and
  // expect it to stay down; node_pid() then follows the pid file up rewrites.
  bool supervise = false;
  // The coordinator persists its registry in the cluster's temp dir; false = state_dir "".
  bool persist_state = true;
  std::string state_dir;  // where it persists when persist_state; empty = <temp dir>/state
  uint32_t max_text_bytes = 1 << 20;
  uint32_t max_ids_per_input = 1 << 20;
  // [tls]: node-to-node mutual TLS is on unless tls_insecure; tls_dir empty = <temp dir>/tls,
  // where `tessera up` makes the CA and the node certificates.
  bool tls_insecure = false;
  std::string tls_dir;
  // [gateway]: client TLS with the files `tessera up` makes in the TLS dir (gateway.pem, signed
  // by ca.pem); with gateway_client_ca, clients must also present a certificate signed by
  // client-ca.pem. handshake_timeout_ms 0 = the config's default.
  bool gateway_tls = false;
  bool gateway_client_ca = false;
  uint32_t handshake_timeout_ms = 0;
  // Every node gets a free http_port (/metrics, /healthz, /readyz): see http_port().
  bool http = false;
};

class local_cluster {
 public:
  // Writes a config with free ports and starts `tessera up` on it; waits for its ready line.
  explicit local_cluster(const cluster_options& opts = {});
  ~local_cluster();

  const std::string& gateway() const { return gateway_; }  // "127.0.0.1:PORT"
  const std::string& config_path() const { return config_path_; }
  const std::string& tls_dir() const { return tls_dir_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& user_token() const { return user_token_; }
  // What a client needs to reach this gateway: nothing without gateway_tls; else the CA, and
  // with gateway_client_ca also the client certificate and key, all in tls_dir().
  const cli::tls_client_options& client_tls() const { return client_tls_; }
  // pid of a node process by name ("shard-1", "coord"), from up's pid file, or of the
  // process restart_node started for it.
  pid_t node_pid(const std::string& name) const;
  // Starts a new `tessera-node` for node `name` with this cluster's config (its old process
  // must be gone), as a child of the test, not of `up`; returns its pid. The destructor stops
  // it by pid, like every other node. Its output goes to node_log(name + ".restarted").
  pid_t restart_node(const std::string& name);
  std::string node_log(const std::string& name) const;
  // A shard node's CAF port ("shard-1", ...), where its node actor is published; 0 if none.
  uint16_t node_port(const std::string& name) const;
  // A node's http_port ("coord", "shard-1", ...); 0 unless cluster_options::http.
  uint16_t http_port(const std::string& name) const;
  // Runs the tessera CLI against this cluster; returns exit code, fills stdout.
  int cli(const std::vector<std::string>& args, std::string* out = nullptr,
          std::string* err = nullptr) const;

 private:
  temp_dir dir_;
  std::string config_path_;
  std::string tls_dir_;
  std::string gateway_;
  std::string admin_token_ = "itest-admin";
  std::string user_token_ = "itest-user";
  cli::tls_client_options client_tls_;
  pid_t up_pid_ = -1;
  bool supervise_ = false;
  std::map<std::string, pid_t> node_pids_;
  std::map<std::string, uint16_t> http_ports_;
  std::map<std::string, uint16_t> node_ports_;  // shard nodes' CAF ports
};

// A client: one connection (over TLS when `tls` says so) and its session, authenticated
// without waiting: a failure to connect, to shake hands or to log in surfaces as the
// kj::Exception of the first call waited for. Clients of one thread share its event loop.
class client {
 public:
  client(const std::string& address, const std::string& token,
         const cli::tls_client_options& tls = {});
  Session::Client& session() { return session_; }
  kj::WaitScope& wait_scope() { return link_.wait_scope(); }
  kj::Timer& timer() { return link_.timer(); }
  Admin::Client admin();

 private:
  cli::gateway_link link_;
  Session::Client session_;
};

// The whole content of the file at `path`; "" when it cannot be read.
std::string read_text(const std::string& path);
// The lines of `text`, without their '\n'.
std::vector<std::string> lines_of(const std::string& text);
// Writes each line followed by '\n'.
void write_lines(const std::string& path, const std::vector<std::string>& lines);

// Path of a built binary (TESSERA_BIN_DIR or build/bin).
std::string bin_path(const std::string& name);
// Path of a file of the source tree, e.g. "deploy/systemd/tessera.env" (TESSERA_SOURCE_DIR, set
// by ctest, else the tree this file was compiled from).
std::string source_path(const std::string& relative);

// Runs argv, captures stdout and stderr; returns the exit code (or 128 + signal).
int run_capture(const std::vector<std::string>& argv, std::string* out, std::string* err);

// Starts argv with stdout to `out_path` (stderr to out_path + ".err"); returns its pid.
// The child gets SIGTERM if the test process dies.
pid_t spawn_to_file(const std::vector<std::string>& argv, const std::string& out_path);
// Waits for a child started by spawn_to_file; returns its exit code (or 128 + signal).
int wait_child(pid_t pid);

// A TCP connection to 127.0.0.1:`port` whose reads and writes give up after 30 s (a guard
// against a peer that never answers, not a timing assertion); the caller closes it. `rcvbuf`
// > 0 shrinks its receive buffer before connecting. Throws std::runtime_error on failure.
int connect_loopback(uint16_t port, int rcvbuf = 0);

// The port of a "host:port" address (e.g. local_cluster::gateway()).
uint16_t port_of(const std::string& address);

// A TCP connection from `source` (any 127/8 address, so tests can act as several client
// addresses) to 127.0.0.1:`port`, with connect_loopback's 30 s guards; -1 when the connect
// fails. The caller closes it.
int connect_from(const std::string& source, uint16_t port);

// The tessera error code in a kj exception description, e.g. "unknown_model".
std::string error_code(const kj::Exception& e);

}  // namespace tessera::test
