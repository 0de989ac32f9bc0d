#pragma once
// Low-priority work paced while high-priority calls run (issue 17, part 5). Shedding bounds
// how many low-priority inputs are admitted, but on a small host even one admitted call of
// 1,024 long texts takes every core, and high-priority calls queued behind its slices waited
// 40-50 times their own latency. So the gateway sends a low-priority call in small slices and,
// while any high-priority call runs, lets at most one low-priority slice start per `gap`: a
// high-priority call waits at most for the slices already started, and low-priority work is
// slowed, never stopped (one slice per gap goes on).
//
// Plain state, no clock of its own (callers pass now); the gateway's thread only.
#include <chrono>
#include <cstddef>

namespace tessera {

class priority_pacer {
 public:
  using clock = std::chrono::steady_clock;

  // `gap` zero: no pacing (low_slot always answers now).
  explicit priority_pacer(std::chrono::milliseconds gap = std::chrono::milliseconds{0});

  // A high-priority call started / ended (every start is ended exactly once).
  void high_started();
  void high_finished();
  size_t high_running() const { return high_; }
  // Slots given later than asked: low-priority slices that waited.
  uint64_t waits() const { return waits_; }

  // When the next low-priority slice may start, asked at `now`, and taken: `now` while no
  // high-priority call runs, else the first free slot at least `gap` after the last one given.
  clock::time_point low_slot(clock::time_point now);

 private:
  std::chrono::milliseconds gap_;
  size_t high_ = 0;
  clock::time_point next_{};  // the earliest slot not yet given while high-priority calls run
  uint64_t waits_ = 0;
};

}  // namespace tessera
