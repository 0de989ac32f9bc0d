#pragma once
// The coordinator's memory budget: the `memory_budget` of a coordinator-only node bounds the
// process's resident memory. While RSS is over it, the gateway refuses new predict and embed
// calls with `overloaded` (retry_after_ms=200) instead of taking on more work; calls already
// admitted finish, and admin calls (status, unload) are always served so an operator can act.
//
// Thread: the gateway's kj thread. RSS is read from /proc at most once per 20 ms.
#include <chrono>
#include <cstdint>
#include <functional>

#include "base/errors.hpp"

namespace tessera {

class memory_gate {
 public:
  using clock = std::chrono::steady_clock;
  // budget 0 = no bound. `rss` returns the process's resident bytes (current_rss_bytes).
  memory_gate(uint64_t budget, std::function<uint64_t()> rss);

  // ok (a default error) while RSS is within the budget; else overloaded naming both.
  caf::error check(clock::time_point now = clock::now());

  uint64_t budget() const { return budget_; }
  uint64_t refused() const { return refused_; }

 private:
  uint64_t budget_;
  std::function<uint64_t()> rss_;
  uint64_t last_rss_ = 0;
  clock::time_point last_read_{};
  bool read_once_ = false;
  uint64_t refused_ = 0;
};

}  // namespace tessera
