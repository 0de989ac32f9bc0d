#pragma once
// Failed logins at the gateway: how long to hold back the answer to a connection's next wrong
// token, and when to write the one summary line that replaces a log line per failure.
//
// Thread: not thread-safe; the gateway's kj thread owns it. Times are passed in.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tessera {

class login_guard {
 public:
  using clock = std::chrono::steady_clock;
  explicit login_guard(std::chrono::milliseconds interval = std::chrono::seconds{10})
      : interval_(interval) {}

  // How long to delay the answer to a connection's `failures`-th failed login (1-based):
  // 0 for the first, then 100 ms doubling per failure, at most 5 s. A client that guesses on
  // one connection gets at most one guess per 5 s.
  static std::chrono::milliseconds delay_for(uint32_t failures);

  // Counts one failed login. Returns the summary line to log when an interval has passed
  // since the last summary (the first failure of a quiet period is logged at once), counting
  // every failure since: "N failed logins in the last S s".
  std::optional<std::string> on_failure(clock::time_point now);

  uint64_t failures() const { return total_; }

 private:
  std::chrono::milliseconds interval_;
  clock::time_point last_summary_{};
  bool summarized_ = false;
  uint64_t pending_ = 0;  // failures since the last summary
  uint64_t total_ = 0;
};

}  // namespace tessera
