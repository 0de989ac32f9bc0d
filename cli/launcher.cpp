#include "cli/launcher.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "cli/certs.hpp"
#include "cli/children.hpp"
#include "cli/commands.hpp"
#include "cli/restart_backoff.hpp"
#include "node/config.hpp"
#include "node/gateway_tls.hpp"
#include "node/tls.hpp"
#include "node/token_hash.hpp"

namespace tessera::cli {
namespace {

using steady = std::chrono::steady_clock;

// The config file handed to the children; a temp copy of the embedded default is removed
// when `up` ends.
struct config_file {
  std::string path;
  bool temporary = false;
  ~config_file() {
    if (temporary) ::unlink(path.c_str());
  }
};

void write_embedded_config(config_file& out) {
  char tmpl[] = "/tmp/tessera-config-XXXXXX.toml";
  int fd = ::mkstemps(tmpl, 5);
  if (fd < 0)
    throw command_error("tessera.io_error: cannot create temp config: " +
                        std::string(std::strerror(errno)));
  out.path = tmpl;
  out.temporary = true;
  std::string text = embedded_local_config();
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw command_error("tessera.io_error: cannot write temp config " + out.path);
}

// Makes the TLS files the nodes need when they are missing (the first `up` of a checkout), and
// checks every node's files so that a bad one fails here, naming the file, not in a child.
void prepare_tls(const cluster_config& cfg) {
  if (cfg.tls.insecure) {
    std::fprintf(stderr, "tessera: warning: TLS between nodes is off ([tls] insecure = true)\n");
    return;
  }
  const std::string dir = resolve_tls_dir(cfg.tls);
  auto written = ensure_certs(cfg, dir);
  if (!written.empty())
    std::fprintf(stderr, "tessera: made the cluster CA and node certificates in %s\n", dir.c_str());
  for (const auto& node : cfg.nodes)
    if (auto err = check_tls_files(tls_files_for(cfg.tls, node.name), node.name))
      throw command_error(describe(err));
}

// How `up` itself reaches a gateway with client TLS: $TESSERA_TLS_CA (and _CERT, _KEY) when
// set, else the files `tessera certs init` makes in the [tls] dir: ca.pem, which signs
// gateway.pem, and with [gateway] client_ca the client certificate client.pem + client.key.
// A plaintext gateway the config itself declares `insecure = true` is reached in plaintext.
tls_client_options up_client_tls(const cluster_config& cfg) {
  if (!cfg.gateway.tls()) {
    tls_client_options plain;
    plain.insecure = cfg.gateway.insecure;
    return plain;
  }
  if (auto err = check_gateway_tls(gateway_tls_options_of(cfg.gateway)))
    throw command_error(describe(err));
  tls_client_options env = default_tls();
  if (env.enabled()) return env;
  const std::string dir = resolve_tls_dir(cfg.tls);
  tls_client_options tls{dir + "/ca.pem", "", ""};
  if (!cfg.gateway.client_ca.empty()) {
    tls.cert = dir + "/client.pem";
    tls.key = dir + "/client.key";
  }
  return tls;
}

void make_dirs(const std::string& dir) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      throw command_error("tessera.io_error: cannot create " + part + ": " + std::strerror(errno));
  }
}

// `token` when it is one of the config's admin tokens.
std::string admin_token(const cluster_config& cfg, const std::string& token) {
  for (const auto& t : cfg.tokens)
    if (t.admin && token_matches(t.hash, token)) return token;
  throw command_error(
      "tessera.unauthenticated: `up` needs an admin token of the config: pass it with --token "
      "(before `up`) or $TESSERA_TOKEN");
}

