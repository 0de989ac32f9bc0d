#include "tests/support/netns.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/cluster_fixture.hpp"

namespace tessera::test {
namespace {

std::string ip_binary() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

// Runs `ip args`; returns its exit code, stdout in *out and stderr in *err.
int run_ip(const std::vector<std::string>& args, std::string* out = nullptr,
           std::string* err = nullptr) {
  std::vector<std::string> argv{ip_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_capture(argv, out, err);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Names of the namespaces `ip netns list` shows ("name (id: N)" lines).
std::vector<std::string> list_netns() {
  std::string out;
  run_ip({"netns", "list"}, &out);
  std::vector<std::string> names;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto name = line.substr(0, line.find(' '));
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

// SIGTERM, up to `grace` to exit, then SIGKILL; reaps the child.
void stop_pid(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until) {
    pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    if (r == pid) return;
    if (r < 0 && errno == ECHILD && ::kill(pid, 0) != 0) return;  // gone, not our child
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace

std::string netns_unavailable() {
  if (::geteuid() != 0) return "not running as root";
  if (ip_binary().empty()) return "no `ip` binary (iproute2)";
  auto probe = "tessera-itest-" + std::to_string(::getpid()) + "-probe";
  std::string err;
  if (run_ip({"netns", "add", probe}, nullptr, &err) != 0) return "`ip netns add` failed: " + err;
  run_ip({"netns", "del", probe});
  return "";
}

void netns_lab::ip(const std::vector<std::string>& args) {
  std::string err;
  if (int code = run_ip(args, nullptr, &err); code != 0)
    throw std::runtime_error("`ip " + join(args) + "` failed (" + std::to_string(code) +
                             "): " + err);
}

netns_lab::netns_lab(size_t hosts) {
  auto pid = std::to_string(::getpid());
  tag_ = "tessera-itest-" + pid;
  switch_ns_ = tag_ + "-sw";
  root_link_ = "ti" + pid + "r";  // interface names have at most 15 characters
  // Leftovers of an earlier lab of this same process (never another run's).
  for (const auto& n : list_netns())
    if (n.rfind(tag_ + "-", 0) == 0) run_ip({"netns", "del", n});
  run_ip({"link", "del", root_link_});
  // A subnet no root-namespace address or route uses yet.
  std::string addrs, routes;
  run_ip({"-o", "-4", "addr", "show"}, &addrs);
  run_ip({"-4", "route", "show", "table", "all"}, &routes);
  auto k = static_cast<unsigned>(::getpid()) % 250 + 2;
  for (int tries = 0; tries < 250; ++tries, k = k % 250 + 2) {
    auto p = "10.77." + std::to_string(k) + ".";
    if (addrs.find(p) == std::string::npos && routes.find(p) == std::string::npos) break;
  }
  prefix_ = "10.77." + std::to_string(k) + ".";
  try {
    ip({"netns", "add", switch_ns_});
    created_ns_.push_back(switch_ns_);
    ip({"-n", switch_ns_, "link", "set", "lo", "up"});
    ip({"-n", switch_ns_, "link", "add", "br0", "type", "bridge", "stp_state", "0"});
    ip({"-n", switch_ns_, "link", "set", "br0", "up"});
    // The root namespace's cable into the switch.
    ip({"link", "add", root_link_, "type", "veth", "peer", "name", root_link_ + "s", "netns",
        switch_ns_});
    created_links_.push_back(root_link_);
    ip({"addr", "add", root_address() + "/24", "dev", root_link_});
    ip({"link", "set", root_link_, "up"});
    ip({"-n", switch_ns_, "link", "set", root_link_ + "s", "master", "br0", "up"});
    for (size_t h = 2; h < hosts + 2; ++h) {
      auto ns = tag_ + "-" + std::to_string(h);
      auto dev = "ti" + pid + "h" + std::to_string(h);
      ip({"netns", "add", ns});
      created_ns_.push_back(ns);
      ns_.push_back(ns);
      ip({"-n", ns, "link", "set", "lo", "up"});
      ip({"link", "add", dev, "netns", ns, "type", "veth", "peer", "name", switch_port(h), "netns",
          switch_ns_});
      ip({"-n", ns, "addr", "add", address(h) + "/24", "dev", dev});
      ip({"-n", ns, "link", "set", dev, "up"});
      ip({"-n", switch_ns_, "link", "set", switch_port(h), "master", "br0", "up"});
    }
  } catch (...) {
    cleanup();
    throw;
  }
}

netns_lab::~netns_lab() {
  cleanup();
}

std::string netns_lab::switch_port(size_t h) const {
  return "ti" + std::to_string(::getpid()) + "s" + std::to_string(h);
}

void netns_lab::set_link(size_t h, bool up) {
  ip({"-n", switch_ns_, "link", "set", switch_port(h), up ? "up" : "down"});
}

pid_t netns_lab::spawn(size_t h, const std::vector<std::string>& argv,
                       const std::string& out_path) {
  std::vector<std::string> full;
  if (h != 1) full = {ip_binary(), "netns", "exec", ns(h)};  // ip execs the program: same pid
  full.insert(full.end(), argv.begin(), argv.end());
  auto pid = spawn_to_file(full, out_path);
  if (pid > 0) pids_.push_back(pid);
  return pid;
}

void netns_lab::stop(pid_t pid, std::chrono::milliseconds grace) {
  auto it = std::find(pids_.begin(), pids_.end(), pid);
  if (it == pids_.end()) return;
  stop_pid(pid, grace);
  pids_.erase(it);
}

uint16_t netns_lab::free_root_port() const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, root_address().c_str(), &a.sin_addr);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind " + root_address());
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

void netns_lab::cleanup() noexcept {
  try {
    // Processes first: a namespace outlives `ip netns del` while anything runs in it.
    for (auto pid : pids_) ::kill(pid, SIGTERM);
    for (auto pid : pids_) stop_pid(pid, std::chrono::seconds(5));
    pids_.clear();
    for (const auto& l : created_links_) run_ip({"link", "del", l});  // takes its peer along
    created_links_.clear();
    // Deleting a namespace deletes the veth ends inside it, and so their peers.
    for (auto it = created_ns_.rbegin(); it != created_ns_.rend(); ++it)
      run_ip({"netns", "del", *it});
    created_ns_.clear();
  } catch (...) {
  }
}

}  // namespace tessera::test
