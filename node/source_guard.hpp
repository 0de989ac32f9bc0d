#pragma once
// What the gateway allows per client source address before login: pre-login connections (at
// most `max_prelogin` in all and `max_per_source` from one address) and failed logins (an
// address with `max_failures` failures within `window` has every authenticate refused, without
// hashing, until the window has passed). Both are real limits, not delays: refusals are
// counted, for /metrics.
//
// Memory: an address has an entry while it has pre-login connections or failures in the
// current window; expired entries are pruned as the map grows.
//
// Thread: not thread-safe; the gateway's kj thread owns it. Times are passed in.
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace tessera {

class source_guard {
 public:
  using clock = std::chrono::steady_clock;
  source_guard(uint32_t max_prelogin, uint32_t max_per_source, uint32_t max_failures,
               std::chrono::milliseconds window = std::chrono::seconds{60})
      : max_prelogin_(max_prelogin),
        max_per_source_(max_per_source),
        max_failures_(max_failures),
        window_(window) {}

  // Counts a new pre-login connection from `source`; false (counted as a refusal, nothing
  // held) when it is over either bound.
  bool open_prelogin(const std::string& source);
  // The connection logged in or closed: gives its pre-login place back.
  void close_prelogin(const std::string& source, clock::time_point now = clock::now());

  // Whether `source` may try a login now; false counts a refused login.
  bool may_try_login(const std::string& source, clock::time_point now = clock::now());
  void login_failed(const std::string& source, clock::time_point now = clock::now());

  uint64_t prelogin() const { return prelogin_; }
  uint64_t refused_connections() const { return refused_connections_; }
  uint64_t refused_logins() const { return refused_logins_; }
  size_t sources() const { return entries_.size(); }

 private:
  struct entry {
    uint32_t prelogin = 0;
    uint32_t failures = 0;  // in the window starting at window_start
    clock::time_point window_start{};
  };
  bool expired(const entry& e, clock::time_point now) const {
    return now - e.window_start >= window_;
  }
  void prune(clock::time_point now);
  uint32_t max_prelogin_, max_per_source_, max_failures_;
  std::chrono::milliseconds window_;
  std::unordered_map<std::string, entry> entries_;
  uint64_t prelogin_ = 0, refused_connections_ = 0, refused_logins_ = 0;
};

}  // namespace tessera
