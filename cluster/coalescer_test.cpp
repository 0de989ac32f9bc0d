// The coalescer, table-style where it fits: which calls start, wait, batch together or expire.
#include "cluster/coalescer.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace tessera;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

struct fake_call {
  int id = 0;
  size_t n = 1;
  clock_type::time_point due;
  uint64_t held = 0;
  size_t inputs() const { return n; }
  uint64_t bytes() const { return held; }
  clock_type::time_point deadline() const { return due; }
};

const auto t0 = clock_type::time_point{} + std::chrono::hours(1);

fake_call call(int id, size_t n = 1, milliseconds due = milliseconds(1000)) {
  return {id, n, t0 + due};
}

std::vector<int> ids(const std::vector<fake_call>& calls) {
  std::vector<int> out;
  for (const auto& c : calls) out.push_back(c.id);
  return out;
}

}  // namespace

TEST_CASE("at low load a call starts at once, alone") {
  coalescer<fake_call> co;
  auto s = co.submit(7, call(1), t0);
  REQUIRE(s.start.size() == 1);
  CHECK(ids(s.start[0]) == std::vector<int>{1});
  CHECK(s.expired.empty());
  CHECK(co.running(7) == 1);
}

TEST_CASE("calls beyond max_parallel wait, then start together as one batch") {
  coalescer<fake_call> co{{2, 4096}};
  CHECK(co.submit(7, call(1), t0).start.size() == 1);
  CHECK(co.submit(7, call(2), t0).start.size() == 1);
  CHECK(co.submit(7, call(3), t0).start.empty());
  CHECK(co.submit(7, call(4), t0).start.empty());
  CHECK(co.submit(7, call(5), t0).start.empty());
  CHECK(co.waiting(7) == 3);
  auto s = co.finished(7, t0);
  REQUIRE(s.start.size() == 1);
  CHECK(ids(s.start[0]) == std::vector<int>{3, 4, 5});  // oldest first, one batch
  CHECK(co.running(7) == 2);
  CHECK(co.waiting(7) == 0);
}

TEST_CASE("keys coalesce independently: another version's calls never join the batch") {
  coalescer<fake_call> co{{1, 4096}};
  CHECK(co.submit(1, call(1), t0).start.size() == 1);
  CHECK(co.submit(2, call(2), t0).start.size() == 1);  // key 2 has its own slot
  CHECK(co.submit(1, call(3), t0).start.empty());
  CHECK(co.submit(2, call(4), t0).start.empty());
  CHECK(co.keys() == 2);
  CHECK(co.waiting() == 2);               // the queue depth over every key
  co.expire(2, t0 + milliseconds(2000));  // call 4 is handed back: no longer waiting
  auto s = co.finished(2, t0);
  CHECK(s.start.empty());
  CHECK(co.keys() == 1);  // key 2 is idle and forgotten
  s = co.finished(1, t0);
  REQUIRE(s.start.size() == 1);
  CHECK(ids(s.start[0]) == std::vector<int>{3});
  CHECK(co.waiting() == 0);
}

TEST_CASE("a batch stops at max_batch_inputs; the rest start when slots allow") {
  struct row {
    const char* scenario;
    std::vector<size_t> sizes;  // waiting calls' inputs, oldest first
    size_t max_inputs;
    std::vector<std::vector<int>> batches;  // started after one finish with 2 free slots
  };
  const std::vector<row> rows = {
      {"all fit in one batch", {10, 20, 30}, 100, {{1, 2, 3}}},
      {"the third would overflow: two batches", {40, 40, 40}, 100, {{1, 2}, {3}}},
      {"an oversized call goes alone", {500, 10}, 100, {{1}, {2}}},
      {"exactly the limit fits", {50, 50, 1}, 100, {{1, 2}, {3}}},
  };
  for (const auto& r : rows) {
    INFO(r.scenario);
    coalescer<fake_call> co{{2, r.max_inputs}};
    co.submit(9, call(100), t0);
    co.submit(9, call(101), t0);  // both slots busy
    int id = 1;
    for (auto n : r.sizes) CHECK(co.submit(9, call(id++, n), t0).start.empty());
    auto s = co.finished(9, t0);   // one slot frees
    auto s2 = co.finished(9, t0);  // the second slot frees
    std::vector<std::vector<int>> got;
    for (auto& b : s.start) got.push_back(ids(b));
    for (auto& b : s2.start) got.push_back(ids(b));
    CHECK(got == r.batches);
  }
}

