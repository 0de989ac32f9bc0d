#pragma once
// One shard's part of a fan-out: the attempts of its sub-request (the first send, retries
// after a retryable failure, at most one hedge) and the rule that the first answer wins.
// A losing attempt's answer or failure is ignored; when one attempt wins, the others still in
// flight are closed and handed back so the caller settles their in-flight entries at once,
// and marked abandoned until their own answer or failure arrives (returned()).
//
// Plain class: no actors (actors/serving_fan_out.hpp drives it). Thread: its serving actor's only.
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tessera {

class shard_call {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct attempt {
    std::string node;
    uint64_t sub = 0;        // the router's in-flight id
    bool hedge = false;      // sent by the hedge timer, not as the first send or a retry
    bool open = true;        // still in flight
    bool abandoned = false;  // lost the race and has not answered or failed yet
    time_point sent{};
  };

  struct win {
    attempt winner;
    std::vector<attempt> losers;  // attempts that were still in flight, now closed
  };

  // A new attempt to `node` (which now counts as tried); returns its index.
  size_t start(const std::string& node, bool hedge, time_point sent) {
    tried_.insert(node);
    if (hedge) hedged_ = true;
    attempts_.push_back(attempt{node, 0, hedge, true, false, sent});
    return attempts_.size() - 1;
  }
  attempt& at(size_t i) { return attempts_.at(i); }

  // Attempt `i` answered. The first answer of the call wins: returns it with the attempts it
  // closed; nullopt when the call was already answered or `i` was closed (ignore the reply).
  std::optional<win> answer(size_t i) {
    auto& a = attempts_.at(i);
    if (!a.open) return std::nullopt;
    a.open = false;
    if (answered_) return std::nullopt;
    answered_ = true;
    win w{a, {}};
    for (auto& o : attempts_)
      if (o.open) {
        o.open = false;
        o.abandoned = true;
        w.losers.push_back(o);
      }
    return w;
  }

  // The answer or failure of attempt `i` arrived: true (once) when `i` had lost the race
  // (was a loser of answer()), so the caller can tell the router its node answered at last.
  bool returned(size_t i) {
    auto& a = attempts_.at(i);
    if (!a.abandoned) return false;
    a.abandoned = false;
    return true;
  }

  // Attempt `i` failed. Returns whether the failure matters: false when `i` was closed or the
  // call is already answered.
  bool fail(size_t i) {
    auto& a = attempts_.at(i);
    if (!a.open) return false;
    a.open = false;
    return !answered_;
  }

  size_t open() const {
    size_t n = 0;
    for (const auto& a : attempts_) n += a.open ? 1 : 0;
    return n;
  }
  bool answered() const { return answered_; }
  bool hedged() const { return hedged_; }
  // Nodes asked so far (in flight, failed or answered): never asked again by this call.
  const std::set<std::string>& tried() const { return tried_; }

  uint64_t timer = 0;  // the armed hedge timer's id, 0 = none

 private:
  std::vector<attempt> attempts_;
  std::set<std::string> tried_;
  bool answered_ = false;
  bool hedged_ = false;
};

}  // namespace tessera
