// The latency tracker and the hedge decision, without an actor system or a clock.
#include "cluster/hedging.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using us = std::chrono::microseconds;
using ms = std::chrono::milliseconds;

TEST_CASE("the tracker's p95 is the nearest-rank value of the kept samples") {
  latency_tracker t{95, 100, 16};
  for (int i = 1; i <= 100; ++i) t.record("s", us{i * 10});
  CHECK(t.estimate("s", 1) == us{950});
  latency_tracker median{50, 100, 16};
  for (int i = 1; i <= 5; ++i) median.record("s", us{i});
  CHECK(median.estimate("s", 1) == us{3});
  CHECK(median.estimate("other", 1) == std::nullopt);
}

TEST_CASE("the tracker gives no estimate before the minimum sample count") {
  latency_tracker t{95, 64, 16};
  for (int i = 0; i < 19; ++i) t.record("s", us{100});
  CHECK(t.estimate("s", 20) == std::nullopt);
  t.record("s", us{100});
  CHECK(t.estimate("s", 20) == us{100});
}

TEST_CASE("the tracker keeps a bounded window: old samples age out") {
  latency_tracker t{95, 32, 16};
  for (int i = 0; i < 32; ++i) t.record("s", us{10000});
  CHECK(t.estimate("s", 1) == us{10000});
  for (int i = 0; i < 32; ++i) t.record("s", us{200});
  CHECK(t.samples("s") == 32);
  CHECK(t.estimate("s", 1) == us{200});
}

TEST_CASE("the tracker holds at most max_keys shards and evicts the least recently recorded") {
  latency_tracker t{95, 8, 3};
  t.record("a", us{1});
  t.record("b", us{2});
  t.record("c", us{3});
  t.record("a", us{1});  // b is now the oldest
  t.record("d", us{4});
  CHECK(t.keys() == 3);
  CHECK(t.samples("b") == 0);
  CHECK(t.samples("a") == 2);
  CHECK(t.samples("d") == 1);
}

TEST_CASE("the decision: hedge after max(p95, floor), only with enough samples and time") {
  hedging_options o;
  o.min_samples = 10;
  o.min_delay = ms{5};
  hedge_policy p{o};
  const us plenty = ms{5000};
  for (int i = 0; i < 9; ++i) p.record("s", ms{20});
  CHECK(p.delay("s", plenty) == std::nullopt);  // 9 samples: too few
  p.record("s", ms{20});
  CHECK(p.delay("s", plenty) == us{ms{20}});
  CHECK(p.delay("s", ms{20}) == std::nullopt);  // the deadline leaves no room for a hedge
  CHECK(p.delay("unknown", plenty) == std::nullopt);

  hedge_policy fast{o};
  for (int i = 0; i < 10; ++i) fast.record("s", us{300});
  CHECK(fast.delay("s", plenty) == us{ms{5}});  // the floor
}

TEST_CASE("a disabled policy never hedges and keeps no samples") {
  hedging_options o;
  o.enabled = false;
  o.min_samples = 1;
  hedge_policy p{o};
  for (int i = 0; i < 50; ++i) p.record("s", ms{20});
  CHECK(p.delay("s", ms{5000}) == std::nullopt);
  CHECK(p.tracker().keys() == 0);
}

TEST_CASE("the percentile is configurable") {
  hedging_options o;
  o.min_samples = 1;
  o.min_delay = ms{0};
  o.percentile = 50;
  hedge_policy p{o};
  for (int i = 1; i <= 100; ++i) p.record("s", us{i});
  CHECK(p.delay("s", ms{5000}) == us{50});
}