TEST_CASE("a batch stops at max_batch_bytes as well; an oversized call goes alone") {
  struct row {
    const char* scenario;
    std::vector<uint64_t> bytes;  // waiting calls' bytes, oldest first (one input each)
    uint64_t max_bytes;
    std::vector<std::vector<int>> batches;  // started after one finish with 2 free slots
  };
  const std::vector<row> rows = {
      {"all fit in one batch", {10, 20, 30}, 100, {{1, 2, 3}}},
      {"the third would overflow: two batches", {40, 40, 40}, 100, {{1, 2}, {3}}},
      {"an oversized call goes alone", {500, 10}, 100, {{1}, {2}}},
      {"exactly the limit fits", {50, 50, 1}, 100, {{1, 2}, {3}}},
      {"many small calls under a big input limit still split by bytes",
       {30, 30, 30, 30, 30},
       60,
       {{1, 2}, {3, 4}}},
  };
  for (const auto& r : rows) {
    INFO(r.scenario);
    coalescer<fake_call> co{{2, 4096, r.max_bytes}};
    co.submit(9, call(100), t0);
    co.submit(9, call(101), t0);  // both slots busy
    int id = 1;
    for (auto b : r.bytes) {
      auto c = call(id++);
      c.held = b;
      CHECK(co.submit(9, c, t0).start.empty());
    }
    auto s = co.finished(9, t0);
    auto s2 = co.finished(9, t0);
    std::vector<std::vector<int>> got;
    for (auto& b : s.start) got.push_back(ids(b));
    for (auto& b : s2.start) got.push_back(ids(b));
    CHECK(got == r.batches);
  }
}

TEST_CASE("a call whose deadline passed while waiting is handed back expired, never run") {
  coalescer<fake_call> co{{1, 4096}};
  co.submit(3, call(1), t0);
  co.submit(3, call(2, 1, milliseconds(10)), t0);
  co.submit(3, call(3, 1, milliseconds(5000)), t0);
  auto s = co.finished(3, t0 + milliseconds(100));
  CHECK(ids(s.expired) == std::vector<int>{2});
  REQUIRE(s.start.size() == 1);
  CHECK(ids(s.start[0]) == std::vector<int>{3});
}

TEST_CASE("when every waiting call expired nothing starts and the key goes idle") {
  coalescer<fake_call> co{{1, 4096}};
  co.submit(3, call(1), t0);
  co.submit(3, call(2, 1, milliseconds(10)), t0);
  auto s = co.finished(3, t0 + milliseconds(100));
  CHECK(s.start.empty());
  CHECK(ids(s.expired) == std::vector<int>{2});
  CHECK(co.keys() == 0);
}

TEST_CASE("a call already past its deadline on submit is expired at once") {
  coalescer<fake_call> co;
  auto s = co.submit(3, call(1, 1, milliseconds(0)), t0);
  CHECK(s.start.empty());
  CHECK(ids(s.expired) == std::vector<int>{1});
  CHECK(co.keys() == 0);
}

TEST_CASE("finishing from inside a batch that failed at once keeps the counts right") {
  // The coordinator may call finished() for a batch before it handled the rest of a step.
  coalescer<fake_call> co{{2, 4096}};
  CHECK(co.submit(5, call(1), t0).start.size() == 1);
  CHECK(co.submit(5, call(2), t0).start.size() == 1);
  co.submit(5, call(3), t0);
  auto s = co.finished(5, t0);  // batch 1 failed immediately
  REQUIRE(s.start.size() == 1);
  CHECK(co.running(5) == 2);
  co.finished(5, t0);
  co.finished(5, t0);
  CHECK(co.keys() == 0);
}

TEST_CASE("expire hands back only the overdue waiting calls, while batches still run") {
  coalescer<fake_call> co{{1, 4096}};
  co.submit(4, call(1), t0);                         // runs (and may hang)
  co.submit(4, call(2, 1, milliseconds(10)), t0);    // overdue at t0 + 100ms
  co.submit(4, call(3, 1, milliseconds(5000)), t0);  // not yet
  auto s = co.expire(4, t0 + milliseconds(100));
  CHECK(ids(s.expired) == std::vector<int>{2});
  CHECK(s.start.empty());
  CHECK(co.waiting(4) == 1);
  CHECK(co.running(4) == 1);
  CHECK(co.saturated(4));
  CHECK(co.expire(99, t0).expired.empty());  // unknown key: nothing
}
