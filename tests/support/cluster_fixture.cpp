#include "tests/support/cluster_fixture.hpp"

#include "node/token_hash.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "node/bridge.hpp"

namespace tessera::test {
namespace {

// The first port the kernel hands out for outgoing connections (ip_local_port_range's low end;
// 32768 when it cannot be read).
uint16_t ephemeral_low() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  if (!(f >> low) || low < 2048 || low > 65535) low = 32768;
  return static_cast<uint16_t>(low);
}

// `n` distinct loopback ports that bind right now (held together while chosen, then released),
// drawn at random from [1024 + (low - 1024) / 2, low) below the ephemeral range, so an outgoing
// connection of another test's process can never take one before this cluster binds it (ports
// from bind(0) are ephemeral ones; a shard of a parallel test failed to publish on such a port).
std::vector<uint16_t> free_ports(size_t n) {
  const unsigned low = ephemeral_low();
  const unsigned first = 1024 + (low - 1024) / 2, span = low - first;
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  unsigned seed =
      static_cast<unsigned>(::getpid()) * 2654435761u ^
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int tries = 0; ports.size() < n && tries < 10000; ++tries) {
    seed = seed * 1103515245u + 12345u;
    auto port = static_cast<uint16_t>(first + (seed >> 8) % span);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      continue;
    }
    ports.push_back(port);
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  if (ports.size() < n)
    throw std::runtime_error("free_ports: found no free ports below " + std::to_string(low));
  return ports;
}

// Whether `pid` exists and is not a zombie.
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