// Waits for a signal in `set` for up to `timeout`; returns it, or 0 on timeout.
int wait_signal(const sigset_t& set, std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

void report_exits(child_set& children) {
  for (const auto& c : children.reap())
    std::fprintf(stderr, "tessera: node %s exited (%s)\n", c.name.c_str(),
                 describe_exit(c.status).c_str());
}

bool cluster_ready(const client_options& c) {
  try {
    connection conn(c);
    auto resp = conn.wait(conn.admin().statusRequest().send());
    auto st = resp.getStatus();
    if (!st.getReady()) return false;
    for (auto m : st.getMembers())
      if (!m.getUp()) return false;
    return true;
  } catch (const command_error&) {
    return false;  // not listening yet, or not ready to answer
  }
}

// The model and version already serving from package `abs_path` (ready or serving), if any:
// a coordinator that recovered its registry already has what `up` would load again.
std::optional<std::pair<std::string, uint64_t>> loaded_from(const client_options& c,
                                                            const std::string& abs_path) {
  connection conn(c);
  auto resp = conn.wait(conn.admin().statusRequest().send());
  for (auto m : resp.getStatus().getModels())
    for (auto v : m.getVersions()) {
      std::string state = v.getState().cStr();
      if (v.getPath() == abs_path && (state == "ready" || state == "serving"))
        return std::make_pair(std::string{m.getName().cStr()}, v.getVersion());
    }
  return std::nullopt;
}

enum class wait_outcome { ready, interrupted, timed_out, all_dead };

wait_outcome wait_until_ready(const client_options& c, child_set& children, const sigset_t& sigs,
                              double timeout_s) {
  auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(
                                      std::chrono::duration<double>(timeout_s));
  for (;;) {
    int sig = wait_signal(sigs, std::chrono::milliseconds(0));
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) return wait_outcome::interrupted;
    report_exits(children);
    if (children.running_count() == 0) return wait_outcome::all_dead;
    if (cluster_ready(c)) return wait_outcome::ready;
    if (steady::now() >= deadline) return wait_outcome::timed_out;
    sig = wait_signal(sigs, std::chrono::milliseconds(300));
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) return wait_outcome::interrupted;
  }
}

// Loads the packages one after another on a thread of its own (its own kj event loop), so the
// foreground loop keeps answering signals while a long load runs.
class loader {
 public:
  loader(client_options c, std::vector<package_load> loads)
      : thread_([c = std::move(c), loads = std::move(loads), this] { run(c, loads); }) {}
  ~loader() { thread_.join(); }

 private:
  void run(const client_options& c, const std::vector<package_load>& loads) {
    for (const auto& p : loads) {
      try {
        char buf[PATH_MAX];
        if (::realpath(p.dir.c_str(), buf) == nullptr)
          throw command_error("tessera.io_error: cannot resolve " + p.dir + ": " +
                              std::strerror(errno));
        if (auto had = loaded_from(c, buf)) {
          std::printf("tessera: %s version %llu is already loaded from %s; not loading it again\n",
                      had->first.c_str(), static_cast<unsigned long long>(had->second), buf);
          std::fflush(stdout);
          continue;
        }
        std::fprintf(stderr, "tessera: loading %s\n", buf);
        auto r = load_with_progress(c, buf, p.name, 0, false, true);
        std::printf("tessera: loaded %s version %llu\n", r.name.c_str(),
                    static_cast<unsigned long long>(r.version));
        std::fflush(stdout);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "tessera: load of %s failed: %s\n", p.dir.c_str(), e.what());
      }
    }
  }
  std::thread thread_;
};

void write_pid_file(const std::string& path, const child_set& children) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& c : children.children()) out << c.name << " " << c.pid << "\n";
  if (!out) throw command_error("tessera.io_error: cannot write pid file " + path);
}

// Blocks the signals `up` handles synchronously (sigtimedwait); threads started later inherit
// the mask, children reset it before exec.
sigset_t block_signals() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&s, sig);
  ::pthread_sigmask(SIG_BLOCK, &s, nullptr);
  return s;
}

