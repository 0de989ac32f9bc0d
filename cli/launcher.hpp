#pragma once
// `tessera up`: start every node of a config as a child process, wait until the cluster is
// ready, print "tessera: ready, gateway at HOST:PORT", optionally load packages, then stay in
// the foreground until SIGINT/SIGTERM (stop children: SIGTERM, 5 s, SIGKILL; exit 0).
#include <string>
#include <vector>

namespace tessera::cli {

struct package_load {
  std::string dir;
  std::string name;  // empty = the manifest's name
};

struct up_options {
  std::string config_path;  // empty = the embedded default, written to a temp file
  std::vector<package_load> loads;
  std::string log_dir;  // empty = children inherit stdout/stderr
  double ready_timeout_s = 60;
  std::string pid_file;  // "NAME PID" per line, rewritten when a node is restarted
  bool restart = true;   // restart a node that exits unexpectedly once ready (with backoff)
  // The admin token `up` uses to load packages and watch readiness (the global --token); the
  // config holds only hashes, so it must match one of its admin tokens.
  std::string token;
};

int run_up(const up_options& opts);

// The node binary: $TESSERA_NODE_BIN, else tessera-node beside /proc/self/exe.
std::string node_binary();

}  // namespace tessera::cli
