#pragma once
// Coalescing of concurrent calls on one key (a model version's epoch). At most
// `max_parallel` batches of a key run at once; calls that arrive meanwhile wait, oldest
// first, and go out together as one batch of at most `max_batch_inputs` inputs and
// `max_batch_bytes` bytes (a single call may be larger) when a running batch finishes. At low
// load a call runs at once; under load
// the per-batch cost is shared. Calls whose deadline passes while they wait are handed back
// as expired, never run: at the next drain, or by expire() from the owner's timer.
//
// Pure logic: the caller runs the batches it is given and reports each one finished.
// `Call` is movable and has `size_t inputs() const`, `uint64_t bytes() const` (what its
// inputs hold while it runs: ids, weights, gathered rows) and
// `std::chrono::steady_clock::time_point deadline() const`.
// Thread: not thread-safe; one owner (the coordinator actor).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "base/check.hpp"

namespace tessera {

template <class Call>
class coalescer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct options {
    size_t max_parallel = 2;         // batches of one key running at once
    size_t max_batch_inputs = 4096;  // inputs of one coalesced batch (a lone call may exceed)
    uint64_t max_batch_bytes = uint64_t{64} << 20;  // bytes() of one batch (likewise)
  };

  // What the caller must do now: run each batch (each already counts as running for its key),
  // and answer each expired call deadline_exceeded.
  struct step {
    std::vector<std::vector<Call>> start;
    std::vector<Call> expired;
  };

  explicit coalescer(options opts = {}) : opts_(opts) {}

  // Queues `call` for `key` and returns what can start now.
  step submit(uint64_t key, Call call, time_point now) {
    queues_[key].waiting.push_back(std::move(call));
    return drain(key, now);
  }

  // One batch of `key` that submit or finished handed out has finished.
  step finished(uint64_t key, time_point now) {
    auto it = queues_.find(key);
    TESSERA_CHECK(it != queues_.end() && it->second.running > 0,
                  "coalescer: finished() without a running batch");
    --it->second.running;
    return drain(key, now);
  }

  // Hands back the waiting calls of `key` whose deadline passed by `now`, without waiting for a
  // running batch to finish (the owner calls it from a timer set at a queued call's deadline).
  step expire(uint64_t key, time_point now) {
    step out;
    auto it = queues_.find(key);
    if (it == queues_.end()) return out;
    auto& waiting = it->second.waiting;
    for (auto c = waiting.begin(); c != waiting.end();) {
      if (c->deadline() <= now) {
        out.expired.push_back(std::move(*c));
        c = waiting.erase(c);
      } else {
        ++c;
      }
    }
    if (it->second.running == 0 && waiting.empty()) queues_.erase(it);
    return out;
  }

  // Every slot of `key` is running: a call submitted now has to wait.
  bool saturated(uint64_t key) const { return running(key) >= opts_.max_parallel; }

  size_t waiting(uint64_t key) const {
    auto it = queues_.find(key);
    return it == queues_.end() ? 0 : it->second.waiting.size();
  }
  // Calls waiting over every key.
  size_t waiting() const {
    size_t n = 0;
    for (const auto& [key, q] : queues_) n += q.waiting.size();
    return n;
  }
  size_t running(uint64_t key) const {
    auto it = queues_.find(key);
    return it == queues_.end() ? 0 : it->second.running;
  }
  // Keys with waiting or running calls (an idle key is forgotten).
  size_t keys() const { return queues_.size(); }

 private:
  struct queue {
    std::deque<Call> waiting;  // oldest first
    size_t running = 0;        // batches handed out and not finished
  };

  step drain(uint64_t key, time_point now) {
    step out;
    auto it = queues_.find(key);
    auto& q = it->second;
    while (q.running < opts_.max_parallel && !q.waiting.empty()) {
      std::vector<Call> batch;
      size_t inputs = 0;
      uint64_t bytes = 0;
      while (!q.waiting.empty()) {
        auto& next = q.waiting.front();
        if (next.deadline() <= now) {
          out.expired.push_back(std::move(next));
          q.waiting.pop_front();
          continue;
        }
        if (!batch.empty() && (inputs + next.inputs() > opts_.max_batch_inputs ||
                               bytes + next.bytes() > opts_.max_batch_bytes))
          break;
        inputs += next.inputs();
        bytes += next.bytes();
        batch.push_back(std::move(next));
        q.waiting.pop_front();
      }
      if (batch.empty()) continue;
      ++q.running;
      out.start.push_back(std::move(batch));
    }
    if (q.running == 0 && q.waiting.empty()) queues_.erase(it);
    return out;
  }

  options opts_;
  std::map<uint64_t, queue> queues_;
};

}  // namespace tessera