// Supervision once the cluster is ready: a node that exits (it was not asked to) is started
// again after its restart_backoff delay, logged on stderr, and the pid file is rewritten.
// Returns on SIGINT/SIGTERM/SIGHUP.
void foreground(child_set& children, const sigset_t& sigs, bool restart,
                const std::string& pid_file) {
  using std::chrono::milliseconds;
  std::map<std::string, restart_backoff> backoff;
  std::map<std::string, steady::time_point> due;  // nodes waiting to be restarted
  for (;;) {
    auto wait = milliseconds(1000);
    for (const auto& [name, at] : due)
      wait = std::min(wait, std::max(milliseconds(0),
                                     std::chrono::duration_cast<milliseconds>(at - steady::now())));
    int sig = wait_signal(sigs, wait);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) return;
    for (const auto& c : children.reap()) {
      auto ran = std::chrono::duration_cast<milliseconds>(steady::now() - c.started);
      if (!restart) {
        std::fprintf(stderr, "tessera: node %s exited (%s)\n", c.name.c_str(),
                     describe_exit(c.status).c_str());
        continue;
      }
      auto delay = backoff[c.name].next(ran);
      due[c.name] = steady::now() + delay;
      std::fprintf(stderr, "tessera: node %s exited (%s) after %.1f s; restarting in %.1f s\n",
                   c.name.c_str(), describe_exit(c.status).c_str(), ran.count() / 1000.0,
                   delay.count() / 1000.0);
    }
    for (auto it = due.begin(); it != due.end();) {
      if (it->second > steady::now()) {
        ++it;
        continue;
      }
      try {
        children.respawn(it->first);
        std::fprintf(stderr, "tessera: node %s restarted (restart %llu)\n", it->first.c_str(),
                     static_cast<unsigned long long>(backoff[it->first].restarts()));
        if (!pid_file.empty()) write_pid_file(pid_file, children);
        it = due.erase(it);
      } catch (const std::exception& e) {
        auto delay = backoff[it->first].next(milliseconds(0));
        std::fprintf(stderr, "tessera: restarting node %s failed: %s; again in %.1f s\n",
                     it->first.c_str(), e.what(), delay.count() / 1000.0);
        it->second = steady::now() + delay;
        ++it;
      }
    }
  }
}

}  // namespace

std::string node_binary() {
  if (const char* env = std::getenv("TESSERA_NODE_BIN"); env != nullptr && *env != '\0') return env;
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "tessera-node";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + "tessera-node";
}

int run_up(const up_options& opts) {
  config_file cfg_file;
  if (opts.config_path.empty())
    write_embedded_config(cfg_file);
  else
    cfg_file.path = opts.config_path;
  auto cfg = load_config_file(cfg_file.path);
  if (!cfg) throw command_error(describe(cfg.error()));
  const node_config* coord = cfg->coordinator();
  if (coord == nullptr || coord->gateway_port == 0)
    throw command_error("tessera.invalid_argument: the config has no coordinator gateway");
  client_options client;
  client.address = coord->host + ":" + std::to_string(coord->gateway_port);
  client.token = admin_token(*cfg, opts.token);
  client.timeout_s = 2.0;
  std::string bin = node_binary();
  if (::access(bin.c_str(), X_OK) != 0)
    throw command_error("tessera.io_error: node binary " + bin +
                        " is not executable (set TESSERA_NODE_BIN)");
  if (!opts.log_dir.empty()) make_dirs(opts.log_dir);
  prepare_tls(*cfg);
  client.tls = up_client_tls(*cfg);

  sigset_t sigs = block_signals();
  child_set children;
  for (const auto& node : cfg->nodes) {
    std::string log = opts.log_dir.empty() ? "" : opts.log_dir + "/" + node.name + ".log";
    children.spawn(node.name, {bin, "--config", cfg_file.path, "--name", node.name}, log);
  }
  if (!opts.pid_file.empty()) write_pid_file(opts.pid_file, children);

  switch (wait_until_ready(client, children, sigs, opts.ready_timeout_s)) {
    case wait_outcome::interrupted:
      children.stop_all();
      return 0;
    case wait_outcome::all_dead:
      std::fprintf(stderr, "tessera: every node exited before the cluster was ready\n");
      return 1;
    case wait_outcome::timed_out:
      std::fprintf(stderr, "tessera: cluster not ready within %g s; stopping nodes\n",
                   opts.ready_timeout_s);
      children.stop_all();
      return 1;
    case wait_outcome::ready:
      break;
  }
  std::printf("tessera: ready, gateway at %s%s\n", client.address.c_str(),
              client.tls.enabled() ? " (TLS)" : "");
  std::fflush(stdout);

  client_options load_client = client;
  load_client.timeout_s = 3600;
  // The config's default_model is loaded when no --load is given.
  auto to_load = opts.loads;
  if (to_load.empty() && !cfg->default_model.empty())
    to_load.push_back(package_load{cfg->default_model, ""});
  std::unique_ptr<loader> loads;
  if (!to_load.empty()) loads = std::make_unique<loader>(load_client, to_load);
  foreground(children, sigs, opts.restart, opts.pid_file);
  children.stop_all();
  loads.reset();  // its connection is gone now, so it finishes promptly
  return 0;
}

}  // namespace tessera::cli
