#include "cluster/priority_pacer.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;
using clock_type = priority_pacer::clock;

TEST_CASE("without high-priority calls a low-priority slice goes at once") {
  priority_pacer p{20ms};
  const auto t0 = clock_type::now();
  CHECK(p.low_slot(t0) == t0);
  CHECK(p.low_slot(t0) == t0);  // any number of them
}

TEST_CASE("while a high-priority call runs, low-priority slices get one slot per gap") {
  priority_pacer p{20ms};
  const auto t0 = clock_type::now();
  p.high_started();
  CHECK(p.low_slot(t0) == t0);
  CHECK(p.low_slot(t0) == t0 + 20ms);
  CHECK(p.low_slot(t0 + 5ms) == t0 + 40ms);
  // A later ask after the slots ran out starts a new slot at once.
  CHECK(p.low_slot(t0 + 100ms) == t0 + 100ms);
  CHECK(p.low_slot(t0 + 100ms) == t0 + 120ms);
  CHECK(p.waits() == 3);  // the slots given later than asked
  p.high_finished();
  CHECK(p.high_running() == 0);
  CHECK(p.low_slot(t0 + 101ms) == t0 + 101ms);  // unpaced again
}

TEST_CASE("a zero gap never paces") {
  priority_pacer p{0ms};
  const auto t0 = clock_type::now();
  p.high_started();
  CHECK(p.low_slot(t0) == t0);
  CHECK(p.low_slot(t0) == t0);
  p.high_finished();
}
