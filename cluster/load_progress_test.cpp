#include <catch2/catch.hpp>

#include "cluster/load_progress.hpp"

using namespace tessera;

TEST_CASE("rate and time left come from the average since the start", "[load_progress]") {
  auto e = estimate_load(100 << 20, 400 << 20, 2000);  // 100 MiB in 2 s of 400 MiB
  CHECK(e.bytes_per_s == 50 << 20);
  CHECK(e.ms_left == 6000);
}

TEST_CASE("nothing is estimated before there is something to go on", "[load_progress]") {
  CHECK(estimate_load(0, 100, 5000).ms_left == -1);
  CHECK(estimate_load(0, 100, 5000).bytes_per_s == 0);
  CHECK(estimate_load(50, 100, 99).ms_left == -1);  // too early for a rate
  CHECK(estimate_load(0, 0, 0).ms_left == -1);      // nothing loading
  auto done = estimate_load(100, 100, 2000);
  CHECK(done.ms_left == 0);
  CHECK(done.bytes_per_s == 50);
}

TEST_CASE("side-by-side loads add rates and wait for the slowest", "[load_progress]") {
  load_estimate fast{300, 1000}, slow{100, 4000}, unknown{};
  auto both = combine_loads(fast, slow);
  CHECK(both.bytes_per_s == 400);
  CHECK(both.ms_left == 4000);
  CHECK(combine_loads(both, unknown).ms_left == -1);
  CHECK(combine_loads(load_estimate{0, 0}, fast).ms_left == 1000);
}
