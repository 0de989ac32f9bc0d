#pragma once
// Integration-test support for faults on real processes: a process's scheduler state, and a
// SIGSTOP that holds for a scope.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "importers/synthetic_model.hpp"

namespace tessera::test {

// The state letter of /proc/PID/stat ('T' once stopped, 'S'/'R' running, '?' when gone).
char proc_state(pid_t pid);

// SIGSTOPs `pid` and waits (up to `limit`) until the kernel reports it stopped: kill() returns
// before every thread has stopped. SIGCONT when the scope ends, on every path. REQUIREs both.
class stopped_process {
 public:
  explicit stopped_process(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(30));
  ~stopped_process();
  stopped_process(const stopped_process&) = delete;
  stopped_process& operator=(const stopped_process&) = delete;
  // Resumes it now (idempotent).
  void resume();

 private:
  pid_t pid_;
  bool stopped_ = true;
};

// Resident memory of `pid` in KiB (VmRSS of /proc/PID/status); 0 when it is gone.
uint64_t vm_rss_kib(pid_t pid);
// Peak resident memory of `pid` since it started, in KiB (VmHWM); 0 when it is gone.
uint64_t vm_hwm_kib(pid_t pid);

// Samples a process's RSS every 20 ms on a thread of its own while it lives; peak() is the
// largest seen, in KiB. For a peak inside a window (VmHWM counts since the process started).
class rss_sampler {
 public:
  explicit rss_sampler(pid_t pid);
  ~rss_sampler();
  rss_sampler(const rss_sampler&) = delete;
  rss_sampler& operator=(const rss_sampler&) = delete;
  uint64_t peak() const { return peak_; }

 private:
  pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_;
  std::thread thread_;
};

// Whether this build has AddressSanitizer (scripts/sanitize.sh builds the tests and the nodes
// alike). Its shadow memory adds an eighth of every allocation to a process's RSS.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool built_with_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool built_with_asan = true;
#else
constexpr bool built_with_asan = false;
#endif
#else
constexpr bool built_with_asan = false;
#endif

// Alive and not a zombie.
bool alive(pid_t pid);

// A TCP socket listening on 127.0.0.1 at a free port (backlog `backlog`); sets *port. REQUIREs.
int listen_loopback(uint16_t* port, int backlog = 1);

// A small synthetic model (2,000 words, 50,000 buckets: every tensor stays whole, on R nodes)
// drawn from `seed`; `classifier_seed` 0 = from `seed` too.
synthetic_spec small_model(uint64_t seed, uint64_t classifier_seed = 0);

// Sets an environment variable for the scope (the nodes `up` starts inherit it); puts back
// the value it had, or unsets it.
class scoped_env {
 public:
  scoped_env(std::string name, const std::string& value);
  ~scoped_env();
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> before_;
};

// A synthetic model whose table (102,000 x 64 floats, 26 MB) is above the 16 MiB whole-tensor
// limit, so placement splits it over all the shard nodes; drawn from `seed`.
synthetic_spec split_table_model(uint64_t seed);

}  // namespace tessera::test
