#pragma once
// When `tessera up` restarts a node process that exited unexpectedly: after `first`, doubling
// with each further exit that comes within `stable` of the process's start (a crash loop), at
// most `max`; a process that ran for `stable` or longer starts over at `first`.
// A plain class, one per node; not thread-safe.
#include <chrono>
#include <cstdint>

namespace tessera::cli {

class restart_backoff {
 public:
  using ms = std::chrono::milliseconds;
  explicit restart_backoff(ms first = ms{500}, ms max = ms{30000}, ms stable = ms{60000})
      : first_(first), max_(max), stable_(stable) {}

  // The delay before restarting a process that ran for `ran_for` and exited.
  ms next(ms ran_for);

  // Restarts so far.
  uint64_t restarts() const { return restarts_; }

 private:
  ms first_, max_, stable_;
  ms last_{0};
  uint64_t restarts_ = 0;
};

}  // namespace tessera::cli