void stop_pid(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (r < 0 && ::kill(pid, 0) == 0) {  // not our child but alive: poll until gone
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// The [gateway] table of a test cluster (empty: plaintext on loopback, the default).
std::string gateway_section(const cluster_options& opts, const std::string& tls_dir) {
  std::ostringstream t;
  if (opts.handshake_timeout_ms > 0 || opts.gateway_tls) t << "[gateway]\n";
  if (opts.gateway_tls)
    t << "cert = \"" << tls_dir << "/gateway.pem\"\nkey = \"" << tls_dir << "/gateway.key\"\n";
  if (opts.gateway_tls && opts.gateway_client_ca)
    t << "client_ca = \"" << tls_dir << "/client-ca.pem\"\n";
  if (opts.handshake_timeout_ms > 0)
    t << "handshake_timeout_ms = " << opts.handshake_timeout_ms << "\n";
  return t.str();
}

}  // namespace

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/tessera-itest-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string bin_path(const std::string& name) {
  const char* dir = std::getenv("TESSERA_BIN_DIR");
  return std::string{dir ? dir : "build/bin"} + "/" + name;
}

std::string source_path(const std::string& relative) {
  const char* src = std::getenv("TESSERA_SOURCE_DIR");
  std::filesystem::path root =
      src != nullptr && *src != '\0'
          ? std::filesystem::path(src)
          : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  return (root / relative).string();
}

pid_t spawn_to_file(const std::vector<std::string>& argv, const std::string& out_path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open((out_path + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_capture(const std::vector<std::string>& argv, std::string* out, std::string* err) {
  temp_dir d;
  auto out_path = d / "out";
  int code = wait_child(spawn_to_file(argv, out_path));
  if (out) *out = read_text(out_path);
  if (err) *err = read_text(out_path + ".err");
  return code;
}

local_cluster::local_cluster(const cluster_options& opts) : supervise_(opts.supervise) {
  auto ports = free_ports(2 + 2 * opts.shard_nodes + (opts.http ? 1 + opts.shard_nodes : 0));
  if (opts.http) {
    http_ports_["coord"] = ports[2 + 2 * opts.shard_nodes];
    for (size_t i = 0; i < opts.shard_nodes; ++i)
      http_ports_["shard-" + std::to_string(i + 1)] = ports[3 + 2 * opts.shard_nodes + i];
  }
  auto http_line = [&](const std::string& node) {
    return opts.http ? "http_port = " + std::to_string(http_ports_[node]) + "\n" : std::string{};
  };
  tls_dir_ = opts.tls_dir.empty() ? dir_ / "tls" : opts.tls_dir;
  std::ostringstream toml;
  // Each cluster keeps its coordinator state in its own temp dir (never the cwd's data/state).
  toml << "name = \"itest\"\nlog_level = \"info\"\nstate_dir = \""
       << (!opts.persist_state      ? std::string{}
           : opts.state_dir.empty() ? dir_ / "state"
                                    : opts.state_dir)
       << "\"\n"
       << opts.top_toml << "\n[limits]\nmax_inputs = " << opts.max_inputs
       << "\nrequest_timeout_ms = " << opts.request_timeout_ms
       << "\nmax_inflight = " << opts.max_inflight << "\nmax_text_bytes = " << opts.max_text_bytes
       << "\nmax_ids_per_input = " << opts.max_ids_per_input << "\n"
       << opts.limits_toml << "[tls]\ndir = \"" << tls_dir_
       << "\"\ninsecure = " << (opts.tls_insecure ? "true" : "false") << "\n"
       << gateway_section(opts, tls_dir_)
       << "[[nodes]]\nname = \"coord\"\nhost = \"127.0.0.1\"\nport = " << ports[0]
       << "\nroles = [\"coordinator\"]\ngateway_port = " << ports[1] << "\n"
       << http_line("coord")
       << (opts.coordinator_budget.empty()
               ? std::string{}
               : "memory_budget = \"" + opts.coordinator_budget + "\"\n");
  for (size_t i = 0; i < opts.shard_nodes; ++i)
    node_ports_["shard-" + std::to_string(i + 1)] = ports[2 + 2 * i];
  for (size_t i = 0; i < opts.shard_nodes; ++i)
    toml << "[[nodes]]\nname = \"shard-" << i + 1
         << "\"\nhost = \"127.0.0.1\"\nport = " << ports[2 + 2 * i]
         << "\nroles = [\"shard\"]\nmemory_budget = \"" << opts.memory_budget << "\"\n"
         << http_line("shard-" + std::to_string(i + 1)) << opts.shard_toml
         << (opts.stores_dir.empty()
                 ? std::string{}
                 : "data_dir = \"" + opts.stores_dir + "/shard-" + std::to_string(i + 1) + "\"\n");
  toml << "[[tokens]]\nhash = \"" << to_string(hash_token(admin_token_))
       << "\"\nname = \"itest-admin\"\nadmin = true\nmodels = [\"*\"]\n"
       << "[[tokens]]\nhash = \"" << to_string(hash_token(user_token_))
       << "\"\nname = \"itest-user\"\nadmin = false\nmodels = [\"*\"]\n"
       << opts.extra_toml;
  config_path_ = dir_ / "cluster.toml";
  std::ofstream(config_path_) << toml.str();
  gateway_ = "127.0.0.1:" + std::to_string(ports[1]);
  if (opts.gateway_tls) client_tls_.ca = tls_dir_ + "/ca.pem";
  if (opts.gateway_tls && opts.gateway_client_ca) {
    client_tls_.cert = tls_dir_ + "/client.pem";
    client_tls_.key = tls_dir_ + "/client.key";
  }

  int pipefd[2];
  if (::pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  auto pid_file = dir_ / "pids";
  auto log_dir = dir_.path();
  up_pid_ = ::fork();
  if (up_pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test takes its cluster down with it
    ::dup2(pipefd[1], 1);
    ::close(pipefd[0]);
    auto err = ::open((dir_ / "up.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    auto bin = bin_path("tessera");
    std::vector<std::string> args = {bin,         "--token",    admin_token_,      "up",
                                     "--config",  config_path_, "--pid-file",      pid_file,
                                     "--log-dir", log_dir,      "--ready-timeout", "60"};
    if (!opts.supervise) args.push_back("--no-restart");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string line;
  char c;
  pollfd p{pipefd[0], POLLIN, 0};
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
    if (::poll(&p, 1, 200) > 0) {
      if (::read(pipefd[0], &c, 1) != 1) break;
      line += c;
    }
  }
  ::close(pipefd[0]);
  if (line.find("ready") == std::string::npos) {
    stop_pid(up_pid_, std::chrono::seconds(5));
    std::string logs;  // each node's last lines say why it exited or never became ready
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))
      if (entry.path().extension() == ".log" && entry.path().filename() != "up.log") {
        auto text = read_text(entry.path());
        logs += "\n--- " + entry.path().filename().string() + " (tail):\n" +
                text.substr(text.size() > 1500 ? text.size() - 1500 : 0);
      }
    throw std::runtime_error("cluster did not become ready: '" + line +
                             "'; up.log: " + read_text(dir_ / "up.log") + logs);
  }
  std::istringstream pids(read_text(pid_file));
  std::string name;
  pid_t pid;
  while (pids >> name >> pid) node_pids_[name] = pid;
}

local_cluster::~local_cluster() {
  // Nodes `up` restarted are in its pid file, not in node_pids_: stop those too.
  std::vector<pid_t> current;
  if (supervise_) {
    std::istringstream pids(read_text(dir_ / "pids"));
    std::string n;
    pid_t pid;
    while (pids >> n >> pid) current.push_back(pid);
  }
  stop_pid(up_pid_, std::chrono::seconds(10));
  for (auto pid : current)
    if (::kill(pid, 0) == 0) stop_pid(pid, std::chrono::seconds(5));
  // up stops its children; make sure by pid in case it could not, and stop the nodes that
  // restart_node started (children of this process, so stop_pid also reaps them).
  for (const auto& [name, pid] : node_pids_)
    if (::kill(pid, 0) == 0) stop_pid(pid, std::chrono::seconds(5));
}

pid_t local_cluster::restart_node(const std::string& name) {
  auto old = node_pid(name);
  if (old > 0 && running(old))
    throw std::runtime_error("restart_node: " + name + " (pid " + std::to_string(old) +
                             ") is still running");
  auto pid = spawn_to_file({bin_path("tessera-node"), "--config", config_path_, "--name", name},
                           dir_ / (name + ".restarted.log"));
  if (pid <= 0) throw std::runtime_error("restart_node: fork failed");
  node_pids_[name] = pid;
  return pid;
}

pid_t local_cluster::node_pid(const std::string& name) const {
  if (supervise_) {  // `up` may have restarted it: its pid file is current
    std::istringstream pids(read_text(dir_ / "pids"));
    std::string n;
    pid_t pid;
    while (pids >> n >> pid)
      if (n == name) return pid;
  }
  auto it = node_pids_.find(name);
  return it == node_pids_.end() ? -1 : it->second;
}

uint16_t local_cluster::node_port(const std::string& name) const {
  auto it = node_ports_.find(name);
  return it == node_ports_.end() ? 0 : it->second;
}

uint16_t local_cluster::http_port(const std::string& name) const {
  auto it = http_ports_.find(name);
  return it == http_ports_.end() ? 0 : it->second;
}

std::string local_cluster::node_log(const std::string& name) const {
  return read_text(dir_ / (name + ".log"));
}

int local_cluster::cli(const std::vector<std::string>& args, std::string* out,
                       std::string* err) const {
  std::vector<std::string> argv{bin_path("tessera"), "--connect", gateway_, "--token",
                                admin_token_};
  for (const auto& [flag, file] :
       {std::pair{"--tls-ca", client_tls_.ca}, std::pair{"--tls-cert", client_tls_.cert},
        std::pair{"--tls-key", client_tls_.key}})
    if (!file.empty()) argv.insert(argv.end(), {flag, file});
  argv.insert(argv.end(), args.begin(), args.end());
  return run_capture(argv, out, err);
}

namespace {
cli::tls_client_options plaintext_allowed(cli::tls_client_options tls) {
  tls.insecure = true;
  return tls;
}
}  // namespace

client::client(const std::string& address, const std::string& token,
               const cli::tls_client_options& tls)
    // Tests speak plaintext to their own gateways, also on a lab's non-loopback address.
    : link_(address, plaintext_allowed(tls)), session_(nullptr) {
  auto req = link_.bootstrap().authenticateRequest();
  req.setToken(token);
  session_ = req.send().getSession();
}

Admin::Client client::admin() {
  return session_.adminRequest().send().getAdmin();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << "\n";
}

int connect_loopback(uint16_t port, int rcvbuf) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

uint16_t port_of(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

int connect_from(const std::string& source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, source.c_str(), &a.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind " + source);
  }
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string error_code(const kj::Exception& e) {
  return to_string(code_of_description(e.getDescription().cStr()));
}

}  // namespace tessera::test
