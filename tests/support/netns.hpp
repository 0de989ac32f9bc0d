#pragma once
// Integration-test support: a small network of Linux network namespaces standing in for
// separate hosts, so a cluster can run over real (virtual) links that a test can cut.
//
// Topology: a "switch" namespace holding a bridge; `hosts` host namespaces, each joined to the
// bridge by a veth pair; and one veth from the root namespace into the bridge, so processes in
// the root namespace (the test itself, a coordinator) reach every host. Subnet 10.77.<k>.0/24
// with k derived from the pid (skipping subnets the root namespace already uses): the root side
// is 10.77.<k>.1, host h (2 .. hosts + 1) is 10.77.<k>.<h>. Every namespace and link name
// carries the test's pid, so parallel runs never collide. Needs root and `ip netns`.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tessera::test {

// Why network namespaces cannot be used here, or "" when they can (root, `ip` found, and a
// probe namespace could be created and deleted).
std::string netns_unavailable();

// The namespaces, links and processes of one test. The destructor (also after a failed test or
// an exception in the constructor) stops every process started with spawn(), by pid (SIGTERM,
// then SIGKILL), then deletes every link and namespace it created.
class netns_lab {
 public:
  explicit netns_lab(size_t hosts);
  ~netns_lab();
  netns_lab(const netns_lab&) = delete;
  netns_lab& operator=(const netns_lab&) = delete;

  size_t hosts() const { return ns_.size(); }
  std::string root_address() const { return prefix_ + "1"; }
  // Host h in 2 .. hosts() + 1.
  std::string address(size_t h) const { return prefix_ + std::to_string(h); }
  const std::string& ns(size_t h) const { return ns_.at(h - 2); }
  // The switch-side end of host h's cable.
  std::string switch_port(size_t h) const;

  // Plugs host h's cable into the switch or pulls it out (its switch-side veth up or down).
  void set_link(size_t h, bool up);

  // Starts argv inside host h's namespace (`ip netns exec`; h = 1: the root namespace), stdout
  // to out_path and stderr to out_path + ".err". Returns the pid of the program itself.
  pid_t spawn(size_t h, const std::vector<std::string>& argv, const std::string& out_path);

  // Stops a process spawn() started, by pid: SIGTERM, up to `grace` to exit, then SIGKILL;
  // reaps it and forgets it (the destructor no longer stops it).
  void stop(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(10));

  // A TCP port free right now on root_address().
  uint16_t free_root_port() const;

  // `ip` with these arguments; throws std::runtime_error with its stderr when it fails.
  static void ip(const std::vector<std::string>& args);

 private:
  void cleanup() noexcept;

  std::string tag_;     // "tessera-itest-<pid>"
  std::string prefix_;  // "10.77.<k>."
  std::string switch_ns_;
  std::string root_link_;
  std::vector<std::string> ns_;  // host namespaces, host 2 first
  std::vector<std::string> created_ns_;
  std::vector<std::string> created_links_;  // root-namespace links
  std::vector<pid_t> pids_;
};

}  // namespace tessera::test
