#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

namespace tessera::test {

char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

namespace {

// A "Key:   N kB" line of /proc/PID/status, in KiB; 0 when the process is gone.
uint64_t proc_status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(key.size()));
  return 0;
}

}  // namespace

uint64_t vm_rss_kib(pid_t pid) {
  return proc_status_kib(pid, "VmRSS:");
}

uint64_t vm_hwm_kib(pid_t pid) {
  return proc_status_kib(pid, "VmHWM:");
}

rss_sampler::rss_sampler(pid_t pid) : pid_(pid), peak_(vm_rss_kib(pid)) {
  thread_ = std::thread([this] {
    while (!stop_) {
      peak_ = std::max<uint64_t>(peak_, vm_rss_kib(pid_));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a sampling period
    }
  });
}

rss_sampler::~rss_sampler() {
  stop_ = true;
  thread_.join();
}

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0 && proc_state(pid) != 'Z' && proc_state(pid) != '?';
}

int listen_loopback(uint16_t* port, int backlog) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

stopped_process::stopped_process(pid_t pid, std::chrono::seconds limit) : pid_(pid) {
  REQUIRE(::kill(pid_, SIGSTOP) == 0);
  auto until = std::chrono::steady_clock::now() + limit;
  while (proc_state(pid_) != 'T' && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the kernel's view
  REQUIRE(proc_state(pid_) == 'T');
}

stopped_process::~stopped_process() {
  resume();
}

void stopped_process::resume() {
  if (stopped_) ::kill(pid_, SIGCONT);
  stopped_ = false;
}

synthetic_spec small_model(uint64_t seed, uint64_t classifier_seed) {
  synthetic_spec s;
  s.vocab = 2000;
  s.buckets = 50000;
  s.seed = seed;
  s.classifier_seed = classifier_seed;
  return s;
}

synthetic_spec split_table_model(uint64_t seed) {
  auto s = small_model(seed);
  s.buckets = 100000;
  return s;
}

scoped_env::scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* was = std::getenv(name_.c_str())) before_ = was;
  ::setenv(name_.c_str(), value.c_str(), 1);
}

scoped_env::~scoped_env() {
  if (before_)
    ::setenv(name_.c_str(), before_->c_str(), 1);
  else
    ::unsetenv(name_.c_str());
}

}  // namespace tessera::test
