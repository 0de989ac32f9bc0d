#include "node/memory_gate.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;

TEST_CASE("calls are refused while resident memory is over the budget, and pass again below") {
  uint64_t rss = 100 << 20;
  int reads = 0;
  memory_gate g(200u << 20, [&] {
    ++reads;
    return rss;
  });
  auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  CHECK_FALSE(g.check(t0));
  rss = 300 << 20;
  CHECK_FALSE(g.check(t0 + 10ms));  // read at most every 20 ms
  auto refused = g.check(t0 + 20ms);
  REQUIRE(refused);
  CHECK(is(refused, errc::overloaded));
  CHECK(message_of(refused) ==
        "coordinator memory 300 MiB is over its budget of 200 MiB; "
        "retry_after_ms=200");
  CHECK(g.refused() == 1);
  rss = 150 << 20;
  CHECK_FALSE(g.check(t0 + 40ms));
  CHECK(reads == 3);
}

TEST_CASE("a budget of 0 never refuses and never reads") {
  int reads = 0;
  memory_gate g(0, [&] {
    ++reads;
    return uint64_t{1} << 40;
  });
  CHECK_FALSE(g.check());
  CHECK(reads == 0);
}
